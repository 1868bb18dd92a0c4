import { execFileSync } from 'node:child_process';
import { chmodSync, linkSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isLseError } from '@lse/core';
import { walkDirectory } from './walk';

let tmp: string;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'lse-walk-'));
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

describe('walkDirectory', () => {
  it('lists files, dirs, symlinks (not followed), hardlinks and special files, sorted and relative', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'lse-walk-outside-'));
    try {
      writeFileSync(join(outside, 'secret'), 'do not read');
      mkdirSync(join(tmp, 'usr/bin'), { recursive: true });
      writeFileSync(join(tmp, 'usr/bin/zz'), 'binary');
      chmodSync(join(tmp, 'usr/bin/zz'), 0o750);
      linkSync(join(tmp, 'usr/bin/zz'), join(tmp, 'usr/bin/aa')); // sorts first: becomes the file
      symlinkSync('zz', join(tmp, 'usr/bin/link'));
      symlinkSync(outside, join(tmp, 'escape')); // a symlinked directory: must not be descended
      execFileSync('mkfifo', [join(tmp, 'usr/pipe')]);

      const entries = await walkDirectory(tmp);
      expect(entries.map((e) => [e.path, e.type])).toEqual([
        ['escape', 'symlink'],
        ['usr', 'dir'],
        ['usr/bin', 'dir'],
        ['usr/bin/aa', 'file'],
        ['usr/bin/link', 'symlink'],
        ['usr/bin/zz', 'hardlink'],
        ['usr/pipe', 'fifo'],
      ]);
      const byPath = new Map(entries.map((e) => [e.path, e]));
      expect(byPath.get('usr/bin/aa')).toMatchObject({ mode: 0o750, size: 6 });
      expect(byPath.get('usr/bin/aa')?.data?.toString()).toBe('binary');
      expect(byPath.get('usr/bin/zz')).toMatchObject({ linkname: 'usr/bin/aa', size: 0 });
      expect(byPath.get('usr/bin/zz')?.data).toBeUndefined();
      expect(byPath.get('usr/bin/link')?.linkname).toBe('zz');
      expect(byPath.get('escape')?.linkname).toBe(outside);
      expect(byPath.get('usr/pipe')?.data).toBeUndefined(); // never opened (opening a FIFO would block)
      expect(entries.some((e) => e.path.includes('secret'))).toBe(false);
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  it('refuses a path that is not a directory', async () => {
    writeFileSync(join(tmp, 'f'), 'x');
    for (const path of [join(tmp, 'f'), join(tmp, 'missing')]) {
      const err: unknown = await walkDirectory(path).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isLseError(err, 'USAGE')).toBe(true);
    }
  });
});

import { isLseError } from '../errors';
import type { FileEntry } from '../model';
import { assertNoConflicts, findPathConflicts } from './conflicts';

const dir = (path: string, mode = 0o755): FileEntry => ({ path, type: 'dir', mode, uid: 0, gid: 0, size: 0 });
const file = (path: string, digest: string, mode = 0o644): FileEntry => ({
  path,
  type: 'file',
  mode,
  uid: 0,
  gid: 0,
  size: 3,
  digest,
});
const link = (path: string, linkname: string): FileEntry => ({
  path,
  type: 'symlink',
  mode: 0o777,
  uid: 0,
  gid: 0,
  size: 0,
  linkname,
});
const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;

describe('findPathConflicts', () => {
  it('allows shared directories (even with different modes) and identical entries', () => {
    const sets = [
      { owner: 'a@1', files: [dir('usr'), dir('usr/share'), file('usr/share/x', D1), link('usr/lib/l', 'x')] },
      { owner: 'b@1', files: [dir('usr', 0o700), dir('usr/share'), file('usr/share/x', D1), link('usr/lib/l', 'x')] },
    ];
    expect(findPathConflicts(sets)).toEqual([]);
    expect(() => assertNoConflicts(sets)).not.toThrow();
  });

  it('reports files with different content, mode or link target', () => {
    const conflicts = findPathConflicts([
      { owner: 'a@1', files: [file('etc/a', D1), file('etc/b', D1, 0o644), link('etc/c', 'x')] },
      { owner: 'b@2', files: [file('etc/a', D2), file('etc/b', D1, 0o755), link('etc/c', 'y')] },
    ]);
    expect(conflicts.map((c) => [c.path, c.owners])).toEqual([
      ['etc/a', ['a@1', 'b@2']],
      ['etc/b', ['a@1', 'b@2']],
      ['etc/c', ['a@1', 'b@2']],
    ]);
    expect(conflicts[0].reason).toContain('different content');
    expect(conflicts[1].reason).toContain('0755');
    expect(conflicts[2].reason).toContain("'y'");
  });

  it('reports a directory in one owner and a non-directory in another', () => {
    const conflicts = findPathConflicts([
      { owner: 'base-files', files: [link('lib', 'usr/lib')] },
      { owner: 'libc6', files: [dir('lib'), dir('lib/x86_64-linux-gnu'), file('lib/x86_64-linux-gnu/libc.so.6', D1)] },
    ]);
    expect(conflicts).toHaveLength(1);
    expect(conflicts[0]).toMatchObject({ path: 'lib', owners: ['base-files', 'libc6'] });
    expect(conflicts[0].reason).toMatch(/symlink.*directory/);
  });

  it('reports a non-directory that is the parent of another owner’s entry, once per pair', () => {
    const conflicts = findPathConflicts([
      { owner: 'a', files: [file('opt/tool', D1)] },
      { owner: 'b', files: [file('opt/tool/bin', D2), file('opt/tool/lib', D2)] },
    ]);
    expect(conflicts).toEqual([
      { path: 'opt/tool', owners: ['a', 'b'], reason: expect.stringContaining("b puts 'opt/tool/") },
    ]);
  });

  it('reports every conflicting pair among three owners, sorted', () => {
    const conflicts = findPathConflicts([
      { owner: 'z', files: [file('x', D1), file('b', D1)] },
      { owner: 'y', files: [file('x', D2)] },
      { owner: 'w', files: [file('x', `sha256:${'3'.repeat(64)}`), file('b', D2)] },
    ]);
    expect(conflicts.map((c) => `${c.path}:${c.owners.join('+')}`)).toEqual(['b:z+w', 'x:y+w', 'x:z+w', 'x:z+y']);
  });

  it('assertNoConflicts throws PATH_CONFLICT naming both owners and the path', () => {
    try {
      assertNoConflicts([
        { owner: 'curl@8.5.0', files: [file('usr/bin/curl', D1)] },
        { owner: 'curl-static@8.5.0', files: [file('usr/bin/curl', D2)] },
      ]);
      throw new Error('no error');
    } catch (e) {
      expect(isLseError(e, 'PATH_CONFLICT')).toBe(true);
      const msg = (e as Error).message;
      expect(msg).toContain('usr/bin/curl');
      expect(msg).toContain('curl@8.5.0');
      expect(msg).toContain('curl-static@8.5.0');
    }
  });
});

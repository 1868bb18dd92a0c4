/** The agent's state file: `apply` leaves its write to the next `change` or `flush`, and `flush` writes only what is pending. */
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StateFile } from './state';

describe('lse-node state file', () => {
  it('apply is written by the next flush or change; flush with nothing pending writes nothing', async () => {
    const root = mkdtempSync(join(tmpdir(), 'lse-node-state-'));
    const st = await StateFile.open(root);
    await st.change((s) => {
      s.layers['sha256:a'] = ['x'];
    });
    await st.apply((s) => {
      s.layers['sha256:b'] = ['y'];
    });
    expect((await StateFile.open(root)).state.layers).toEqual({ 'sha256:a': ['x'] }); // not on disk yet
    await st.flush();
    expect((await StateFile.open(root)).state.layers).toEqual({ 'sha256:a': ['x'], 'sha256:b': ['y'] });
    await st.apply((s) => {
      s.layers['sha256:c'] = ['z'];
    });
    await st.change((s) => {
      s.next = 7;
    });
    const again = (await StateFile.open(root)).state;
    expect([again.next, Object.keys(again.layers).sort()]).toEqual([7, ['sha256:a', 'sha256:b', 'sha256:c']]);
    const ino = statSync(join(root, 'state.json')).ino;
    await st.flush(); // nothing pending: the file is not rewritten (a rewrite is a rename: a new inode)
    expect(statSync(join(root, 'state.json')).ino).toBe(ino);
  });
});

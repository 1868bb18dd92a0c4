/** containerd's filter syntax for the Snapshots API's List (filters.ts). */
import { isLseError } from '@lse/core';
import { parseFilters, snapshotFields } from './filters';

const chain = `sha256:${'a'.repeat(64)}`;
const snaps: { name: string; parent: string; kind: string; labels: Record<string, string> }[] = [
  {
    name: chain,
    parent: 'default/3/sha256:bbb',
    kind: 'committed',
    labels: { 'containerd.io/snapshot.ref': chain, 'lse.dev/x': 'one' },
  },
  { name: 'default/4/extract-1 sha256:ccc', parent: '', kind: 'active', labels: {} },
  { name: 'default/5/view', parent: chain, kind: 'view', labels: { 'lse.dev/x': 'two' } },
];
const names = (...filters: string[]) =>
  snaps.filter((s) => parseFilters(filters)(snapshotFields(s))).map((s) => s.name);

describe('snapshot list filters (containerd syntax)', () => {
  it('matches the filter containerd sends after a remote-snapshot ALREADY_EXISTS', () => {
    expect(names(`labels."containerd.io/snapshot.ref"==${chain},parent=="default/3/sha256:bbb"`)).toEqual([chain]);
    expect(names(`labels."containerd.io/snapshot.ref"==${chain},parent==""`)).toEqual([]);
  });

  it('no filter, or empty ones, match everything; several filters are alternatives', () => {
    expect(names()).toHaveLength(3);
    expect(names('')).toHaveLength(3);
    expect(names('kind==active', 'kind==view')).toEqual([snaps[1]!.name, snaps[2]!.name]);
  });

  it('presence, inequality (absent counts as empty), regular expressions, quoted values', () => {
    expect(names('labels."lse.dev/x"')).toEqual([chain, 'default/5/view']);
    expect(names('labels."lse.dev/x"!=one')).toEqual(['default/4/extract-1 sha256:ccc', 'default/5/view']);
    expect(names('name~=/extract-[0-9]+ /')).toEqual(['default/4/extract-1 sha256:ccc']);
    expect(names('name~=^default/')).toEqual(['default/4/extract-1 sha256:ccc', 'default/5/view']);
    expect(names('kind==committed , labels."lse.dev/x"==one')).toEqual([chain]);
    expect(names('unknown==x')).toEqual([]);
  });

  it('refuses bad syntax with SNAPSHOT_INVALID', () => {
    for (const bad of ['kind==', 'labels."open', '==x', 'kind==a b', 'name~=/(/']) {
      let err: unknown;
      try {
        parseFilters([bad]);
      } catch (e) {
        err = e;
      }
      expect([bad, isLseError(err) && err.code]).toEqual([bad, 'SNAPSHOT_INVALID']);
    }
  });
});

import { isLseError } from '../errors';
import { parseBaseRef } from './index';

const HEX = '0123456789abcdef'.repeat(4);

describe('parseBaseRef', () => {
  it.each([
    ['scratch', { scratch: true }],
    ['minimal', { name: 'minimal' }],
    ['minimal:1.2', { name: 'minimal', tag: '1.2' }],
    ['lse/base-images/minimal:2024_01', { name: 'lse/base-images/minimal', tag: '2024_01' }],
    [`minimal@sha256:${HEX}`, { name: 'minimal', digest: `sha256:${HEX}` }],
    [`minimal:1.2@sha256:${HEX}`, { name: 'minimal', tag: '1.2', digest: `sha256:${HEX}` }],
  ])('%s', (ref, expected) => {
    expect(parseBaseRef(ref)).toEqual(expected);
  });

  it.each([
    ['', /name ''/],
    ['Minimal', /name 'Minimal' must be lowercase/],
    ['minimal:', /tag ''/],
    ['minimal:.hidden', /tag '.hidden'/],
    ['minimal@sha256:abc', /64 lowercase hex/],
    [`minimal@sha256:${HEX.toUpperCase()}`, /64 lowercase hex/],
    [`minimal@md5:${HEX}`, /must be sha256:/],
    ['scratch:latest', /'scratch' takes no tag/],
    ['a//b', /name 'a\/\/b'/],
    ['registry:5000/minimal', /tag '5000\/minimal'/],
  ])('rejects %p', (ref, why) => {
    let err: unknown;
    try {
      parseBaseRef(ref);
    } catch (e) {
      err = e;
    }
    expect(isLseError(err, 'USAGE')).toBe(true);
    expect((err as Error).message).toMatch(why);
    expect((err as Error).message).toMatch(/e\.g\. minimal:1\.2/);
  });
});

import { gunzipSync } from 'node:zlib';
import { isLseError } from '../errors';
import { gunzip, gzipDeterministic, isGzip } from './gzip';

describe('gzipDeterministic', () => {
  const input = Buffer.from('hello layer\n'.repeat(100));

  it('zeroes the header mtime and sets OS to 255', () => {
    const out = gzipDeterministic(input);
    expect(out.readUInt32LE(4)).toBe(0);
    expect(out[9]).toBe(255);
    expect(isGzip(out)).toBe(true);
  });

  it('round-trips and gives identical bytes for identical input', () => {
    const a = gzipDeterministic(input);
    const b = gzipDeterministic(Buffer.from(input));
    expect(a.equals(b)).toBe(true);
    expect(gunzipSync(a).equals(input)).toBe(true);
    expect(gunzip(a).equals(input)).toBe(true);
  });

  it('gives a known digest for a fixed input (catches a change of deflate parameters)', () => {
    const out = gzipDeterministic(Buffer.from('abc'));
    expect(out.toString('hex')).toBe('1f8b08000000000000ff4b4c4a0600c241243503000000');
  });

  it('gunzip reports bad data as TAR_INVALID naming the blob', () => {
    let err: unknown;
    try {
      gunzip(Buffer.from('not gzip'), 'layer x');
    } catch (e) {
      err = e;
    }
    expect(isLseError(err, 'TAR_INVALID')).toBe(true);
    expect((err as Error).message).toContain('layer x');
  });
});

import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isLseError } from '../errors';
import { StreamingDigestVerifier } from './verify-stream';

const data = Buffer.from('some blob bytes '.repeat(1000));
const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;

async function run(input: Buffer, expected: { digest: string; size: number }): Promise<Buffer> {
  const out: Buffer[] = [];
  const chunks = [input.subarray(0, 7), input.subarray(7, 5000), input.subarray(5000)];
  await pipeline(
    Readable.from(chunks),
    new StreamingDigestVerifier(expected, 'layer L'),
    new Writable({
      write(c: Buffer, _e, cb) {
        out.push(c);
        cb();
      },
    }),
  );
  return Buffer.concat(out);
}

async function failure(input: Buffer, expected: { digest: string; size: number }): Promise<Error> {
  try {
    await run(input, expected);
  } catch (e) {
    return e as Error;
  }
  throw new Error('stream did not fail');
}

describe('StreamingDigestVerifier', () => {
  it('passes matching bytes through unchanged', async () => {
    expect((await run(data, { digest, size: data.length })).equals(data)).toBe(true);
  });

  it('fails with DIGEST_MISMATCH naming expected and actual digests', async () => {
    const tampered = Buffer.from(data);
    tampered[100] ^= 1;
    const err = await failure(tampered, { digest, size: data.length });
    expect(isLseError(err, 'DIGEST_MISMATCH')).toBe(true);
    expect(err.message).toContain(digest);
    expect(err.message).toContain(`sha256:${createHash('sha256').update(tampered).digest('hex')}`);
    expect(err.message).toContain('layer L');
  });

  it('fails with SIZE_MISMATCH on a short or long stream', async () => {
    const short = await failure(data.subarray(0, data.length - 1), { digest, size: data.length });
    expect(isLseError(short, 'SIZE_MISMATCH')).toBe(true);
    expect(short.message).toContain(`got ${data.length - 1} bytes, expected ${data.length}`);
    const long = await failure(Buffer.concat([data, Buffer.from('x')]), { digest, size: data.length });
    expect(isLseError(long, 'SIZE_MISMATCH')).toBe(true);
  });

  it('rejects a malformed expected digest up front', () => {
    expect(() => new StreamingDigestVerifier({ digest: 'md5:abc', size: 1 })).toThrow(/sha256:<64 hex>/);
  });
});

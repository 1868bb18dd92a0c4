// Unit tests of S3BlobStore's answers to server replies MinIO does not produce on demand (409
// conflicts, checksum refusals, server errors), with a scripted stand-in for the S3 client.
import { HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { isLseError, sha256Digest } from '@lse/core';
import { errorOf } from '@lse/testing';
import { S3BlobStore } from './blob-store';

type Reply = 'ok' | { status: number; name: string };

function scripted(replies: Reply[]): { client: S3Client; calls: string[]; inputs: Record<string, unknown>[] } {
  const calls: string[] = [];
  const inputs: Record<string, unknown>[] = [];
  const send = async (cmd: { input: Record<string, unknown> }) => {
    calls.push(cmd instanceof PutObjectCommand ? 'put' : cmd instanceof HeadObjectCommand ? 'head' : 'other');
    inputs.push(cmd.input);
    const r = replies.shift();
    if (r === undefined) throw new Error('unexpected call');
    if (r === 'ok') return { ContentLength: 5 };
    throw Object.assign(new Error(`${r.name} from server`), { name: r.name, $metadata: { httpStatusCode: r.status } });
  };
  return { client: { send } as unknown as S3Client, calls, inputs };
}

const data = Buffer.from('hello');
const d = sha256Digest(data);
const CONFLICT = { status: 409, name: 'ConditionalRequestConflict' };
const MISSING = { status: 404, name: 'NotFound' };

describe('S3BlobStore.put against server replies', () => {
  it('sends a conditional put with the base64 sha256 checksum under <prefix>sha256/<hex>', async () => {
    const s = scripted(['ok']);
    await new S3BlobStore(s.client, 'b', 'layers/').put(d, data, 5);
    expect(s.inputs[0]).toMatchObject({
      Bucket: 'b',
      Key: `layers/sha256/${d.slice(7)}`,
      IfNoneMatch: '*',
      ChecksumSHA256: Buffer.from(d.slice(7), 'hex').toString('base64'),
    });
  });

  it('treats 412 PreconditionFailed (already stored) as success', async () => {
    const s = scripted([{ status: 412, name: 'PreconditionFailed' }]);
    await new S3BlobStore(s.client, 'b', 'layers/').put(d, data);
    expect(s.calls).toEqual(['put']);
  });

  it('on 409 waits, HEADs, and retries until the concurrent write is visible', async () => {
    const s = scripted([CONFLICT, MISSING, CONFLICT, 'ok']);
    await new S3BlobStore(s.client, 'b', 'layers/').put(d, data);
    expect(s.calls).toEqual(['put', 'head', 'put', 'head']);
  });

  it('gives up after repeated 409s with an error naming the object', async () => {
    const s = scripted([CONFLICT, MISSING, CONFLICT, MISSING, CONFLICT, MISSING, CONFLICT, MISSING, CONFLICT]);
    const e = await errorOf(new S3BlobStore(s.client, 'b', 'layers/').put(d, data));
    expect(isLseError(e, 'INTERNAL')).toBe(true);
    expect((e as Error).message).toContain(`s3://b/layers/sha256/${d.slice(7)}`);
    expect(s.calls.filter((c) => c === 'put')).toHaveLength(5);
  });

  it('maps a server checksum refusal to DIGEST_MISMATCH, a 5xx to a retryable UNAVAILABLE and a 403 to a permanent INTERNAL, with the cause', async () => {
    const bad = scripted([{ status: 400, name: 'XAmzContentChecksumMismatch' }]);
    expect(isLseError(await errorOf(new S3BlobStore(bad.client, 'b', 'layers/').put(d, data)), 'DIGEST_MISMATCH')).toBe(
      true,
    );
    const down = scripted([{ status: 503, name: 'SlowDown' }]);
    const e = await errorOf(new S3BlobStore(down.client, 'b', 'layers/').put(d, data));
    expect(isLseError(e, 'UNAVAILABLE')).toBe(true);
    expect((e as { retryable?: boolean }).retryable).toBe(true);
    expect((e as LseErrorLike).details).toMatchObject({ status: 503, s3Code: 'SlowDown' });
    expect((e as Error).cause).toBeInstanceOf(Error);
    const denied = scripted([{ status: 403, name: 'AccessDenied' }]);
    const e2 = await errorOf(new S3BlobStore(denied.client, 'b', 'layers/').put(d, data));
    expect(isLseError(e2, 'INTERNAL')).toBe(true);
    expect((e2 as { retryable?: boolean }).retryable).toBe(false);
  });

  it('checks digest and size before sending anything', async () => {
    const s = scripted([]);
    const store = new S3BlobStore(s.client, 'b', 'layers/');
    expect(isLseError(await errorOf(store.put(d, Buffer.from('other'))), 'DIGEST_MISMATCH')).toBe(true);
    expect(isLseError(await errorOf(store.put(d, data, 6)), 'SIZE_MISMATCH')).toBe(true);
    expect(s.calls).toEqual([]);
  });
});

type LseErrorLike = Error & { details: Record<string, unknown> };

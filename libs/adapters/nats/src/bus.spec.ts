import { isLseError } from '@lse/core';
import { freePort } from '@lse/testing';
import { NatsBus, connectionOptions } from './bus';

describe('NatsBus.connect', () => {
  it('keeps trying every server for connectWaitMs, then fails with a retryable error naming NATS_URL', async () => {
    const url = `nats://127.0.0.1:${await freePort()},nats://127.0.0.1:${await freePort()}`;
    const warned: string[] = [];
    const log = {
      debug: () => undefined,
      error: () => undefined,
      warn: (_o: object, msg?: string) => void warned.push(msg ?? ''),
    };
    const err = await NatsBus.connect(url, { name: 'unit', connectWaitMs: 2_500, log }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isLseError(err)).toBe(true);
    expect(err).toMatchObject({ code: 'UNAVAILABLE', retryable: true, details: { url } });
    expect((err as { details: { attempts: number } }).details.attempts).toBeGreaterThan(1); // it did not give up at the first refusal
    expect(warned).toEqual(['NATS not reachable yet; retrying']);
    expect((err as Error).message).toMatch(
      /cannot connect to NATS at .*: .* \(\d+ attempts in \d+ ms\); check NATS_URL/,
    );
  });
  it('connection options: every server of a comma-separated URL, reconnecting for ever', () => {
    expect(connectionOptions(' nats://a:4222, nats://b:4222 ,', 'svc')).toMatchObject({
      servers: ['nats://a:4222', 'nats://b:4222'],
      name: 'svc',
      maxReconnectAttempts: -1,
    });
  });
});

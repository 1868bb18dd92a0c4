/** What only the in-process bus can be asked (its clock, its streams); the port's promises are in the conformance suite. */
import type { BusMessage } from '@lse/core';
import { DUPLICATE_WINDOW_MS } from '@lse/contracts';
import { InProcessBus } from './bus';

function waiter<T>(n: number): { got: T[]; done: Promise<void>; push: (x: T) => void } {
  const got: T[] = [];
  let resolve!: () => void;
  const done = new Promise<void>((r) => {
    resolve = r;
  });
  return {
    got,
    done,
    push: (x) => {
      got.push(x);
      if (got.length === n) resolve();
    },
  };
}

describe('InProcessBus', () => {
  it('measures the duplicate window from the first store: one ms before its end a duplicate, at its end a new message', async () => {
    let now = 1_000;
    const bus = new InProcessBus({ now: () => now });
    const w = waiter<string>(3);
    await bus.subscribe<{ v: string }>('lse.synth.x', async (m) => w.push(m.data.v), { durable: 'x' });
    await bus.publish('lse.synth.x', { v: 'first' }, { 'nats-msg-id': 'id-1' });
    now += DUPLICATE_WINDOW_MS - 1;
    await bus.publish('lse.synth.x', { v: 'within' }, { 'Nats-Msg-Id': 'id-1' }); // header name in any case
    now += 1;
    await bus.publish('lse.synth.x', { v: 'after' }, { 'Nats-Msg-Id': 'id-1' });
    await bus.publish('lse.synth.x', { v: 'end' });
    await w.done;
    expect(w.got).toEqual(['first', 'after', 'end']);
  });

  it('de-duplicates per stream, and not at all on subjects no stream holds', async () => {
    const bus = new InProcessBus();
    const w = waiter<string>(4);
    await bus.subscribe<{ v: string }>('lse.>', async (m) => w.push(`${m.subject} ${m.data.v}`));
    await bus.subscribe<{ v: string }>('other.x', async (m) => w.push(`${m.subject} ${m.data.v}`));
    for (const subject of ['lse.synth.a', 'lse.events.a', 'lse.synth.a'])
      await bus.publish(subject, { v: '1' }, { 'Nats-Msg-Id': 'same' });
    for (let i = 0; i < 2; i++) await bus.publish('other.x', { v: String(i) }, { 'Nats-Msg-Id': 'same' });
    await w.done;
    expect(w.got).toEqual(['lse.synth.a 1', 'lse.events.a 1', 'other.x 0', 'other.x 1']);
  });

  it('keeps a redelivery for the next subscriber when the one that failed has stopped, with the data as first published', async () => {
    const bus = new InProcessBus({ backoffMs: [1] });
    const failed = waiter<void>(1);
    const stop = await bus.subscribe<{ list: number[] }>(
      'lse.synth.r',
      async (m) => {
        m.data.list.push(99); // a handler's changes never reach the redelivery
        failed.push();
        throw new Error('fails once');
      },
      { durable: 'r' },
    );
    await bus.publish('lse.synth.r', { list: [1] });
    await failed.done;
    await stop();
    const next = waiter<BusMessage<{ list: number[] }>>(1);
    await bus.subscribe<{ list: number[] }>('lse.synth.r', async (m) => next.push(m), { durable: 'r' });
    await next.done;
    expect(next.got[0]!.data).toEqual({ list: [1] });
  });

  it('keeps events (limits retention) only for consumers that exist when they are published', async () => {
    const bus = new InProcessBus();
    await bus.publish('lse.events.e', { v: 'early' });
    const w = waiter<string>(1);
    await bus.subscribe<{ v: string }>('lse.events.e', async (m) => w.push(m.data.v), { durable: 'e' });
    await bus.publish('lse.events.e', { v: 'late' });
    await w.done;
    expect(w.got).toEqual(['late']);
  });

  it('reports handler errors to onError, and refuses delivery limits that make no sense', async () => {
    const errors: string[] = [];
    const w = waiter<void>(2);
    const bus = new InProcessBus({
      maxDeliver: 2,
      backoffMs: [0],
      onError: (err) => {
        errors.push((err as Error).message);
        w.push();
      },
    });
    await bus.subscribe(
      'lse.synth.e',
      async () => {
        throw new Error('boom');
      },
      { durable: 'e' },
    );
    await bus.publish('lse.synth.e', {});
    await w.done;
    expect(errors).toEqual(['boom', 'boom']);
    expect(() => new InProcessBus({ maxDeliver: 0 })).toThrow(/maxDeliver/);
    expect(() => new InProcessBus({ backoffMs: [-1] })).toThrow(/backoffMs/);
  });
});

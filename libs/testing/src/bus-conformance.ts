/**
 * Conformance suite of the `Bus` port (libs/core/src/ports.ts), run against the in-process bus
 * (unit) and NatsBus on a real nats-server (int). It checks what the port promises: durable
 * publish, de-duplication by `Nats-Msg-Id`, redelivery with backoff, the dead letter after the
 * last delivery, the concurrency limit, sharing between subscribers, and drain on stop.
 *
 * No test sleeps: every wait is on a promise that handlers resolve. The one timing check is a
 * lower bound (a redelivery does not come before its backoff delay), which load cannot break.
 * Checks that something does NOT happen are made against a later message that is delivered
 * after it would have been (single worker, stream order).
 */
import { isLseError, type Bus, type BusMessage, type Headers, type SubscribeOptions } from '@lse/core';
import { DEAD_LETTER_HEADERS } from '@lse/contracts';

/** Delivery settings the suite passes to the adapter (small values, so tests are quick). */
export interface BusTestOptions {
  maxDeliver?: number;
  backoffMs?: readonly number[];
  /** A subject from `subject()`, held by a stream. */
  deadLetterSubject?: string;
}

export interface BusHarness {
  /** A bus with these delivery settings; the suite uses one per test. */
  bus(opts?: BusTestOptions): Promise<Bus>;
  /** A subject held by a work-queue stream, unique to this run (`name` is unique per test). */
  subject(name: string): string;
  /** A `Nats-Msg-Id` unique to this run (a server's duplicate window spans runs). */
  msgId(name: string): string;
  /** Moves the clock of the harness' buses past the duplicate window (only where a clock can be injected). */
  passDuplicateWindow?: () => void;
}

/** Things that happened, and promises that resolve once a condition on them holds. */
class Log<T> {
  readonly items: T[] = [];
  private waiters: { ok: () => boolean; resolve: () => void }[] = [];
  push(x: T): void {
    this.items.push(x);
    this.check();
  }
  /** Re-evaluates the waiting conditions (call after changing state they read). */
  check(): void {
    this.waiters = this.waiters.filter((w) => (w.ok() ? (w.resolve(), false) : true));
  }
  until(ok: (items: T[]) => boolean): Promise<void> {
    if (ok(this.items)) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ ok: () => ok(this.items), resolve }));
  }
}

export function busConformance(name: string, h: BusHarness): void {
  describe(`Bus conformance: ${name}`, () => {
    let stops: (() => Promise<void>)[] = [];
    let gates: (() => void)[] = [];
    /** A promise handlers wait on; afterEach opens every gate, so no stop waits for a failed test. */
    const gate = (): { wait: Promise<void>; open: () => void } => {
      let open!: () => void;
      const wait = new Promise<void>((r) => {
        open = r;
      });
      gates.push(open);
      return { wait, open };
    };
    const sub = async <T>(
      bus: Bus,
      subject: string,
      handler: (m: BusMessage<T>) => Promise<void>,
      opts?: SubscribeOptions,
    ) => {
      const stop = await bus.subscribe<T>(subject, handler, opts);
      stops.push(stop);
      return stop;
    };
    afterEach(async () => {
      for (const open of gates) open();
      await Promise.all(stops.map((s) => s().catch(() => undefined)));
      stops = [];
      gates = [];
    });

    it('keeps messages published before a durable consumer subscribed, and hands them over in order with their headers', async () => {
      const bus = await h.bus();
      const subject = h.subject('kept');
      for (let n = 0; n < 3; n++)
        await bus.publish(subject, { n }, { 'Lse-Synthesis-Id': `s${n}`, 'Nats-Msg-Id': h.msgId(`kept-${n}`) });
      const got = new Log<BusMessage<{ n: number }>>();
      await sub<{ n: number }>(bus, subject, async (m) => got.push(m), { durable: 'conf-kept' });
      await got.until((xs) => xs.length === 3);
      expect(got.items.map((m) => [m.subject, m.data.n, m.headers['Lse-Synthesis-Id']])).toEqual([
        [subject, 0, 's0'],
        [subject, 1, 's1'],
        [subject, 2, 's2'],
      ]);
    });

    it('drops a second publish with the same Nats-Msg-Id, also after the first was handled; messages without one are never dropped', async () => {
      const bus = await h.bus();
      const subject = h.subject('dedupe');
      const got = new Log<string>();
      await sub<{ v: string }>(bus, subject, async (m) => got.push(m.data.v), { durable: 'conf-dedupe' });
      await bus.publish(subject, { v: 'first' }, { 'Nats-Msg-Id': h.msgId('a') });
      await bus.publish(subject, { v: 'again' }, { 'Nats-Msg-Id': h.msgId('a') });
      await bus.publish(subject, { v: 'other' }, { 'Nats-Msg-Id': h.msgId('b') });
      await got.until((xs) => xs.includes('other'));
      // one worker, stream order: 'again' would have come before 'other'
      expect(got.items).toEqual(['first', 'other']);
      await bus.publish(subject, { v: 'late' }, { 'Nats-Msg-Id': h.msgId('a') });
      await bus.publish(subject, { v: 'plain' });
      await bus.publish(subject, { v: 'plain' });
      await got.until((xs) => xs.filter((v) => v === 'plain').length === 2);
      expect(got.items).toEqual(['first', 'other', 'plain', 'plain']);
    });

    if (h.passDuplicateWindow) {
      it('stores a message id again once the duplicate window has passed', async () => {
        const bus = await h.bus();
        const subject = h.subject('window');
        const got = new Log<string>();
        await sub<{ v: string }>(bus, subject, async (m) => got.push(m.data.v), { durable: 'conf-window' });
        await bus.publish(subject, { v: 'first' }, { 'Nats-Msg-Id': h.msgId('w') });
        await bus.publish(subject, { v: 'within' }, { 'Nats-Msg-Id': h.msgId('w') });
        h.passDuplicateWindow!();
        await bus.publish(subject, { v: 'after' }, { 'Nats-Msg-Id': h.msgId('w') });
        await bus.publish(subject, { v: 'after, again' }, { 'Nats-Msg-Id': h.msgId('w') });
        await bus.publish(subject, { v: 'end' });
        await got.until((xs) => xs.includes('end'));
        expect(got.items).toEqual(['first', 'after', 'end']);
      });
    }

    it('redelivers a message whose handler throws, the same message each time, not before the backoff delay', async () => {
      const backoffMs = [150, 300];
      const bus = await h.bus({ backoffMs, maxDeliver: 5 });
      const subject = h.subject('retry');
      const attempts = new Log<{ m: BusMessage<{ x: number }>; start: number; end: number }>();
      await sub<{ x: number }>(
        bus,
        subject,
        async (m) => {
          const start = performance.now();
          const fail = attempts.items.length < 2;
          attempts.push({ m, start, end: performance.now() });
          if (fail) throw new Error(`transient #${attempts.items.length}`);
        },
        { durable: 'conf-retry' },
      );
      await bus.publish(subject, { x: 7 }, { 'Lse-Synthesis-Id': 's7' });
      await attempts.until((xs) => xs.length === 3);
      expect(attempts.items.map((a) => [a.m.data.x, a.m.headers['Lse-Synthesis-Id']])).toEqual([
        [7, 's7'],
        [7, 's7'],
        [7, 's7'],
      ]);
      const gaps = [1, 2].map((i) => attempts.items[i]!.start - attempts.items[i - 1]!.end);
      // lower bounds only (timer granularity allowed for): later is fine, earlier is a bug
      expect(gaps[0]).toBeGreaterThanOrEqual(backoffMs[0]! - 15);
      expect(gaps[1]).toBeGreaterThanOrEqual(backoffMs[1]! - 15);
    });

    it('dead-letters a message after its last allowed delivery: published with its error, onDeadLetter called once, never delivered again', async () => {
      const deadSubject = h.subject('dead');
      const bus = await h.bus({ maxDeliver: 3, backoffMs: [10], deadLetterSubject: deadSubject });
      const subject = h.subject('doomed');
      const dead = new Log<BusMessage<{ id: string }>>();
      await sub<{ id: string }>(bus, deadSubject, async (m) => dead.push(m));
      let attempts = 0;
      const calls = new Log<{ m: BusMessage; err: unknown; attempts: number }>();
      const sentinel = new Log<string>();
      await sub<{ id: string }>(
        bus,
        subject,
        async (m) => {
          if (m.data.id === 'sentinel') return sentinel.push('seen');
          attempts++;
          throw new Error(`bad input #${attempts}`);
        },
        { durable: 'conf-doomed', onDeadLetter: async (m, err) => calls.push({ m, err, attempts }) },
      );
      await bus.publish(subject, { id: 'd1' }, { 'Nats-Msg-Id': h.msgId('d1'), 'Lse-Synthesis-Id': 'd1' });
      await calls.until((xs) => xs.length === 1);
      expect(calls.items[0]!.attempts).toBe(3);
      expect(calls.items[0]!.m.data).toEqual({ id: 'd1' });
      expect((calls.items[0]!.err as Error).message).toBe('bad input #3');
      await dead.until((xs) => xs.length === 1);
      expect(dead.items[0]!.data).toEqual({ id: 'd1' });
      expect(dead.items[0]!.headers).toMatchObject({
        [DEAD_LETTER_HEADERS.subject]: subject,
        [DEAD_LETTER_HEADERS.error]: 'bad input #3',
        [DEAD_LETTER_HEADERS.deliveries]: '3',
        'Lse-Synthesis-Id': 'd1',
        'Nats-Msg-Id': `dead:${h.msgId('d1')}`,
      });
      await bus.publish(subject, { id: 'sentinel' });
      await sentinel.until((xs) => xs.length === 1);
      expect(attempts).toBe(3);
      expect(calls.items).toHaveLength(1);
    });

    it('never runs more than `concurrency` handlers of a subscriber at once', async () => {
      const bus = await h.bus();
      const subject = h.subject('parallel');
      const total = 6;
      const limit = 3;
      let running = 0;
      let peak = 0;
      const events = new Log<string>();
      const waiting: (() => void)[] = [];
      const handled: number[] = [];
      // all published first, so an adapter without a limit would start them all at once
      for (let n = 0; n < total; n++) await bus.publish(subject, { n });
      await sub<{ n: number }>(
        bus,
        subject,
        async (m) => {
          peak = Math.max(peak, ++running);
          const { wait, open } = gate();
          waiting.push(open);
          events.push('start');
          await wait;
          running--;
          handled.push(m.data.n);
          events.push('end');
        },
        { durable: 'conf-parallel', concurrency: limit },
      );
      for (let done = 0; done < total; done++) {
        await events.until(() => running === Math.min(limit, total - done) && waiting.length > 0);
        waiting.shift()!(); // let one finish; the next may start
        await events.until(() => handled.length === done + 1);
      }
      expect(peak).toBe(limit);
      expect(handled.sort((a, b) => a - b)).toEqual([...Array(total).keys()]);
    });

    it('shares a durable consumer between subscribers: each message is handled by one of them', async () => {
      const bus = await h.bus();
      const subject = h.subject('shared');
      const seen: Record<'a' | 'b', number[]> = { a: [], b: [] };
      const events = new Log<number>();
      const { wait, open } = gate();
      for (const who of ['a', 'b'] as const) {
        await sub<{ n: number }>(
          bus,
          subject,
          async (m) => {
            seen[who].push(m.data.n);
            events.push(m.data.n);
            await wait;
          },
          { durable: 'conf-shared' },
        );
      }
      await bus.publish(subject, { n: 0 });
      await bus.publish(subject, { n: 1 });
      // each subscriber runs one at a time: the second message can only be taken by the other one
      await events.until((xs) => xs.length === 2);
      expect([seen.a.length, seen.b.length]).toEqual([1, 1]);
      open();
      for (let n = 2; n < 20; n++) await bus.publish(subject, { n });
      await events.until((xs) => xs.length === 20);
      expect([...seen.a, ...seen.b].sort((x, y) => x - y)).toEqual([...Array(20).keys()]);
    });

    it('stop waits for running handlers; what the subscriber had not started goes to the next one', async () => {
      const bus = await h.bus();
      const subject = h.subject('drain');
      const started = new Log<number>();
      const order: string[] = [];
      const { wait, open } = gate();
      for (let n = 0; n < 4; n++) await bus.publish(subject, { n }, { 'Nats-Msg-Id': h.msgId(`drain-${n}`) });
      const stop = await sub<{ n: number }>(
        bus,
        subject,
        async (m) => {
          started.push(m.data.n);
          await wait;
          order.push(`handled ${m.data.n}`);
        },
        { durable: 'conf-drain', concurrency: 2 },
      );
      await started.until((xs) => xs.length === 2);
      const stopping = stop().then(() => order.push('stopped'));
      await new Promise((r) => setImmediate(r)); // the stop runs as far as it can without the handlers
      expect(order).toEqual([]);
      open();
      await stopping;
      expect(order.slice(2)).toEqual(['stopped']);
      expect(order.slice(0, 2).sort()).toEqual(started.items.map((n) => `handled ${n}`).sort());
      const next = new Log<number>();
      await sub<{ n: number }>(bus, subject, async (m) => next.push(m.data.n), { durable: 'conf-drain' });
      await next.until((xs) => xs.length === 2);
      expect([...started.items, ...next.items].sort()).toEqual([0, 1, 2, 3]);
    });

    it('delivers every message to each plain subscriber in order, goes on after a handler error, and stops when told', async () => {
      const bus = await h.bus();
      const subject = h.subject('plain');
      const a = new Log<BusMessage<{ n: number }>>();
      const b = new Log<BusMessage<{ n: number }>>();
      const stopA = await sub<{ n: number }>(bus, subject, async (m) => {
        a.push(m);
        if (m.data.n === 0) throw new Error('handler error');
      });
      await sub<{ n: number }>(bus, subject, async (m) => b.push(m));
      for (let n = 0; n < 3; n++) await bus.publish(subject, { n }, { 'Lse-Synthesis-Id': `s${n}` } satisfies Headers);
      await a.until((xs) => xs.length === 3);
      await b.until((xs) => xs.length === 3);
      expect(a.items.map((m) => [m.data.n, m.headers['Lse-Synthesis-Id']])).toEqual([
        [0, 's0'],
        [1, 's1'],
        [2, 's2'],
      ]);
      expect(b.items.map((m) => m.data.n)).toEqual([0, 1, 2]);
      await stopA();
      await bus.publish(subject, { n: 3 });
      await b.until((xs) => xs.length === 4);
      expect(a.items).toHaveLength(3);
    });

    it('refuses a durable consumer on a subject no stream holds, and a concurrency that is not a positive integer', async () => {
      const bus = await h.bus();
      const nowhere = `lse.nowhere.${h.msgId('x').replace(/[^A-Za-z0-9_-]/g, '_')}`;
      const err = await bus
        .subscribe(nowhere, async () => undefined, { durable: 'conf-nowhere' })
        .catch((e: unknown) => e);
      expect(isLseError(err, 'CONFIG_INVALID')).toBe(true);
      expect((err as Error).message).toContain(nowhere);
      const bad = await bus
        .subscribe(h.subject('bad'), async () => undefined, { durable: 'conf-bad', concurrency: 0 })
        .catch((e: unknown) => e);
      expect(isLseError(bad, 'USAGE')).toBe(true);
    });
  });
}

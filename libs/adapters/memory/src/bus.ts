/**
 * The `Bus` port in one process (the embedded CLI, unit tests), keeping the promises the NATS
 * adapter keeps on JetStream (the bus conformance suite runs against both):
 *
 * - Streams: subjects held by a stream (default LSE_WORK and LSE_EVENTS from the contracts)
 *   de-duplicate by `Nats-Msg-Id`: a second publish with an id first stored less than the
 *   duplicate window ago (2 min, like the streams) is dropped, whether or not the first was
 *   already handled. The window is measured on an injectable clock.
 * - Durable consumers: one queue per durable name and subject; subscribers sharing the name take
 *   turns (each message goes to one of them), each running up to `concurrency` handlers. A
 *   message on a work-queue stream (LSE_WORK) published before any consumer exists is kept
 *   until one subscribes; a queue whose subscribers all stopped keeps its messages for the next.
 * - A handler that throws: the message is delivered again after the backoff delay for that
 *   delivery, to whichever subscriber is free; after `maxDeliver` deliveries it is published to
 *   the dead-letter subject (original headers plus DEAD_LETTER_HEADERS, `Nats-Msg-Id`
 *   `dead:<id>`) and the subscription's `onDeadLetter` is called once.
 * - Stop: the subscriber takes no more messages and the returned promise resolves once its
 *   running handlers have settled; what it did not take stays queued.
 * - Plain subscriptions see every message published from then on, one at a time, in order;
 *   their errors go to `onError`, nothing is redelivered.
 *
 * Nothing survives the process (there is no crash to survive in one process), so there is no ack
 * wait either: a running handler is never redelivered behind its back.
 */
import { LseError, type Bus, type BusMessage, type Headers, type SubscribeOptions } from '@lse/core';
import {
  BACKOFF_MS,
  DEAD_LETTER_HEADERS,
  DUPLICATE_WINDOW_MS,
  EVENTS_STREAM,
  MAX_DELIVER,
  SUBJECTS,
  WORK_STREAM,
  backoffDelay,
  subjectMatches as matches,
} from '@lse/contracts';

/** A stream as the in-process bus models it: which subjects it holds and whether it is a work queue. */
export interface InProcessStream {
  name: string;
  subjects: readonly string[];
  /** Work-queue retention: messages nobody consumes yet are kept for the first durable consumer. */
  workQueue?: boolean;
}

export interface InProcessBusOptions {
  /** Told about every handler error (durable handlers' errors are also redelivered). */
  onError?: (err: unknown, msg: BusMessage) => void;
  /** Deliveries of one message before it goes to the dead letters (default MAX_DELIVER). */
  maxDeliver?: number;
  /** Delay before each redelivery (default BACKOFF_MS; the last value repeats). */
  backoffMs?: readonly number[];
  /** De-duplication window for `Nats-Msg-Id` (default DUPLICATE_WINDOW_MS). */
  duplicateWindowMs?: number;
  /** Clock for the duplicate window, in ms (default Date.now). */
  now?: () => number;
  /** Where exhausted messages go (default `lse.synth.dead`). */
  deadLetterSubject?: string;
  /** Default: LSE_WORK (work queue) and LSE_EVENTS. */
  streams?: readonly InProcessStream[];
}

type Handler = (msg: BusMessage) => Promise<void>;
interface Stored {
  subject: string;
  data: unknown;
  headers: Headers;
}
interface Pending {
  stored: Stored;
  deliveries: number;
}
interface Member {
  handler: Handler;
  concurrency: number;
  running: Set<Promise<void>>;
  onDeadLetter?: SubscribeOptions['onDeadLetter'];
  stopped: boolean;
}
interface Group {
  filter: string;
  queue: Pending[];
  members: Member[];
  next: number;
}

const DEFAULT_STREAMS: readonly InProcessStream[] = [{ ...WORK_STREAM, workQueue: true }, EVENTS_STREAM];

export class InProcessBus implements Bus {
  private readonly plain = new Set<{ filter: string; deliver: (s: Stored) => void }>();
  private readonly groups = new Map<string, Group>();
  /** Work-queue messages no durable consumer matched yet. */
  private readonly unclaimed: Stored[] = [];
  /** Per stream: message id -> when it was first stored (insertion order = time order). */
  private readonly seen = new Map<string, Map<string, number>>();
  private readonly onError: (err: unknown, msg: BusMessage) => void;
  private readonly maxDeliver: number;
  private readonly backoffMs: readonly number[];
  private readonly windowMs: number;
  private readonly now: () => number;
  private readonly deadSubject: string;
  private readonly streams: readonly InProcessStream[];
  private deadSeq = 0;

  /** Takes options, or (as before) just the error callback. */
  constructor(opts: InProcessBusOptions | ((err: unknown, msg: BusMessage) => void) = {}) {
    const o = typeof opts === 'function' ? { onError: opts } : opts;
    this.onError = o.onError ?? (() => undefined);
    this.maxDeliver = o.maxDeliver ?? MAX_DELIVER;
    this.backoffMs = o.backoffMs?.length ? o.backoffMs : BACKOFF_MS;
    this.windowMs = o.duplicateWindowMs ?? DUPLICATE_WINDOW_MS;
    this.now = o.now ?? Date.now;
    this.deadSubject = o.deadLetterSubject ?? SUBJECTS.dead;
    this.streams = o.streams ?? DEFAULT_STREAMS;
    if (!Number.isInteger(this.maxDeliver) || this.maxDeliver < 1)
      throw new LseError(
        'CONFIG_INVALID',
        `InProcessBus: maxDeliver must be a positive integer, got ${this.maxDeliver}`,
      );
    if (this.backoffMs.some((d) => !(d >= 0)))
      throw new LseError(
        'CONFIG_INVALID',
        `InProcessBus: backoffMs must be non-negative delays, got [${this.backoffMs.join(', ')}]`,
      );
  }

  async publish<T>(subject: string, data: T, headers: Headers = {}): Promise<void> {
    const stored: Stored = { subject, data: structuredClone(data), headers: { ...headers } };
    const stream = this.streamOf(subject);
    if (stream && this.duplicate(stream.name, headers)) return;
    for (const sub of this.plain) if (matches(sub.filter, subject)) sub.deliver(stored);
    let claimed = false;
    for (const g of this.groups.values()) {
      if (!matches(g.filter, subject)) continue;
      claimed = true;
      g.queue.push({ stored, deliveries: 0 });
      this.dispatch(g);
    }
    if (!claimed && stream?.workQueue) this.unclaimed.push(stored);
  }

  async subscribe<T>(
    subject: string,
    handler: (msg: BusMessage<T>) => Promise<void>,
    opts: SubscribeOptions = {},
  ): Promise<() => Promise<void>> {
    const concurrency = opts.concurrency ?? 1;
    if (!Number.isInteger(concurrency) || concurrency < 1)
      throw new LseError('USAGE', `subscribe ${subject}: concurrency must be a positive integer, got ${concurrency}`);
    return opts.durable
      ? this.durable(subject, handler as Handler, opts, concurrency)
      : this.subscribePlain(subject, handler as Handler);
  }

  private subscribePlain(filter: string, handler: Handler): () => Promise<void> {
    let chain = Promise.resolve();
    const sub = {
      filter,
      deliver: (s: Stored) => {
        chain = chain.then(async () => {
          if (!this.plain.has(sub)) return;
          const msg = copy(s);
          try {
            await handler(msg);
          } catch (err) {
            this.onError(err, msg);
          }
        });
      },
    };
    this.plain.add(sub);
    return async () => {
      this.plain.delete(sub);
      await chain;
    };
  }

  private durable(filter: string, handler: Handler, opts: SubscribeOptions, concurrency: number): () => Promise<void> {
    if (!this.streamOf(filter)) {
      throw new LseError(
        'CONFIG_INVALID',
        `durable consumer ${opts.durable}: no stream holds subject ${filter}; durable consumers need a stream (LSE_WORK holds lse.synth.>)`,
        { subject: filter, durable: opts.durable },
      );
    }
    const key = `${opts.durable} ${filter}`;
    let g = this.groups.get(key);
    if (!g) {
      g = { filter, queue: [], members: [], next: 0 };
      this.groups.set(key, g);
      for (let i = 0; i < this.unclaimed.length; i++) {
        if (!matches(filter, this.unclaimed[i]!.subject)) continue;
        g.queue.push({ stored: this.unclaimed[i]!, deliveries: 0 });
        this.unclaimed.splice(i--, 1);
      }
    }
    const group = g;
    const member: Member = {
      handler,
      concurrency,
      running: new Set(),
      onDeadLetter: opts.onDeadLetter,
      stopped: false,
    };
    group.members.push(member);
    this.dispatch(group);
    return async () => {
      member.stopped = true;
      const i = group.members.indexOf(member);
      if (i >= 0) group.members.splice(i, 1);
      await Promise.all([...member.running]);
    };
  }

  /** Hands queued messages to free subscribers, taking turns. */
  private dispatch(g: Group): void {
    while (g.queue.length) {
      const n = g.members.length;
      let member: Member | undefined;
      for (let k = 0; k < n && !member; k++) {
        const m = g.members[(g.next + k) % n]!;
        if (m.running.size < m.concurrency) {
          member = m;
          g.next = (g.next + k + 1) % n;
        }
      }
      if (!member) return;
      this.deliver(g, member, g.queue.shift()!);
    }
  }

  private deliver(g: Group, member: Member, p: Pending): void {
    p.deliveries++;
    const msg = copy(p.stored);
    const task = (async () => {
      await null; // handlers never run inside the publisher's call
      try {
        await member.handler(msg);
      } catch (err) {
        await this.failed(g, member, p, msg, err);
      }
    })();
    member.running.add(task);
    void task.finally(() => {
      member.running.delete(task);
      this.dispatch(g);
    });
  }

  private async failed(g: Group, member: Member, p: Pending, msg: BusMessage, err: unknown): Promise<void> {
    this.onError(err, msg);
    if (p.deliveries < this.maxDeliver) {
      const timer = setTimeout(
        () => {
          g.queue.push(p);
          this.dispatch(g);
        },
        backoffDelay(this.backoffMs, p.deliveries),
      );
      timer.unref?.(); // a pending redelivery does not keep the process alive
      return;
    }
    try {
      await this.publish(this.deadSubject, p.stored.data, deadLetterHeaders(p, err, `in-process:${++this.deadSeq}`));
      await member.onDeadLetter?.(msg, err);
    } catch (e) {
      this.onError(e, msg);
    }
  }

  private streamOf(subject: string): InProcessStream | undefined {
    return this.streams.find((s) => s.subjects.some((pattern) => matches(pattern, subject)));
  }

  /** True when the message id was stored on this stream less than the window ago; else records it. */
  private duplicate(stream: string, headers: Headers): boolean {
    const id = msgId(headers);
    if (id === undefined) return false;
    let ids = this.seen.get(stream);
    if (!ids) this.seen.set(stream, (ids = new Map()));
    const now = this.now();
    for (const [k, at] of ids) {
      if (now - at < this.windowMs) break;
      ids.delete(k);
    }
    if (ids.has(id)) return true;
    ids.set(id, now);
    return false;
  }
}

function copy(s: Stored): BusMessage {
  return { subject: s.subject, data: structuredClone(s.data), headers: { ...s.headers } };
}

function msgId(h: Headers): string | undefined {
  return Object.entries(h).find(([k]) => k.toLowerCase() === 'nats-msg-id')?.[1];
}

function deadLetterHeaders(p: Pending, err: unknown, fallbackId: string): Headers {
  const h: Headers = {};
  for (const [k, v] of Object.entries(p.stored.headers)) if (k.toLowerCase() !== 'nats-msg-id') h[k] = v;
  h['Nats-Msg-Id'] = `dead:${msgId(p.stored.headers) ?? fallbackId}`;
  h[DEAD_LETTER_HEADERS.subject] = p.stored.subject;
  h[DEAD_LETTER_HEADERS.error] = (err instanceof Error ? err.message : String(err))
    .replace(/[\r\n]+/g, ' ')
    .slice(0, 1000);
  h[DEAD_LETTER_HEADERS.deliveries] = String(p.deliveries);
  return h;
}

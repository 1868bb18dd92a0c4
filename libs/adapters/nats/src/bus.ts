/**
 * The `Bus` port on NATS JetStream.
 *
 * Publishing: a subject held by a stream (LSE_WORK, LSE_EVENTS) goes through JetStream and
 * resolves on the PubAck, with `Nats-Msg-Id` as the de-duplication id; any other subject is a core
 * publish plus a flush.
 *
 * Durable subscriptions are pull consumers on the stream holding the subject, one per durable
 * name; every process subscribing with that name shares its messages. Each subscription runs
 * `concurrency` workers, and each worker pulls ONE message, handles it, then pulls the next: no
 * message waits in a local buffer with its ack timer running while another process sits idle.
 * While a handler runs, `working()` is sent every ackWait/3, so only a dead process's messages
 * time out and go elsewhere. Outcome of a delivery:
 *   handler resolves          -> ack, confirmed by the server (ackAck)
 *   handler throws, attempts left -> nak with a delay from the backoff schedule
 *   handler throws, last attempt  -> payload + error published to the dead-letter subject,
 *                                    onDeadLetter called once, then term
 *   payload is not JSON       -> term (retrying cannot help)
 * Backoff is applied by the nak delay, not by the consumer's `backoff` field: nats-server sets
 * ack_wait to backoff[0] when that field is present, which would make every step shorter than 1 s.
 *
 * Plain subscriptions are core NATS subscriptions (JetStream-stored messages reach them too);
 * their handler runs one message at a time and its errors are logged.
 */
import { connect, headers as natsHeaders, nanos, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';
import {
  AckPolicy, DeliverPolicy, JetStreamApiCodes, JetStreamApiError, jetstream, type Consumer, type ConsumerConfig, type ConsumerMessages,
  type JetStreamClient, type JetStreamManager, type JsMsg,
} from '@nats-io/jetstream';
import { LseError, type Bus, type BusMessage, type Headers, type SubscribeOptions } from '@lse/core';
import {
  ACK_WAIT_MS, BACKOFF_MS, DEAD_LETTER_HEADERS, EVENTS_STREAM, MAX_DELIVER, SUBJECTS, WORK_STREAM, backoffDelay, subjectMatches,
} from '@lse/contracts';

export { ACK_WAIT_MS, MAX_DELIVER, BACKOFF_MS, DEAD_LETTER_HEADERS } from '@lse/contracts';

/** The slice of pino this adapter uses. */
export interface NatsBusLog {
  debug(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface NatsBusOptions {
  log?: NatsBusLog;
  ackWaitMs?: number;
  maxDeliver?: number;
  backoffMs?: readonly number[];
  /** Where exhausted messages go (default `lse.synth.dead`); must be held by a stream. */
  deadLetterSubject?: string;
  /** Prepended to every durable name (a namespace per deployment or test run). Default ''. */
  durablePrefix?: string;
  /** Streams and the subjects they hold (default LSE_WORK and LSE_EVENTS from the contracts). */
  streams?: readonly { name: string; subjects: readonly string[] }[];
}

type Handler = (msg: BusMessage) => Promise<void>;
interface Running { stopped: boolean; fetches: Set<ConsumerMessages> }

const silent: NatsBusLog = { debug: () => undefined, warn: () => undefined, error: () => undefined };
const FETCH_EXPIRES_MS = 30_000;
const RETRY_MS = 1_000;
const enc = new TextEncoder();
const dec = new TextDecoder();

export class NatsBus implements Bus {
  private readonly js: JetStreamClient;
  private jsm?: Promise<JetStreamManager>;
  private readonly log: NatsBusLog;
  private readonly ackWaitMs: number;
  private readonly maxDeliver: number;
  private readonly backoffMs: readonly number[];
  private readonly deadSubject: string;
  private readonly prefix: string;
  private readonly streams: readonly { name: string; subjects: readonly string[] }[];
  private readonly stops = new Set<() => Promise<void>>();
  private ownsConnection = false;

  /** Uses an existing connection; `close()` then stops the subscriptions but leaves it open. */
  constructor(readonly nc: NatsConnection, opts: NatsBusOptions = {}) {
    this.js = jetstream(nc);
    this.log = opts.log ?? silent;
    this.ackWaitMs = opts.ackWaitMs ?? ACK_WAIT_MS;
    this.maxDeliver = opts.maxDeliver ?? MAX_DELIVER;
    this.backoffMs = opts.backoffMs?.length ? opts.backoffMs : BACKOFF_MS;
    this.deadSubject = opts.deadLetterSubject ?? SUBJECTS.dead;
    this.prefix = opts.durablePrefix ?? '';
    this.streams = opts.streams ?? [WORK_STREAM, EVENTS_STREAM];
    if (this.maxDeliver < 1 || this.ackWaitMs < 1) throw new LseError('CONFIG_INVALID', `NatsBus: maxDeliver (${this.maxDeliver}) and ackWaitMs (${this.ackWaitMs}) must be positive`);
  }

  /** Connects to `url` (comma-separated for a cluster); `close()` drains this connection. */
  static async connect(url: string, opts: NatsBusOptions & { name: string }): Promise<NatsBus> {
    let nc: NatsConnection;
    try {
      nc = await connect({ servers: url.split(','), name: opts.name, maxReconnectAttempts: -1 });
    } catch (err) {
      throw new LseError('CONFIG_INVALID', `cannot connect to NATS at ${url}: ${(err as Error).message}; check NATS_URL and that the server is up`, { url }, { cause: err });
    }
    const bus = new NatsBus(nc, opts);
    bus.ownsConnection = true;
    return bus;
  }

  async publish<T>(subject: string, data: T, headers: Headers = {}): Promise<void> {
    const payload = enc.encode(JSON.stringify(data ?? null));
    const idKey = Object.keys(headers).find((k) => k.toLowerCase() === 'nats-msg-id');
    const stream = this.streamOf(subject);
    try {
      if (!stream) {
        this.nc.publish(subject, payload, { headers: toNats(headers) });
        await this.nc.flush();
        return;
      }
      const rest = { ...headers };
      if (idKey) delete rest[idKey];
      const ack = await this.js.publish(subject, payload, { headers: toNats(rest), ...(idKey ? { msgID: headers[idKey]! } : {}) });
      if (ack.duplicate) this.log.debug({ subject, msgId: idKey && headers[idKey] }, 'duplicate publish ignored by JetStream');
    } catch (err) {
      throw new LseError('UNAVAILABLE', `publish to ${subject} failed: ${(err as Error).message}; ` +
        (stream ? `check that stream ${stream} exists (ensureStreams) and NATS is reachable` : 'check that NATS is reachable'), { subject }, { cause: err });
    }
  }

  async subscribe<T>(subject: string, handler: (msg: BusMessage<T>) => Promise<void>, opts: SubscribeOptions = {}): Promise<() => Promise<void>> {
    const stop = opts.durable ? await this.durable(subject, handler as Handler, opts) : await this.plain(subject, handler as Handler);
    const once = async (): Promise<void> => {
      this.stops.delete(once);
      await stop();
    };
    this.stops.add(once);
    return once;
  }

  /** Stops every subscription (waiting for running handlers), then drains the connection if this bus opened it. */
  async close(): Promise<void> {
    await Promise.all([...this.stops].map((s) => s()));
    if (this.ownsConnection && !this.nc.isClosed()) await this.nc.drain();
  }

  private streamOf(subject: string): string | undefined {
    return this.streams.find((s) => s.subjects.some((p) => subjectMatches(p, subject)))?.name;
  }

  private async plain(subject: string, handler: Handler): Promise<() => Promise<void>> {
    const sub = this.nc.subscribe(subject);
    const loop = (async () => {
      for await (const m of sub) {
        let msg: BusMessage;
        try {
          msg = decode(m.subject, m.data, m.headers);
        } catch (err) {
          this.log.error({ subject: m.subject, err }, 'message is not JSON; skipped');
          continue;
        }
        try {
          await handler(msg);
        } catch (err) {
          this.log.error({ subject: m.subject, headers: msg.headers, err }, 'event handler failed');
        }
      }
    })();
    await this.nc.flush();
    return async () => {
      if (!sub.isClosed()) sub.unsubscribe();
      await loop;
    };
  }

  private async durable(subject: string, handler: Handler, opts: SubscribeOptions): Promise<() => Promise<void>> {
    const concurrency = opts.concurrency ?? 1;
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new LseError('USAGE', `subscribe ${subject}: concurrency must be a positive integer, got ${concurrency}`);
    const stream = this.streamOf(subject);
    const name = this.prefix + opts.durable!;
    if (!stream) {
      throw new LseError('CONFIG_INVALID', `durable consumer ${name}: no stream holds subject ${subject}; durable consumers need a JetStream stream (LSE_WORK holds lse.synth.>)`, { subject, durable: name });
    }
    await this.ensureConsumer(stream, name, subject);
    const consumer = await this.js.consumers.get(stream, name);
    const run: Running = { stopped: false, fetches: new Set() };
    const log = { subject, durable: name };
    const workers = Array.from({ length: concurrency }, () => this.worker(consumer, run, handler, opts, log));
    return async () => {
      run.stopped = true;
      for (const f of run.fetches) f.stop();
      await Promise.all(workers);
    };
  }

  /** Creates the durable consumer, or updates it when its filter or delivery limits differ. */
  private async ensureConsumer(stream: string, name: string, subject: string): Promise<void> {
    const jsm = await (this.jsm ??= this.js.jetstreamManager());
    const want: Partial<ConsumerConfig> = {
      durable_name: name, filter_subject: subject, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All,
      ack_wait: nanos(this.ackWaitMs), max_deliver: this.maxDeliver,
    };
    const fail = (err: unknown): never => {
      throw new LseError('CONFIG_INVALID', `durable consumer ${name} on stream ${stream} for ${subject}: ${(err as Error).message}; ` +
        'a work-queue stream allows one consumer per subject: give every process of a stage the same durable name', { stream, durable: name, subject }, { cause: err });
    };
    let have: ConsumerConfig | undefined;
    try {
      have = (await jsm.consumers.info(stream, name)).config;
    } catch (err) {
      if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound)) fail(err);
    }
    if (!have) {
      try {
        await jsm.consumers.add(stream, want);
        return;
      } catch (err) {
        try {
          have = (await jsm.consumers.info(stream, name)).config; // created meanwhile by another process
        } catch {
          fail(err);
        }
      }
    }
    if (have!.filter_subject === subject && have!.ack_wait === want.ack_wait && have!.max_deliver === want.max_deliver) return;
    try {
      await jsm.consumers.update(stream, name, { filter_subject: subject, ack_wait: want.ack_wait!, max_deliver: want.max_deliver! });
    } catch (err) {
      fail(err);
    }
  }

  /** One message at a time: pull, handle, settle, repeat until stopped or the connection closes. */
  private async worker(consumer: Consumer, run: Running, handler: Handler, opts: SubscribeOptions, log: object): Promise<void> {
    while (!run.stopped && !this.nc.isClosed()) {
      let batch: ConsumerMessages | undefined;
      try {
        batch = await consumer.fetch({ max_messages: 1, expires: FETCH_EXPIRES_MS });
        run.fetches.add(batch);
        if (run.stopped) batch.stop();
        for await (const m of batch) {
          if (run.stopped) m.nak(); // arrived while stopping: let another process have it now
          else await this.handle(m, handler, opts, log);
        }
      } catch (err) {
        if (run.stopped || this.nc.isClosed()) break;
        this.log.warn({ ...log, err }, 'pull from consumer failed; retrying');
        await new Promise((r) => setTimeout(r, RETRY_MS));
      } finally {
        if (batch) run.fetches.delete(batch);
      }
    }
  }

  private async handle(m: JsMsg, handler: Handler, opts: SubscribeOptions, log: object): Promise<void> {
    const deliveries = m.info.deliveryCount;
    let msg: BusMessage;
    try {
      msg = decode(m.subject, m.data, m.headers);
    } catch (err) {
      this.log.error({ ...log, seq: m.seq, err }, 'message is not JSON; terminated');
      m.term('payload is not JSON');
      return;
    }
    const ctx = { ...log, seq: m.seq, deliveries, headers: msg.headers };
    const beat = setInterval(() => {
      try {
        if (!this.nc.isClosed()) m.working();
      } catch (err) {
        this.log.warn({ ...ctx, err }, 'could not extend the ack deadline');
      }
    }, Math.max(Math.floor(this.ackWaitMs / 3), 50));
    let failure: { err: unknown } | undefined;
    try {
      await handler(msg);
    } catch (err) {
      failure = { err };
    } finally {
      clearInterval(beat);
    }
    if (this.nc.isClosed()) return; // nothing can be settled; the server redelivers after ack_wait
    if (!failure) {
      try {
        await m.ackAck();
      } catch (err) {
        this.log.warn({ ...ctx, err }, 'ack not confirmed; the message may be redelivered');
      }
      return;
    }
    const { err } = failure;
    if (deliveries < this.maxDeliver) {
      const delay = backoffDelay(this.backoffMs, deliveries);
      this.log.warn({ ...ctx, err, retryInMs: delay }, 'handler failed; will be redelivered');
      m.nak(delay);
      return;
    }
    this.log.error({ ...ctx, err }, 'handler failed on the last allowed delivery; dead-lettered');
    await this.deadLetter(m, msg, err, deliveries, ctx);
    try {
      await opts.onDeadLetter?.(msg, err);
    } catch (e) {
      this.log.error({ ...ctx, err: e }, 'onDeadLetter failed');
    }
    m.term(`dead-lettered: ${errorText(err)}`.slice(0, 200));
  }

  private async deadLetter(m: JsMsg, msg: BusMessage, err: unknown, deliveries: number, ctx: object): Promise<void> {
    const h: Headers = {};
    for (const [k, v] of Object.entries(msg.headers)) if (k.toLowerCase() !== 'nats-msg-id') h[k] = v;
    const id = Object.entries(msg.headers).find(([k]) => k.toLowerCase() === 'nats-msg-id')?.[1];
    // De-duplication is per stream: reusing the original id would drop the dead letter.
    h['Nats-Msg-Id'] = `dead:${id ?? `${m.info.stream}:${m.seq}`}`;
    h[DEAD_LETTER_HEADERS.subject] = m.subject;
    h[DEAD_LETTER_HEADERS.error] = errorText(err).replace(/[\r\n]+/g, ' ').slice(0, 1000);
    h[DEAD_LETTER_HEADERS.deliveries] = String(deliveries);
    try {
      const hdrs = toNats(h);
      const ack = await this.js.publish(this.deadSubject, m.data, { headers: hdrs, msgID: h['Nats-Msg-Id'] });
      this.log.debug({ ...ctx, deadSeq: ack.seq }, 'dead letter stored');
    } catch (e) {
      this.log.error({ ...ctx, err: e, deadLetterSubject: this.deadSubject, payload: dec.decode(m.data) }, 'could not store the dead letter');
    }
  }
}

function toNats(h: Headers): MsgHdrs | undefined {
  const entries = Object.entries(h);
  if (!entries.length) return undefined;
  const out = natsHeaders();
  for (const [k, v] of entries) out.set(k, v);
  return out;
}

/** JSON payload + first value of each header. Throws on a payload that is not JSON. */
function decode(subject: string, data: Uint8Array, h: MsgHdrs | undefined): BusMessage {
  const headers: Headers = {};
  if (h) for (const [k, vs] of h) if (vs.length) headers[k] = vs[0]!;
  return { subject, data: JSON.parse(dec.decode(data)) as unknown, headers };
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}


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
 *
 * A cluster: `connect` takes every server (comma-separated), waits a bounded time for the first
 * connection, then reconnects for ever, to whichever node answers; pings detect a dead peer that
 * did not close its socket. A JetStream publish that gets no PubAck because the stream is between
 * leaders (a node died: timeout, no responders, 503) is retried with backoff for up to
 * `publishTimeoutMs`; a retry of a publish that timed out could store it twice, so only a publish
 * with a `Nats-Msg-Id` (which JetStream de-duplicates) is retried after a timeout.
 */
import {
  connect,
  headers as natsHeaders,
  nanos,
  NoRespondersError,
  RequestError,
  TimeoutError,
  type ConnectionOptions,
  type MsgHdrs,
  type NatsConnection,
} from '@nats-io/transport-node';
import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  jetstream,
  type Consumer,
  type ConsumerConfig,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  type PubAck,
} from '@nats-io/jetstream';
import { LseError, type Bus, type BusMessage, type Headers, type SubscribeOptions } from '@lse/core';
import {
  ACK_WAIT_MS,
  BACKOFF_MS,
  DEAD_LETTER_HEADERS,
  CATALOG_STREAM,
  EVENTS_STREAM,
  MAX_DELIVER,
  SUBJECTS,
  WORK_STREAM,
  backoffDelay,
  subjectMatches,
} from '@lse/contracts';

/** How long a JetStream publish keeps retrying while its stream has no leader (a node failed). */
export const PUBLISH_TIMEOUT_MS = 20_000;
/** How long `connect` keeps trying the servers before it gives up (services start beside NATS). */
export const CONNECT_WAIT_MS = 30_000;

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
  /** Streams and the subjects they hold (default LSE_WORK, LSE_EVENTS and LSE_CATALOG from the contracts). */
  streams?: readonly { name: string; subjects: readonly string[] }[];
  /** Total time a JetStream publish retries while no PubAck comes (default PUBLISH_TIMEOUT_MS). */
  publishTimeoutMs?: number;
  /**
   * How long a handler may keep its message in progress (default MAX_HANDLER_MS). A handler that
   * runs longer (a call that never returns) stops extending the ack deadline, so JetStream gives
   * the message to another worker instead of leaving it stuck behind this one.
   */
  maxHandlerMs?: number;
}

/** Connection settings for a single server or a cluster (exported for tools that connect themselves). */
export function connectionOptions(url: string, name: string): ConnectionOptions {
  return {
    servers: url
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    name,
    maxReconnectAttempts: -1, // a node restart or a rolling upgrade must not end the process' connection
    reconnectTimeWait: 1_000,
    pingInterval: 10_000, // a machine that died without closing its sockets is noticed in ~30 s
    maxPingOut: 3,
  };
}

type Handler = (msg: BusMessage) => Promise<void>;
interface Running {
  stopped: boolean;
  fetches: Set<ConsumerMessages>;
}

const silent: NatsBusLog = { debug: () => undefined, warn: () => undefined, error: () => undefined };
const FETCH_EXPIRES_MS = 30_000;
/** Two missed heartbeats end a pull whose consumer leader went away, and the worker pulls again. */
const FETCH_HEARTBEAT_MS = 5_000;
const RETRY_MS = 1_000;
/** One PubAck wait within a publish's retries. */
const PUBACK_WAIT_MS = 5_000;
const PUBLISH_BACKOFF_MS = [100, 250, 500, 1_000, 2_000];
/** A handler in progress this long is presumed stuck (the longest stage work measured: minutes). */
const MAX_HANDLER_MS = 10 * 60_000;
const enc = new TextEncoder();
const dec = new TextDecoder();

export class NatsBus implements Bus {
  private readonly js: JetStreamClient;
  private jsm?: Promise<JetStreamManager>;
  private readonly log: NatsBusLog;
  private readonly ackWaitMs: number;
  private readonly maxHandlerMs: number;
  private readonly maxDeliver: number;
  private readonly backoffMs: readonly number[];
  private readonly deadSubject: string;
  private readonly prefix: string;
  private readonly streams: readonly { name: string; subjects: readonly string[] }[];
  private readonly publishTimeoutMs: number;
  private readonly stops = new Set<() => Promise<void>>();
  private ownsConnection = false;

  /** Uses an existing connection; `close()` then stops the subscriptions but leaves it open. */
  constructor(
    readonly nc: NatsConnection,
    opts: NatsBusOptions = {},
  ) {
    this.js = jetstream(nc);
    this.log = opts.log ?? silent;
    this.ackWaitMs = opts.ackWaitMs ?? ACK_WAIT_MS;
    this.maxHandlerMs = opts.maxHandlerMs ?? MAX_HANDLER_MS;
    this.maxDeliver = opts.maxDeliver ?? MAX_DELIVER;
    this.backoffMs = opts.backoffMs?.length ? opts.backoffMs : BACKOFF_MS;
    this.deadSubject = opts.deadLetterSubject ?? SUBJECTS.dead;
    this.prefix = opts.durablePrefix ?? '';
    this.streams = opts.streams ?? [WORK_STREAM, EVENTS_STREAM, CATALOG_STREAM];
    this.publishTimeoutMs = opts.publishTimeoutMs ?? PUBLISH_TIMEOUT_MS;
    if (this.maxDeliver < 1 || this.ackWaitMs < 1)
      throw new LseError(
        'CONFIG_INVALID',
        `NatsBus: maxDeliver (${this.maxDeliver}) and ackWaitMs (${this.ackWaitMs}) must be positive`,
      );
  }

  /**
   * Connects to `url` (comma-separated for a cluster), trying every server in turn for up to
   * `connectWaitMs` (default CONNECT_WAIT_MS); `close()` drains this connection.
   */
  static async connect(url: string, opts: NatsBusOptions & { name: string; connectWaitMs?: number }): Promise<NatsBus> {
    const started = Date.now();
    const deadline = started + (opts.connectWaitMs ?? CONNECT_WAIT_MS);
    let nc: NatsConnection | undefined;
    for (let attempt = 0; !nc; attempt++) {
      try {
        nc = await connect(connectionOptions(url, opts.name));
      } catch (err) {
        if (Date.now() + RETRY_MS >= deadline) {
          throw new LseError(
            'UNAVAILABLE',
            `cannot connect to NATS at ${url}: ${(err as Error).message} (${attempt + 1} attempts in ${Date.now() - started} ms); check NATS_URL and that the servers are up`,
            { url, attempts: attempt + 1 },
            { cause: err },
          );
        }
        if (attempt === 0) (opts.log ?? silent).warn({ url, err }, 'NATS not reachable yet; retrying');
        await new Promise((r) => setTimeout(r, RETRY_MS));
      }
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
      const ack = await this.publishWithRetries(subject, payload, rest, idKey ? headers[idKey] : undefined);
      if (ack.duplicate)
        this.log.debug({ subject, msgId: idKey && headers[idKey] }, 'duplicate publish ignored by JetStream');
    } catch (err) {
      if (err instanceof LseError) throw err;
      throw new LseError(
        'UNAVAILABLE',
        `publish to ${subject} failed: ${(err as Error).message}; ` +
          (stream
            ? `check that stream ${stream} exists (ensureStreams) and NATS is reachable`
            : 'check that NATS is reachable'),
        { subject },
        { cause: err },
      );
    }
  }

  /**
   * A JetStream publish, retried while the stream cannot answer (no leader, node down): errors
   * that mean "not stored" always, a timeout (stored or not, unknown) only with a msg id.
   */
  private async publishWithRetries(
    subject: string,
    payload: Uint8Array,
    headers: Headers,
    msgID: string | undefined,
  ): Promise<PubAck> {
    const started = Date.now();
    const deadline = started + this.publishTimeoutMs;
    for (let attempt = 1; ; attempt++) {
      const timeout = Math.max(Math.min(PUBACK_WAIT_MS, deadline - Date.now()), 100);
      try {
        return await this.js.publish(subject, payload, {
          headers: toNats(headers),
          timeout,
          ...(msgID ? { msgID } : {}),
        });
      } catch (err) {
        const why = retryablePublishError(err, msgID !== undefined);
        if (!why || this.nc.isClosed()) throw err;
        const delay = PUBLISH_BACKOFF_MS[Math.min(attempt - 1, PUBLISH_BACKOFF_MS.length - 1)]!;
        if (Date.now() + delay >= deadline) {
          throw new LseError(
            'UNAVAILABLE',
            `publish to ${subject} failed: no PubAck after ${attempt} attempts in ${Date.now() - started} ms (${why}: ${(err as Error).message}); ` +
              'the stream has no leader or NATS is unreachable: check the NATS servers (a cluster needs a majority of its nodes)',
            { subject, attempts: attempt },
            { cause: err },
          );
        }
        this.log.warn(
          { subject, msgId: msgID, attempt, err: (err as Error).message, retryInMs: delay },
          `no PubAck (${why}); retrying`,
        );
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  async subscribe<T>(
    subject: string,
    handler: (msg: BusMessage<T>) => Promise<void>,
    opts: SubscribeOptions = {},
  ): Promise<() => Promise<void>> {
    const stop = opts.durable
      ? await this.durable(subject, handler as Handler, opts)
      : await this.plain(subject, handler as Handler);
    const once = async (): Promise<void> => {
      this.stops.delete(once);
      await stop();
    };
    this.stops.add(once);
    return once;
  }

  /** The server's max_payload (what one message may carry). */
  get maxPayload(): number | undefined {
    return this.nc.info?.max_payload;
  }

  /**
   * The stored messages on subjects matching `subject` (a stream must hold them), oldest first:
   * an ephemeral consumer with no acks reads exactly the messages pending at its creation.
   */
  async history(subject: string): Promise<BusMessage[]> {
    const stream = this.streamOf(subject.replace(/\*/g, 'x'));
    if (!stream) return [];
    const jsm = await (this.jsm ??= this.js.jetstreamManager());
    const ci = await jsm.consumers.add(stream, {
      filter_subject: subject,
      ack_policy: AckPolicy.None,
      deliver_policy: DeliverPolicy.All,
      inactive_threshold: nanos(30_000),
      mem_storage: true,
    });
    const out: BusMessage[] = [];
    try {
      let pending = ci.num_pending;
      if (!pending) return out;
      const consumer = await this.js.consumers.get(stream, ci.name);
      while (pending > 0) {
        const batch = await consumer.fetch({ max_messages: Math.min(pending, 256), expires: 5_000 });
        let got = 0;
        for await (const m of batch) {
          got++;
          pending--;
          try {
            out.push(decode(m.subject, m.data, m.headers));
          } catch {
            // not JSON: not ours to replay
          }
          if (pending <= 0) break;
        }
        if (!got) break;
      }
      return out;
    } finally {
      await jsm.consumers.delete(stream, ci.name).catch(() => undefined);
    }
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
    if (!Number.isInteger(concurrency) || concurrency < 1)
      throw new LseError('USAGE', `subscribe ${subject}: concurrency must be a positive integer, got ${concurrency}`);
    const stream = this.streamOf(subject);
    const name = this.prefix + opts.durable!;
    if (!stream) {
      throw new LseError(
        'CONFIG_INVALID',
        `durable consumer ${name}: no stream holds subject ${subject}; durable consumers need a JetStream stream (LSE_WORK holds lse.synth.>)`,
        { subject, durable: name },
      );
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
      durable_name: name,
      filter_subject: subject,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: nanos(this.ackWaitMs),
      max_deliver: this.maxDeliver,
    };
    const fail = (err: unknown): never => {
      throw new LseError(
        'CONFIG_INVALID',
        `durable consumer ${name} on stream ${stream} for ${subject}: ${(err as Error).message}; ` +
          'a work-queue stream allows one consumer per subject: give every process of a stage the same durable name',
        { stream, durable: name, subject },
        { cause: err },
      );
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
    if (have!.filter_subject === subject && have!.ack_wait === want.ack_wait && have!.max_deliver === want.max_deliver)
      return;
    try {
      await jsm.consumers.update(stream, name, {
        filter_subject: subject,
        ack_wait: want.ack_wait!,
        max_deliver: want.max_deliver!,
      });
    } catch (err) {
      fail(err);
    }
  }

  /** One message at a time: pull, handle, settle, repeat until stopped or the connection closes. */
  private async worker(
    consumer: Consumer,
    run: Running,
    handler: Handler,
    opts: SubscribeOptions,
    log: object,
  ): Promise<void> {
    let failures = 0;
    while (!run.stopped && !this.nc.isClosed()) {
      let batch: ConsumerMessages | undefined;
      try {
        batch = await consumer.fetch({
          max_messages: 1,
          expires: FETCH_EXPIRES_MS,
          idle_heartbeat: FETCH_HEARTBEAT_MS,
        });
        run.fetches.add(batch);
        if (run.stopped) batch.stop();
        for await (const m of batch) {
          failures = 0;
          if (run.stopped)
            m.nak(); // arrived while stopping: let another process have it now
          else await this.handle(m, handler, opts, log);
        }
      } catch (err) {
        if (run.stopped || this.nc.isClosed()) break;
        // Short at first: a consumer just created (or just moved to a new leader) in a cluster
        // answers "no responders" for a moment; then up to RETRY_MS while a node is down.
        const delay = Math.min(50 * 2 ** failures++, RETRY_MS);
        this.log.warn({ ...log, err, retryInMs: delay }, 'pull from consumer failed; retrying');
        await new Promise((r) => setTimeout(r, delay));
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
    const started = Date.now();
    const beat = setInterval(
      () => {
        if (Date.now() - started > this.maxHandlerMs) {
          clearInterval(beat);
          this.log.error(
            { ...ctx, maxHandlerMs: this.maxHandlerMs },
            'handler still running after maxHandlerMs; no longer extending the ack deadline, so the message is redelivered to another worker',
          );
          return;
        }
        try {
          if (!this.nc.isClosed()) m.working();
        } catch (err) {
          this.log.warn({ ...ctx, err }, 'could not extend the ack deadline');
        }
      },
      Math.max(Math.floor(this.ackWaitMs / 3), 50),
    );
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
    h[DEAD_LETTER_HEADERS.error] = errorText(err)
      .replace(/[\r\n]+/g, ' ')
      .slice(0, 1000);
    h[DEAD_LETTER_HEADERS.deliveries] = String(deliveries);
    try {
      const hdrs = toNats(h);
      const ack = await this.js.publish(this.deadSubject, m.data, { headers: hdrs, msgID: h['Nats-Msg-Id'] });
      this.log.debug({ ...ctx, deadSeq: ack.seq }, 'dead letter stored');
    } catch (e) {
      this.log.error(
        { ...ctx, err: e, deadLetterSubject: this.deadSubject, payload: dec.decode(m.data) },
        'could not store the dead letter',
      );
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

/** Why a failed JetStream publish is worth another attempt, or undefined when it is not. */
function retryablePublishError(err: unknown, hasMsgId: boolean): string | undefined {
  // JetStreamNotEnabled (not exported by @nats-io/jetstream) is how a publish reports no responders.
  if (
    (err instanceof Error && err.name === 'JetStreamNotEnabled') ||
    err instanceof NoRespondersError ||
    (err instanceof RequestError && err.isNoResponders())
  )
    return 'no responders';
  if (err instanceof JetStreamApiError && err.status === 503) return 'stream unavailable';
  if (err instanceof TimeoutError) return hasMsgId ? 'timeout' : undefined;
  return undefined;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * NatsBus against a real nats-server. Uses the real LSE_WORK / LSE_EVENTS streams, but only
 * subjects under `lse.synth.<run>.`, durable names prefixed `<run>-` and Nats-Msg-Ids naming the
 * run (the duplicate window is per stream), so runs do not meet; afterAll deletes this run's
 * consumers and purges this run's subjects, nothing else.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, RetentionPolicy, StorageType, type JetStreamManager } from '@nats-io/jetstream';
import { busConformance, testServers, uniqueName } from '@lse/testing';
import type { BusMessage } from '@lse/core';
import { DEAD_LETTER_HEADERS, eventSubjects } from '@lse/contracts';
import { NatsBus, type NatsBusOptions } from './bus';
import { ensureStream, ensureStreams } from './streams';

jest.setTimeout(20_000);

const { natsUrl } = testServers();
const run = uniqueName('test');
const base = `lse.synth.${run}`;
const prefix = `${run}-`;
const buses: NatsBus[] = [];
const conns: NatsConnection[] = [];
let admin: NatsConnection;
let jsm: JetStreamManager;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A promise handlers wait on; afterAll opens every gate, so close() never waits for a failed test. */
const gates: (() => void)[] = [];
function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((r) => {
    open = r;
  });
  gates.push(open);
  return { wait, open };
}

async function bus(opts: NatsBusOptions = {}): Promise<NatsBus> {
  const b = await NatsBus.connect(natsUrl, { name: run, durablePrefix: prefix, ...opts });
  buses.push(b);
  return b;
}

/** A bus on a connection the test controls (to kill it like a crashed process). */
async function busOnOwnConnection(opts: NatsBusOptions = {}): Promise<{ b: NatsBus; nc: NatsConnection }> {
  const nc = await connect({ servers: natsUrl, name: run });
  conns.push(nc);
  const b = new NatsBus(nc, { durablePrefix: prefix, ...opts });
  buses.push(b);
  return { b, nc };
}

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

beforeAll(async () => {
  admin = await connect({ servers: natsUrl, name: `${run}-admin` });
  jsm = await jetstreamManager(admin);
  await ensureStreams(jsm);
});

afterAll(async () => {
  for (const open of gates) open();
  await Promise.all(buses.map((b) => b.close().catch(() => undefined)));
  for (const c of conns) if (!c.isClosed()) await c.close();
  for await (const ci of jsm.consumers.list('LSE_WORK'))
    if (ci.name.startsWith(prefix)) await jsm.consumers.delete('LSE_WORK', ci.name);
  await jsm.streams.purge('LSE_WORK', { filter: `${base}.>` });
  await jsm.streams.purge('LSE_EVENTS', { filter: `lse.events.synthesis.*.${run}` });
  await admin.close();
});

busConformance('nats', {
  bus: (opts = {}) => bus(opts),
  subject: (name) => `${base}.conf.${name}`,
  msgId: (name) => `${run}:${name}`,
  // the duplicate window (2 minutes on LSE_WORK) passes only in real time
});

describe('ensureStreams', () => {
  it('creates the three streams with the contract config, and a second call changes nothing', async () => {
    expect(Object.values(await ensureStreams(jsm))).toEqual(['unchanged', 'unchanged', 'unchanged']);
    const work = (await jsm.streams.info('LSE_WORK')).config;
    expect(work).toMatchObject({
      subjects: ['lse.synth.>'],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
    });
    const events = (await jsm.streams.info('LSE_EVENTS')).config;
    expect(events).toMatchObject({
      subjects: ['lse.events.>'],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
    });
    expect(events.max_age).toBeGreaterThan(0);
    const catalog = (await jsm.streams.info('LSE_CATALOG')).config;
    expect(catalog).toMatchObject({
      subjects: ['lse.catalog.>'],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
    });
  });
  it('updates a stream whose config differs (on a stream of its own)', async () => {
    const name = `T_${run.replace(/-/g, '_')}`;
    const spec = {
      name,
      subjects: [`lse-${run}.>`],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      num_replicas: 1,
      duplicate_window: 60e9,
      max_age: 3600e9,
    };
    try {
      expect(await ensureStream(jsm, spec)).toBe('created');
      expect(await ensureStream(jsm, spec)).toBe('unchanged');
      expect(await ensureStream(jsm, { ...spec, max_age: 7200e9 })).toBe('updated');
      expect((await jsm.streams.info(name)).config.max_age).toBe(7200e9);
    } finally {
      await jsm.streams.delete(name).catch(() => undefined);
    }
  });
});

describe('NatsBus', () => {
  it('delivers events stored in LSE_EVENTS to plain subscribers, until stopped', async () => {
    const b = await bus();
    const got: BusMessage<{ status: string }>[] = [];
    const stop = await b.subscribe<{ status: string }>(eventSubjects.all(run), async (m) => {
      got.push(m);
    });
    await b.publish(eventSubjects.progress(run), { status: 'resolved' });
    await b.publish(eventSubjects.completed(run), { status: 'completed' }, { 'Lse-Synthesis-Id': run });
    await until(() => got.length === 2, 'two events');
    expect(got.map((m) => [m.subject, m.data.status])).toEqual([
      [eventSubjects.progress(run), 'resolved'],
      [eventSubjects.completed(run), 'completed'],
    ]);
    expect(got[1]!.headers['Lse-Synthesis-Id']).toBe(run);
    expect(
      (await jsm.streams.getMessage('LSE_EVENTS', { last_by_subj: eventSubjects.completed(run) }))?.json(),
    ).toEqual({ status: 'completed' });
    await stop();
    await b.publish(eventSubjects.failed(run), { status: 'failed' });
    await sleep(100);
    expect(got).toHaveLength(2);
  });

  it('shares one durable consumer between two processes (two connections)', async () => {
    const subject = `${base}.shared`;
    const [p1, p2] = [await bus(), await bus()];
    const seen: Record<string, number[]> = { p1: [], p2: [] };
    for (const [who, b] of [
      ['p1', p1],
      ['p2', p2],
    ] as const) {
      await b.subscribe<{ n: number }>(
        subject,
        async (m) => {
          seen[who]!.push(m.data.n);
          await sleep(10);
        },
        { durable: 'shared' },
      );
    }
    for (let n = 0; n < 20; n++) await p1.publish(subject, { n }, { 'Nats-Msg-Id': `shared:${run}-${n}` });
    await until(() => seen['p1']!.length + seen['p2']!.length >= 20, '20 deliveries');
    await sleep(100);
    expect([...seen['p1']!, ...seen['p2']!].sort((a, b) => a - b)).toEqual([...Array(20).keys()]);
    expect(seen['p1']!.length).toBeGreaterThan(0);
    expect(seen['p2']!.length).toBeGreaterThan(0);
  });

  it('redelivers after a handler error, then acks the successful delivery', async () => {
    const subject = `${base}.retry`;
    const b = await bus({ backoffMs: [100] });
    const attempts: BusMessage<{ x: number }>[] = [];
    await b.subscribe<{ x: number }>(
      subject,
      async (m) => {
        attempts.push(m);
        if (attempts.length === 1) throw new Error('transient');
      },
      { durable: 'retry' },
    );
    await b.publish(subject, { x: 7 }, { 'Lse-Synthesis-Id': 's7' });
    await until(() => attempts.length === 2, 'the redelivery');
    expect(attempts.map((m) => [m.data.x, m.headers['Lse-Synthesis-Id']])).toEqual([
      [7, 's7'],
      [7, 's7'],
    ]);
    await sleep(300);
    expect(attempts).toHaveLength(2);
    const info = await jsm.consumers.info('LSE_WORK', `${prefix}retry`);
    expect([info.num_ack_pending, info.num_pending]).toEqual([0, 0]);
  });

  it('dead-letters a message after max deliveries: stored with its error, onDeadLetter called once', async () => {
    const subject = `${base}.doomed`;
    const deadSubject = `${base}.dead`;
    const b = await bus({ maxDeliver: 3, backoffMs: [50], deadLetterSubject: deadSubject });
    const dead: BusMessage[] = [];
    await b.subscribe(deadSubject, async (m) => {
      dead.push(m);
    }); // core subscription sees stored messages too
    let attempts = 0;
    const calls: [BusMessage, unknown][] = [];
    await b.subscribe(
      subject,
      async () => {
        attempts++;
        throw new Error(`bad input #${attempts}`);
      },
      {
        durable: 'doomed',
        onDeadLetter: async (m, err) => {
          calls.push([m, err]);
        },
      },
    );
    await b.publish(subject, { id: 'd1' }, { 'Nats-Msg-Id': `verified:${run}-d1`, 'Lse-Synthesis-Id': 'd1' });
    await until(() => calls.length === 1 && dead.length === 1, 'the dead letter');
    await sleep(400);
    expect(attempts).toBe(3);
    expect(calls).toHaveLength(1);
    expect(calls[0]![0].data).toEqual({ id: 'd1' });
    expect((calls[0]![1] as Error).message).toBe('bad input #3');
    expect(dead[0]!.data).toEqual({ id: 'd1' });
    expect(dead[0]!.headers).toMatchObject({
      [DEAD_LETTER_HEADERS.subject]: subject,
      [DEAD_LETTER_HEADERS.error]: 'bad input #3',
      'Lse-Synthesis-Id': 'd1',
      'Nats-Msg-Id': `dead:verified:${run}-d1`,
    });
    const stored = await jsm.streams.getMessage('LSE_WORK', { last_by_subj: deadSubject });
    expect(stored?.json()).toEqual({ id: 'd1' });
    const info = await jsm.consumers.info('LSE_WORK', `${prefix}doomed`);
    expect([info.num_ack_pending, info.num_pending]).toEqual([0, 0]);
  });

  it('terminates a payload that is not JSON and goes on with the next message', async () => {
    const subject = `${base}.garbage`;
    const b = await bus();
    const got: unknown[] = [];
    await b.subscribe(
      subject,
      async (m) => {
        got.push(m.data);
      },
      { durable: 'garbage' },
    );
    await jetstream(admin).publish(subject, 'not json {');
    await b.publish(subject, { ok: true });
    await until(() => got.length === 1, 'the valid message');
    await sleep(200);
    expect(got).toEqual([{ ok: true }]);
    const info = await jsm.consumers.info('LSE_WORK', `${prefix}garbage`);
    expect([info.num_ack_pending, info.num_pending, info.num_redelivered]).toEqual([0, 0, 0]);
  });

  it('keeps a long step with working(), and redelivers to another process when its holder dies', async () => {
    const subject = `${base}.crash`;
    const ackWaitMs = 1_000;
    const a = await busOnOwnConnection({ ackWaitMs });
    const { wait: forever } = gate();
    const gotA: unknown[] = [];
    await a.b.subscribe(
      subject,
      async (m) => {
        gotA.push(m.data);
        await forever;
      },
      { durable: 'crash' },
    );
    await a.b.publish(subject, { job: 1 });
    await until(() => gotA.length === 1, 'consumer A to take the message');
    const b = await bus({ ackWaitMs });
    const gotB: unknown[] = [];
    await b.subscribe(
      subject,
      async (m) => {
        gotB.push(m.data);
      },
      { durable: 'crash' },
    );
    await sleep(2.5 * ackWaitMs);
    expect(gotB).toEqual([]); // A is alive and says it is working: no redelivery
    await a.nc.close(); // A dies without acking
    await until(() => gotB.length === 1, 'redelivery to B', 5 * ackWaitMs);
    expect(gotB).toEqual([{ job: 1 }]);
  });

  it('stops extending the deadline of a handler stuck past maxHandlerMs, so another worker gets its message', async () => {
    const subject = `${base}.stuck`;
    const ackWaitMs = 600;
    const a = await bus({ ackWaitMs, maxHandlerMs: 1_500 });
    const { wait: never } = gate();
    const gotA: unknown[] = [];
    await a.subscribe(
      subject,
      async (m) => {
        gotA.push(m.data);
        await never;
      },
      { durable: 'stuck' },
    );
    await a.publish(subject, { job: 'stuck' });
    await until(() => gotA.length === 1, 'consumer A to take the message');
    const b = await bus({ ackWaitMs });
    const gotB: unknown[] = [];
    await b.subscribe(
      subject,
      async (m) => {
        gotB.push(m.data);
      },
      { durable: 'stuck' },
    );
    await sleep(1_000);
    expect(gotB).toEqual([]); // still within maxHandlerMs: A's beats hold the message
    await until(() => gotB.length === 1, 'redelivery to B after A stopped beating', 10_000);
    expect(gotB).toEqual([{ job: 'stuck' }]);
  });
});

/**
 * A node of a three-node NATS cluster dies (`kill -9`) while syntheses run through it, and comes
 * back: nothing acknowledged is lost, nothing is done twice where it shows, the streams stay
 * available. The cluster is this test's own (three nats-server processes on free loopback ports,
 * `sync_interval: always`, LSE_WORK and LSE_EVENTS at R3), not the stack's single server. The
 * work is the real pipeline (`startPipeline`: resolve, fetch, verify, assemble, record) over
 * memory repositories and blob stores, run by two "service processes" (two NatsBus connections,
 * one of them given only the node that is killed, so it must find the others itself), while a
 * client publishes requests, some of them twice with the same Nats-Msg-Id as a retrying client
 * would. The node killed is the leader of LSE_WORK, so publishes, pulls and acks all have to wait
 * for a new leader. A second test takes the majority away: publishes then fail (retryable) once
 * their retry budget is spent, and work again when the nodes are back, with nothing lost.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { generateKeyPair, isLseError, isRetryable, publicKeyOf, type SecretKey } from '@lse/core';
import {
  HEADERS,
  SUBJECTS,
  eventSubjects,
  type SynthAssembled,
  type SynthCompleted,
  type SynthRequested,
} from '@lse/contracts';
import { MemoryBaseRepository, MemoryBlobStore, MemoryFragmentRepository, MemoryTrustStore } from '@lse/adapter-memory';
import { buildFragment, silentLog, startPipeline, type EnginePorts } from '@lse/engine';
import { NatsCluster } from '@lse/testing';
import { NatsBus, connectionOptions } from './bus';
import { ensureStreams } from './streams';

jest.setTimeout(120_000);

const N = 45; // syntheses
const SUBMIT_EVERY_MS = 100;
const KILL_AFTER = 15; // requests submitted before the kill
const DOWN_MS = 4_000; // how long the node stays dead

const countBy = (xs: string[]) => xs.reduce<Record<string, number>>((m, x) => ({ ...m, [x]: (m[x] ?? 0) + 1 }), {});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let cluster: NatsCluster;
let admin: NatsConnection;
let jsm: JetStreamManager;
const buses: NatsBus[] = [];
const conns: NatsConnection[] = [];
const stops: (() => Promise<void>)[] = [];

function file(path: string, content: string) {
  return {
    path,
    type: 'file' as const,
    mode: 0o644,
    uid: 0,
    gid: 0,
    mtime: 0,
    size: content.length,
    data: Buffer.from(content),
  };
}

async function memoryPorts(key: SecretKey): Promise<EnginePorts> {
  const ports: EnginePorts = {
    fragments: new MemoryFragmentRepository(),
    bases: new MemoryBaseRepository(),
    trust: new MemoryTrustStore(),
    origin: new MemoryBlobStore(),
    cache: new MemoryBlobStore(),
    layers: new MemoryBlobStore(),
  };
  const pk = publicKeyOf(key);
  await ports.trust.add({ name: pk.name, publicKey: pk.key.toString('base64'), scopes: ['*'], revoked: false });
  const specs: [string, string, string[]][] = [
    ['libbase', '1.0.0', []],
    ['liba', '1.0.0', ['libbase ^1']],
    ['libb', '2.0.0', ['libbase ^1']],
    ['libc', '3.0.0', []],
  ];
  for (const [name, version, depends] of specs) {
    const { fragment, blob } = buildFragment({
      entries: [file(`usr/share/${name}/VERSION`, version)],
      name,
      version,
      scheme: 'semver',
      depends,
      key,
      epoch: 0,
      source: { type: 'test' },
    });
    await ports.origin.put(fragment.descriptor.blob.digest, blob, blob.length);
    await ports.fragments.put(fragment);
  }
  return ports;
}

/** Subject -> message count in a stream, for subjects matching `filter`. */
async function subjectCounts(stream: string, filter: string): Promise<Record<string, number>> {
  const info = await jsApi(() => jsm.streams.info(stream, { subjects_filter: filter }));
  return info.state.subjects ?? {};
}

/**
 * A JetStream API request, tried again for up to 30 s while it times out or finds no responder:
 * right after nodes come back the admin connection may still be reconnecting and the stream may
 * still be electing its leader, and this test asserts what the stream holds, not how soon the API
 * answers.
 */
async function jsApi<T>(call: () => Promise<T>): Promise<T> {
  for (let end = Date.now() + 30_000; ; await sleep(500)) {
    try {
      return await call();
    } catch (e) {
      const transient = /timeout|no responders|503|connection|disconnect/i.test(
        `${(e as Error).name} ${(e as Error).message}`,
      );
      if (!transient || Date.now() > end) throw e;
    }
  }
}

/** The stream's leader and current replicas, once all nodes are (or after 15 s, whatever they are). */
async function allCurrent(stream: string): Promise<string[]> {
  const all = cluster.nodes
    .map((n) => n.name)
    .sort()
    .join();
  const members = async () => {
    const c = (await jsApi(() => jsm.streams.info(stream))).cluster;
    return [c?.leader ?? '(no leader)', ...(c?.replicas ?? []).filter((r) => r.current).map((r) => r.name)].sort();
  };
  for (let end = Date.now() + 15_000; Date.now() < end && (await members()).join() !== all;) await sleep(250);
  return members();
}

beforeAll(async () => {
  cluster = await NatsCluster.start({ size: 3, sync: 'always' });
  admin = await connect(connectionOptions(cluster.urls, 'cluster-test-admin'));
  jsm = await jetstreamManager(admin);
  // Created as a client that does not know the deployment would (R1), then scaled up in place.
  expect(Object.values(await ensureStreams(jsm))).toEqual(['created', 'created', 'created']);
  expect(Object.values(await ensureStreams(jsm, { replicas: 3 }))).toEqual(['updated', 'updated', 'updated']);
  for (const s of ['LSE_WORK', 'LSE_EVENTS', 'LSE_CATALOG']) expect(await allCurrent(s)).toHaveLength(3);
});

afterAll(async () => {
  for (const stop of stops) await stop().catch(() => undefined);
  await Promise.all(buses.map((b) => b.close().catch(() => undefined)));
  for (const c of conns) if (!c.isClosed()) await c.close();
  if (admin && !admin.isClosed()) await admin.close();
  await cluster?.stop();
});

it('runs syntheses through a kill -9 of the LSE_WORK leader and its restart: every one completed once, nothing lost or left', async () => {
  for (const s of ['LSE_WORK', 'LSE_EVENTS']) expect((await jsm.streams.info(s)).config.num_replicas).toBe(3);
  // A client that does not say how many replicas (a tool, a test) leaves them as they are.
  expect(Object.values(await ensureStreams(jsm))).toEqual(['unchanged', 'unchanged', 'unchanged']);
  expect(
    ((await cluster.monitor(0, 'varz')) as { jetstream: { config: { sync_always: boolean } } }).jetstream.config
      .sync_always,
  ).toBe(true);

  const victim = (await jsm.streams.info('LSE_WORK')).cluster!.leader!;
  const { secretKey } = generateKeyPair('cluster-test');
  const ports = await memoryPorts(secretKey);

  // Two service processes, each running every stage; A knows only the node that will die.
  const records = new Map<string, number>(); // recorder side effects, by synthesis id
  const warnings: string[] = []; // what the buses had to wait out
  const log = {
    debug: () => undefined,
    error: () => undefined,
    warn: (_o: object, msg?: string) => void warnings.push(msg ?? ''),
  };
  const opts = { ackWaitMs: 5_000, log };
  const ncA = await connect(connectionOptions(cluster.node(victim).url, 'svc-a'));
  conns.push(ncA);
  const a = new NatsBus(ncA, opts);
  const b = await NatsBus.connect(cluster.urls, { name: 'svc-b', ...opts });
  const client = await NatsBus.connect(cluster.urls, { name: 'client', log });
  buses.push(a, b, client);
  for (const bus of [a, b]) {
    stops.push(
      await startPipeline({
        bus,
        ports,
        opts: { epoch: 0 },
        log: silentLog,
        concurrency: 2,
        // Infrastructure errors are worth a redelivery (retryable), everything else ends the synthesis.
        isTransient: isRetryable,
        record: async (m: SynthAssembled) => {
          records.set(m.synthesisId, (records.get(m.synthesisId) ?? 0) + 1);
          await bus.publish<SynthCompleted>(
            eventSubjects.completed(m.synthesisId),
            { ...m, completedAt: new Date().toISOString() },
            { [HEADERS.synthesisId]: m.synthesisId, [HEADERS.msgId]: `completed:${m.synthesisId}` },
          );
        },
      }),
    );
  }
  // A was given one URL; the cluster told it about the others.
  expect(a.nc.info?.server_name).toBe(victim);

  const run = Date.now().toString(36);
  const ids = Array.from({ length: N }, (_, i) => `c${run}-${i}`);
  const sets = [['liba'], ['libb'], ['liba', 'libb'], ['libc'], ['liba', 'libc']];
  const submitErrors: string[] = [];
  let outage: Promise<void> | undefined;
  let completedAtKill = -1;
  for (const [i, id] of ids.entries()) {
    if (i === KILL_AFTER) {
      completedAtKill = Object.keys(await subjectCounts('LSE_EVENTS', 'lse.events.synthesis.completed.>')).length;
      outage = (async () => {
        await cluster.kill(victim); // SIGKILL by pid
        await sleep(DOWN_MS);
        await cluster.restart(victim);
      })();
    }
    const req: SynthRequested = {
      v: 1,
      synthesisId: id,
      requestedAt: new Date().toISOString(),
      manifest: {
        apiVersion: 'lse.dev/v1',
        kind: 'DependencyManifest',
        metadata: { name: `m${i}` },
        base: 'scratch',
        require: sets[i % sets.length]!.map((name) => ({ name })),
      } as SynthRequested['manifest'],
    };
    const headers = { [HEADERS.synthesisId]: id, [HEADERS.msgId]: `requested:${id}` };
    const publish = async () => {
      try {
        await client.publish(SUBJECTS.requested, req, headers);
      } catch (e) {
        submitErrors.push(`${id}: ${(e as Error).message}`);
      }
    };
    await publish();
    if (i % 4 === 0) await publish(); // a client that retries: same Nats-Msg-Id
    if (i >= KILL_AFTER - 1) await sleep(SUBMIT_EVERY_MS); // a burst first, so work is in flight at the kill
  }
  await outage;

  // Every synthesis reaches its completed event (or the wait ends and the assertions say what is missing).
  const deadline = Date.now() + 60_000;
  let completed: Record<string, number> = {};
  while (Date.now() < deadline) {
    completed = await subjectCounts('LSE_EVENTS', 'lse.events.synthesis.completed.>');
    if (Object.keys(completed).length >= N) break;
    await sleep(500);
  }
  // ...and the work queue drains: every message acknowledged, nothing dead-lettered.
  let workLeft = -1;
  while (Date.now() < deadline) {
    workLeft = (await jsApi(() => jsm.streams.info('LSE_WORK'))).state.messages;
    if (workLeft === 0) break;
    await sleep(500);
  }

  process.stderr.write(
    `[cluster test] killed ${victim} after ${KILL_AFTER} requests (${completedAtKill} completed by then); ` +
      `bus warnings: ${JSON.stringify(countBy(warnings))}; recorder runs: ${[...records.values()].reduce((x, y) => x + y, 0)} for ${records.size} syntheses\n`,
  );
  expect(submitErrors).toEqual([]);
  expect(a.nc.info?.server_name).not.toBe(victim); // A moved to a live node by itself
  expect(completedAtKill).toBeLessThan(N); // the kill happened with work still to do
  expect(Object.keys(completed).sort()).toEqual(ids.map((id) => eventSubjects.completed(id)).sort());
  expect(Object.values(completed).every((n) => n === 1)).toBe(true); // once each in LSE_EVENTS
  expect(await subjectCounts('LSE_EVENTS', 'lse.events.synthesis.failed.>')).toEqual({});
  expect([...records.keys()].sort()).toEqual([...ids].sort()); // recorded: each id, no other
  expect(workLeft).toBe(0);

  // The killed node is back as a current replica of both streams.
  for (const s of ['LSE_WORK', 'LSE_EVENTS'])
    expect(await allCurrent(s)).toEqual(cluster.nodes.map((n) => n.name).sort());
});

it('without a majority a publish fails after its retry budget with a retryable error, and works again once the nodes are back', async () => {
  const bus = await NatsBus.connect(cluster.urls, { name: 'quorum-test', publishTimeoutMs: 2_000 });
  buses.push(bus);
  const before = Object.keys(await subjectCounts('LSE_EVENTS', 'lse.events.synthesis.completed.>')).length;
  const lose = cluster.nodes.slice(1).map((n) => n.name); // two of three: no majority left
  for (const n of lose) await cluster.kill(n);
  const subject = eventSubjects.progress('quorum-test');
  const err = await bus.publish(subject, { v: 1 }, { [HEADERS.msgId]: 'quorum-test:1' }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isLseError(err)).toBe(true);
  expect(err).toMatchObject({ code: 'UNAVAILABLE', retryable: true, details: { subject } });
  expect((err as Error).message).toMatch(/no PubAck after \d+ attempts .*a majority of its nodes/);
  await Promise.all(lose.map((n) => cluster.restart(n)));
  await bus.publish(subject, { v: 1 }, { [HEADERS.msgId]: 'quorum-test:1' });
  expect(await subjectCounts('LSE_EVENTS', subject)).toEqual({ [subject]: 1 });
  // Everything acknowledged before (the first test's events) is still there after two nodes died.
  expect(Object.keys(await subjectCounts('LSE_EVENTS', 'lse.events.synthesis.completed.>')).length).toBe(before);
});

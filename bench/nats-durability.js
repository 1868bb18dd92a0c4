'use strict';
/**
 * What durable acknowledgements cost: JetStream publish latency (p50/p99, one publish at a time,
 * each awaiting its PubAck) and throughput (publishes/s with several in flight) through NatsBus,
 * on nats-servers this script starts itself:
 *   R1 default  one server, nats-server's lazy fsync (sync_interval 2 min): the old local default
 *   R1 always   one server, `sync_interval: always` (fsync before every PubAck)
 *   R3 default  three-node cluster on loopback, stream R3, lazy fsync
 *   R3 always   three-node cluster, stream R3, fsync before every PubAck
 * The configurations are measured in alternating rounds in the same run, so load from anything
 * else on the machine spreads over all of them; ratios are against `R1 default`. Needs the built
 * packages (`npm run build`) and nats-server (infra/local/build-servers.sh).
 *
 *   node bench/nats-durability.js [--messages 2000] [--inflight 32] [--size 1024] [--rounds 4] [--no-cluster] [--json]
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { now, stats, machine, fmt, fmtMs, fmtRatio, table, progress } = require('./lib');

function parseArgs(argv) {
  const o = { messages: 2000, inflight: 32, size: 1024, rounds: 4, cluster: true, json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = () => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 1) throw new Error(`${a} needs a positive whole number`);
      return v;
    };
    if (a === '--messages') o.messages = num();
    else if (a === '--inflight') o.inflight = num();
    else if (a === '--size') o.size = num();
    else if (a === '--rounds') o.rounds = num();
    else if (a === '--no-cluster') o.cluster = false;
    else if (a === '--json') o.json = true;
    else if (a === '-h' || a === '--help') {
      process.stdout.write(
        'node bench/nats-durability.js [--messages N] [--inflight N] [--size BYTES] [--rounds N] [--no-cluster] [--json]\n',
      );
      process.exit(0);
    } else throw new Error(`unknown option ${a} (see --help)`);
  }
  return o;
}

function load() {
  try {
    return { testing: require('@lse/testing'), nats: require('@lse/adapter-nats'), jsm: require('@nats-io/jetstream') };
  } catch (e) {
    throw new Error(`cannot load the built packages (${e.message}); run 'npm run build' first`);
  }
}

const STREAM = { name: 'BENCH', subjects: ['bench.>'] };

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const { testing, nats, jsm: js } = load();
  const binary = testing.natsServerBinary();
  // Stores on a real disk (not a tmpfs): fsync must reach the device for the numbers to mean anything.
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lse-bench-nats-'));
  const fsType = (() => {
    try {
      return require('node:child_process')
        .execFileSync('df', ['--output=fstype', root], { encoding: 'utf8' })
        .trim()
        .split('\n')
        .pop();
    } catch {
      return 'unknown';
    }
  })();
  const configs = [
    { label: 'R1 default', size: 1, sync: 'default' },
    { label: 'R1 always', size: 1, sync: 'always' },
    ...(o.cluster
      ? [
          { label: 'R3 default', size: 3, sync: 'default' },
          { label: 'R3 always', size: 3, sync: 'always' },
        ]
      : []),
  ];
  const payload = { v: 1, pad: 'x'.repeat(Math.max(0, o.size - 20)) };
  try {
    for (const c of configs) {
      progress(`starting ${c.label} (${c.size} nats-server${c.size > 1 ? 's' : ''})`);
      c.cluster = await testing.NatsCluster.start({
        size: c.size,
        sync: c.sync,
        binary,
        dir: path.join(root, c.label.replace(' ', '-')),
      });
      c.bus = await nats.NatsBus.connect(c.cluster.urls, { name: `bench-${c.label}`, streams: [STREAM] });
      const jsm = await js.jetstreamManager(c.bus.nc);
      await nats.ensureStream(jsm, {
        ...STREAM,
        subjects: [...STREAM.subjects],
        retention: js.RetentionPolicy.Limits,
        storage: js.StorageType.File,
        num_replicas: c.size,
        duplicate_window: 120e9,
        max_age: 0,
      });
      const v = await c.cluster.monitor(0, 'varz');
      if (Boolean(v.jetstream.config.sync_always) !== (c.sync === 'always'))
        throw new Error(`${c.label}: nats-server reports sync_always=${v.jetstream.config.sync_always}`);
      c.latency = [];
      c.tput = [];
      c.seq = 0;
    }
    const perRound = Math.ceil(o.messages / o.rounds);
    const publish = (c) => c.bus.publish(`bench.${c.seq}`, payload, { 'Nats-Msg-Id': `bench:${c.seq++}` });
    for (const c of configs) for (let i = 0; i < 50; i++) await publish(c); // warm-up
    for (let r = 1; r <= o.rounds; r++) {
      for (const c of configs) {
        progress(`round ${r}/${o.rounds}: ${c.label}`);
        for (let i = 0; i < perRound; i++) {
          const t = now();
          await publish(c);
          c.latency.push(now() - t);
        }
        // Throughput: `inflight` publishers, each awaiting its PubAck before the next.
        const t0 = now();
        let left = perRound;
        await Promise.all(
          Array.from({ length: o.inflight }, async () => {
            while (left-- > 0) await publish(c);
          }),
        );
        c.tput.push({ n: perRound, ms: now() - t0 });
      }
    }
    const base = configs[0];
    const rate = (c) => c.tput.reduce((a, x) => a + x.n, 0) / (c.tput.reduce((a, x) => a + x.ms, 0) / 1000);
    const rows = configs.map((c) => {
      const s = stats(c.latency);
      const b = stats(base.latency);
      return {
        label: c.label,
        nodes: c.size,
        sync: c.sync,
        p50: s.p50,
        p99: s.p99,
        mean: s.mean,
        perSecond: rate(c),
        p50Ratio: s.p50 / b.p50,
        rateRatio: rate(c) / rate(base),
      };
    });
    const result = { machine: machine(), fsType, options: o, rows };
    if (o.json) {
      process.stdout.write(JSON.stringify(result, null, 2) + '\n');
    } else {
      table(
        `JetStream publish through NatsBus (${o.size} B payload, file storage on ${fsType}; latency: ${o.messages} publishes one at a time; publishes/s: ${o.messages} with ${o.inflight} in flight)`,
        ['config', 'p50', 'p99', 'mean', 'p50 vs R1 default', 'publishes/s', 'vs R1 default'],
        rows.map((r) => [
          r.label,
          fmtMs(r.p50),
          fmtMs(r.p99),
          fmtMs(r.mean),
          fmtRatio(r.p50Ratio),
          fmt(r.perSecond),
          fmtRatio(r.rateRatio),
        ]),
      );
      const m = result.machine;
      process.stdout.write(
        `\nmachine: ${m.cpus} cpus (${m.cpuModel}), node ${m.node}, load average ${m.loadAverage.join(' ')}\n`,
      );
    }
  } finally {
    for (const c of configs) {
      if (c.bus) await c.bus.close().catch(() => undefined);
      if (c.cluster) await c.cluster.stop().catch(() => undefined);
    }
    fs.rmSync(root, { recursive: true, force: true });
  }
}

main().catch((e) => {
  process.stderr.write(`nats-durability: ${e.stack || e.message}\n`);
  process.exit(1);
});

'use strict';
/**
 * The node agent's seeding alone, many rounds (bench/README.md, lse-node): a new combination of
 * fragments already on the node (jq + curl + a file of its own), synthesized through the gateway
 * (not timed), then seeded through the agent's control socket (timed: the round trip, and the
 * agent's own phases), run once with `ctr run --rm --snapshotter lse … true` (as `lse node run`
 * does, so containerd has the same work behind it) and removed. Prints p50 / least / p90 of each
 * phase; `--out FILE` appends the rounds as JSON lines, so runs against two builds of the agent,
 * alternated, can be compared from the same period of machine load. The first round after a
 * start of the agent is dropped (connections, JIT).
 *
 * Needs the stack with the node (root), the `minimal` base and curl and jq imported, as
 * bench/node.js. Usage: node bench/node-seed.js [--rounds N] [--out FILE];
 * node bench/node-seed.js --report FILE prints the table of the rounds collected in FILE.
 */
const { spawnSync } = require('node:child_process');
const { appendFileSync, readFileSync } = require('node:fs');
const { request } = require('node:http');
const { now } = require('./lib');

const env = process.env;
const args = process.argv.slice(2);
const arg = (name, def) => (args.includes(name) ? args[args.indexOf(name) + 1] : def);
const ROUNDS = Math.max(2, Number(arg('--rounds', '12')));
const OUT = arg('--out', '');
const REPORT = arg('--report', '');
for (const v of ['LSE_SERVER', 'LSE_TOKEN', 'CONTAINERD_ADDRESS', 'LSE_NODE_CONTROL_SOCKET'])
  if (!REPORT && !env[v]) {
    console.error(
      `bench/node-seed.js needs ${v}: LSE_NODE=1 bash infra/local/stack.sh up && eval "$(LSE_NODE=1 bash infra/local/stack.sh env)"`,
    );
    process.exit(2);
  }
const HOST = REPORT ? '' : new URL(env.LSE_SERVER).host;
const run = Date.now().toString(36);

function control(method, path, body) {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath: env.LSE_NODE_CONTROL_SOCKET,
        agent: false,
        method,
        path,
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        let t = '';
        res.on('data', (c) => (t += c));
        res.on('end', () => (res.statusCode < 300 ? resolve(JSON.parse(t)) : reject(new Error(t))));
      },
    );
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

async function main() {
  const rows = [];
  for (let r = 0; r < ROUNDS; r++) {
    const name = `bench-seed-${run}-${r}`;
    const manifest = {
      apiVersion: 'lse.dev/v1',
      kind: 'DependencyManifest',
      metadata: { name },
      base: 'minimal',
      require: [{ name: 'jq' }, { name: 'curl' }],
      files: [{ path: `/etc/${name}`, content: `${run} ${r}\n` }],
    };
    const res = await fetch(new URL('/v1/syntheses', env.LSE_SERVER), {
      method: 'POST',
      headers: { authorization: `Bearer ${env.LSE_TOKEN}`, 'content-type': 'application/json', prefer: 'wait=600' },
      body: JSON.stringify({ manifest }),
    });
    const syn = await res.json();
    if (syn.status !== 'completed') throw new Error(`synthesis ${syn.id} ${syn.status}`);
    const ref = `${HOST}/synth/${name}:lse`;
    const t = now();
    const s = await control('POST', '/images', {
      ref,
      manifestDigest: syn.result.manifestDigest,
      configDigest: syn.result.configDigest,
      synthesisId: syn.id,
    });
    const seedMs = now() - t;
    const c = spawnSync(
      'ctr',
      ['--address', env.CONTAINERD_ADDRESS, 'run', '--rm', '--snapshotter', 'lse', ref, name, 'true'],
      { encoding: 'utf8' },
    );
    if (c.status !== 0) throw new Error(`ctr run failed: ${c.stderr}`);
    await control('POST', '/images/remove', { ref });
    const work = s.ms.read + s.ms.cache + s.ms.snapshots + s.ms.register;
    const row = {
      seedMs,
      agentMs: work,
      read: s.ms.read,
      cache: s.ms.cache,
      snapshots: s.ms.snapshots,
      register: s.ms.register,
    };
    process.stderr.write(
      `[bench node-seed] round ${r + 1}/${ROUNDS}: ${JSON.stringify(row, (k, v) => (typeof v === 'number' ? +v.toFixed(1) : v))}\n`,
    );
    if (r > 0) rows.push(row);
  }
  if (OUT) appendFileSync(OUT, rows.map((x) => JSON.stringify(x)).join('\n') + '\n');
  table(rows, 'first dropped');
}

function table(rows, note) {
  const q = (k, p) => {
    const v = rows.map((x) => x[k]).sort((a, b) => a - b);
    return +v[Math.floor((v.length - 1) * p)].toFixed(1);
  };
  console.log(`agent seeding, ${rows.length} rounds (${note}): p50 / least / p90 in ms`);
  for (const k of Object.keys(rows[0]))
    console.log(
      `  ${k.padEnd(10)} ${String(q(k, 0.5)).padStart(7)} ${String(q(k, 0)).padStart(7)} ${String(q(k, 0.9)).padStart(7)}`,
    );
}

(REPORT
  ? Promise.resolve().then(() =>
      table(
        readFileSync(REPORT, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l)),
        REPORT,
      ),
    )
  : main()
).catch((e) => {
  console.error(e);
  process.exit(1);
});

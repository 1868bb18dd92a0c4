'use strict';
/**
 * lse-node against the conventional route, one run, same machine (docs/NODE.md). Needs the stack
 * with the node (root): LSE_NODE=1 bash infra/local/stack.sh up; eval "$(LSE_NODE=1 bash
 * infra/local/stack.sh env)"; with the `minimal` base, curl and jq imported (the node int test
 * does that). Usage: node bench/node.js [--images N] [--rounds R] [--json]
 *
 * 1. Manifest → first process, for a new combination of fragments already on the node: the
 *    manifest is synthesized once (both routes need it; timed apart), then the agent seeds the
 *    image (its own part: layers checked against the cache, snapshots, content, image record) and
 *    `ctr run --rm --snapshotter lse ... true` runs it, against `ctr images pull` of the same image
 *    from the gateway with the stock overlayfs snapshotter and `ctr run --snapshotter overlayfs`,
 *    on a containerd that holds pkgs/curl already (shared chain prefixes are not unpacked again).
 *    With LSE_NODE_REGISTRY (the agent's registry endpoint, stack.sh env prints it) a third route:
 *    plain `ctr images pull --snapshotter lse` of another new combination through that endpoint
 *    (the agent records every chain ID from the cache before it relays the manifest) + `ctr run`.
 * 2. Disk used on the node and bytes transferred for N images over shared fragments (curl, jq
 *    and one small fragment of their own each, at different chain positions): the agent's
 *    fragment directories against overlayfs snapshots, fragment/layer bytes read against the
 *    compressed layers containerd fetched.
 */
const { spawnSync } = require('node:child_process');
const { mkdtempSync, writeFileSync } = require('node:fs');
const { request } = require('node:http');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const { now } = require('./lib');

const env = process.env;
const args = process.argv.slice(2);
const IMAGES = Number(args[args.indexOf('--images') + 1] > 0 ? args[args.indexOf('--images') + 1] : 20);
const JSON_OUT = args.includes('--json');
const ROUNDS = Number(args[args.indexOf('--rounds') + 1] > 0 ? args[args.indexOf('--rounds') + 1] : 5);
const SERVER = env.LSE_SERVER;
const TOKEN = env.LSE_TOKEN;
const CTRD = env.CONTAINERD_ADDRESS;
const CONTROL = env.LSE_NODE_CONTROL_SOCKET;
const ROOT = env.LSE_NODE_ROOT;
const REGISTRY = env.LSE_NODE_REGISTRY; // optional: the mirror route
if (!SERVER || !TOKEN || !CTRD || !CONTROL || !ROOT) {
  console.error(
    'bench/node.js needs the stack with the node: LSE_NODE=1 bash infra/local/stack.sh up && eval "$(LSE_NODE=1 bash infra/local/stack.sh env)"',
  );
  process.exit(2);
}
const HOST = new URL(SERVER).host;
const repo = join(__dirname, '..');
const run = Date.now().toString(36);
const work = mkdtempSync(join(tmpdir(), 'lse-bench-node-'));
const log = (s) => process.stderr.write(`[bench node] ${s}\n`);

function sh(cmd, argv, opts = {}) {
  const r = spawnSync(cmd, argv, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  if (r.status !== 0 && !opts.allowFail) throw new Error(`${cmd} ${argv.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r;
}
const ctr = (...a) => sh('ctr', ['--address', CTRD, ...a]);
const lse = (...a) => sh('node', [join(repo, 'apps/cli/bin/lse.js'), '--server', SERVER, ...a], { cwd: repo });

function control(method, path, body) {
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath: CONTROL, agent: false, method, path, headers: { 'content-type': 'application/json' } },
      (res) => {
        let t = '';
        res.on('data', (c) => {
          t += c;
        });
        res.on('end', () => (res.statusCode < 300 ? resolve(JSON.parse(t)) : reject(new Error(t))));
      },
    );
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

async function api(method, path, body, headers = {}) {
  const res = await fetch(new URL(path, SERVER), {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...headers },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: await res.json().catch(() => undefined) };
}

function manifestFile(name, require, content) {
  const p = join(work, `${name}.json`);
  writeFileSync(
    p,
    JSON.stringify({
      apiVersion: 'lse.dev/v1',
      kind: 'DependencyManifest',
      metadata: { name },
      base: 'minimal',
      require: require.map((n) => ({ name: n })),
      files: [{ path: `/etc/${name}`, content }],
    }),
  );
  return p;
}

const du = (dir) => Number(sh('du', ['-sxb', dir], { allowFail: true }).stdout.split('\t')[0] || 0);
const overlayDir = () => join(env.LSE_STATE_DIR || '', 'containerd/root/io.containerd.snapshotter.v1.overlayfs');

/**
 * The mirror route on a new combination of its own (jq + curl + a file): synthesized first (not
 * timed), then `ctr images pull --snapshotter lse` through the agent's registry endpoint and
 * `ctr run --snapshotter lse`; the agent's extractPrepares must not move.
 */
async function mirrorRoute(r) {
  const manifest = JSON.parse(
    require('node:fs').readFileSync(
      manifestFile(`bench-mir-${run}-${r}`, ['jq', 'curl'], `${run} mirror ${r}\n`),
      'utf8',
    ),
  );
  const syn = (await api('POST', '/v1/syntheses', { manifest }, { prefer: 'wait=600' })).body;
  const ref = `${REGISTRY}/synth/${syn.key.slice(7)}:latest`;
  const before = await control('GET', '/state');
  let pullMs = 0;
  // The registry finds a synthesis by key through a projection that may lag its completion by a moment.
  for (let tries = 1; ; tries++) {
    const t = now();
    const p = sh(
      'ctr',
      ['--address', CTRD, 'images', 'pull', '--plain-http', '--user', `lse:${TOKEN}`, '--snapshotter', 'lse', ref],
      { allowFail: tries < 10 },
    );
    pullMs = now() - t;
    if (p.status === 0) break;
    await new Promise((res) => setTimeout(res, 500));
  }
  const t = now();
  ctr('run', '--rm', '--snapshotter', 'lse', ref, `bench-mir-${run}-${r}`, 'true');
  const runMs = now() - t;
  const after = await control('GET', '/state');
  ctr('images', 'rm', '--sync', ref);
  const c = (s, k) => s.counters[k] || 0;
  return {
    mirrorPullMs: pullMs,
    mirrorRunMs: runMs,
    mirrorMs: pullMs + runMs,
    mirrorExtractPrepares: c(after, 'extractPrepares') - c(before, 'extractPrepares'),
    mirrorPrepared: c(after, 'registryImagesPrepared') - c(before, 'registryImagesPrepared'),
  };
}

async function main() {
  const { buildFragment } = require('@lse/engine');
  const { generateKeyPair, publicKeyOf, formatKey } = require('@lse/core');
  const out = {};

  // Warm the node: curl and jq's fragments in the agent's cache, pkgs/curl in overlayfs.
  log('warming: lse node run (curl, jq) and ctr pull pkgs/curl with overlayfs');
  lse('node', 'run', manifestFile(`bench-warm-${run}`, ['curl', 'jq'], 'warm\n'), '--', 'true');
  const curlRef = `${HOST}/pkgs/curl:latest`;
  ctr('images', 'pull', '--plain-http', '--user', `lse:${TOKEN}`, '--snapshotter', 'overlayfs', curlRef);

  // 1. A new combination: jq + curl with a file of its own, synthesized once, then both routes;
  //    ROUNDS times (each a combination of its own), the median reported.
  const rounds = [];
  for (let r = 0; r < ROUNDS; r++) {
    const manifest = JSON.parse(
      require('node:fs').readFileSync(manifestFile(`bench-new-${run}-${r}`, ['jq', 'curl'], `${run} ${r}\n`), 'utf8'),
    );
    let t = now();
    const syn = (await api('POST', '/v1/syntheses', { manifest }, { prefer: 'wait=600' })).body;
    const synthMs = now() - t;
    const lref = `${HOST}/synth/bench-${run}-${r}:lse`;
    t = now();
    const seeded = await control('POST', '/images', {
      ref: lref,
      manifestDigest: syn.result.manifestDigest,
      configDigest: syn.result.configDigest,
      synthesisId: syn.id,
    });
    const seedMs = now() - t;
    t = now();
    ctr('run', '--rm', '--snapshotter', 'lse', lref, `bench-lse-${run}-${r}`, 'true');
    const lseRunMs = now() - t;
    await control('POST', '/images/remove', { ref: lref });
    const oref = `${HOST}/synth/${syn.key.slice(7)}:latest`;
    t = now();
    ctr('images', 'pull', '--plain-http', '--user', `lse:${TOKEN}`, '--snapshotter', 'overlayfs', oref);
    const pullMs = now() - t;
    t = now();
    ctr('run', '--rm', '--snapshotter', 'overlayfs', oref, `bench-ovl-${run}-${r}`, 'true');
    const runMs = now() - t;
    ctr('images', 'rm', '--sync', oref);
    const mirror = REGISTRY ? await mirrorRoute(r) : {};
    const round = {
      synthesisMs: synthMs,
      layers: seeded.layers,
      fragmentsMaterialized: seeded.materialized,
      agentSeedMs: seedMs,
      read: seeded.ms.read,
      cache: seeded.ms.cache,
      snapshots: seeded.ms.snapshots,
      register: seeded.ms.register,
      // When containerd's parts finished, from the end of the read (the agent reports them since the seeding overlaps them).
      contentDoneMs: seeded.ms.done?.content ?? 0,
      prepareDoneMs: seeded.ms.done?.prepare ?? 0,
      imageDoneMs: seeded.ms.done?.image ?? 0,
      agentWorkMs: seeded.ms.read + seeded.ms.cache + seeded.ms.snapshots + seeded.ms.register,
      lseCtrRunMs: lseRunMs,
      lseMs: seedMs + lseRunMs,
      ctrPullMs: pullMs,
      ctrRunMs: runMs,
      conventionalMs: pullMs + runMs,
      ratio: (pullMs + runMs) / (seedMs + lseRunMs),
      ...mirror,
      ...(REGISTRY ? { ratioMirror: (pullMs + runMs) / mirror.mirrorMs } : {}),
    };
    log(
      `first process, round ${r + 1}/${ROUNDS}: ${JSON.stringify(Object.fromEntries(Object.entries(round).map(([k, v]) => [k, +v.toFixed(1)])))}`,
    );
    rounds.push(round);
  }
  const median = (k) => {
    const v = rounds.map((x) => x[k]).sort((a, b) => a - b);
    return v[Math.floor((v.length - 1) / 2)];
  };
  const f1 = Object.fromEntries(Object.keys(rounds[0]).map((k) => [k, +median(k).toFixed(1)]));
  out.firstProcess = {
    rounds: ROUNDS,
    median: f1,
    agentWorkMsMin: +Math.min(...rounds.map((x) => x.agentWorkMs)).toFixed(1),
  };

  // 2. N images over shared fragments, each with one small fragment of its own.
  const key = generateKeyPair(`bench-node-${run}`).secretKey;
  const prefix = `bn${run}`;
  await api('POST', '/v1/keys', { publicKey: formatKey(publicKeyOf(key)), scopes: [`${prefix}*`] });
  const before = await control('GET', '/state');
  const overlayBefore = du(overlayDir());
  const contentDir = join(env.LSE_STATE_DIR || '', 'containerd/root/io.containerd.content.v1.content');
  const contentBefore = du(contentDir);
  const refs = [];
  for (let i = 0; i < IMAGES; i++) {
    // Names spread over the alphabet so the own fragment lands at different chain positions.
    const name = `${prefix}${String.fromCharCode(97 + (i % 26))}${i}`;
    const data = Buffer.alloc(64 * 1024, `${name}\n`);
    const { fragment, blob } = buildFragment({
      entries: [
        {
          path: `usr/share/${name}/data`,
          type: 'file',
          mode: 0o644,
          uid: 0,
          gid: 0,
          mtime: 0,
          size: data.length,
          data,
        },
      ],
      name,
      version: '1.0.0',
      scheme: 'semver',
      key,
      epoch: 0,
      source: { type: 'test' },
    });
    await api('POST', '/v1/fragments', { fragment, blob: blob.toString('base64') });
    const rec = await api(
      'POST',
      '/v1/syntheses',
      {
        manifest: JSON.parse(
          require('node:fs').readFileSync(manifestFile(`bench-disk-${run}-${i}`, ['curl', 'jq', name], 'x\n'), 'utf8'),
        ),
      },
      { prefer: 'wait=300' },
    );
    const id = rec.body.key.slice(7);
    const lref = `${HOST}/synth/${id}:node`;
    await control('POST', '/images', { ref: lref, manifestDigest: rec.body.result.manifestDigest });
    refs.push(lref);
    const oref = `${HOST}/synth/${id}:latest`;
    // The registry finds a synthesis by key through a projection that may lag its completion by a moment.
    for (let tries = 1; ; tries++) {
      const r = sh(
        'ctr',
        [
          '--address',
          CTRD,
          'images',
          'pull',
          '--plain-http',
          '--user',
          `lse:${TOKEN}`,
          '--snapshotter',
          'overlayfs',
          oref,
        ],
        { allowFail: tries < 10 },
      );
      if (r.status === 0) break;
      await new Promise((res) => setTimeout(res, 500));
    }
    refs.push(oref);
  }
  const after = await control('GET', '/state');
  out.disk = {
    images: IMAGES,
    agentFragmentDirBytes: after.cache.bytes - before.cache.bytes,
    agentCacheTotalBytes: after.cache.bytes, // every fragment directory these images use, shared closure included
    agentBytesFetched: (after.counters.bytesFetched || 0) - (before.counters.bytesFetched || 0),
    overlayfsSnapshotBytes: du(overlayDir()) - overlayBefore,
    overlayfsBytesTransferred: du(contentDir) - contentBefore, // content store growth: blobs are kept once by digest
  };
  out.disk.ratioDisk = +(out.disk.overlayfsSnapshotBytes / Math.max(1, out.disk.agentFragmentDirBytes)).toFixed(1);
  log(`disk: ${JSON.stringify(out.disk)}`);
  for (const r of refs) {
    if (r.endsWith(':node')) await control('POST', '/images/remove', { ref: r });
    else ctr('images', 'rm', '--sync', r);
  }
  ctr('images', 'rm', '--sync', curlRef);
  if (JSON_OUT) process.stdout.write(JSON.stringify(out, null, 2) + '\n');
  else {
    const f = out.firstProcess.median;
    console.log(
      `manifest → first process (new combination, fragments on the node; median of ${out.firstProcess.rounds} rounds; synthesis ${f.synthesisMs} ms, needed by both routes, not counted)`,
    );
    console.log(
      `  lse-node seed + ctr run --snapshotter lse   ${f.lseMs} ms (agent seeding ${f.agentSeedMs} ms over the control socket for ${f.layers} layers, ${f.agentWorkMs} ms of it in the agent (least ${out.firstProcess.agentWorkMsMin}): manifest+config ${f.read}, cache ${f.cache}, snapshot+content ${f.snapshots}, image ${f.register}; ${f.fragmentsMaterialized} fragments materialized; ctr run ${f.lseCtrRunMs} ms)`,
    );
    console.log(
      `  ctr pull + ctr run, overlayfs               ${f.conventionalMs} ms (pull ${f.ctrPullMs} ms, run ${f.ctrRunMs} ms)`,
    );
    if (REGISTRY)
      console.log(
        `  ctr pull via the agent's endpoint + ctr run, lse   ${f.mirrorMs} ms (pull ${f.mirrorPullMs} ms, run ${f.mirrorRunMs} ms; extract Prepares ${f.mirrorExtractPrepares}, images prepared by the endpoint ${f.mirrorPrepared})`,
      );
    console.log(
      `  ratio                                       ${f.ratio}×${REGISTRY ? ` (overlayfs route / mirror route ${f.ratioMirror}×)` : ''}`,
    );
    const d = out.disk;
    console.log(`${d.images} images over shared fragments`);
    console.log(
      `  disk added: agent ${(d.agentFragmentDirBytes / 1e6).toFixed(1)} MB, overlayfs ${(d.overlayfsSnapshotBytes / 1e6).toFixed(1)} MB (${d.ratioDisk}×); the agent's whole cache ${(d.agentCacheTotalBytes / 1e6).toFixed(1)} MB`,
    );
    console.log(
      `  transferred: agent ${(d.agentBytesFetched / 1e6).toFixed(1)} MB, containerd ${(d.overlayfsBytesTransferred / 1e6).toFixed(1)} MB`,
    );
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

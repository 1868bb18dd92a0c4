'use strict';
/**
 * Assembly throughput. A fixed seed generates content in a temp dir: `fragments` directories,
 * each with about 200 small files (log-uniform 128 B .. 64 KiB, 50% of the bytes) and one large
 * "library" file (50%); every file is made of 64 KiB pieces, each compressible text (p = 0.65) or
 * random bytes (AES-CTR keystream). Each directory becomes a fragment blob (walkDirectory + normalizeEntries).
 *
 * Timed, all over the same content: packing; `buildLayer` over all fragments (merge, sort,
 * writeTar, deterministic gzip -6, two sha256), with and without readTar of the fragment blobs
 * (the assembler parses each blob); and the shell baselines `tar -c | sha256sum` and
 * `tar -c | gzip -6 | sha256sum` on the directory tree. MB/s = content bytes (sum of file
 * sizes, MB = 10^6 bytes) / wall-clock time. Optionally the whole `lse synth` through the CLI.
 */
const { createCipheriv, createHash } = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { buildLayer, sha256Digest, gzipDeterministic, normalizeEntries, readTar } = require('@lse/core');
const { walkDirectory } = require('@lse/adapter-fs');
const { have, median, now, prng, progress, sample, sampleAsync, shell, table, fmt, fmtMs, fmtRatio } = require('./lib');

const PIECE = 64 * 1024;
const WORDS = (
  'const let return if else for while function import export from struct impl fn pub use mod match ' +
  'self this null true false int char void static inline size_t uint8_t buffer length offset value error result ' +
  'config layer fragment digest manifest resolve version depends provides path mode file directory symlink ' +
  'the a of to and in is that it with as for on be by this are from or have an which'
).split(' ');

/** About 1 MiB of code-like text lines from a seeded PRNG. */
function textCorpus(random) {
  const lines = [];
  let size = 0;
  while (size < 1 << 20) {
    const n = 3 + Math.floor(random() * 10);
    const indent = '    '.repeat(Math.floor(random() * 4));
    const words = Array.from({ length: n }, () => WORDS[Math.floor(random() * WORDS.length)]);
    if (random() < 0.3) words.push(String(Math.floor(random() * 100000)));
    const line = `${indent}${words.join(' ')};\n`;
    lines.push(line);
    size += line.length;
  }
  return Buffer.from(lines.join(''));
}

/** Writes the content tree; returns its shape. Deterministic for a seed. */
function generateContent(root, { totalBytes, fragments, seed }) {
  const random = prng(seed);
  const corpus = textCorpus(random);
  const key = createHash('sha256').update(`lse-bench-${seed}`).digest();
  let stream = 0;
  const piece = (len) => {
    if (random() < 0.65) {
      const off = Math.floor(random() * (corpus.length - len));
      return corpus.subarray(off, off + len);
    }
    const iv = Buffer.alloc(16);
    iv.writeUInt32BE(++stream, 0);
    return createCipheriv('aes-256-ctr', key, iv).update(Buffer.alloc(len));
  };
  const content = (size) => {
    const parts = [];
    for (let left = size; left > 0; left -= PIECE) parts.push(piece(Math.min(PIECE, left)));
    return Buffer.concat(parts);
  };
  const perFragment = Math.floor(totalBytes / fragments);
  let files = 0;
  let bytes = 0;
  const dirs = [];
  for (let f = 0; f < fragments; f++) {
    const tag = String(f).padStart(2, '0');
    const dir = path.join(root, `frag-${tag}`);
    const lib = path.join(dir, 'usr', 'lib', `bench-${tag}`);
    const large = Math.floor(perFragment * 0.5);
    fs.mkdirSync(lib, { recursive: true });
    fs.writeFileSync(path.join(lib, `libbench-${tag}.so`), content(large), { mode: 0o755 });
    fs.symlinkSync(`libbench-${tag}.so`, path.join(lib, `libbench-${tag}.so.1`));
    files += 1;
    bytes += large;
    let small = perFragment - large;
    for (let i = 0; small > 0; i++) {
      const sub = path.join(dir, 'usr', 'share', `bench-${tag}`, `d${String(Math.floor(i / 50)).padStart(2, '0')}`);
      if (i % 50 === 0) fs.mkdirSync(sub, { recursive: true });
      const size = Math.min(small, Math.round(128 * Math.pow(512, random()))); // log-uniform 128 B .. 64 KiB
      fs.writeFileSync(
        path.join(sub, `file-${String(i).padStart(4, '0')}.${random() < 0.5 ? 'txt' : 'dat'}`),
        content(size),
      );
      small -= size;
      files += 1;
      bytes += size;
    }
    dirs.push({ dir, name: `bench-${tag}` });
  }
  return { dirs, files, bytes };
}

/** `lse synth` through the CLI on an embedded store holding the same fragments. */
function cliEndToEnd(work, dirs) {
  const cli = path.resolve(__dirname, '..', 'apps', 'cli', 'bin', 'lse.js');
  if (!fs.existsSync(path.resolve(__dirname, '..', 'apps', 'cli', 'dist', 'main.js')))
    return { skipped: 'apps/cli is not built (npm run build)' };
  const store = path.join(work, 'store');
  const lse = (args) => shell(`node ${JSON.stringify(cli)} -q --store ${JSON.stringify(store)} ${args}`);
  const startup = median([0, 1, 2].map(() => shell(`node ${JSON.stringify(cli)} -V`).ms));
  lse(`keys generate --name bench --out ${JSON.stringify(path.join(work, 'keys'))}`);
  lse(`trust add ${JSON.stringify(path.join(work, 'keys', 'bench.pub'))} --scope 'bench-*'`);
  let t = now();
  for (const d of dirs)
    lse(
      `fragment pack ${JSON.stringify(d.dir)} --name ${d.name} --version 1.0.0 --key ${JSON.stringify(path.join(work, 'keys', 'bench.key'))}`,
    );
  const packMs = now() - t;
  const manifest = path.join(work, 'bench.yaml');
  fs.writeFileSync(
    manifest,
    [
      'apiVersion: lse.dev/v1',
      'kind: DependencyManifest',
      'metadata: { name: bench }',
      'base: scratch',
      'platform: { os: linux, arch: amd64 }',
      'require:',
      ...dirs.map((d) => `  - name: ${d.name}`),
      '',
    ].join('\n'),
  );
  const synth = lse(`synth ${JSON.stringify(manifest)} --out ${JSON.stringify(path.join(work, 'image'))} --force`);
  const again = lse(`synth ${JSON.stringify(manifest)} --out ${JSON.stringify(path.join(work, 'image2'))} --force`);
  return {
    startupMs: startup,
    packMs,
    packProcesses: dirs.length,
    synthMs: synth.ms,
    synthAgainMs: again.ms,
    digest: synth.stdout.trim(),
    sameDigest: synth.stdout.trim() === again.stdout.trim(),
  };
}

async function run({ quick, mb, e2e, keep }) {
  const totalMB = mb ?? (quick ? 16 : 64);
  const fragments = quick ? 8 : 16;
  const runs = quick ? 1 : 3;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'lse-bench-'));
  const root = path.join(work, 'content');
  try {
    progress(`assembly: generating ${totalMB} MB in ${fragments} fragment directories under ${work}`);
    let t = now();
    const shape = generateContent(root, { totalBytes: totalMB * 1e6, fragments, seed: 7 });
    const generateMs = now() - t;
    const mbps = (ms) => shape.bytes / 1e6 / (ms / 1000);

    progress('assembly: packing fragments (walkDirectory + normalizeEntries)');
    let blobs = [];
    const packSamples = await sampleAsync(
      async () => {
        blobs = [];
        for (const d of shape.dirs)
          blobs.push({
            label: `${d.name}@1.0.0`,
            tar: normalizeEntries(await walkDirectory(d.dir), { mtime: 0, label: d.name }).tar,
          });
      },
      { runs },
    );

    progress(`assembly: buildLayer over ${fragments} fragments (${runs} runs)`);
    let parts = [];
    const readSamples = sample(() => (parts = blobs.map((b) => ({ entries: readTar(b.tar), label: b.label }))), {
      runs,
    });
    let layer;
    const buildSamples = sample(() => (layer = buildLayer(parts, { mtime: 0 })), { runs });
    const gzipMs = median(sample(() => gzipDeterministic(layer.tar), { runs: 1 }));
    const shaMs = median(sample(() => sha256Digest(layer.tar), { runs: 1 }));

    const baselines = [];
    if (have('tar') && have('sha256sum')) {
      const tarCmd = `tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -cf - -C ${JSON.stringify(root)} .`;
      for (const [id, cmd] of [
        ['tar | sha256sum', `${tarCmd} | sha256sum`],
        ['tar | gzip -6 | sha256sum', `${tarCmd} | gzip -6 -n | sha256sum`],
      ]) {
        progress(`assembly: baseline ${id} (${runs} runs)`);
        const ms = median(Array.from({ length: runs }, () => shell(cmd).ms));
        baselines.push({ id, command: cmd, ms, mbps: mbps(ms) });
      }
    }

    let cli;
    if (e2e) {
      progress(`assembly: lse synth end to end via the CLI (${fragments} fragment packs, then synth twice)`);
      try {
        cli = cliEndToEnd(work, shape.dirs);
      } catch (e) {
        cli = { skipped: `failed: ${e.message.split('\n')[0].slice(0, 300)}` }; // the CLI is someone else's moving target
      }
    }

    const build = median(buildSamples);
    const read = median(readSamples);
    const result = {
      content: { bytes: shape.bytes, files: shape.files, fragments, generateMs },
      layer: { tarBytes: layer.tar.length, gzipBytes: layer.size, compression: layer.tar.length / layer.size },
      runs,
      pack: { ms: median(packSamples), mbps: mbps(median(packSamples)) },
      readTar: { ms: read, mbps: mbps(read) },
      buildLayer: { ms: build, mbps: mbps(build), gzipMs, sha256Ms: shaMs },
      assemble: { ms: read + build, mbps: mbps(read + build) },
      baselines,
      cli,
    };
    result.ratios = Object.fromEntries(
      baselines.map((b) => [
        b.id,
        { buildLayer: result.buildLayer.mbps / b.mbps, assemble: result.assemble.mbps / b.mbps },
      ]),
    );
    return result;
  } finally {
    if (keep) process.stderr.write(`  .. kept ${work}\n`);
    else fs.rmSync(work, { recursive: true, force: true });
  }
}

function print(r) {
  const c = r.content;
  table(
    `Assembly: ${fmt(c.bytes / 1e6)} MB in ${fmt(c.files)} files, ${c.fragments} fragments -> one layer ` +
      `(tar ${fmt(r.layer.tarBytes / 1e6)} MB, gzip ${fmt(r.layer.gzipBytes / 1e6)} MB, ${fmt(r.layer.compression)}:1); median of ${r.runs}`,
    ['step', 'time', 'MB/s', 'note'],
    [
      ['generate content', fmtMs(c.generateMs), '-', 'seeded; write to temp dir'],
      ['pack fragments', fmtMs(r.pack.ms), fmt(r.pack.mbps), 'walkDirectory + normalizeEntries'],
      ['readTar (fragment blobs)', fmtMs(r.readTar.ms), fmt(r.readTar.mbps), 'parse each blob into entries'],
      ['buildLayer', fmtMs(r.buildLayer.ms), fmt(r.buildLayer.mbps), 'merge, sort, writeTar, gzip -6, 2x sha256'],
      ['  of which gzip -6 (zlib)', fmtMs(r.buildLayer.gzipMs), '-', 'gzipDeterministic(layer tar), timed alone'],
      ['  of which sha256 of tar', fmtMs(r.buildLayer.sha256Ms), '-', 'sha256Digest(layer tar), timed alone'],
      [
        'assemble = readTar + buildLayer',
        fmtMs(r.assemble.ms),
        fmt(r.assemble.mbps),
        'what the assembler does per layer',
      ],
      ...r.baselines.map((b) => [
        b.id,
        fmtMs(b.ms),
        fmt(b.mbps),
        'GNU tar --sort=name, from page cache; pipeline stages run in parallel',
      ]),
    ],
  );
  for (const b of r.baselines) {
    process.stdout.write(
      `  buildLayer / (${b.id}) = ${fmtRatio(r.ratios[b.id].buildLayer)}   assemble / (${b.id}) = ${fmtRatio(r.ratios[b.id].assemble)}\n`,
    );
  }
  if (r.cli) {
    if (r.cli.skipped) process.stdout.write(`  lse synth end to end: skipped (${r.cli.skipped})\n`);
    else {
      table(
        'Assembly: embedded `lse` CLI end to end on the same fragments (wall clock, includes node startup)',
        ['step', 'time', 'MB/s', 'note'],
        [
          ['node startup (lse -V)', fmtMs(r.cli.startupMs), '-', 'per process'],
          [
            `fragment pack x${r.cli.packProcesses}`,
            fmtMs(r.cli.packMs),
            fmt(c.bytes / 1e6 / (r.cli.packMs / 1000)),
            'one process per fragment',
          ],
          [
            'lse synth',
            fmtMs(r.cli.synthMs),
            fmt(c.bytes / 1e6 / (r.cli.synthMs / 1000)),
            'resolve, fetch, verify, assemble, write OCI layout',
          ],
          [
            'lse synth again',
            fmtMs(r.cli.synthAgainMs),
            fmt(c.bytes / 1e6 / (r.cli.synthAgainMs / 1000)),
            r.cli.sameDigest ? 'same image digest' : 'DIFFERENT digest',
          ],
        ],
      );
    }
  }
}

module.exports = { run, print, generateContent };

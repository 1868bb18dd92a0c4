'use strict';
/**
 * Layer sharing across images. A fixed seed makes a synthetic fragment set with shared
 * dependencies: 3 "core" libraries every program needs, 9 mid-level libraries (each needs 1-2
 * cores), 24 programs (each needs 1-3 mid-level libraries); sizes log-uniform, content a mix of
 * compressible text and random bytes. 20 images each ask for 1-3 programs (different combinations);
 * an image holds the dependency closure in install order.
 *
 * Layers are built in process with the engine's deterministic layer builder (`buildLayer`, as the
 * assembler does) under three layouts:
 *   - per fragment (the default within the budget): every fragment its own layer;
 *   - budgeted: the layer budget (`planLayers`) squeezed to 4 layers per image, with popularity =
 *     how many of the 20 images use a fragment, so popular/large fragments stay alone;
 *   - one layer per image (no sharing).
 * Reported: bytes stored (distinct compressed blobs over all 20 images) and bytes a runtime pulls
 * to run all 20 images one after another (it downloads a blob it does not have yet; equal to
 * stored for a fresh runtime), and the ratio to "no sharing".
 */
const { createCipheriv, createHash } = require('node:crypto');
const { buildLayer, planLayers } = require('@lse/core');
const { prng, table, fmtRatio, progress } = require('./lib');

const SEED = Number(process.env.SEED ?? 7);
const random = prng(SEED);
const key = createHash('sha256').update(`sharing-${SEED}`).digest();
let ivn = 0;
const WORDS =
  'the layer fragment digest manifest resolve version depends path file config error value buffer length static'.split(
    ' ',
  );

function content(size) {
  if (random() < 0.5) {
    const iv = Buffer.alloc(16);
    iv.writeUInt32BE(++ivn, 0);
    return createCipheriv('aes-256-ctr', key, iv).update(Buffer.alloc(size));
  }
  const parts = [];
  let n = 0;
  while (n < size) {
    const w = WORDS[Math.floor(random() * WORDS.length)] + (random() < 0.1 ? '\n' : ' ');
    parts.push(w);
    n += w.length;
  }
  return Buffer.from(parts.join('')).subarray(0, size);
}

const logUniform = (lo, hi) => Math.round(Math.exp(Math.log(lo) + random() * (Math.log(hi) - Math.log(lo))));

function fragment(name, size, depends) {
  const files = 1 + Math.floor(random() * 6);
  const entries = [];
  for (let i = 0; i < files; i++) {
    const data = content(Math.max(1, Math.round(size / files)));
    entries.push({
      path: `usr/lib/${name}/f${i}`,
      type: 'file',
      mode: 0o644,
      uid: 0,
      gid: 0,
      mtime: 0,
      size: data.length,
      data,
    });
  }
  return { name, size: entries.reduce((a, e) => a + e.size, 0), depends, entries };
}

const pick = (list, n) => {
  const copy = [...list];
  const out = [];
  while (out.length < n && copy.length) out.push(copy.splice(Math.floor(random() * copy.length), 1)[0]);
  return out;
};

progress('generating fragments');
const frags = new Map();
const cores = ['libc', 'libssl', 'libz'].map((n) => frags.set(n, fragment(n, logUniform(400e3, 2e6), [])).get(n));
const mids = Array.from({ length: 9 }, (_, i) =>
  frags
    .set(
      `libm${i}`,
      fragment(
        `libm${i}`,
        logUniform(50e3, 800e3),
        pick(cores, 1 + Math.floor(random() * 2)).map((f) => f.name),
      ),
    )
    .get(`libm${i}`),
);
const apps = Array.from({ length: 24 }, (_, i) =>
  frags
    .set(
      `app${i}`,
      fragment(
        `app${i}`,
        logUniform(5e3, 400e3),
        pick(mids, 1 + Math.floor(random() * 3)).map((f) => f.name),
      ),
    )
    .get(`app${i}`),
);

/** Dependency closure in install order (dependencies first). */
function closure(roots) {
  const out = [];
  const seen = new Set();
  const visit = (name) => {
    if (seen.has(name)) return;
    seen.add(name);
    for (const d of frags.get(name).depends) visit(d);
    out.push(name);
  };
  roots.forEach(visit);
  return out;
}

const images = [];
const combos = new Set();
while (images.length < 20) {
  const roots = pick(apps, 1 + Math.floor(random() * 3))
    .map((f) => f.name)
    .sort();
  if (combos.has(roots.join(','))) continue;
  combos.add(roots.join(','));
  images.push(closure(roots));
}
const popularity = new Map();
for (const img of images) for (const f of img) popularity.set(f, (popularity.get(f) ?? 0) + 1);

const layerCache = new Map();
function layerOf(names) {
  const k = names.join('+');
  if (!layerCache.has(k)) {
    const l = buildLayer(
      names.map((n) => ({ entries: frags.get(n).entries, label: n })),
      { mtime: 0 },
    );
    layerCache.set(k, { digest: l.digest, size: l.size });
  }
  return layerCache.get(k);
}

function measure(label, plan) {
  progress(label);
  const distinct = new Map();
  let perImage = 0;
  for (const img of images) {
    for (const group of plan(img)) {
      const l = layerOf(group);
      distinct.set(l.digest, l.size);
      perImage += l.size;
    }
  }
  const stored = [...distinct.values()].reduce((a, b) => a + b, 0);
  return { label, blobs: distinct.size, stored, pulled: stored, sumOfImages: perImage };
}

const rows = [
  measure('per-fragment layers (sharing)', (img) => img.map((f) => [f])),
  measure('budget of 4 layers, popularity = images using it', (img) =>
    planLayers(
      img.map((id) => ({ id, size: frags.get(id).size, popularity: popularity.get(id) })),
      4,
    ),
  ),
  measure('one layer per image (no sharing)', (img) => [img]),
];
const none = rows[2];
const mb = (b) => (b / 1e6).toFixed(2);
table(
  `Layer sharing, ${images.length} images over ${frags.size} fragments (seed ${SEED}; sizes in MB = 10^6 bytes, gzip)`,
  ['layout', 'distinct blobs', 'stored MB', 'runtime pulls MB', 'sum of image sizes MB', 'stored vs no sharing'],
  rows.map((r) => [r.label, r.blobs, mb(r.stored), mb(r.pulled), mb(r.sumOfImages), fmtRatio(none.stored / r.stored)]),
);
process.stdout.write(
  `\nfragments per image: ${images.map((i) => i.length).join(' ')}; uses per fragment: max ${Math.max(...popularity.values())}, median ${[...popularity.values()].sort((a, b) => a - b)[Math.floor(popularity.size / 2)]}\n`,
);

#!/usr/bin/env node
'use strict';
/**
 * What accepting a fragment signed over its derivation only costs (against the BUILT packages:
 * npm run build first).
 *
 *   node bench/derivation.js [--fragments N] [--json]
 *
 * With the host's bookworm main InRelease and Packages list (apt's lists, the Debian archive
 * keyring), builds the descriptors of N packages of that index (default 95, the Debian layers of a
 * large image) with their proof, signs each twice: over the whole descriptor (the baseline) and
 * over its derivation only (core signDerivation), and times core acceptFragment over all N:
 *   - descriptor: whole-descriptor signatures, no chain (what every fragment cost before);
 *   - derivation, cold: a fresh DebianChainVerifier (InRelease signature checked once, the
 *     Packages blob read and hashed once, each paragraph recomputed into its descriptor);
 *   - derivation, warm: the same verifier again (verdicts kept per fragment id).
 * The blob store is in memory (what is timed is the check, not the store's read).
 * Prints milliseconds and each ratio to the descriptor baseline, measured in the same run.
 */
const { existsSync, readFileSync } = require('node:fs');
const { performance } = require('node:perf_hooks');
const core = require('../libs/core/dist');
const deb = require('../libs/adapters/deb/dist');

const LISTS = '/var/lib/apt/lists';
const IN_RELEASE = `${LISTS}/deb.debian.org_debian_dists_bookworm_InRelease`;
const PACKAGES = `${LISTS}/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.lz4`;

async function main() {
  const args = process.argv.slice(2);
  const json = args.includes('--json');
  const at = args.indexOf('--fragments');
  const n = at >= 0 ? Number(args[at + 1]) : 95;
  for (const f of [IN_RELEASE, PACKAGES, deb.DEFAULT_DEBIAN_KEYRING])
    if (!existsSync(f))
      throw new Error(`${f} is missing: this bench needs the host's bookworm apt lists and the Debian keyring`);
  const inRelease = readFileSync(IN_RELEASE);
  const packages = await deb.readIndexBytes(PACKAGES);
  const map = new Map([
    [core.sha256Digest(inRelease), inRelease],
    [core.sha256Digest(packages), packages],
  ]);
  const blobs = {
    get: async (d) => {
      const b = map.get(d);
      if (!b) throw new core.LseError('BLOB_UNKNOWN', `no blob ${d}`);
      return b;
    },
    has: async (d) => map.has(d),
  };
  const spans = core.paragraphSpans(packages);
  const step = Math.max(1, Math.floor(spans.length / n));
  const proof = {
    inRelease: core.sha256Digest(inRelease),
    packages: core.sha256Digest(packages),
    path: 'main/binary-amd64/Packages',
    suite: 'Debian/Debian/bookworm',
    date: new Date(0).toISOString(),
  };
  const descriptors = [];
  for (let i = 0; descriptors.length < n && i < spans.length; i += step) {
    const p = core.paragraphAt(packages, spans[i]);
    if (p['Architecture'] !== 'amd64' && p['Architecture'] !== 'all') continue;
    descriptors.push(
      core.indexDescriptor(p, {
        repo: 'http://deb.debian.org/debian',
        derive: { from: 'deb', mergedUsr: true, epoch: 0 },
        proof: { ...proof, paragraph: spans[i] },
      }),
    );
  }
  const { secretKey, publicKey } = core.generateKeyPair('importer');
  const keys = new Map([
    ['importer', { name: 'importer', publicKey: publicKey.key.toString('base64'), scopes: ['*'], revoked: false }],
  ]);
  const whole = descriptors.map((d) => core.signDescriptor(d, secretKey));
  const derived = descriptors.map((d) => core.signDerivation(d, secretKey));
  const keyring = await deb.readDebianKeyring(deb.DEFAULT_DEBIAN_KEYRING);
  const time = async (fs, chain) => {
    const t = performance.now();
    for (const f of fs) {
      const a = await core.acceptFragment(f, keys, chain);
      if (!a.keyName) throw new Error('not accepted');
    }
    return performance.now() - t;
  };
  await time(whole.slice(0, 5)); // warm the JIT for both paths a little
  const baseline = await time(whole);
  const chain = new deb.DebianChainVerifier(blobs, keyring);
  const cold = await time(derived, chain);
  const warm = await time(derived, chain);
  const r = {
    fragments: descriptors.length,
    packagesBytes: packages.length,
    descriptorMs: +baseline.toFixed(1),
    derivationColdMs: +cold.toFixed(1),
    derivationWarmMs: +warm.toFixed(1),
    coldRatio: +(cold / baseline).toFixed(1),
    warmRatio: +(warm / baseline).toFixed(2),
  };
  if (json) console.log(JSON.stringify(r));
  else {
    console.log(`${r.fragments} fragments of bookworm main (Packages ${(r.packagesBytes / 1e6).toFixed(1)} MB)`);
    console.log(`  descriptor signatures           ${r.descriptorMs} ms`);
    console.log(`  derivation + chain, cold         ${r.derivationColdMs} ms (x${r.coldRatio})`);
    console.log(`  derivation + chain, warm (kept)  ${r.derivationWarmMs} ms (x${r.warmRatio})`);
  }
}

main().catch((e) => {
  console.error(e.message);
  process.exit(1);
});

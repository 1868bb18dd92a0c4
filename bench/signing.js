'use strict';
/**
 * Ed25519 verification rate: `verifyBytes` (node:crypto, KeyObject cached per key) against
 * `reference.verify` (tweetnacl, pure JS) over the same canonical descriptor, and against
 * `openssl speed ed25519` (OpenSSL's own loop, the native ceiling on this machine).
 */
const { canonicalBytes, generateKeyPair, reference, signBytes, verifyBytes } = require('@lse/core');
const { syntheticFragment } = require('@lse/core/testing');
const { have, progress, rate, shell, table, fmt, fmtRatio } = require('./lib');

/** A descriptor of realistic size: a library with dependencies and a file index of 14 entries. */
function realisticDescriptor() {
  const d = syntheticFragment({
    name: 'libpng16',
    version: '1.6.43',
    depends: ['zlib >=1.2.13', 'libc6 >=2.34'],
    provides: ['libpng=1.6.43'],
    conflicts: ['libpng12'],
  }).descriptor;
  const file = (path, size) => ({
    path,
    type: 'file',
    mode: 0o644,
    uid: 0,
    gid: 0,
    size,
    digest: `sha256:${Buffer.from(path.padEnd(32, '.')).toString('hex').slice(0, 64)}`,
  });
  const dir = (path) => ({ path, type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0 });
  d.files = [
    dir('usr'),
    dir('usr/lib'),
    dir('usr/lib/x86_64-linux-gnu'),
    file('usr/lib/x86_64-linux-gnu/libpng16.so.16.43.0', 211_312),
    {
      path: 'usr/lib/x86_64-linux-gnu/libpng16.so.16',
      type: 'symlink',
      mode: 0o777,
      uid: 0,
      gid: 0,
      size: 0,
      linkname: 'libpng16.so.16.43.0',
    },
    dir('usr/share'),
    dir('usr/share/doc'),
    dir('usr/share/doc/libpng16'),
    file('usr/share/doc/libpng16/copyright', 5_913),
    file('usr/share/doc/libpng16/changelog.gz', 1_204),
    file('usr/share/doc/libpng16/README', 10_233),
    file('usr/share/doc/libpng16/TODO', 1_488),
    file('usr/share/doc/libpng16/libpng-manual.txt', 224_110),
    file('usr/share/lintian/overrides/libpng16', 44),
  ];
  d.source = {
    type: 'debian',
    package: 'libpng1.6',
    version: '1.6.43-5',
    url: 'http://deb.debian.org/debian/pool/main/libp/libpng1.6/libpng16-16t64_1.6.43-5_amd64.deb',
  };
  d.metadata = {
    description: 'PNG library - runtime (version 1.6)',
    homepage: 'http://libpng.org/pub/png/libpng.html',
  };
  return d;
}

/** Parses `openssl speed ed25519`: the verify/s column of the Ed25519 row, else the "Doing ... verify" line. */
function parseOpensslSpeed(stdout, stderr) {
  const lines = stdout.split('\n');
  const header = lines.find((l) => /verify\/s/.test(l));
  const row = lines.find((l) => /ed25519/i.test(l) && /\d+\.\d+\s*$/.test(l));
  if (header && row) {
    const cols = header.trim().split(/\s+/);
    const nums = row.match(/\d+(?:\.\d+)?(?=\s|$)/g) ?? [];
    const idx = cols.indexOf('verify/s');
    const value = Number(nums[nums.length - (cols.length - idx)]);
    if (Number.isFinite(value) && value > 0) return { verifyPerSecond: value, raw: `${header.trim()} | ${row.trim()}` };
  }
  const doing = `${stderr}\n${stdout}`
    .split('\n')
    .find((l) => /verify/i.test(l) && /ed25519/i.test(l) && /:\s*\d+.*in\s+[\d.]+s/.test(l));
  const m = doing && doing.match(/:\s*(\d+)\s.*in\s+([\d.]+)s/);
  if (m) return { verifyPerSecond: Number(m[1]) / Number(m[2]), raw: doing.trim() };
  return {
    verifyPerSecond: undefined,
    raw: [header, row, doing].filter(Boolean).join(' | ') || stdout.trim().split('\n').slice(-2).join(' | '),
  };
}

async function run({ quick }) {
  const seconds = quick ? 1 : 3;
  const d = realisticDescriptor();
  const msg = canonicalBytes(d);
  const short = Buffer.alloc(32, 7);
  const { publicKey, secretKey } = generateKeyPair('bench');
  const sig = signBytes(msg, secretKey);
  const sigShort = signBytes(short, secretKey);
  if (!sig.equals(reference.sign(msg, secretKey))) throw new Error('node:crypto and tweetnacl signatures differ');
  if (!verifyBytes(msg, sig, publicKey.key) || !reference.verify(msg, sig, publicKey.key))
    throw new Error('a verifier rejected a good signature');
  const bad = Buffer.from(sig);
  bad[10] ^= 1;
  if (verifyBytes(msg, bad, publicKey.key) || reference.verify(msg, bad, publicKey.key))
    throw new Error('a verifier accepted a bad signature');

  // node:crypto is measured in two halves that bracket the other verifiers, so that a change in
  // machine load during the run shows up in both sides of the ratios (the machine is shared).
  const half = seconds / 2;
  const nodeRate = (m, s) => rate(() => verifyBytes(m, s, publicKey.key), { seconds: half, batch: 50 });
  progress(`signing: node:crypto verifyBytes, first half (${half} s + ${half} s)`);
  const nodeA = nodeRate(msg, sig);
  const shortA = nodeRate(short, sigShort);
  progress(`signing: tweetnacl reference.verify (${seconds} s)`);
  const nacl = rate(() => reference.verify(msg, sig, publicKey.key), { seconds, batch: 1 });

  let openssl;
  if (have('openssl')) {
    progress(`signing: openssl speed -elapsed -seconds ${seconds} ed25519 (about ${2 * seconds} s)`);
    try {
      const r = shell(`openssl speed -elapsed -seconds ${seconds} ed25519`);
      openssl = parseOpensslSpeed(r.stdout, r.stderr);
    } catch (e) {
      openssl = { verifyPerSecond: undefined, raw: `failed: ${e.message}` };
    }
  } else openssl = { verifyPerSecond: undefined, raw: 'openssl not found' };
  progress(`signing: node:crypto verifyBytes, second half (${half} s + ${half} s)`);
  const nodeB = nodeRate(msg, sig);
  const shortB = nodeRate(short, sigShort);
  const join = (a, b) => ({
    ops: a.ops + b.ops,
    seconds: a.seconds + b.seconds,
    perSecond: (a.ops + b.ops) / (a.seconds + b.seconds),
    halves: [a.perSecond, b.perSecond],
  });
  const node = join(nodeA, nodeB);
  const nodeShort = join(shortA, shortB);

  return {
    messageBytes: msg.length,
    nodeCrypto: node,
    nodeCryptoShortMessage: nodeShort,
    tweetnacl: nacl,
    openssl,
    ratios: {
      nodeOverTweetnacl: node.perSecond / nacl.perSecond,
      nodeOverOpenssl: openssl.verifyPerSecond ? node.perSecond / openssl.verifyPerSecond : undefined,
      nodeShortOverOpenssl: openssl.verifyPerSecond ? nodeShort.perSecond / openssl.verifyPerSecond : undefined,
    },
  };
}

function print(r) {
  table(
    `Ed25519 verification (message: canonical descriptor of ${fmt(r.messageBytes)} bytes unless noted)`,
    ['verifier', 'verifies/s', 'ops', 'note'],
    [
      [
        'node:crypto verifyBytes',
        fmt(r.nodeCrypto.perSecond),
        r.nodeCrypto.ops,
        `cached KeyObject (the hot path); halves ${r.nodeCrypto.halves.map((x) => fmt(x)).join(' / ')}`,
      ],
      [
        'node:crypto verifyBytes, 32 B',
        fmt(r.nodeCryptoShortMessage.perSecond),
        r.nodeCryptoShortMessage.ops,
        'short message, like openssl speed',
      ],
      ['tweetnacl reference.verify', fmt(r.tweetnacl.perSecond), r.tweetnacl.ops, 'pure JavaScript'],
      [
        'openssl speed ed25519',
        fmt(r.openssl.verifyPerSecond),
        '-',
        'its own loop and short message; -elapsed (wall clock)',
      ],
    ],
  );
  process.stdout.write(`  openssl raw: ${r.openssl.raw}\n`);
  process.stdout.write(
    `  node:crypto / tweetnacl = ${fmtRatio(r.ratios.nodeOverTweetnacl)}   ` +
      `node:crypto / openssl = ${fmtRatio(r.ratios.nodeOverOpenssl)} (32 B message: ${fmtRatio(r.ratios.nodeShortOverOpenssl)})\n`,
  );
}

module.exports = { run, print, parseOpensslSpeed, realisticDescriptor };

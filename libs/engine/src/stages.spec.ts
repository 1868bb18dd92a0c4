/**
 * The fetch, verify and assemble stages called directly over memory ports (origin and cache
 * apart, as with servers): what each copies, refuses, checks and builds, including fragments
 * imported from a Debian Packages index, whose blob is a .deb fetched from the archive on first
 * use and checked against the digest and size the signed index entry gives. The .deb is built and
 * read by dpkg-deb (the real reader, @lse/adapter-deb); only the archive's download is played by
 * the test (a map of served bytes), so it can serve bytes that do not match the index.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import {
  formatParagraph,
  generateKeyPair,
  indexDescriptor,
  isLseError,
  paragraphAt,
  paragraphSpans,
  sha256Digest,
  signDerivation,
  parseManifest,
  publicKeyOf,
  readTar,
  sha256Hex,
  signDescriptor,
  type Acceptance,
  type Fragment,
  type Lock,
  type SecretKey,
} from '@lse/core';
import {
  MemoryBaseRepository,
  MemoryBlobStore,
  MemoryFragmentRepository,
  MemoryTrustStore,
  MemoryVerdictRepository,
} from '@lse/adapter-memory';
import { DebianChainVerifier, readDebBuffer } from '@lse/adapter-deb';
import type * as OpenPgp from 'openpgp' with { 'resolution-mode': 'import' };
import { assembleImage } from './assemble-stage';
import { fetchFragments } from './fetch-stage';
import { buildFragment } from './pack';
import type { DebianArchive, EnginePorts } from './ports';
import { resolveManifest } from './resolve-stage';
import { verifyFragments } from './verify-stage';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const openpgp = require('openpgp') as typeof OpenPgp;

const hasDpkgDeb = spawnSync('dpkg-deb', ['--version'], { stdio: 'ignore' }).status === 0;

function file(path: string, content: string, mode = 0o644) {
  return {
    path,
    type: 'file' as const,
    mode,
    uid: 0,
    gid: 0,
    mtime: 0,
    size: Buffer.byteLength(content),
    data: Buffer.from(content),
  };
}

/** An archive that serves the bytes it was given for a fragment id, and counts downloads. */
class ServedArchive implements DebianArchive {
  readonly served = new Map<string, Buffer>();
  downloads = 0;
  async download(f: Fragment): Promise<Buffer> {
    this.downloads++;
    const b = this.served.get(f.id);
    if (!b) throw new Error(`test archive serves nothing for ${f.descriptor.name}`);
    return b;
  }
  read(deb: Buffer, label: string) {
    return readDebBuffer(deb, label);
  }
}

interface World {
  ports: EnginePorts;
  key: SecretKey;
  hello: Fragment;
  helloBlob: Buffer;
  lock: (require: string[]) => Promise<Lock>;
}

async function world(opts: { debian?: DebianArchive } = {}): Promise<World> {
  const key = generateKeyPair('stage-publisher').secretKey;
  const ports: EnginePorts = {
    fragments: new MemoryFragmentRepository(),
    bases: new MemoryBaseRepository(),
    trust: new MemoryTrustStore(),
    origin: new MemoryBlobStore(),
    cache: new MemoryBlobStore(),
    layers: new MemoryBlobStore(),
    verdicts: new MemoryVerdictRepository(),
    ...(opts.debian ? { debian: opts.debian } : {}),
  };
  await ports.trust.add({
    name: key.name,
    publicKey: publicKeyOf(key).key.toString('base64'),
    scopes: ['*'],
    revoked: false,
  });
  const { fragment: hello, blob: helloBlob } = buildFragment({
    entries: [file('usr/bin/hello', '#!/bin/sh\necho hello\n', 0o755), file('usr/share/doc/hello/README', 'hello')],
    name: 'hello',
    version: '1.0.0',
    scheme: 'semver',
    key,
    epoch: 0,
    source: { type: 'test' },
  });
  await ports.origin.put(hello.descriptor.blob.digest, helloBlob, helloBlob.length);
  await ports.fragments.put(hello);
  const lock = async (require: string[]) => {
    const text = `apiVersion: lse.dev/v1\nkind: DependencyManifest\nmetadata: { name: stages }\nbase: scratch\nplatform: { os: linux, arch: amd64 }\nrequire: [${require.map((n) => `{ name: ${n} }`).join(', ')}]\n`;
    return (await resolveManifest(ports, parseManifest(text, 'test manifest'))).lock;
  };
  return { ports, key, hello, helloBlob, lock };
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  if (!isLseError(e)) throw new Error(`expected an LseError, got ${String(e)}`);
  return e.code;
}

/** The paths of an assembled image's layers, top layer last. */
async function imagePaths(ports: EnginePorts, image: { layers: { digest: string }[] }): Promise<string[][]> {
  const out: string[][] = [];
  for (const l of image.layers) out.push(readTar(gunzipSync(await ports.layers.get(l.digest))).map((e) => e.path));
  return out;
}

describe('fetchFragments', () => {
  it('copies what the cache lacks from the origin, once', async () => {
    const w = await world();
    const lock = await w.lock(['hello']);
    expect(await fetchFragments(w.ports, lock)).toEqual({ copied: 1, bytes: w.helloBlob.length, refused: [] });
    expect(await w.ports.cache.has(w.hello.descriptor.blob.digest)).toBe(true);
    expect(await fetchFragments(w.ports, lock)).toEqual({ copied: 0, bytes: 0, refused: [] });
  });

  it('refuses a blob that does not have the signed size, leaving it out of the cache for the verifier to fail', async () => {
    const w = await world();
    const liar = signDescriptor(
      { ...w.hello.descriptor, name: 'hello-liar', blob: { ...w.hello.descriptor.blob, size: w.helloBlob.length + 1 } },
      w.key,
    );
    await w.ports.fragments.put(liar);
    const r = await fetchFragments(w.ports, await w.lock(['hello-liar']));
    expect(r.copied).toBe(0);
    expect(r.refused).toEqual([expect.stringMatching(/^hello-liar@1\.0\.0: /)]);
    expect(await w.ports.cache.has(liar.descriptor.blob.digest)).toBe(false);
  });

  it('names the fragment whose blob is nowhere when origin and cache are one store (the embedded CLI)', async () => {
    const w = await world();
    const lock = await w.lock(['hello']);
    await w.ports.origin.delete(w.hello.descriptor.blob.digest);
    const ports = { ...w.ports, cache: w.ports.origin };
    await expect(fetchFragments(ports, lock)).rejects.toThrow(
      /blob of fragment hello@1\.0\.0 .* is missing from the store/,
    );
  });
});

describe('verifyFragments', () => {
  it('names the key that vouched for each fragment and records a verdict, so the blob is not read again', async () => {
    const w = await world();
    const lock = await w.lock(['hello']);
    await fetchFragments(w.ports, lock);
    expect(await verifyFragments(w.ports, lock)).toEqual({ [w.hello.id]: 'stage-publisher' });
    await w.ports.cache.delete(w.hello.descriptor.blob.digest);
    await w.ports.origin.delete(w.hello.descriptor.blob.digest);
    expect(await verifyFragments(w.ports, lock)).toEqual({ [w.hello.id]: 'stage-publisher' });
  });

  it('fails a fragment whose key was revoked, and one whose blob does not have the signed size', async () => {
    const w = await world();
    const liar = signDescriptor(
      { ...w.hello.descriptor, name: 'hello-liar', blob: { ...w.hello.descriptor.blob, size: w.helloBlob.length + 1 } },
      w.key,
    );
    await w.ports.fragments.put(liar);
    expect(await codeOf(verifyFragments(w.ports, await w.lock(['hello-liar'])))).toBe('SIZE_MISMATCH');
    await w.ports.trust.revoke('stage-publisher', '2026-01-01T00:00:00.000Z');
    expect(await codeOf(verifyFragments(w.ports, await w.lock(['hello'])))).toBe('KEY_REVOKED');
  });

  it('fails a signed descriptor whose file index does not match its blob', async () => {
    const w = await world();
    const files = w.hello.descriptor.files.map((f) => (f.path === 'usr/bin/hello' ? { ...f, mode: 0o4755 } : f));
    const lying = signDescriptor({ ...w.hello.descriptor, name: 'hello-index', files }, w.key);
    await w.ports.fragments.put(lying);
    await expect(verifyFragments(w.ports, await w.lock(['hello-index']))).rejects.toThrow(
      /hello-index@1\.0\.0 .*: blob does not match its signed file index: 'usr\/bin\/hello' has mode/,
    );
  });
});

describe('assembleImage', () => {
  it('builds the image from the verified blobs, the same bytes every time', async () => {
    const w = await world();
    const lock = await w.lock(['hello']);
    await fetchFragments(w.ports, lock);
    const a = await assembleImage(w.ports, lock, { epoch: 0 });
    const b = await assembleImage(w.ports, lock, { epoch: 0 });
    expect(b.image.manifestDigest).toBe(a.image.manifestDigest);
    expect((await imagePaths(w.ports, a.image)).flat()).toEqual(
      expect.arrayContaining(['usr/bin/hello', 'usr/share/doc/hello/README']),
    );
    expect(a.layerPlan.some((l) => l.fragments.some((f) => f.includes('hello')))).toBe(true);
  });
});

(hasDpkgDeb ? describe : describe.skip)('a package from a Debian index', () => {
  let dir: string;
  let deb: Buffer;
  let other: Buffer;

  /** A .deb built by dpkg-deb: a control file and usr/bin/<name>. */
  function buildDeb(name: string, version: string): Buffer {
    const root = join(dir, `${name}-${version}`);
    mkdirSync(join(root, 'DEBIAN'), { recursive: true });
    mkdirSync(join(root, 'usr/bin'), { recursive: true });
    writeFileSync(
      join(root, 'DEBIAN/control'),
      `Package: ${name}\nVersion: ${version}\nArchitecture: amd64\nMaintainer: LSE tests <tests@lse.invalid>\nDescription: stage test package\n`,
    );
    writeFileSync(join(root, `usr/bin/${name}`), `#!/bin/sh\necho ${name} ${version}\n`, { mode: 0o755 });
    const out = join(dir, `${name}_${version}_amd64.deb`);
    const r = spawnSync('dpkg-deb', ['--root-owner-group', '-Zgzip', '--build', root, out], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`dpkg-deb --build: ${r.stderr}`);
    return readFileSync(out);
  }

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'lse-stages-'));
    deb = buildDeb('jq', '1.7.1-3');
    other = buildDeb('jq', '1.6-2');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** The signed index entry of the .deb (its SHA256 and Size are what the fetcher and verifier check). */
  async function indexed(w: World, bytes: Buffer): Promise<Fragment> {
    const f = signDescriptor(
      indexDescriptor({
        Package: 'jq',
        Version: '1.7.1-3',
        Architecture: 'amd64',
        Filename: 'pool/main/j/jq/jq_1.7.1-3_amd64.deb',
        Size: String(bytes.length),
        SHA256: sha256Hex(bytes),
      }),
      w.key,
    );
    await w.ports.fragments.put(f);
    return f;
  }

  it('is fetched from the archive on first use, then served from the cache', async () => {
    const archive = new ServedArchive();
    const w = await world({ debian: archive });
    const jq = await indexed(w, deb);
    archive.served.set(jq.id, deb);
    const lock = await w.lock(['jq']);
    expect(await fetchFragments(w.ports, lock)).toEqual({ copied: 1, bytes: deb.length, refused: [] });
    expect(await w.ports.cache.has(jq.descriptor.blob.digest)).toBe(true);
    expect(await fetchFragments(w.ports, lock)).toEqual({ copied: 0, bytes: 0, refused: [] });
    expect(archive.downloads).toBe(1);
  });

  it('is refused when the archive serves other bytes than the signed index names, and fails verification', async () => {
    const archive = new ServedArchive();
    const w = await world({ debian: archive });
    const jq = await indexed(w, deb);
    archive.served.set(
      jq.id,
      Buffer.concat([deb.subarray(0, deb.length - 1), Buffer.from([deb[deb.length - 1]! ^ 1])]),
    );
    const lock = await w.lock(['jq']);
    const r = await fetchFragments(w.ports, lock);
    expect(r).toMatchObject({ copied: 0, refused: [expect.stringMatching(/^jq@1\.7\.1-3: /)] });
    expect(await w.ports.cache.has(jq.descriptor.blob.digest)).toBe(false);
    expect(await codeOf(verifyFragments(w.ports, lock))).toBe('DIGEST_MISMATCH');
  });

  it('needs an archive to be fetched from', async () => {
    const w = await world();
    await indexed(w, deb);
    expect(await codeOf(fetchFragments(w.ports, await w.lock(['jq'])))).toBe('BLOB_UNKNOWN');
  });

  it('is verified against the .deb it names, and assembled from the content read from it', async () => {
    const archive = new ServedArchive();
    const w = await world({ debian: archive });
    const jq = await indexed(w, deb);
    archive.served.set(jq.id, deb);
    const lock = await w.lock(['jq', 'hello']);
    await fetchFragments(w.ports, lock);
    expect(await verifyFragments(w.ports, lock)).toEqual({
      [jq.id]: 'stage-publisher',
      [w.hello.id]: 'stage-publisher',
    });
    const { image } = await assembleImage(w.ports, lock, { epoch: 0 });
    expect((await imagePaths(w.ports, image)).flat()).toEqual(expect.arrayContaining(['usr/bin/jq', 'usr/bin/hello']));
  });

  it('fails verification when the .deb with the signed digest is another version than the index entry says', async () => {
    const archive = new ServedArchive();
    const w = await world({ debian: archive });
    const jq = await indexed(w, other);
    archive.served.set(jq.id, other);
    const lock = await w.lock(['jq']);
    await fetchFragments(w.ports, lock);
    await expect(verifyFragments(w.ports, lock)).rejects.toThrow(
      /the \.deb is jq 1\.6-2 \(amd64\), but the signed index entry says jq 1\.7\.1-3/,
    );
  });

  it("accepts a fragment signed over its derivation only with Debian's chain (ports.debianChain), and refuses it without", async () => {
    // a signed index of one package: Packages listing the .deb, an InRelease listing Packages,
    // signed by an archive key of the test (Debian's own cannot sign what the test makes)
    const packages = Buffer.from(
      formatParagraph({
        Package: 'jq',
        Version: '1.7.1-3',
        Architecture: 'amd64',
        Filename: 'pool/main/j/jq/jq_1.7.1-3_amd64.deb',
        Size: String(deb.length),
        SHA256: sha256Hex(deb),
      }) + '\n',
    );
    const { privateKey, publicKey } = await openpgp.generateKey({
      type: 'ecc',
      curve: 'curve25519Legacy',
      userIDs: [{ name: 'stage test archive' }],
      format: 'object',
    });
    const release = `Origin: Test\nLabel: Test\nCodename: stages\nDate: ${new Date(0).toUTCString()}\nSHA256:\n ${sha256Hex(packages)} ${packages.length} main/binary-amd64/Packages\n`;
    const inRelease = Buffer.from(
      await openpgp.sign({ message: await openpgp.createCleartextMessage({ text: release }), signingKeys: privateKey }),
    );
    const archive = new ServedArchive();
    const w = await world({ debian: archive });
    await w.ports.origin.put(sha256Digest(inRelease), inRelease, inRelease.length);
    await w.ports.origin.put(sha256Digest(packages), packages, packages.length);
    const span = paragraphSpans(packages)[0]!;
    const jq = signDerivation(
      indexDescriptor(paragraphAt(packages, span), {
        derive: { from: 'deb', mergedUsr: true, epoch: 0 },
        proof: {
          inRelease: sha256Digest(inRelease),
          packages: sha256Digest(packages),
          path: 'main/binary-amd64/Packages',
          paragraph: span,
          suite: 'Test/Test/stages',
          date: new Date(0).toISOString(),
        },
      }),
      w.key,
    );
    await w.ports.fragments.put(jq);
    archive.served.set(jq.id, deb);
    const lock = await w.lock(['jq', 'hello']);
    await fetchFragments(w.ports, lock);

    await expect(verifyFragments(w.ports, lock)).rejects.toThrow(/signed over its derivation only.*LSE_DEBIAN_KEYRING/);
    const other = await openpgp.generateKey({
      type: 'ecc',
      curve: 'curve25519Legacy',
      userIDs: [{ name: 'x' }],
      format: 'object',
    });
    const foreign = {
      ...w.ports,
      debianChain: new DebianChainVerifier(w.ports.origin, { file: 'x.asc', keys: [other.publicKey] }),
    };
    expect(await codeOf(verifyFragments(foreign, lock))).toBe('DEBIAN_KEY_UNKNOWN');

    const ports = {
      ...w.ports,
      debianChain: new DebianChainVerifier(w.ports.origin, { file: 'test.asc', keys: [publicKey] }),
    };
    const accepted: Record<string, Acceptance> = {};
    expect(await verifyFragments(ports, lock, undefined, accepted)).toEqual({
      [jq.id]: 'stage-publisher',
      [w.hello.id]: 'stage-publisher',
    });
    expect(accepted).toEqual({
      [jq.id]: { keyName: 'stage-publisher', covers: 'derivation' },
      [w.hello.id]: { keyName: 'stage-publisher', covers: 'descriptor' },
    });
    // revoked: refused although the chain and a verdict exist
    await w.ports.trust.revoke('stage-publisher', new Date().toISOString());
    expect(await codeOf(verifyFragments(ports, lock))).toBe('KEY_REVOKED');
  });
});

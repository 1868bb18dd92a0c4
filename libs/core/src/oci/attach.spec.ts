import { generateKeyPairSync } from 'node:crypto';
import { generateImageSigningKeyPem, imageSigningKeyFromPem, verifyImageSignature } from '../sign/image-key';
import { isLseError } from '../errors';
import type { Fragment } from '../model';
import {
  ANNOTATION_BASE_DIGEST,
  ANNOTATION_BASE_NAME,
  ANNOTATION_COSIGN_SIGNATURE,
  ANNOTATION_SYNTHESIS_KEY,
  buildAttachments,
  cosignPayload,
  dssePae,
  imageFacts,
  referrersIndex,
  dockerManifestOf,
  type AttachInput,
} from './attach';
import { buildImageManifest } from './image';

const hex = (c: string) => c.repeat(64);
const frag = (
  name: string,
  version: string,
  c: string,
  source: Record<string, unknown>,
  metadata: Record<string, unknown> = {},
): Fragment => ({
  id: `sha256:${hex(c)}`,
  signatures: [],
  descriptor: {
    schemaVersion: 1,
    name,
    version,
    scheme: 'debian',
    attributes: { arch: 'amd64' },
    depends: [],
    preDepends: [],
    provides: [],
    conflicts: [],
    breaks: [],
    files: [],
    blob: {
      mediaType: 'application/vnd.debian.binary-package',
      digest: `sha256:${hex(c === 'a' ? 'b' : 'c')}`,
      size: 10,
    },
    source,
    metadata,
  },
});

const config = Buffer.from('{"architecture":"amd64","os":"linux"}');
const manifest = buildImageManifest(
  config,
  [
    { digest: `sha256:${hex('0')}`, size: 1 },
    {
      digest: `sha256:${hex('1')}`,
      size: 2,
      annotations: { 'containerd.io/snapshot/lse.fragments': `sha256:${hex('a')},sha256:${hex('d')}` },
    },
  ],
  {
    [ANNOTATION_SYNTHESIS_KEY]: `sha256:${hex('e')}`,
    [ANNOTATION_BASE_NAME]: 'minimal',
    [ANNOTATION_BASE_DIGEST]: `sha256:${hex('f')}`,
  },
);
const subject = {
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  digest: `sha256:${hex('9')}`,
  size: manifest.length,
};
const proof = {
  type: 'debian-index',
  repo: 'http://deb.example/debian',
  filename: 'pool/main/c/curl/curl_8.0_amd64.deb',
  inRelease: `sha256:${hex('7')}`,
  packages: `sha256:${hex('8')}`,
};
const input = (): AttachInput => ({
  subject,
  facts: imageFacts(manifest)!,
  created: '1970-01-01T00:00:00Z',
  fragments: [frag('curl', '8.0-1', 'a', proof, { license: 'curl' }), frag('libz', '1:1.3', 'd', { type: 'deb' })],
  basePackages: [{ name: 'dash', version: '0.5.12-2', arch: 'amd64' }],
});

describe('image attachments', () => {
  const key = imageSigningKeyFromPem(generateImageSigningKeyPem());

  it('reads fragment ids, base and synthesis key back from the image manifest; nothing from artifacts', () => {
    expect(imageFacts(manifest)).toEqual({
      fragmentIds: [`sha256:${hex('a')}`, `sha256:${hex('d')}`],
      base: { name: 'minimal', digest: `sha256:${hex('f')}` },
      synthesisKey: `sha256:${hex('e')}`,
    });
    const [sbom] = buildAttachments(input(), undefined);
    expect(imageFacts(sbom!.manifest.bytes)).toBeUndefined();
    expect(imageFacts(Buffer.from('not json'))).toBeUndefined();
  });

  it('makes the same bytes every time (deterministic signatures), and a different signature for another key', () => {
    const a = buildAttachments(input(), key).map((x) => x.manifest.digest);
    expect(buildAttachments(input(), key).map((x) => x.manifest.digest)).toEqual(a);
    expect(a).toHaveLength(3);
    const other = buildAttachments(input(), imageSigningKeyFromPem(generateImageSigningKeyPem())).map(
      (x) => x.manifest.digest,
    );
    expect(other[0]).toBe(a[0]); // the SBOM does not depend on the key
    expect(other[1]).not.toBe(a[1]);
  });

  it('lists every fragment and base package in the SBOM with version, checksum, licence and every source field', () => {
    const [sbom] = buildAttachments(input(), key);
    const doc = JSON.parse(
      sbom!.blobs.find((b) => b.digest !== sbom!.manifest.digest && b.bytes.length > 2)!.bytes.toString(),
    ) as { spdxVersion: string; packages: Record<string, any>[]; relationships: unknown[] };
    expect(doc.spdxVersion).toBe('SPDX-2.3');
    const curl = doc.packages.find((p) => p['name'] === 'curl')!;
    expect(curl).toMatchObject({
      versionInfo: '8.0-1',
      licenseDeclared: 'curl',
      downloadLocation: `${proof.repo}/${proof.filename}`,
      checksums: [{ algorithm: 'SHA256', checksumValue: hex('b') }],
    });
    for (const v of Object.values(proof)) expect(curl['sourceInfo']).toContain(v);
    expect(curl['externalRefs'][0].referenceLocator).toBe('pkg:deb/debian/curl@8.0-1?arch=amd64');
    expect(doc.packages.find((p) => p['name'] === 'libz')).toMatchObject({
      versionInfo: '1:1.3',
      licenseDeclared: 'NOASSERTION',
    });
    expect(doc.packages.find((p) => p['name'] === 'dash')).toMatchObject({ versionInfo: '0.5.12-2' });
    expect(doc.relationships).toHaveLength(doc.packages.length);
  });

  it('signs the cosign payload and the DSSE provenance with the image key', () => {
    const [, sig, att] = buildAttachments(input(), key);
    expect(sig!.cosignTag).toBe(`sha256-${hex('9')}.sig`);
    const sigManifest = JSON.parse(sig!.manifest.bytes.toString()) as {
      subject: { digest: string };
      layers: { digest: string; annotations: Record<string, string> }[];
    };
    expect(sigManifest.subject.digest).toBe(subject.digest);
    const payload = sig!.blobs.find((b) => b.digest === sigManifest.layers[0]!.digest)!.bytes;
    expect(payload.equals(cosignPayload(subject.digest))).toBe(true);
    const s = Buffer.from(sigManifest.layers[0]!.annotations[ANNOTATION_COSIGN_SIGNATURE]!, 'base64');
    expect(verifyImageSignature(key.publicKeyPem, payload, s)).toBe(true);
    expect(verifyImageSignature(key.publicKeyPem, cosignPayload(`sha256:${hex('8')}`), s)).toBe(false);

    const attManifest = JSON.parse(att!.manifest.bytes.toString()) as { layers: { digest: string }[] };
    const env = JSON.parse(att!.blobs.find((b) => b.digest === attManifest.layers[0]!.digest)!.bytes.toString()) as {
      payloadType: string;
      payload: string;
      signatures: { sig: string }[];
    };
    const statement = Buffer.from(env.payload, 'base64');
    expect(
      verifyImageSignature(
        key.publicKeyPem,
        dssePae(env.payloadType, statement),
        Buffer.from(env.signatures[0]!.sig, 'base64'),
      ),
    ).toBe(true);
    const deps = (
      JSON.parse(statement.toString()) as {
        predicate: {
          buildDefinition: {
            resolvedDependencies: { name: string; digest: { sha256: string }; annotations?: { source: unknown } }[];
          };
        };
      }
    ).predicate.buildDefinition.resolvedDependencies;
    expect(deps.map((d) => d.name)).toEqual(['lock', 'base minimal', 'curl@8.0-1', 'libz@1:1.3']);
    expect(deps[0]!.digest.sha256).toBe(hex('e'));
    expect(deps[2]!.annotations!.source).toEqual(proof);
  });

  it('names each Debian proof the fragments carry once, by digest, among the provenance materials', () => {
    const debian = (pkgs: string) => ({
      type: 'debian-index',
      debian: {
        inRelease: `sha256:${hex('7')}`,
        packages: `sha256:${hex(pkgs)}`,
        path: `main/binary-amd64/Packages`,
        paragraph: { offset: 0, length: 10 },
        suite: 'Debian/Debian/bookworm',
        date: '2026-11-01T00:00:00.000Z',
      },
    });
    const fragments = [frag('curl', '8.0-1', 'a', debian('8')), frag('libz', '1:1.3', 'd', debian('8'))];
    const [, , att] = buildAttachments({ ...input(), fragments }, key);
    const attManifest = JSON.parse(att!.manifest.bytes.toString()) as { layers: { digest: string }[] };
    const env = JSON.parse(att!.blobs.find((b) => b.digest === attManifest.layers[0]!.digest)!.bytes.toString()) as {
      payload: string;
    };
    const deps = (
      JSON.parse(Buffer.from(env.payload, 'base64').toString()) as {
        predicate: {
          buildDefinition: { resolvedDependencies: { name: string; uri: string; digest: { sha256: string } }[] };
        };
      }
    ).predicate.buildDefinition.resolvedDependencies;
    const proofs = deps.filter((d) => d.uri.startsWith('lse:debian/'));
    expect(proofs.map((d) => [d.name, d.digest.sha256])).toEqual([
      ['debian InRelease Debian/Debian/bookworm', hex('7')],
      ['debian Packages Debian/Debian/bookworm main/binary-amd64/Packages', hex('8')],
    ]);
  });

  it('filters the referrers index by artifactType', () => {
    const descs = buildAttachments(input(), key).map((a) => a.descriptor);
    const all = JSON.parse(referrersIndex(descs).toString()) as {
      mediaType: string;
      manifests: { artifactType: string }[];
    };
    expect(all.mediaType).toBe('application/vnd.oci.image.index.v1+json');
    expect(all.manifests).toHaveLength(3);
    expect(
      (JSON.parse(referrersIndex(descs, 'application/spdx+json').toString()) as typeof all).manifests.map(
        (m) => m.artifactType,
      ),
    ).toEqual(['application/spdx+json']);
    expect((JSON.parse(referrersIndex(descs, 'text/plain').toString()) as typeof all).manifests).toEqual([]);
  });

  it('gives Docker schema 2 forms only for gzip image manifests', () => {
    const docker = JSON.parse(dockerManifestOf(manifest)!.toString()) as {
      mediaType: string;
      config: { mediaType: string };
      layers: { mediaType: string }[];
    };
    expect([docker.mediaType, docker.config.mediaType, ...docker.layers.map((l) => l.mediaType)]).toEqual([
      'application/vnd.docker.distribution.manifest.v2+json',
      'application/vnd.docker.container.image.v1+json',
      'application/vnd.docker.image.rootfs.diff.tar.gzip',
      'application/vnd.docker.image.rootfs.diff.tar.gzip',
    ]);
    expect(
      dockerManifestOf(
        buildImageManifest(config, [
          { digest: `sha256:${hex('0')}`, size: 1, mediaType: 'application/vnd.oci.image.layer.v1.tar' },
        ]),
      ),
    ).toBeUndefined();
    expect(dockerManifestOf(buildAttachments(input(), undefined)[0]!.manifest.bytes)).toBeUndefined();
  });

  it('accepts only P-256 image keys', () => {
    const ed = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    expect(() => imageSigningKeyFromPem(ed)).toThrow(/P-256/);
    try {
      imageSigningKeyFromPem('nonsense');
    } catch (e) {
      expect(isLseError(e, 'KEY_INVALID')).toBe(true);
    }
    expect.assertions(2);
  });
});

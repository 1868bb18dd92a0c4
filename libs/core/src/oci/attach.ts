/**
 * What is attached to a synthesized image (docs/REGISTRY.md, "SBOM, signature, provenance"):
 *
 *  - an SPDX 2.3 JSON SBOM: every fragment of the image (name, version, the blob's SHA-256, the
 *    fragment's whole `source`, licence when the fragment names one, a purl) and the packages of
 *    its base;
 *  - a cosign signature: the simple-signing payload naming the manifest digest, signed with the
 *    image key (ECDSA P-256), as cosign writes it (`.sig` tag layout, one layer, the signature in
 *    the layer's `dev.cosignproject.cosign/signature` annotation);
 *  - an in-toto v1 statement with a SLSA v1 provenance predicate whose resolved dependencies are
 *    the lock (by digest), the base, every fragment (id, blob, `source`) and every Debian proof
 *    its fragments name (each InRelease, Release.gpg and Packages file once, by digest), in a DSSE
 *    envelope signed with the same key (cosign's attestation layout, `.att`).
 *
 * Each is an OCI artifact manifest whose `subject` is the image manifest. Everything here is a
 * pure function of its inputs (canonical JSON, no clock, RFC 6979 signatures), so an image has one
 * set of attachments with fixed digests, wherever and however often they are made.
 */
import { sha256Digest } from '../digest';
import type { Fragment } from '../model';
import type { BasePackage } from '../resolve/base';
import { debianMetaOf } from '../debian/package';
import { debianProofOf } from '../debian/release';
import type { ImageSigningKey } from '../sign/image-key';
import type { Descriptor } from './image';
import {
  MEDIA_TYPE_DOCKER_CONFIG,
  MEDIA_TYPE_DOCKER_LAYER_GZIP,
  MEDIA_TYPE_DOCKER_MANIFEST,
  MEDIA_TYPE_DOCKER_MANIFEST_LIST,
  MEDIA_TYPE_OCI_CONFIG,
  MEDIA_TYPE_OCI_INDEX,
  MEDIA_TYPE_OCI_LAYER_GZIP,
  MEDIA_TYPE_OCI_MANIFEST,
} from './mediaTypes';
import { canonicalBytes, canonicalJson } from '../canonical-json';

export const MEDIA_TYPE_OCI_EMPTY = 'application/vnd.oci.empty.v1+json';
export const MEDIA_TYPE_SPDX_JSON = 'application/spdx+json';
export const MEDIA_TYPE_COSIGN_SIMPLESIGNING = 'application/vnd.dev.cosign.simplesigning.v1+json';
export const ARTIFACT_TYPE_COSIGN_SIGNATURE = 'application/vnd.dev.cosign.artifact.sig.v1+json';
export const MEDIA_TYPE_DSSE = 'application/vnd.dsse.envelope.v1+json';
export const PAYLOAD_TYPE_IN_TOTO = 'application/vnd.in-toto+json';
export const ANNOTATION_COSIGN_SIGNATURE = 'dev.cosignproject.cosign/signature';
export const SLSA_PROVENANCE_V1 = 'https://slsa.dev/provenance/v1';
/** Image manifest annotations the assembler writes (standard OCI ones, and the synthesis key). */
export const ANNOTATION_BASE_NAME = 'org.opencontainers.image.base.name';
export const ANNOTATION_BASE_DIGEST = 'org.opencontainers.image.base.digest';
export const ANNOTATION_SYNTHESIS_KEY = 'dev.lse.synthesis.key';
/** The layer annotation naming a layer's fragment ids (as assemble-stage writes it). */
const LAYER_FRAGMENTS = 'containerd.io/snapshot/lse.fragments';
/** `critical.identity.docker-reference` of LSE signatures: one name for an image under any repository name. */
export const SIGNATURE_IDENTITY = 'lse.dev/synthesized';

export const EMPTY_CONFIG: { descriptor: Descriptor; bytes: Buffer } = (() => {
  const bytes = Buffer.from('{}');
  return { bytes, descriptor: { mediaType: MEDIA_TYPE_OCI_EMPTY, digest: sha256Digest(bytes), size: 2 } };
})();

const hexOf = (digest: string) => digest.replace(/^sha256:/, '');

/** What an image manifest says about how it was made. */
export interface ImageFacts {
  /** Fragment ids in layer order (from the layers' fragment annotations). */
  fragmentIds: string[];
  base?: { name: string; digest?: string };
  synthesisKey?: string;
}

interface ManifestDoc {
  mediaType?: string;
  config?: Descriptor;
  layers?: Descriptor[];
  subject?: Descriptor;
  artifactType?: string;
  annotations?: Record<string, string>;
}

/** The facts of an image manifest, or undefined for anything that is not an image (an index, an artifact). */
export function imageFacts(manifest: Buffer): ImageFacts | undefined {
  let doc: ManifestDoc;
  try {
    doc = JSON.parse(manifest.toString('utf8')) as ManifestDoc;
  } catch {
    return undefined;
  }
  if (doc.mediaType !== MEDIA_TYPE_OCI_MANIFEST && doc.mediaType !== MEDIA_TYPE_DOCKER_MANIFEST) return undefined;
  if (
    doc.subject ||
    doc.artifactType ||
    (doc.config?.mediaType !== MEDIA_TYPE_OCI_CONFIG && doc.config?.mediaType !== MEDIA_TYPE_DOCKER_CONFIG)
  )
    return undefined;
  const fragmentIds = (doc.layers ?? []).flatMap((l) =>
    (l.annotations?.[LAYER_FRAGMENTS] ?? '').split(',').filter((x) => /^sha256:[0-9a-f]{64}$/.test(x)),
  );
  const a = doc.annotations ?? {};
  return {
    fragmentIds,
    ...(a[ANNOTATION_BASE_NAME]
      ? {
          base: {
            name: a[ANNOTATION_BASE_NAME],
            ...(a[ANNOTATION_BASE_DIGEST] ? { digest: a[ANNOTATION_BASE_DIGEST] } : {}),
          },
        }
      : {}),
    ...(a[ANNOTATION_SYNTHESIS_KEY] ? { synthesisKey: a[ANNOTATION_SYNTHESIS_KEY] } : {}),
  };
}

export interface AttachInput {
  /** The image manifest's descriptor. */
  subject: Descriptor;
  facts: ImageFacts;
  /** The fragments `facts.fragmentIds` name (same order; a missing one is left out of the SBOM). */
  fragments: Fragment[];
  basePackages?: BasePackage[];
  /** SPDX `created` (the images' fixed epoch, RFC 3339). */
  created: string;
}

const spdxId = (s: string) => s.replace(/[^A-Za-z0-9.-]+/g, '-');

function downloadLocation(f: Fragment): string {
  const s = f.descriptor.source;
  if (typeof s['url'] === 'string') return s['url'];
  if (typeof s['repo'] === 'string' && typeof s['filename'] === 'string') return `${s['repo']}/${s['filename']}`;
  return 'NOASSERTION';
}

function purl(name: string, version: string, debian: boolean, arch?: string): string {
  const q = arch ? `?arch=${encodeURIComponent(arch)}` : '';
  return debian
    ? `pkg:deb/debian/${encodeURIComponent(name)}@${encodeURIComponent(version)}${q}`
    : `pkg:generic/${encodeURIComponent(name)}@${encodeURIComponent(version)}`;
}

/** A licence the fragment states (`metadata.license`), when it reads as an SPDX expression. */
function licenseOf(f: Fragment): string {
  const l = f.descriptor.metadata['license'];
  return typeof l === 'string' && /^[A-Za-z0-9.+\-() ]{1,200}$/.test(l) ? l : 'NOASSERTION';
}

/** The SPDX 2.3 JSON document of an image. */
export function buildSpdx(input: AttachInput): Buffer {
  const root = 'SPDXRef-Image';
  const packages: Record<string, unknown>[] = [
    {
      SPDXID: root,
      name: 'lse-image',
      versionInfo: input.subject.digest,
      downloadLocation: 'NOASSERTION',
      filesAnalyzed: false,
      checksums: [{ algorithm: 'SHA256', checksumValue: hexOf(input.subject.digest) }],
      primaryPackagePurpose: 'CONTAINER',
      ...(input.facts.base
        ? { comment: `base ${input.facts.base.name}${input.facts.base.digest ? `@${input.facts.base.digest}` : ''}` }
        : {}),
    },
  ];
  const seen = new Set<string>();
  for (const f of input.fragments) {
    if (seen.has(f.id)) continue;
    seen.add(f.id);
    const d = f.descriptor;
    const deb = debianMetaOf(d);
    const arch = typeof deb?.control['Architecture'] === 'string' ? deb.control['Architecture'] : d.attributes.arch;
    const maintainer = deb?.control['Maintainer'];
    packages.push({
      SPDXID: `SPDXRef-Fragment-${hexOf(f.id)}`,
      name: d.name,
      versionInfo: d.version,
      downloadLocation: downloadLocation(f),
      filesAnalyzed: false,
      checksums: [{ algorithm: 'SHA256', checksumValue: hexOf(d.blob.digest) }],
      licenseConcluded: 'NOASSERTION',
      licenseDeclared: licenseOf(f),
      copyrightText: 'NOASSERTION',
      ...(typeof maintainer === 'string' ? { supplier: `Person: ${maintainer}` } : {}),
      sourceInfo: `lse fragment source ${canonicalJson(d.source)}`,
      comment: `lse fragment ${f.id}, blob ${d.blob.mediaType}`,
      externalRefs: [
        {
          referenceCategory: 'PACKAGE-MANAGER',
          referenceType: 'purl',
          referenceLocator: purl(d.name, d.version, Boolean(deb) || d.scheme === 'debian', arch),
        },
      ],
    });
  }
  for (const p of input.basePackages ?? []) {
    packages.push({
      SPDXID: spdxId(`SPDXRef-Base-${p.name}-${p.arch ?? ''}`),
      name: p.name,
      versionInfo: p.version,
      downloadLocation: 'NOASSERTION',
      filesAnalyzed: false,
      licenseConcluded: 'NOASSERTION',
      licenseDeclared: 'NOASSERTION',
      copyrightText: 'NOASSERTION',
      comment: `in the base${input.facts.base ? ` ${input.facts.base.name}` : ''}`,
      externalRefs: [
        {
          referenceCategory: 'PACKAGE-MANAGER',
          referenceType: 'purl',
          referenceLocator: purl(p.name, p.version, (p.scheme ?? 'debian') === 'debian', p.arch),
        },
      ],
    });
  }
  const doc = {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name: `lse image ${input.subject.digest}`,
    documentNamespace: `https://lse.dev/spdx/${hexOf(input.subject.digest)}`,
    creationInfo: { created: input.created, creators: ['Tool: lse-gateway'] },
    documentDescribes: [root],
    packages,
    relationships: [
      { spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: root },
      ...packages
        .slice(1)
        .map((p) => ({ spdxElementId: root, relationshipType: 'CONTAINS', relatedSpdxElement: p['SPDXID'] })),
    ],
  };
  return Buffer.from(`${JSON.stringify(sortKeysDeep(doc), null, 2)}\n`);
}

function sortKeysDeep(v: unknown): unknown {
  return JSON.parse(canonicalJson(v));
}

/** cosign's simple-signing payload for a manifest digest (the bytes that are signed). */
export function cosignPayload(manifestDigest: string): Buffer {
  return Buffer.from(
    JSON.stringify({
      critical: {
        identity: { 'docker-reference': SIGNATURE_IDENTITY },
        image: { 'docker-manifest-digest': manifestDigest },
        type: 'cosign container image signature',
      },
      optional: null,
    }),
  );
}

/** The in-toto v1 statement with the SLSA v1 provenance of an image. */
export function buildProvenance(input: AttachInput): Buffer {
  const deps: Record<string, unknown>[] = [];
  if (input.facts.synthesisKey)
    deps.push({ name: 'lock', uri: 'lse:lock', digest: { sha256: hexOf(input.facts.synthesisKey) } });
  if (input.facts.base?.digest)
    deps.push({
      name: `base ${input.facts.base.name}`,
      uri: `lse:base/${input.facts.base.name}`,
      digest: { sha256: hexOf(input.facts.base.digest) },
    });
  for (const f of input.fragments) {
    deps.push({
      name: `${f.descriptor.name}@${f.descriptor.version}`,
      uri: `lse:fragment/${f.id}`,
      digest: { sha256: hexOf(f.id) },
      annotations: { blob: f.descriptor.blob.digest, source: f.descriptor.source },
    });
  }
  // Debian's own metadata the fragments were checked against: each proof blob once, by digest.
  const proofs = new Map<string, Record<string, unknown>>();
  for (const f of input.fragments) {
    const p = debianProofOf(f.descriptor.source);
    if (!p) continue;
    const release = p.releaseGpg ? 'Release' : 'InRelease';
    const add = (digest: string, name: string, annotations: Record<string, unknown>) => {
      if (!proofs.has(digest))
        proofs.set(digest, { name, uri: `lse:debian/${digest}`, digest: { sha256: hexOf(digest) }, annotations });
    };
    add(p.inRelease, `debian ${release} ${p.suite}`, { suite: p.suite, date: p.date });
    if (p.releaseGpg) add(p.releaseGpg, `debian Release.gpg ${p.suite}`, { suite: p.suite });
    add(p.packages, `debian Packages ${p.suite} ${p.path}`, { suite: p.suite, path: p.path, inRelease: p.inRelease });
  }
  deps.push(...[...proofs.values()].sort((a, b) => String(a['uri']).localeCompare(String(b['uri']))));
  return canonicalBytes({
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{ name: 'lse-image', digest: { sha256: hexOf(input.subject.digest) } }],
    predicateType: SLSA_PROVENANCE_V1,
    predicate: {
      buildDefinition: {
        buildType: 'https://lse.dev/synthesis/v1',
        externalParameters: input.facts.synthesisKey ? { synthesisKey: input.facts.synthesisKey } : {},
        resolvedDependencies: deps,
      },
      runDetails: { builder: { id: 'https://lse.dev/gateway' } },
    },
  });
}

/** DSSE pre-authentication encoding (what a DSSE signature covers). */
export function dssePae(payloadType: string, payload: Buffer): Buffer {
  return Buffer.concat([
    Buffer.from(`DSSEv1 ${Buffer.byteLength(payloadType)} ${payloadType} ${payload.length} `),
    payload,
  ]);
}

export function dsseEnvelope(payloadType: string, payload: Buffer, key: ImageSigningKey): Buffer {
  const sig = key.sign(dssePae(payloadType, payload)).toString('base64');
  return canonicalBytes({ payloadType, payload: payload.toString('base64'), signatures: [{ keyid: '', sig }] });
}

/** One stored blob of an attachment. */
export interface Blob {
  digest: string;
  bytes: Buffer;
}

export interface Attachment {
  artifactType: string;
  /** The artifact manifest and its descriptor (what the referrers index lists). */
  manifest: Blob;
  descriptor: Descriptor & { artifactType: string };
  /** Every blob it needs besides the subject: the manifest, its config and its layer. */
  blobs: Blob[];
  /** cosign's tag for it (`sha256-<hex>.sig` / `.att`), if any. */
  cosignTag?: string;
}

function artifact(
  subject: Descriptor,
  artifactType: string,
  layerType: string,
  layer: Buffer,
  layerAnnotations: Record<string, string> | undefined,
  manifestAnnotations: Record<string, string>,
): Attachment {
  const layerDesc: Descriptor = {
    mediaType: layerType,
    digest: sha256Digest(layer),
    size: layer.length,
    ...(layerAnnotations ? { annotations: layerAnnotations } : {}),
  };
  const bytes = canonicalBytes({
    schemaVersion: 2,
    mediaType: MEDIA_TYPE_OCI_MANIFEST,
    artifactType,
    config: EMPTY_CONFIG.descriptor,
    layers: [layerDesc],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    annotations: manifestAnnotations,
  });
  const digest = sha256Digest(bytes);
  return {
    artifactType,
    manifest: { digest, bytes },
    descriptor: {
      mediaType: MEDIA_TYPE_OCI_MANIFEST,
      digest,
      size: bytes.length,
      artifactType,
      annotations: manifestAnnotations,
    },
    blobs: [
      { digest, bytes },
      { digest: EMPTY_CONFIG.descriptor.digest, bytes: EMPTY_CONFIG.bytes },
      { digest: layerDesc.digest, bytes: layer },
    ],
  };
}

/** The SBOM, and with a key the signature and provenance, of an image. */
export function buildAttachments(input: AttachInput, key: ImageSigningKey | undefined): Attachment[] {
  const created = { 'org.opencontainers.image.created': input.created };
  const out = [
    artifact(input.subject, MEDIA_TYPE_SPDX_JSON, MEDIA_TYPE_SPDX_JSON, buildSpdx(input), undefined, created),
  ];
  if (!key) return out;
  const tagBase = `sha256-${hexOf(input.subject.digest)}`;
  const payload = cosignPayload(input.subject.digest);
  const sig = artifact(
    input.subject,
    ARTIFACT_TYPE_COSIGN_SIGNATURE,
    MEDIA_TYPE_COSIGN_SIMPLESIGNING,
    payload,
    { [ANNOTATION_COSIGN_SIGNATURE]: key.sign(payload).toString('base64') },
    created,
  );
  const att = artifact(
    input.subject,
    MEDIA_TYPE_DSSE,
    MEDIA_TYPE_DSSE,
    dsseEnvelope(PAYLOAD_TYPE_IN_TOTO, buildProvenance(input), key),
    { [ANNOTATION_COSIGN_SIGNATURE]: '', predicateType: SLSA_PROVENANCE_V1 },
    created,
  );
  out.push({ ...sig, cosignTag: `${tagBase}.sig` }, { ...att, cosignTag: `${tagBase}.att` });
  return out;
}

/** The referrers answer (distribution-spec 1.1): an image index of the descriptors, filtered by artifactType when asked. */
export function referrersIndex(descriptors: (Descriptor & { artifactType: string })[], artifactType?: string): Buffer {
  const manifests =
    artifactType === undefined ? descriptors : descriptors.filter((d) => d.artifactType === artifactType);
  return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE_OCI_INDEX, manifests }));
}

const DOCKER_LAYER: Record<string, string> = {
  [MEDIA_TYPE_OCI_LAYER_GZIP]: MEDIA_TYPE_DOCKER_LAYER_GZIP,
  [MEDIA_TYPE_DOCKER_LAYER_GZIP]: MEDIA_TYPE_DOCKER_LAYER_GZIP,
};

/**
 * The Docker schema 2 form of an OCI image manifest (same config and layers, Docker media types;
 * annotations kept, which Docker clients ignore). Undefined when a layer has no Docker media type
 * (an uncompressed or foreign layer) or the document is not an OCI image manifest.
 */
export function dockerManifestOf(manifest: Buffer): Buffer | undefined {
  const doc = JSON.parse(manifest.toString('utf8')) as ManifestDoc & { schemaVersion: number };
  if (
    doc.mediaType !== MEDIA_TYPE_OCI_MANIFEST ||
    doc.config?.mediaType !== MEDIA_TYPE_OCI_CONFIG ||
    doc.subject ||
    doc.artifactType
  )
    return undefined;
  const layers = (doc.layers ?? []).map((l) =>
    DOCKER_LAYER[l.mediaType] ? { ...l, mediaType: DOCKER_LAYER[l.mediaType]! } : undefined,
  );
  if (layers.some((l) => l === undefined)) return undefined;
  return canonicalBytes({
    ...doc,
    mediaType: MEDIA_TYPE_DOCKER_MANIFEST,
    config: { ...doc.config, mediaType: MEDIA_TYPE_DOCKER_CONFIG },
    layers,
  });
}

/** The Docker manifest list of an OCI index whose children have Docker forms (`children`: OCI digest → Docker descriptor). */
export function dockerManifestListOf(index: Buffer, children: Map<string, Descriptor>): Buffer | undefined {
  const doc = JSON.parse(index.toString('utf8')) as {
    mediaType?: string;
    manifests?: (Descriptor & { platform?: unknown })[];
    annotations?: unknown;
  };
  if (doc.mediaType !== MEDIA_TYPE_OCI_INDEX || !doc.manifests?.every((m) => children.has(m.digest))) return undefined;
  return canonicalBytes({
    ...doc,
    mediaType: MEDIA_TYPE_DOCKER_MANIFEST_LIST,
    manifests: doc.manifests.map((m) => ({
      ...children.get(m.digest)!,
      ...(m.platform ? { platform: m.platform } : {}),
    })),
  });
}

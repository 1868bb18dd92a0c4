/**
 * OCI image config, manifest and index documents. Every document is serialized with sorted keys
 * and no whitespace (canonical-json.ts) and every timestamp is the caller's fixed epoch, so the same
 * inputs always give the same bytes and therefore the same digests.
 */
import { LseError } from '../errors';
import type { Lock, Platform } from '../model';
import { sha256Digest } from '../digest';
import {
  ANNOTATION_REF_NAME,
  MEDIA_TYPE_OCI_CONFIG,
  MEDIA_TYPE_OCI_INDEX,
  MEDIA_TYPE_OCI_LAYER_GZIP,
  MEDIA_TYPE_OCI_MANIFEST,
} from './mediaTypes';
import { canonicalBytes } from '../canonical-json';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: OciPlatform;
}

export interface OciPlatform {
  architecture: string;
  os: string;
  variant?: string;
}

/** The `config` section of an OCI image config (the fields LSE sets; others pass through). */
export interface OciContainerConfig {
  Env?: string[];
  Entrypoint?: string[];
  Cmd?: string[];
  WorkingDir?: string;
  User?: string;
  Labels?: Record<string, string>;
  [other: string]: unknown;
}

export interface HistoryEntry {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

export interface BaseImageInfo {
  /** diff_ids of the base's layers, bottom first. */
  diffIds: string[];
  /** The base's history, kept verbatim; one generated entry per layer when absent. */
  history?: HistoryEntry[];
  /** The base's container config: inherited wherever the lock sets nothing. */
  config?: OciContainerConfig;
}

export interface ImageConfigInput {
  platform: Pick<Platform, 'os' | 'arch' | 'variant'>;
  config: Lock['config'];
  base?: BaseImageInfo;
  /** LSE's layers, bottom first: diff id and the fragments (names) it holds, for `history`. */
  layers: { diffId: string; fragments: string[] }[];
  /** Seconds since the epoch for every `created` field (SOURCE_DATE_EPOCH, or 0). */
  created: number;
}

export function ociPlatform(p: Pick<Platform, 'os' | 'arch' | 'variant'>): OciPlatform {
  return p.variant ? { architecture: p.arch, os: p.os, variant: p.variant } : { architecture: p.arch, os: p.os };
}

/** RFC 3339 UTC timestamp of an epoch in seconds, without fractional seconds. */
export function epochToRfc3339(seconds: number): string {
  if (!Number.isSafeInteger(seconds) || seconds < 0) {
    throw new LseError(
      'USAGE',
      `creation time must be whole seconds since the epoch, got ${seconds}; check SOURCE_DATE_EPOCH`,
      { seconds },
    );
  }
  return new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Descriptor of a blob given its bytes. */
export function descriptorOf(mediaType: string, bytes: Buffer, annotations?: Record<string, string>): Descriptor {
  const d: Descriptor = { mediaType, digest: sha256Digest(bytes), size: bytes.length };
  if (annotations && Object.keys(annotations).length > 0) d.annotations = { ...annotations };
  return d;
}

export function buildImageConfig(input: ImageConfigInput): Buffer {
  const created = epochToRfc3339(input.created);
  const base = input.base ?? { diffIds: [] };
  const baseCfg: OciContainerConfig = base.config ?? {};
  const lock = input.config;

  const env = new Map<string, string>();
  for (const kv of baseCfg.Env ?? []) {
    const eq = kv.indexOf('=');
    env.set(eq === -1 ? kv : kv.slice(0, eq), eq === -1 ? '' : kv.slice(eq + 1));
  }
  for (const [k, v] of Object.entries(lock.env)) env.set(k, v);
  const labels = { ...(baseCfg.Labels ?? {}), ...lock.labels };

  const config: OciContainerConfig = {
    ...baseCfg,
    Env: [...env.keys()].sort().map((k) => `${k}=${env.get(k)}`),
    Entrypoint: lock.entrypoint ?? baseCfg.Entrypoint,
    // Like a Dockerfile: setting an entrypoint drops the base's Cmd.
    Cmd: lock.cmd ?? (lock.entrypoint ? undefined : baseCfg.Cmd),
    WorkingDir: lock.workingDir ?? baseCfg.WorkingDir,
    User: lock.user ?? baseCfg.User,
    Labels: Object.keys(labels).length > 0 ? labels : undefined,
  };

  let baseHistory: HistoryEntry[];
  if (base.history) {
    const nonEmpty = base.history.filter((h) => !h.empty_layer).length;
    if (nonEmpty !== base.diffIds.length) {
      throw new LseError(
        'BASE_INVALID',
        `base image config has ${nonEmpty} non-empty history entries but ${base.diffIds.length} layers; the base image is malformed, rebuild or re-import it`,
        { history: nonEmpty, layers: base.diffIds.length },
      );
    }
    baseHistory = base.history;
  } else {
    baseHistory = base.diffIds.map(() => ({ created, created_by: 'base image layer' }));
  }

  const doc = {
    created,
    architecture: input.platform.arch,
    os: input.platform.os,
    variant: input.platform.variant || undefined,
    config,
    rootfs: { type: 'layers', diff_ids: [...base.diffIds, ...input.layers.map((l) => l.diffId)] },
    history: [...baseHistory, ...input.layers.map((l) => ({ created, created_by: `lse: ${l.fragments.join(', ')}` }))],
  };
  return canonicalBytes(doc);
}

export interface LayerRef {
  digest: string;
  size: number;
  /** Default: OCI tar+gzip. */
  mediaType?: string;
  annotations?: Record<string, string>;
}

/** Image manifest for config bytes and layers (base layers first, as in the config's diff_ids). */
export function buildImageManifest(config: Buffer, layers: LayerRef[], annotations?: Record<string, string>): Buffer {
  const doc = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPE_OCI_MANIFEST,
    config: descriptorOf(MEDIA_TYPE_OCI_CONFIG, config),
    layers: layers.map((l) => {
      const d: Descriptor = { mediaType: l.mediaType ?? MEDIA_TYPE_OCI_LAYER_GZIP, digest: l.digest, size: l.size };
      if (l.annotations && Object.keys(l.annotations).length > 0) d.annotations = { ...l.annotations };
      return d;
    }),
    annotations: annotations && Object.keys(annotations).length > 0 ? annotations : undefined,
  };
  return canonicalBytes(doc);
}

/** Image index over manifests, in the order given (callers pass a stable order). */
export function buildImageIndex(
  manifests: { descriptor: Descriptor; platform: OciPlatform }[],
  annotations?: Record<string, string>,
): Buffer {
  const doc = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPE_OCI_INDEX,
    manifests: manifests.map((m) => ({ ...m.descriptor, platform: m.platform })),
    annotations: annotations && Object.keys(annotations).length > 0 ? annotations : undefined,
  };
  return canonicalBytes(doc);
}

/** The index.json of an OCI image layout holding one manifest tagged `refName`. */
export function buildLayoutIndex(manifest: Descriptor, refName: string): Buffer {
  if (refName === '' || /[\s]/.test(refName)) {
    throw new LseError('USAGE', `image ref name '${refName}' must be non-empty and contain no whitespace`, { refName });
  }
  const doc = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPE_OCI_INDEX,
    manifests: [{ ...manifest, annotations: { ...(manifest.annotations ?? {}), [ANNOTATION_REF_NAME]: refName } }],
  };
  return canonicalBytes(doc);
}

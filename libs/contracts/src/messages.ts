import { isDigest, type Fragment, type Lock, type Manifest, type Platform } from '@lse/core';
import { LseError } from '@lse/core';
import type { Stage, StageName } from './stages';

/**
 * lse.synth.requested: a manifest and an optional runtime profile. The manifest is an object
 * (JSON form) or YAML/JSON text; the resolver validates it either way, since NATS clients
 * publish here directly.
 */
export interface SynthRequested {
  v: 1;
  synthesisId: string;
  manifest: Manifest | string;
  platform?: Platform;
  requestedAt: string;
  /** The tenant (gateway token name) that asked for it; absent for requests published straight to NATS. */
  tenant?: string;
}

/** lse.events.synthesis.requested.<id>: the synthesis exists; what its record starts with. */
export interface SynthAccepted {
  v: 1;
  synthesisId: string;
  manifestName: string;
  platform?: Platform;
  tenant?: string;
  requestedAt: string;
}

/** lse.synth.resolved / fetched: the lock and its digest (the synthesis key). */
export interface SynthResolved {
  v: 1;
  synthesisId: string;
  key: string;
  lock: Lock;
}

/** lse.synth.verified: the lock, and which key vouched for each fragment. */
export interface SynthVerified extends SynthResolved {
  verifiedBy: Record<string, string>;
}

export interface ImageRef {
  manifestDigest: string;
  manifestSize: number;
  configDigest: string;
  /** Every blob the image needs (base layers, our layers), in manifest order. */
  layers: { digest: string; size: number; mediaType: string }[];
  platform: Platform;
}

/** lse.synth.assembled, and the completed event. */
export interface SynthAssembled {
  v: 1;
  synthesisId: string;
  key: string;
  image: ImageRef;
  /** Fragments per layer, for the summary. */
  layerPlan: { digest: string; fragments: string[] }[];
}
export type SynthCompleted = SynthAssembled & {
  completedAt: string;
  /**
   * The lease of the synthesis: written by the recorder before it published this event, or, for a
   * repeat answered from a gateway's memory (`leaseBy: 'projection'`), by the record projection
   * when it applies this event (the image's earlier lease holds its blobs until then).
   */
  lease?: { expiresAt: string; leaseBy?: 'recorder' | 'projection' };
  /**
   * For a repeat answered from a gateway's memory: its requested event's fields, so the record
   * projection can create the record from this event alone (the two events are published together
   * and may be applied in either order).
   */
  accepted?: SynthAccepted;
};

export interface SynthFailed {
  v: 1;
  synthesisId: string;
  /** The service that failed it (a name from the stage table). */
  stage: StageName;
  code: string;
  message: string;
  details: Record<string, unknown>;
  failedAt: string;
}

export interface SynthProgress {
  v: 1;
  synthesisId: string;
  stage: Stage;
  at: string;
  detail?: string;
  /** Set on the `resolved` progress event. */
  manifestName?: string;
  /** The synthesis key, on the `resolved` progress event. */
  key?: string;
}

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

function fail(subject: string, what: string): never {
  throw new LseError('USAGE', `message on ${subject} is invalid: ${what}`, { subject });
}

function obj(v: unknown, subject: string, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(subject, `${what} must be an object`);
  return v as Record<string, unknown>;
}

/** Validates the envelope every message shares; returns it typed. */
function envelope(v: unknown, subject: string): Record<string, unknown> {
  const m = obj(v, subject, 'message');
  if (m['v'] !== 1) fail(subject, `unsupported contract version ${JSON.stringify(m['v'])} (this build speaks v1)`);
  if (typeof m['synthesisId'] !== 'string' || !ID_RE.test(m['synthesisId']))
    fail(subject, 'synthesisId must be 1-128 letters, digits, _ or -');
  return m;
}

export function validateRequested(v: unknown, subject = 'lse.synth.requested'): SynthRequested {
  const m = envelope(v, subject);
  if (typeof m['manifest'] !== 'string') obj(m['manifest'], subject, 'manifest');
  if (m['platform'] !== undefined) obj(m['platform'], subject, 'platform');
  return m as unknown as SynthRequested;
}

export function validateResolved(v: unknown, subject = 'lse.synth.resolved'): SynthResolved {
  const m = envelope(v, subject);
  if (!isDigest(m['key'])) fail(subject, 'key must be a sha256 digest');
  const lock = obj(m['lock'], subject, 'lock');
  if (lock['lockVersion'] !== 1 || !Array.isArray(lock['fragments'])) fail(subject, 'lock must be a v1 lock');
  for (const f of lock['fragments'] as unknown[])
    if (!isDigest(obj(f, subject, 'lock fragment')['id'])) fail(subject, 'lock fragment ids must be sha256 digests');
  return m as unknown as SynthResolved;
}

export function validateVerified(v: unknown, subject = 'lse.synth.verified'): SynthVerified {
  const m = validateResolved(v, subject) as unknown as Record<string, unknown>;
  obj(m['verifiedBy'], subject, 'verifiedBy');
  return m as unknown as SynthVerified;
}

export function validateAssembled(v: unknown, subject = 'lse.synth.assembled'): SynthAssembled {
  const m = envelope(v, subject);
  if (!isDigest(m['key'])) fail(subject, 'key must be a sha256 digest');
  const img = obj(m['image'], subject, 'image');
  if (!isDigest(img['manifestDigest']) || !isDigest(img['configDigest']) || !Array.isArray(img['layers']))
    fail(subject, 'image must name manifest, config and layers by digest');
  return m as unknown as SynthAssembled;
}

export function validateFailed(v: unknown, subject = 'lse.events.synthesis.failed'): SynthFailed {
  const m = envelope(v, subject);
  if (typeof m['stage'] !== 'string' || typeof m['code'] !== 'string' || typeof m['message'] !== 'string')
    fail(subject, 'stage, code and message are required');
  return m as unknown as SynthFailed;
}

export function isValidSynthesisId(id: string): boolean {
  return ID_RE.test(id);
}

/**
 * lse.catalog.fragments.published: fragments that are stored (durably, before this is published).
 * `fragments` carries the records (descriptor and signatures, never blob bytes) when the batch is
 * small enough for one message; otherwise only `ids`, and a reader fetches those by id.
 */
export interface FragmentsPublished {
  v: 1;
  ids: string[];
  fragments?: Fragment[];
  publishedAt: string;
}

/** lse.catalog.trust.changed */
export interface TrustChanged {
  v: 1;
  key: string;
  change: 'added' | 'revoked';
  at: string;
}

/** lse.catalog.bases.tagged */
export interface BaseTagged {
  v: 1;
  name: string;
  tag: string;
  digest: string;
  at: string;
}

function catalogEnvelope(v: unknown, subject: string): Record<string, unknown> {
  const m = obj(v, subject, 'message');
  if (m['v'] !== 1) fail(subject, `unsupported contract version ${JSON.stringify(m['v'])} (this build speaks v1)`);
  return m;
}

export function validateFragmentsPublished(
  v: unknown,
  subject = 'lse.catalog.fragments.published',
): FragmentsPublished {
  const m = catalogEnvelope(v, subject);
  if (!Array.isArray(m['ids']) || !m['ids'].every(isDigest)) fail(subject, 'ids must be sha256 digests');
  if (m['fragments'] !== undefined) {
    if (!Array.isArray(m['fragments'])) fail(subject, 'fragments must be a list');
    for (const f of m['fragments'] as unknown[]) {
      const r = obj(f, subject, 'fragment');
      if (!isDigest(r['id'])) fail(subject, 'fragment ids must be sha256 digests');
      obj(r['descriptor'], subject, 'fragment descriptor');
    }
  }
  return m as unknown as FragmentsPublished;
}

export function validateBaseTagged(v: unknown, subject = 'lse.catalog.bases.tagged'): BaseTagged {
  const m = catalogEnvelope(v, subject);
  if (typeof m['name'] !== 'string' || typeof m['tag'] !== 'string' || !isDigest(m['digest']))
    fail(subject, 'name, tag and a base digest are required');
  return m as unknown as BaseTagged;
}

import { randomBytes } from 'node:crypto';
import { LseError, type Manifest, type Platform } from '@lse/core';
import {
  HEADERS,
  SUBJECTS,
  acceptedMsgId,
  eventSubjects,
  terminalMsgId,
  type SynthAccepted,
  type SynthCompleted,
  type SynthRequested,
} from '@lse/contracts';
import type { GatewayDeps } from './deps';
import type { CachedResult } from './repeat-cache';

/** Largest request message the bus carries when it does not say (NATS' default max_payload). */
const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

/**
 * A new synthesis id: the prefix and 96 random bits in lowercase hex, so that `synth/<id>` is a
 * valid registry repository name (OCI names are lowercase; base64 ids with capitals were not).
 */
export function newSynthesisId(prefix = 'syn'): string {
  return `${prefix}-${randomBytes(12).toString('hex')}`;
}

export interface Admission {
  manifest: Manifest;
  platform?: Platform;
  tenant?: string;
  traceId?: string;
  /** Id to use (the registry names its own); default a new one. */
  id?: string;
}

/**
 * Admits a synthesis: the work message is published (durable once this returns: JetStream
 * acknowledged it), then the requested event that starts its record. Only then does the caller
 * get an id. A request too large for the bus is refused (TOO_LARGE) and nothing is stored; a bus
 * that does not answer is UNAVAILABLE (503), with nothing stored either.
 */
export async function admit(d: GatewayDeps, a: Admission): Promise<string> {
  const id = a.id ?? newSynthesisId();
  const at = d.now().toISOString();
  const msg: SynthRequested = {
    v: 1,
    synthesisId: id,
    manifest: a.manifest,
    requestedAt: at,
    ...(a.platform ? { platform: a.platform } : {}),
    ...(a.tenant ? { tenant: a.tenant } : {}),
  };
  const size = Buffer.byteLength(JSON.stringify(msg));
  const max = d.bus.maxPayload ?? DEFAULT_MAX_PAYLOAD;
  if (size > max) {
    throw new LseError(
      'TOO_LARGE',
      `the manifest makes a ${size}-byte request, more than the bus carries (${max} bytes); split it or reference fragments instead of inlining files`,
      { size, max },
    );
  }
  const headers = { [HEADERS.synthesisId]: id, ...(a.traceId ? { [HEADERS.traceId]: a.traceId } : {}) };
  await d.bus.publish(SUBJECTS.requested, msg, { ...headers, [HEADERS.msgId]: `requested:${id}` });
  const accepted: SynthAccepted = {
    v: 1,
    synthesisId: id,
    manifestName: a.manifest.metadata.name,
    requestedAt: at,
    ...(a.platform ? { platform: a.platform } : {}),
    ...(a.tenant ? { tenant: a.tenant } : {}),
  };
  d.watch.apply({ subject: eventSubjects.requested(id), data: accepted, headers: {} });
  // The resolver publishes the same event (same message id) if this one is lost.
  await d.bus
    .publish(eventSubjects.requested(id), accepted, { ...headers, [HEADERS.msgId]: acceptedMsgId(id) })
    .catch(() => undefined);
  return id;
}

/**
 * Answers a repeat from the gateway's memory: a new synthesis with its requested and completed
 * events, durable in the events stream before the answer; the record projection writes its record
 * and its lease (`leaseBy: 'projection'`) like any other's. Until then the image's blobs are held
 * by the lease of the synthesis this result came from: a remembered result is younger than half
 * the collector's grace period (RepeatCache), so they cannot have been collected.
 */
export async function admitRepeat(d: GatewayDeps, a: Admission, hit: CachedResult): Promise<string> {
  const id = a.id ?? newSynthesisId();
  const now = d.now();
  const at = now.toISOString();
  const expiresAt = new Date(now.getTime() + d.leaseTtlSeconds * 1000).toISOString();
  const accepted: SynthAccepted = {
    v: 1,
    synthesisId: id,
    manifestName: a.manifest.metadata.name,
    requestedAt: at,
    ...(a.platform ? { platform: a.platform } : {}),
    ...(a.tenant ? { tenant: a.tenant } : {}),
  };
  const completed: SynthCompleted = {
    v: 1,
    synthesisId: id,
    key: hit.key,
    image: hit.image,
    layerPlan: hit.layerPlan,
    completedAt: at,
    lease: { expiresAt, leaseBy: 'projection' },
    accepted,
  };
  const headers = { [HEADERS.synthesisId]: id, ...(a.traceId ? { [HEADERS.traceId]: a.traceId } : {}) };
  d.watch.apply({ subject: eventSubjects.requested(id), data: accepted, headers: {} });
  d.watch.apply({ subject: eventSubjects.completed(id), data: completed, headers: {} });
  await Promise.all([
    d.bus.publish(eventSubjects.requested(id), accepted, { ...headers, [HEADERS.msgId]: acceptedMsgId(id) }),
    d.bus.publish(eventSubjects.completed(id), completed, { ...headers, [HEADERS.msgId]: terminalMsgId(id) }),
  ]);
  return id;
}

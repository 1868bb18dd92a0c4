/**
 * NATS subjects and headers, version 1. Work subjects live in stream LSE_WORK (work-queue
 * retention); events in LSE_EVENTS (limits retention). Messages carry ids and digests only:
 * bytes live in the fragment database and the layer cache, never on the bus.
 */
import { STAGES, type Stage } from './stages';

/** Work subjects, one a stage (`lse.synth.<stage>`, from the stage table), and the dead letters. */
export const SUBJECTS = {
  ...(Object.fromEntries(STAGES.map((s) => [s, `lse.synth.${s}`])) as { readonly [S in Stage]: `lse.synth.${S}` }),
  /** Dead letters: a message that exhausted its redeliveries. */
  dead: 'lse.synth.dead',
} as const;

export const WORK_STREAM = { name: 'LSE_WORK', subjects: ['lse.synth.>'] } as const;
export const EVENTS_STREAM = { name: 'LSE_EVENTS', subjects: ['lse.events.>'] } as const;
/**
 * Catalog changes (limits retention, file storage): every writer of fragments, bases and keys
 * publishes what it stored after it is durable, and each resolver keeps its in-memory catalog
 * current from it, replaying from the stream position it recorded before loading its snapshot.
 */
export const CATALOG_STREAM = { name: 'LSE_CATALOG', subjects: ['lse.catalog.>'] } as const;

export const CATALOG_SUBJECTS = {
  /** FragmentsPublished: ids (and records when small) of stored fragments, one message per batch. */
  fragmentsPublished: 'lse.catalog.fragments.published',
  /** TrustChanged: a key was added, re-scoped or revoked. */
  trustChanged: 'lse.catalog.trust.changed',
  /** BaseTagged: `name:tag` now points at a stored base. */
  baseTagged: 'lse.catalog.bases.tagged',
} as const;

export const eventSubjects = {
  /**
   * A synthesis was accepted: published by whoever admitted it (the gateway for REST, the
   * resolver for requests published straight to NATS; the same `Nats-Msg-Id` makes it one event).
   * The synthesis record starts here.
   */
  requested: (id: string) => `lse.events.synthesis.requested.${id}`,
  completed: (id: string) => `lse.events.synthesis.completed.${id}`,
  failed: (id: string) => `lse.events.synthesis.failed.${id}`,
  /** Progress: one event per finished stage. */
  progress: (id: string) => `lse.events.synthesis.progress.${id}`,
  all: (id: string) => `lse.events.synthesis.*.${id}`,
  /** Every synthesis event (the record projection and the gateways' watchers subscribe here). */
  any: 'lse.events.synthesis.>',
} as const;

/** The kind of a synthesis event subject (`lse.events.synthesis.<kind>.<id>`), or undefined. */
export function eventKindOf(subject: string): 'requested' | 'progress' | 'completed' | 'failed' | undefined {
  const k = subject.split('.')[3];
  return k === 'requested' || k === 'progress' || k === 'completed' || k === 'failed' ? k : undefined;
}

/**
 * `Nats-Msg-Id` of the terminal event: completed and failed share it, so within the stream's
 * duplicate window a synthesis gets one terminal event whatever races (a late failure after a
 * completion, a redelivered assembled message) happen.
 */
export const terminalMsgId = (id: string) => `terminal:${id}`;
export const acceptedMsgId = (id: string) => `accepted:${id}`;

export const HEADERS = {
  synthesisId: 'Lse-Synthesis-Id',
  traceId: 'Lse-Trace-Id',
  /** Client-chosen id for requests published straight to NATS (idempotent per request). */
  requestId: 'Lse-Request-Id',
  /** JetStream de-duplication: `<stage>:<synthesis id>`. */
  msgId: 'Nats-Msg-Id',
} as const;

/** NATS subject matching: `*` one token, `>` one or more trailing tokens. */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length || (p[i] !== '*' && p[i] !== s[i])) return false;
  }
  return p.length === s.length;
}

/**
 * Catalog changes a gateway's repeat cache must hear of: `changed` is a core NATS message a
 * gateway sends after it stored fragments, bases or trust changes; `any` covers the catalog
 * stream's events (fragments published, bases tagged, trust changed) as well.
 */
export const CATALOG_CHANGES = {
  changed: 'lse.gateway.catalog-changed',
  any: 'lse.catalog.>',
} as const;

/**
 * The JetStream streams LSE needs, created or brought up to date idempotently: services call
 * `ensureStreams` at start-up, so whichever starts first creates them and the rest find them as
 * they are. A stream whose config already matches is left alone; one that differs is updated.
 *
 * Replicas: in a NATS cluster the streams are replicated (R3: a PubAck means a majority of the
 * nodes stored the message, so losing one node loses nothing acknowledged). The replica count is
 * changed on an existing stream only when it is asked for (`replicas` given); without it a new
 * stream gets 1 and an existing one keeps what it has, so a client that does not know the
 * deployment (a test, a tool) never shrinks a replicated stream.
 */
import {
  RetentionPolicy,
  StorageType,
  type JetStreamManager,
  type StreamConfig,
  JetStreamApiError,
  JetStreamApiCodes,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { LseError } from '@lse/core';
import { CATALOG_STREAM, DUPLICATE_WINDOW_MS, EVENTS_STREAM, WORK_STREAM } from '@lse/contracts';

/** Events are kept this long (clients that reconnect can still read the outcome). */
export const EVENTS_MAX_AGE_MS = 24 * 3_600_000;
/**
 * Catalog events are kept this long: a resolver replays them from the position it recorded before
 * loading its snapshot, so they only need to outlive a resolver's start-up (a week is generous).
 */
export const CATALOG_MAX_AGE_MS = 7 * 24 * 3_600_000;

export interface StreamOptions {
  /** Replicas per stream (1 for a single server, 3 for a cluster). Default: 1 on create, an existing stream's count kept. */
  replicas?: number;
  duplicateWindowMs?: number;
  eventsMaxAgeMs?: number;
}

/** The fields LSE sets on a stream; everything else keeps the server's default. */
export type StreamSpec = Pick<
  StreamConfig,
  'name' | 'subjects' | 'retention' | 'storage' | 'duplicate_window' | 'max_age'
> & {
  /** Absent: 1 when the stream is created, otherwise left as it is. */
  num_replicas?: number;
};

export type EnsureResult = 'created' | 'updated' | 'unchanged';

/**
 * LSE_WORK (work queue: each message removed once acknowledged), LSE_EVENTS (kept for max age) and
 * LSE_CATALOG (catalog changes, kept for a week).
 */
export function streamSpecs(opts: StreamOptions = {}): StreamSpec[] {
  if (opts.replicas !== undefined && !(Number.isInteger(opts.replicas) && opts.replicas >= 1 && opts.replicas <= 5)) {
    throw new LseError('CONFIG_INVALID', `stream replicas must be a whole number from 1 to 5, got ${opts.replicas}`, {
      replicas: opts.replicas,
    });
  }
  const replicas = opts.replicas !== undefined ? { num_replicas: opts.replicas } : {};
  const dup = nanos(opts.duplicateWindowMs ?? DUPLICATE_WINDOW_MS);
  return [
    {
      name: WORK_STREAM.name,
      subjects: [...WORK_STREAM.subjects],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      ...replicas,
      duplicate_window: dup,
      max_age: 0,
    },
    {
      name: EVENTS_STREAM.name,
      subjects: [...EVENTS_STREAM.subjects],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      ...replicas,
      duplicate_window: dup,
      max_age: nanos(opts.eventsMaxAgeMs ?? EVENTS_MAX_AGE_MS),
    },
    {
      name: CATALOG_STREAM.name,
      subjects: [...CATALOG_STREAM.subjects],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      ...replicas,
      duplicate_window: dup,
      max_age: nanos(CATALOG_MAX_AGE_MS),
    },
  ];
}

/** Creates or updates every stream of streamSpecs; returns what was done to each. */
export async function ensureStreams(
  jsm: JetStreamManager,
  opts: StreamOptions = {},
): Promise<Record<string, EnsureResult>> {
  const out: Record<string, EnsureResult> = {};
  for (const spec of streamSpecs(opts)) out[spec.name] = await ensureStream(jsm, spec);
  return out;
}

/** Creates the stream, or updates it when one of the spec's fields differs. */
export async function ensureStream(jsm: JetStreamManager, spec: StreamSpec): Promise<EnsureResult> {
  const fail = (what: string, err: unknown): never => {
    throw new LseError(
      'CONFIG_INVALID',
      `stream ${spec.name}: could not ${what} it: ${(err as Error).message}; ` +
        'check that JetStream is enabled and that no other stream claims its subjects (a retention or storage change needs the stream deleted first)',
      { stream: spec.name, subjects: spec.subjects },
      { cause: err },
    );
  };
  let current: StreamConfig | undefined;
  try {
    current = (await jsm.streams.info(spec.name)).config;
  } catch (err) {
    if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound)) fail('look up', err);
  }
  if (!current) {
    try {
      await jsm.streams.add({ num_replicas: 1, ...spec });
      return 'created';
    } catch (err) {
      // Another process may have created it a moment ago: compare with what it made.
      try {
        current = (await jsm.streams.info(spec.name)).config;
      } catch {
        fail('create', err);
      }
    }
  }
  if (sameSpec(current!, spec)) return 'unchanged';
  const { name, ...fields } = spec;
  try {
    await jsm.streams.update(name, fields);
  } catch (err) {
    fail('update', err);
  }
  return 'updated';
}

function sameSpec(c: StreamConfig, s: StreamSpec): boolean {
  return (
    [...c.subjects].sort().join(' ') === [...s.subjects].sort().join(' ') &&
    c.retention === s.retention &&
    c.storage === s.storage &&
    (s.num_replicas === undefined || c.num_replicas === s.num_replicas) &&
    c.duplicate_window === s.duplicate_window &&
    c.max_age === s.max_age
  );
}

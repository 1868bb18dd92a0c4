/**
 * What writers of the catalog publish after a change is durable (contracts' lse.catalog.*),
 * so that resolvers keep their in-memory catalog current (live-catalog.ts). Fragment records
 * travel in the event when they fit (a message stays under MAX_EVENT_BYTES, well below NATS'
 * default 1 MiB payload limit); a record too large for one message travels as its id alone and
 * readers fetch it. Never blob bytes.
 */
import type { Bus, Fragment } from '@lse/core';
import { CATALOG_SUBJECTS, type BaseTagged, type FragmentsPublished, type TrustChanged } from '@lse/contracts';

export const MAX_EVENT_BYTES = 512 * 1024;

/** The messages announcing `fragments`: batches of records, each under `maxBytes` of JSON. */
export function fragmentEvents(
  fragments: readonly Fragment[],
  at: string,
  maxBytes = MAX_EVENT_BYTES,
): FragmentsPublished[] {
  const out: FragmentsPublished[] = [];
  let batch: Fragment[] = [];
  let bytes = 0;
  const large: string[] = [];
  const flush = () => {
    if (batch.length) out.push({ v: 1, ids: batch.map((f) => f.id), fragments: batch, publishedAt: at });
    batch = [];
    bytes = 0;
  };
  for (const f of fragments) {
    const size = Buffer.byteLength(JSON.stringify(f)) + 80;
    if (size > maxBytes / 2) {
      large.push(f.id);
      continue;
    }
    if (bytes + size > maxBytes) flush();
    batch.push(f);
    bytes += size;
  }
  flush();
  const perIdsOnly = Math.floor(maxBytes / 80);
  for (let i = 0; i < large.length; i += perIdsOnly)
    out.push({ v: 1, ids: large.slice(i, i + perIdsOnly), publishedAt: at });
  return out;
}

/** Publishes the events for fragments just stored; resolves once every one is durable. */
export async function publishFragments(
  bus: Bus,
  fragments: readonly Fragment[],
  at = new Date().toISOString(),
): Promise<void> {
  for (const e of fragmentEvents(fragments, at))
    await bus.publish<FragmentsPublished>(CATALOG_SUBJECTS.fragmentsPublished, e);
}

export async function publishBaseTagged(
  bus: Bus,
  t: { name: string; tag: string; digest: string },
  at = new Date().toISOString(),
): Promise<void> {
  await bus.publish<BaseTagged>(CATALOG_SUBJECTS.baseTagged, { v: 1, ...t, at });
}

export async function publishTrustChanged(
  bus: Bus,
  key: string,
  change: TrustChanged['change'],
  at = new Date().toISOString(),
): Promise<void> {
  await bus.publish<TrustChanged>(CATALOG_SUBJECTS.trustChanged, { v: 1, key, change, at });
}

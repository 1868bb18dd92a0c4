/**
 * Records to Mongo documents and back, so what comes out deep-equals what went in, on MongoDB 7
 * and on FerretDB 1.24.
 *
 * FerretDB 1.x refuses field names that contain '.' or start with '$' ("invalid key ... must not
 * contain '.' sign"), which MongoDB 5+ accepts. Free-form parts of our records have such keys
 * (OCI config labels like `org.opencontainers.image.source`, descriptor `metadata`), so every key
 * is escaped on the way in: '%' -> '%25', '.' -> '%2E', a leading '$' -> '%24'; and unescaped on
 * the way out. '%' is escaped first, so decoding is unambiguous. Keys without those characters
 * (every field we query on: `id`, `descriptor.name`, `key`, ...) are stored unchanged.
 * `undefined` members are dropped (as JSON would), and Mongo's `_id` is stripped on read.
 */
import type { Document } from 'mongodb';

const encodeKey = (k: string): string => k.replace(/%/g, '%25').replace(/\./g, '%2E').replace(/^\$/, '%24');
const decodeKey = (k: string): string =>
  k.includes('%') ? k.replace(/%(25|2E|24)/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))) : k;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object') return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

function mapKeys(v: unknown, key: (k: string) => string): unknown {
  if (Array.isArray(v)) return v.map((x) => mapKeys(x, key));
  if (!isPlainObject(v)) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) if (x !== undefined) out[key(k)] = mapKeys(x, key);
  return out;
}

/** A fresh document for `record` (never the record itself: the driver adds `_id` to what it inserts). */
export function encodeDoc(record: object): Document {
  return mapKeys(record, encodeKey) as Document;
}

/** The record a document holds, without `_id`. */
export function decodeDoc<T>(doc: Document): T {
  const rest: Document = { ...doc };
  delete rest['_id'];
  return mapKeys(rest, decodeKey) as T;
}

/** MongoDB's duplicate key error (a unique index refused the write). */
export function isDuplicateKey(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === 11000;
}

/** A document whose `_id` is the record's natural key (FerretDB 1.x uses only `_id` for lookups). */
export type StrIdDoc = Document & { _id: string };

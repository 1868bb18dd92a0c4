import { createHash } from 'node:crypto';

/**
 * Canonical JSON: object keys sorted by UTF-16 code units, no whitespace, `undefined` properties
 * dropped, numbers must be finite. Two equal values always give the same bytes, which is what
 * fragment ids, signatures and synthesis keys are computed over.
 */
export function canonicalJson(value: unknown): string {
  return write(value, '$');
}

function write(v: unknown, at: string): string {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'boolean':
      return v ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(v)) throw new TypeError(`canonicalJson: non-finite number at ${at}`);
      return JSON.stringify(v);
    case 'object': {
      if (Array.isArray(v)) return '[' + v.map((x, i) => write(x === undefined ? null : x, `${at}[${i}]`)).join(',') + ']';
      const obj = v as Record<string, unknown>;
      const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort();
      return '{' + keys.map((k) => JSON.stringify(k) + ':' + write(obj[k], `${at}.${k}`)).join(',') + '}';
    }
    default:
      throw new TypeError(`canonicalJson: cannot encode ${typeof v} at ${at}`);
  }
}

export function canonicalBytes(value: unknown): Buffer {
  return Buffer.from(canonicalJson(value), 'utf8');
}

/** `sha256:<hex>` of the bytes. */
export function sha256Digest(data: Buffer | string): string {
  return 'sha256:' + createHash('sha256').update(data).digest('hex');
}

/** `sha256:<hex>` of a value's canonical JSON. */
export function digestOfValue(value: unknown): string {
  return sha256Digest(canonicalBytes(value));
}

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;
export function isDigest(s: unknown): s is string {
  return typeof s === 'string' && DIGEST_RE.test(s);
}

/** `sha256:ab12cd34ef56` — short form for messages. */
export function shortDigest(d: string): string {
  return d.startsWith('sha256:') ? d.slice(0, 19) : d.slice(0, 12);
}

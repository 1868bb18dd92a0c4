/**
 * Canonical JSON for OCI documents (private to oci/): object keys sorted by UTF-16 code unit,
 * no whitespace, `undefined` members dropped, so the same document always has the same bytes and
 * therefore the same digest.
 */
export function stableStringify(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError(`cannot serialize ${value}`);
    const s = JSON.stringify(value);
    if (s === undefined) throw new TypeError(`cannot serialize ${typeof value}`);
    return s;
  }
  if (Array.isArray(value)) {
    return `[${value.map((v) => (v === undefined ? 'null' : stableStringify(v))).join(',')}]`;
  }
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${stableStringify(obj[k])}`).join(',')}}`;
}

export function stableJsonBytes(value: unknown): Buffer {
  return Buffer.from(stableStringify(value), 'utf8');
}

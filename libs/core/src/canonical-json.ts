/**
 * Canonical JSON: object keys sorted by UTF-16 code units, no whitespace, `undefined` properties
 * dropped, numbers must be finite. Two equal values always give the same bytes, which is what
 * fragment ids, signatures and synthesis keys are computed over.
 */
export function canonicalJson(value: unknown): string {
  return write(value, []);
}

/** `path` names where we are, for errors only (segments are pushed and popped, never joined on the hot path). */
function write(v: unknown, path: (string | number)[]): string {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'boolean':
      return v ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(v)) throw new TypeError(`canonicalJson: non-finite number at ${where(path)}`);
      return JSON.stringify(v);
    case 'object': {
      let out: string;
      if (Array.isArray(v)) {
        out = '[';
        for (let i = 0; i < v.length; i++) {
          path.push(i);
          out += (i ? ',' : '') + write(v[i] === undefined ? null : v[i], path);
          path.pop();
        }
        return out + ']';
      }
      const obj = v as Record<string, unknown>;
      const keys = Object.keys(obj)
        .filter((k) => obj[k] !== undefined)
        .sort();
      out = '{';
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i]!;
        path.push(k);
        out += (i ? ',' : '') + JSON.stringify(k) + ':' + write(obj[k], path);
        path.pop();
      }
      return out + '}';
    }
    default:
      throw new TypeError(`canonicalJson: cannot encode ${typeof v} at ${where(path)}`);
  }
}

function where(path: (string | number)[]): string {
  return '$' + path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('');
}

export function canonicalBytes(value: unknown): Buffer {
  return Buffer.from(canonicalJson(value), 'utf8');
}

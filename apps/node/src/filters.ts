/**
 * containerd's filter syntax, as the Snapshots API's List (`Walk`) receives it: each filter is a
 * comma-separated list of selectors that must all match; a list of filters matches when any of
 * them does; no filter matches everything.
 *
 *   selector  := fieldpath [ ("==" | "!=" | "~=") value ]   (no operator: the field is present)
 *   fieldpath := field ("." field)*        field := [A-Za-z0-9_]+ | quoted
 *   value     := quoted | run of characters other than ',' and white space
 *   quoted    := "..." (backslash escapes) | /.../ | |...|
 *
 * containerd's metadata store calls List with `labels."containerd.io/snapshot.ref"==<chainID>,parent=="<key>"`
 * after a remote-snapshot Prepare answered ALREADY_EXISTS, to find the committed snapshot.
 * `!=` also matches an absent field (as containerd's own matcher does); `~=` is a regular expression.
 */
import { LseError } from '@lse/core';

export type FieldOf = (path: string[]) => string | undefined;
type Op = '?' | '==' | '!=' | '~=';
interface Selector {
  path: string[];
  op: Op;
  value: string;
  re?: RegExp;
}
export type Filter = (field: FieldOf) => boolean;

const invalid = (filter: string, at: number, what: string) =>
  new LseError(
    'SNAPSHOT_INVALID',
    `filter '${filter}' is not valid at ${at}: ${what} (containerd syntax: fieldpath[==|!=|~=value], comma-separated)`,
    { filter, at },
  );

function parseOne(input: string): Selector[] {
  let i = 0;
  const quoted = (): string => {
    const q = input[i]!;
    let out = '';
    i++;
    while (i < input.length && input[i] !== q) {
      if (input[i] === '\\' && i + 1 < input.length) {
        const c = input[i + 1]!;
        out +=
          q === '"'
            ? (({ n: '\n', t: '\t', r: '\r', '\\': '\\', '"': '"' } as Record<string, string>)[c] ?? `\\${c}`)
            : c === q
              ? q
              : `\\${c}`;
        i += 2;
      } else out += input[i++];
    }
    if (input[i] !== q) throw invalid(input, i, `unterminated ${q}quote`);
    i++;
    return out;
  };
  const isQuote = (c: string | undefined) => c === '"' || c === '/' || c === '|';
  const spaces = () => {
    while (i < input.length && /\s/.test(input[i]!)) i++;
  };
  const out: Selector[] = [];
  for (;;) {
    spaces();
    const path: string[] = [];
    for (;;) {
      if (isQuote(input[i])) path.push(quoted());
      else {
        const m = /^[A-Za-z0-9_]+/.exec(input.slice(i));
        if (!m) throw invalid(input, i, 'expected a field name');
        path.push(m[0]);
        i += m[0].length;
      }
      if (input[i] !== '.') break;
      i++;
    }
    spaces();
    let op: Op = '?';
    let value = '';
    const two = input.slice(i, i + 2);
    if (two === '==' || two === '!=' || two === '~=') {
      op = two;
      i += 2;
      spaces();
      if (isQuote(input[i])) value = quoted();
      else {
        const m = /^[^,\s]+/.exec(input.slice(i));
        if (!m) throw invalid(input, i, 'expected a value');
        value = m[0];
        i += m[0].length;
      }
    }
    let re: RegExp | undefined;
    if (op === '~=') {
      try {
        re = new RegExp(value);
      } catch {
        throw invalid(input, i, `'${value}' is not a regular expression`);
      }
    }
    out.push({ path, op, value, ...(re ? { re } : {}) });
    spaces();
    if (i >= input.length) return out;
    if (input[i] !== ',') throw invalid(input, i, "expected ',' between selectors");
    i++;
  }
}

const matches = (s: Selector, field: FieldOf): boolean => {
  const v = field(s.path);
  switch (s.op) {
    case '?':
      return v !== undefined;
    case '==':
      return v === s.value;
    case '!=':
      return (v ?? '') !== s.value;
    case '~=':
      return v !== undefined && s.re!.test(v);
  }
};

/** One filter for `filters` (any of them; each a conjunction of selectors). Throws SNAPSHOT_INVALID on bad syntax. */
export function parseFilters(filters: string[]): Filter {
  const parsed = filters.filter((f) => f !== '').map(parseOne);
  if (parsed.length === 0) return () => true;
  return (field) => parsed.some((sels) => sels.every((s) => matches(s, field)));
}

/** The fields of a snapshot as containerd's adaptor names them: name, parent, kind, labels.<key>. */
export function snapshotFields(info: {
  name: string;
  parent: string;
  kind: string;
  labels: Record<string, string>;
}): FieldOf {
  return (path) => {
    switch (path[0]) {
      case 'name':
        return info.name;
      case 'parent':
        return info.parent;
      case 'kind':
        return info.kind;
      case 'labels': {
        const key = path.slice(1).join('.');
        return Object.prototype.hasOwnProperty.call(info.labels, key) ? info.labels[key] : undefined;
      }
      default:
        return undefined;
    }
  };
}

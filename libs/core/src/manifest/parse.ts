/**
 * The dependency manifest schema, and `parseManifest`, which reads YAML or JSON, checks it against
 * the schema, and reports every problem at once with its field path and line:column.
 */
import { LineCounter } from 'yaml';
import { LseError } from '../errors';
import type { Manifest } from '../model';
import { excerpt } from '../util/excerpt';
import { BASE_REF_FORMS, checkBaseRef } from './base-ref';
import { MANIFEST_MAX_BYTES, MANIFEST_MAX_REPORTED, readBoundedYaml, sizeProblem } from './limits';
import {
  ARCHES,
  FEATURE_RE,
  LIBCS,
  MAX_REGION_FALLBACKS,
  OSES,
  VARIANTS,
  regionProblem,
  variantProblem,
} from './platform';
import {
  Ctx,
  listOf,
  mapOf,
  mapped,
  object,
  oneOf,
  optional,
  pattern,
  required,
  str,
  valueNode,
  withDefault,
} from './schema';
import type { ManifestProblem } from './schema';

const DNS_LABEL_RE = /^(?=.{1,63}$)[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;
const REQUIREMENT_NAME_RE = /^[a-z0-9][a-z0-9+._-]*$/;
const ENV_KEY_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MODE_RE = /^[0-7]{3,4}$/;
const USER_RE = /^(?:[a-z_][a-z0-9_-]*\$?|[0-9]+|[0-9]+:[0-9]+)$/;

/** Why `p` is not a normalized absolute file path, or undefined. */
function filePathProblem(p: string): string | undefined {
  const q = excerpt(p);
  if (!p.startsWith('/')) return `'${q}' must be an absolute path like /etc/motd`;
  if (p === '/') return "must name a file, not '/'";
  if (p.endsWith('/')) return `'${q}' must not end with '/'; name the file`;
  if (p.includes('\0')) return 'must not contain a NUL character';
  const segments = p.slice(1).split('/');
  if (segments.includes('..')) return `'${q}' must not contain '..'; write the path it leads to`;
  if (segments.some((s) => s === '' || s === '.')) return `'${q}' must be normalized (no '//' or '/./')`;
  return undefined;
}

const nonEmpty = str((s) => (s.trim() === '' ? 'must be a non-empty string' : undefined));
const stringMap = mapOf((k) => (k === '' ? 'keys must not be empty' : undefined), str());
const features = listOf(pattern(FEATURE_RE, 'a lowercase CPU feature name like avx2'), { example: '[avx2, fma]' });
const ALL_VARIANTS = [...new Set(Object.values(VARIANTS).flat())];
const region = str(regionProblem);

const platformSchema = object(
  {
    os: optional(oneOf(OSES)),
    arch: optional(oneOf(ARCHES)),
    variant: optional(str()),
    features: optional(features),
    libc: optional(oneOf(LIBCS)),
    region: optional(region),
    regionFallback: optional(listOf(region, { example: '[eu-west, us-east]' })),
  },
  (p, node, path, ctx) => {
    if (p.regionFallback && p.regionFallback.length > MAX_REGION_FALLBACKS) {
      ctx.report(
        valueNode(node, 'regionFallback'),
        `${path}.regionFallback`,
        `lists ${p.regionFallback.length} regions; at most ${MAX_REGION_FALLBACKS}`,
      );
      return false;
    }
    if (p.variant === undefined) return true;
    const problem = variantProblem(p.arch ?? 'amd64', p.variant);
    if (problem === undefined) return true;
    ctx.report(valueNode(node, 'variant'), `${path}.variant`, p.arch ? problem : `${problem} (arch defaults to amd64)`);
    return false;
  },
);

const requirementSchema = object({
  name: required(
    pattern(REQUIREMENT_NAME_RE, 'lowercase letters, digits and + . _ -, starting with a letter or digit'),
  ),
  version: optional(nonEmpty),
  prefer: optional(
    object({ features: optional(features), variant: optional(oneOf(ALL_VARIANTS)), libc: optional(oneOf(LIBCS)) }),
  ),
});

const fileSchema = object({
  path: required(str(filePathProblem)),
  content: required(str(undefined, MANIFEST_MAX_BYTES)),
  mode: withDefault(
    mapped(pattern(MODE_RE, 'an octal mode string like "0644"'), (m) => m.padStart(4, '0')),
    () => '0644',
  ),
});

const manifestSchema = object({
  apiVersion: required(oneOf(['lse.dev/v1'])),
  kind: required(oneOf(['DependencyManifest'])),
  metadata: required(
    object({
      name: required(pattern(DNS_LABEL_RE, 'lowercase letters, digits and -, at most 63, like web-api')),
      labels: optional(stringMap),
    }),
  ),
  base: required(
    str((s) => {
      const r = checkBaseRef(s);
      return typeof r === 'string' ? `${r}; ${BASE_REF_FORMS}` : undefined;
    }),
    '; use base: scratch for an empty base',
  ),
  platform: optional(platformSchema),
  require: withDefault(
    listOf(requirementSchema, { uniqueKey: 'name', duplicateHint: 'merge the two entries into one' }),
    () => [],
  ),
  files: withDefault(listOf(fileSchema, { uniqueKey: 'path', duplicateHint: 'keep one entry per path' }), () => []),
  env: withDefault(
    mapOf(
      (k) =>
        ENV_KEY_RE.test(k)
          ? undefined
          : `'${excerpt(k)}' is not a valid variable name; use letters, digits and _, not starting with a digit`,
      str(),
    ),
    () => ({}),
  ),
  entrypoint: optional(listOf(str(), { example: '["/usr/local/bin/start.sh"]' })),
  cmd: optional(listOf(str(), { example: '["--port", "8080"]' })),
  workingDir: optional(pattern(/^\//, 'an absolute path like /app')),
  user: optional(pattern(USER_RE, 'a user name, a uid, or uid:gid like "1000:1000"')),
  labels: withDefault(stringMap, () => ({})),
});

function formatProblem(source: string, p: ManifestProblem): string {
  return `${source}:${p.line}:${p.column}: ${p.path ? `${p.path}: ` : ''}${p.message}`;
}

/**
 * Parses and validates a manifest written in YAML or JSON. `source` names the text in messages
 * (a file name). Throws `MANIFEST_INVALID` listing every problem, with
 * `details = { source, errors: [{ path, line, column, message }] }` sorted by position (the first
 * {@link MANIFEST_MAX_REPORTED}; `details.omitted` counts the rest). Hostile text is refused in
 * bounded time and memory: see `limits.ts` for the size, nesting, key and string limits, and for
 * why anchors and aliases are refused. Messages quote at most a short excerpt of the input.
 */
export function parseManifest(text: string, source = 'manifest'): Manifest {
  const name = excerpt(source);
  const tooBig = sizeProblem(text);
  if (tooBig !== undefined) {
    throw new LseError('MANIFEST_INVALID', `invalid manifest ${name}: ${tooBig}`, {
      source: name,
      errors: [{ path: '', line: 1, column: 1, message: tooBig }],
    });
  }
  const lines = new LineCounter();
  const ctx = new Ctx(text, lines);
  const doc = readBoundedYaml(text, ctx);
  let manifest: Manifest | undefined;
  if (doc === undefined) {
    // limits.ts reported why
  } else if (doc.errors.length > 0) {
    for (const e of doc.errors.slice(0, MANIFEST_MAX_REPORTED + 1))
      ctx.reportAt(e.pos[0], '', `YAML syntax error: ${e.message}`);
  } else if (doc.contents === null) {
    ctx.reportAt(0, '', 'is empty; expected a map starting with apiVersion: lse.dev/v1 and kind: DependencyManifest');
  } else {
    manifest = manifestSchema(doc.contents, '', ctx);
  }
  if (ctx.problems.length > 0 || manifest === undefined) {
    const all = [...ctx.problems].sort((a, b) => a.line - b.line || a.column - b.column);
    const errors = all.slice(0, MANIFEST_MAX_REPORTED);
    const omitted = all.length - errors.length;
    const count =
      all.length === 1
        ? '1 problem'
        : omitted > 0
          ? `${MANIFEST_MAX_REPORTED} problems shown, more omitted`
          : `${all.length} problems`;
    const message = [
      `invalid manifest ${name} (${count}); fix and retry:`,
      ...errors.map((p) => formatProblem(name, p)),
    ].join('\n');
    throw new LseError(
      'MANIFEST_INVALID',
      message,
      omitted > 0 ? { source: name, errors, omitted } : { source: name, errors },
    );
  }
  return manifest;
}

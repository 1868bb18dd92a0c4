import { isLseError } from '../errors';
import type { Manifest } from '../model';
import { parseManifest } from './index';
import type { ManifestProblem } from './index';

const EXAMPLE = `apiVersion: lse.dev/v1
kind: DependencyManifest
metadata: { name: web-api }
base: minimal            # a base name[:tag], or name@sha256:<hex>, or "scratch"
platform: { os: linux, arch: amd64, variant: v2, features: [avx2] }   # optional
require:
  - name: app-config
    version: "^2.0.0"            # semver range, or a Debian relation like ">= 1.6.39-1"
  - name: libpng
    prefer: { features: [avx2] } # optional variant preference
files:
  - { path: /etc/motd, content: "hello\\n", mode: "0644" }
env: { LANG: C.UTF-8 }
entrypoint: ["/usr/local/bin/start.sh"]
cmd: []
workingDir: /
user: "0:0"
labels: { team: payments }
`;

const EXPECTED: Manifest = {
  apiVersion: 'lse.dev/v1',
  kind: 'DependencyManifest',
  metadata: { name: 'web-api' },
  base: 'minimal',
  platform: { os: 'linux', arch: 'amd64', variant: 'v2', features: ['avx2'] },
  require: [
    { name: 'app-config', version: '^2.0.0' },
    { name: 'libpng', prefer: { features: ['avx2'] } },
  ],
  files: [{ path: '/etc/motd', content: 'hello\n', mode: '0644' }],
  env: { LANG: 'C.UTF-8' },
  entrypoint: ['/usr/local/bin/start.sh'],
  cmd: [],
  workingDir: '/',
  user: '0:0',
  labels: { team: 'payments' },
};

/** A valid manifest header followed by `rest`. */
const HEAD = 'apiVersion: lse.dev/v1\nkind: DependencyManifest\nmetadata: { name: web-api }\nbase: minimal\n';
const withHead = (rest: string) => HEAD + rest;

/** 1-based line and column of the `nth` occurrence of `needle`, computed from the text alone. */
function at(text: string, needle: string, nth = 1): { line: number; column: number } {
  let i = -1;
  for (let k = 0; k < nth; k++) {
    i = text.indexOf(needle, i + 1);
    if (i < 0) throw new Error(`test bug: '${needle}' #${nth} not in text`);
  }
  const before = text.slice(0, i);
  const line = before.split('\n').length;
  return { line, column: i - (before.lastIndexOf('\n') + 1) + 1 };
}

function problems(text: string, source?: string): ManifestProblem[] {
  try {
    parseManifest(text, source);
  } catch (e) {
    if (!isLseError(e, 'MANIFEST_INVALID')) throw e;
    return (e.details as { errors: ManifestProblem[] }).errors;
  }
  throw new Error('expected MANIFEST_INVALID');
}

describe('parseManifest: valid input', () => {
  it('parses the example to the expected object', () => {
    expect(parseManifest(EXAMPLE, 'web-api.yaml')).toEqual(EXPECTED);
  });

  it('parses the equivalent JSON (tabs and all) to the same object', () => {
    const json = JSON.stringify(EXPECTED, null, '\t');
    expect(parseManifest(json, 'web-api.json')).toEqual(EXPECTED);
  });

  it('applies defaults and leaves optional fields out', () => {
    expect(parseManifest(HEAD)).toEqual({
      apiVersion: 'lse.dev/v1',
      kind: 'DependencyManifest',
      metadata: { name: 'web-api' },
      base: 'minimal',
      require: [],
      files: [],
      env: {},
      labels: {},
    });
  });

  it('treats empty values as absent, defaults file mode, and pads a 3-digit mode', () => {
    const m = parseManifest(
      withHead('require:\nenv:\nfiles:\n  - { path: /a, content: "" }\n  - { path: /b, content: x, mode: "755" }\n'),
    );
    expect(m.require).toEqual([]);
    expect(m.env).toEqual({});
    expect(m.files).toEqual([
      { path: '/a', content: '', mode: '0644' },
      { path: '/b', content: 'x', mode: '0755' },
    ]);
  });

  it('accepts every base form and metadata labels', () => {
    const digest = `sha256:${'ab'.repeat(32)}`;
    for (const base of ['scratch', 'minimal', 'lse/minimal:1.2', `minimal@${digest}`, `minimal:1.2@${digest}`]) {
      expect(parseManifest(HEAD.replace('base: minimal', `base: "${base}"`)).base).toBe(base);
    }
    expect(parseManifest(HEAD.replace('{ name: web-api }', '{ name: web-api, labels: { a: b } }')).metadata).toEqual({
      name: 'web-api',
      labels: { a: 'b' },
    });
  });

  it('accepts a platform variant given without arch when it fits the amd64 default', () => {
    expect(parseManifest(withHead('platform: { variant: v3, libc: musl }\n')).platform).toEqual({
      variant: 'v3',
      libc: 'musl',
    });
  });
});

/** [rule, text, expected path, where (text located by `at`, or a position), message fragment] */
type Where = string | [needle: string, nth: number] | { line: number; column: number };
type Case = [string, string, string, Where, string | RegExp];
const ROOT = { line: 1, column: 1 };

const CASES: Case[] = [
  ['apiVersion value', HEAD.replace('lse.dev/v1', 'lse.dev/v2'), 'apiVersion', 'lse.dev/v2', "use 'lse.dev/v1'"],
  ['kind value', HEAD.replace('DependencyManifest', 'Manifest'), 'kind', 'Manifest', "use 'DependencyManifest'"],
  ['apiVersion missing', HEAD.replace('apiVersion: lse.dev/v1\n', ''), 'apiVersion', ROOT, 'is required'],
  [
    'metadata.name syntax',
    HEAD.replace('web-api', 'Web_API'),
    'metadata.name',
    'Web_API',
    'lowercase letters, digits and -',
  ],
  ['metadata.name too long', HEAD.replace('web-api', 'a'.repeat(64)), 'metadata.name', 'aaaa', 'at most 63'],
  [
    'metadata.name missing (parent position)',
    HEAD.replace('{ name: web-api }', '{ labels: {} }'),
    'metadata.name',
    '{ labels',
    'is required',
  ],
  ['base missing (root position)', HEAD.replace('base: minimal\n', ''), 'base', ROOT, 'use base: scratch'],
  ['base name', HEAD.replace('base: minimal', 'base: Minimal'), 'base', 'Minimal', "name 'Minimal'"],
  ['base digest', HEAD.replace('base: minimal', 'base: minimal@sha256:abc'), 'base', 'minimal@', '64 lowercase hex'],
  ['base scratch with tag', HEAD.replace('base: minimal', 'base: "scratch:1"'), 'base', '"scratch', 'takes no tag'],
  ['platform.os', withHead('platform: { os: windows }\n'), 'platform.os', 'windows', "'linux'"],
  ['platform.arch', withHead('platform: { arch: mips }\n'), 'platform.arch', 'mips', 'riscv64'],
  [
    'platform.variant for amd64',
    withHead('platform: { arch: amd64, variant: v5 }\n'),
    'platform.variant',
    'v5',
    'v1, v2, v3, v4',
  ],
  [
    'platform.variant for arm',
    withHead('platform: { arch: arm, variant: v3 }\n'),
    'platform.variant',
    'v3',
    'v6, v7, v8',
  ],
  [
    'platform.variant for riscv64',
    withHead('platform: { arch: riscv64, variant: v1 }\n'),
    'platform.variant',
    ['v1', 2],
    'takes no variant',
  ],
  [
    'platform.variant with default arch',
    withHead('platform: { variant: v7 }\n'),
    'platform.variant',
    'v7',
    'arch defaults to amd64',
  ],
  [
    'platform.features words',
    withHead('platform: { features: [avx2, AVX512] }\n'),
    'platform.features[1]',
    'AVX512',
    'lowercase',
  ],
  ['platform.features type', withHead('platform: { features: avx2 }\n'), 'platform.features', 'avx2', 'must be a list'],
  ['platform.libc', withHead('platform: { libc: uclibc }\n'), 'platform.libc', 'uclibc', "'glibc', 'musl'"],
  ['platform type', withHead('platform: linux/amd64\n'), 'platform', 'linux/amd64', 'must be a map'],
  ['require type', withHead('require: libpng\n'), 'require', 'libpng', 'must be a list'],
  ['requirement name', withHead('require:\n  - name: LibPNG\n'), 'require[0].name', 'LibPNG', 'lowercase letters'],
  ['requirement name missing', withHead('require:\n  - version: "1"\n'), 'require[0].name', 'version', 'is required'],
  [
    'requirement item empty',
    withHead('require:\n  - name: a\n  -\n'),
    'require[1]',
    { line: 7, column: 4 },
    'must not be empty',
  ],
  [
    'version empty',
    withHead('require:\n  - name: a\n  - name: b\n    version: ""\n'),
    'require[1].version',
    '""',
    'must be a non-empty string',
  ],
  [
    'version number',
    withHead('require:\n  - name: a\n    version: 1.10\n'),
    'require[0].version',
    '1.10',
    'quote it: "1.10"',
  ],
  [
    'duplicate requirement',
    withHead('require:\n  - name: libpng\n  - name: zlib\n  - name: libpng\n'),
    'require[2].name',
    ['libpng', 2],
    'first at line 6',
  ],
  [
    'prefer.libc',
    withHead('require:\n  - name: a\n    prefer: { libc: bionic }\n'),
    'require[0].prefer.libc',
    'bionic',
    "'glibc'",
  ],
  [
    'prefer unknown key',
    withHead('require:\n  - name: a\n    prefer: { feature: [avx2] }\n'),
    'require[0].prefer.feature',
    'feature',
    "did you mean 'features'?",
  ],
  [
    'file path relative',
    withHead('files:\n  - { path: etc/motd, content: x }\n'),
    'files[0].path',
    'etc/motd',
    'absolute',
  ],
  ['file path ..', withHead('files:\n  - { path: /etc/../motd, content: x }\n'), 'files[0].path', '/etc/..', "'..'"],
  [
    'file path trailing /',
    withHead('files:\n  - { path: /etc/, content: x }\n'),
    'files[0].path',
    '/etc/',
    "end with '/'",
  ],
  ['file path root', withHead('files:\n  - { path: /, content: x }\n'), 'files[0].path', '/,', "not '/'"],
  [
    'file path not normalized',
    withHead('files:\n  - { path: /etc//motd, content: x }\n'),
    'files[0].path',
    '/etc//',
    'normalized',
  ],
  [
    'file path duplicate',
    withHead('files:\n  - { path: /a, content: x }\n  - { path: /a, content: y }\n'),
    'files[1].path',
    ['/a', 2],
    'first at line 6',
  ],
  [
    'file mode digits',
    withHead('files:\n  - { path: /a, content: x, mode: "0999" }\n'),
    'files[0].mode',
    '"0999"',
    'octal',
  ],
  [
    'file mode unquoted',
    withHead('files:\n  - { path: /a, content: x, mode: 0644 }\n'),
    'files[0].mode',
    '0644',
    'quote it: "0644"',
  ],
  ['file content missing', withHead('files:\n  - { path: /a }\n'), 'files[0].content', '{ path', 'is required'],
  [
    'file content type',
    withHead('files:\n  - { path: /a, content: [x] }\n'),
    'files[0].content',
    '[x]',
    'found a list',
  ],
  ['env key', withHead('env:\n  1BAD: x\n'), 'env["1BAD"]', '1BAD', 'not a valid variable name'],
  ['env number value', withHead('env:\n  PORT: 8080\n'), 'env.PORT', '8080', 'quote it: "8080"'],
  ['env boolean value', withHead('env:\n  DEBUG: true\n'), 'env.DEBUG', 'true', 'quote it: "true"'],
  ['env null value', withHead('env:\n  EMPTY: ~\n'), 'env.EMPTY', '~', 'must have a value'],
  ['entrypoint type', withHead('entrypoint: /bin/sh\n'), 'entrypoint', '/bin/sh', 'must be a list'],
  ['cmd items', withHead('cmd: [--port, 8080]\n'), 'cmd[1]', '8080', 'quote it'],
  ['workingDir', withHead('workingDir: app\n'), 'workingDir', 'app', 'absolute path'],
  ['user syntax', withHead('user: "root:wheel"\n'), 'user', '"root', 'uid:gid'],
  ['user number', withHead('user: 1000\n'), 'user', '1000', 'quote it: "1000"'],
  ['labels value', withHead('labels: { replicas: 3 }\n'), 'labels.replicas', '3', 'quote it'],
  [
    'labels dotted key',
    withHead('labels: { "app.kubernetes.io/name": 3 }\n'),
    'labels["app.kubernetes.io/name"]',
    '3',
    'quote it',
  ],
  [
    'unknown key hint',
    withHead('requires:\n  - name: a\n'),
    'requires',
    'requires',
    "unknown key 'requires'; did you mean 'require'?",
  ],
  [
    'unknown key, other spelling',
    withHead('working_dir: /app\n'),
    'working_dir',
    'working_dir',
    "did you mean 'workingDir'?",
  ],
  [
    'unknown key with a dash',
    withHead('working-dir: /app\n'),
    'working-dir',
    'working-dir',
    "did you mean 'workingDir'?",
  ],
  ['nested unknown key', withHead('platform: { archh: amd64 }\n'), 'platform.archh', 'archh', "did you mean 'arch'?"],
  [
    'unknown key without a near match',
    withHead('replicas: 3\n'),
    'replicas',
    'replicas',
    'allowed keys: apiVersion, kind',
  ],
  ['duplicate key', withHead('user: a\nuser: b\n'), 'user', ['user', 2], 'first at line 5'],
  ['non-string key', withHead('labels: { 1: a }\n'), 'labels', '1:', 'must be a string'],
  ['complex key', withHead('labels:\n  ? [a]\n  : b\n'), 'labels', '[a]', 'not lists or maps'],
  ['binary value', withHead('env: { A: !!binary aGVsbG8= }\n'), 'env.A', 'aGVsbG8=', 'found binary data'],
  ['anchor', withHead('env: &common { LANG: C.UTF-8 }\n'), '', '&common', 'anchors (&common) are not supported'],
  ['root not a map', '- a\n- b\n', '', ROOT, 'must be a map'],
  ['empty document', '# nothing\n', '', ROOT, 'is empty'],
  ['alias', withHead('labels: *nope\n'), '', '*nope', 'aliases (*nope) are not supported'],
];

describe('parseManifest: each rule reports path, line and column', () => {
  it.each(CASES)('%s', (_rule, text, path, where, message) => {
    const found = problems(text);
    const pos =
      typeof where === 'string' ? at(text, where) : Array.isArray(where) ? at(text, where[0], where[1]) : where;
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ path, ...pos });
    expect(found[0]!.message).toEqual(expect.stringMatching(message instanceof RegExp ? message : escape(message)));
  });
});

function escape(s: string): RegExp {
  return new RegExp(s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
}

describe('parseManifest: reporting', () => {
  const BAD = `apiVersion: lse.dev/v1
kind: DependencyManifest
metadata: { name: web-api }
base: minimal
requires: []
require:
  - name: libpng
  - name: zlib
    version: ""
env: { PORT: 8080 }
`;

  it('collects all problems, sorted by position, into one error and one message', () => {
    let err: unknown;
    try {
      parseManifest(BAD, 'web-api.yaml');
    } catch (e) {
      err = e;
    }
    expect(isLseError(err, 'MANIFEST_INVALID')).toBe(true);
    const e = err as { message: string; details: { source: string; errors: ManifestProblem[] } };
    expect(e.details.source).toBe('web-api.yaml');
    expect(e.details.errors).toEqual([
      { path: 'requires', line: 5, column: 1, message: "unknown key 'requires'; did you mean 'require'?" },
      { path: 'require[1].version', line: 9, column: 14, message: 'must be a non-empty string' },
      { path: 'env.PORT', line: 10, column: 14, message: 'must be a string, found the number 8080; quote it: "8080"' },
    ]);
    const lines = e.message.split('\n');
    expect(lines[0]).toMatch(/web-api\.yaml.*3 problems/);
    expect(lines.slice(1)).toEqual([
      "web-api.yaml:5:1: requires: unknown key 'requires'; did you mean 'require'?",
      'web-api.yaml:9:14: require[1].version: must be a non-empty string',
      'web-api.yaml:10:14: env.PORT: must be a string, found the number 8080; quote it: "8080"',
    ]);
  });

  it('reports a YAML syntax error at its position, and nothing else', () => {
    const found = problems(withHead('env:\n\tA: b\nrequires: []\n'), 'x.yaml');
    expect(found).toEqual([
      {
        path: '',
        line: 6,
        column: 1,
        message: expect.stringMatching(/^YAML syntax error: Tabs are not allowed as indentation/),
      },
    ]);
  });

  it('reports an unclosed flow sequence', () => {
    const found = problems(withHead('require: [libpng\nenv: {}\n'));
    expect(found[0]).toMatchObject({ path: '', line: 6, column: 1 });
    expect(found[0]!.message).toMatch(/YAML syntax error: .*end with a \]/);
  });

  it('reports an unclosed JSON object at the end of the text', () => {
    const text = '{\n  "apiVersion": "lse.dev/v1",\n  "kind": "DependencyManifest"\n';
    expect(problems(text, 'm.json')).toEqual([
      {
        path: '',
        line: 4,
        column: 1,
        message: expect.stringMatching(/YAML syntax error: Flow map must end with a \}/),
      },
    ]);
  });

  it('names the source "manifest" when none is given', () => {
    expect(() => parseManifest('kind: x\n')).toThrow(
      /^invalid manifest manifest .*\nmanifest:1:1: apiVersion: is required/,
    );
  });
});

// Lint: typescript-eslint recommended rules plus Nx module boundaries. Tags (package.json "nx.tags"):
//   type:domain    libs/core       pure: no Node I/O modules, no SDKs, imports nothing of ours
//   type:contract  libs/contracts  subjects and message schemas; may import domain
//   type:adapter   libs/adapters/* implement core ports; may import domain (never each other)
//   type:engine    libs/engine     pipeline stages over ports; domain + contract
//   type:testing   libs/testing    conformance suites and fixtures; domain
//   type:runtime   libs/service    service runtime: config, connections, health; wires adapters
//   type:app       apps/*          composition roots; anything but other apps
// Spec files may import any lib (tests wire real adapters into engine and gateway code).
// Test fixtures and tamper helpers live in @lse/testing and the libs' `/testing` entries
// (e.g. @lse/adapter-s3/testing): only specs and test kits import them.
import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';

const TEST_ONLY = {
  group: ['@lse/testing', '@lse/*/testing'],
  message: 'test fixtures and tamper helpers are for specs only.',
};
const IO_MODULES = [
  'fs',
  'fs/promises',
  'net',
  'http',
  'https',
  'http2',
  'child_process',
  'dgram',
  'dns',
  'tls',
  'cluster',
  'worker_threads',
  'os',
  'readline',
];

export default [
  { ignores: ['**/dist/**', '**/node_modules/**', '**/*.js', '**/*.mjs', '.nx/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    plugins: { '@nx': nx },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-restricted-imports': ['error', { patterns: [TEST_ONLY] }],
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: false,
          allow: [],
          depConstraints: [
            { sourceTag: 'type:domain', onlyDependOnLibsWithTags: [] },
            { sourceTag: 'type:contract', onlyDependOnLibsWithTags: ['type:domain'] },
            { sourceTag: 'type:adapter', onlyDependOnLibsWithTags: ['type:domain', 'type:contract', 'type:testing'] },
            { sourceTag: 'type:engine', onlyDependOnLibsWithTags: ['type:domain', 'type:contract', 'type:testing'] },
            { sourceTag: 'type:testing', onlyDependOnLibsWithTags: ['type:domain', 'type:contract'] },
            {
              sourceTag: 'type:runtime',
              onlyDependOnLibsWithTags: ['type:domain', 'type:contract', 'type:adapter', 'type:engine'],
            },
            {
              sourceTag: 'type:app',
              onlyDependOnLibsWithTags: [
                'type:domain',
                'type:contract',
                'type:adapter',
                'type:engine',
                'type:testing',
                'type:runtime',
              ],
            },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.spec.ts', '**/testkit.ts'],
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: false,
          depConstraints: [{ sourceTag: '*', onlyDependOnLibsWithTags: ['*'] }],
        },
      ],
      '@typescript-eslint/no-explicit-any': 'off',
      'no-restricted-imports': 'off',
    },
  },
  {
    // The test-only entries themselves, and the testing lib, may use each other.
    files: ['**/src/testing.ts', 'libs/testing/src/**/*.ts'],
    rules: { 'no-restricted-imports': 'off' },
  },
  {
    // The domain does no I/O and uses no SDK: only node:crypto, node:zlib, node:stream and its own code.
    files: ['libs/core/src/**/*.ts'],
    ignores: ['libs/core/src/**/*.spec.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: IO_MODULES.flatMap((m) => [m, `node:${m}`]).map((name) => ({
            name,
            message: 'libs/core is pure domain code: do I/O in an adapter behind a port.',
          })),
          patterns: [
            { group: ['@aws-sdk/*', 'mongodb', '@nats-io/*', 'fastify', 'pino'], message: 'libs/core imports no SDK.' },
            TEST_ONLY,
          ],
        },
      ],
    },
  },
];

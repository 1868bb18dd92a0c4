// One Jest run for the whole monorepo. Two projects:
//   unit: *.spec.ts beside the code (pure logic, embedded store, CLI end to end on temp dirs)
//   int:  *.int.spec.ts (real NATS / MongoDB-compatible / S3-compatible servers; see infra/local)
// Workspace packages resolve to their TypeScript sources, so unit tests need no build; tests that
// spawn the CLI binary need `npm run build` first (the root `npm test` does that).
const path = require('node:path');
const fs = require('node:fs');

const roots = ['libs', 'libs/adapters', 'apps']
  .flatMap((d) => fs.readdirSync(path.join(__dirname, d)).map((n) => path.join(d, n)))
  .filter((d) => fs.existsSync(path.join(__dirname, d, 'package.json')));

const moduleNameMapper = {};
for (const d of roots) {
  const name = require(path.join(__dirname, d, 'package.json')).name;
  moduleNameMapper[`^${name.replace('/', '\\/')}$`] = path.join(__dirname, d, 'src/index.ts');
  // A `/testing` entry (fixtures and tamper helpers that production code does not import).
  if (fs.existsSync(path.join(__dirname, d, 'src/testing.ts')))
    moduleNameMapper[`^${name.replace('/', '\\/')}\\/testing$`] = path.join(__dirname, d, 'src/testing.ts');
}

const common = {
  rootDir: __dirname,
  roots: roots.map((d) => `<rootDir>/${d}/src`),
  testEnvironment: 'node',
  moduleNameMapper,
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.spec.json' }],
    // ESM-only dependencies (cookie 2, under fastify's inject) are compiled to CommonJS for Jest,
    // which cannot require() ESM on Node 20 although Node itself can.
    '^.+/node_modules/cookie/.+\\.js$': [
      'ts-jest',
      { tsconfig: { allowJs: true, module: 'commonjs', isolatedModules: true } },
    ],
  },
  transformIgnorePatterns: ['/node_modules/(?!cookie/)'],
  moduleFileExtensions: ['ts', 'js', 'json'],
};

module.exports = {
  projects: [
    {
      ...common,
      displayName: 'unit',
      testMatch: ['**/*.spec.ts'],
      testPathIgnorePatterns: ['\\.int\\.spec\\.ts$', '/node_modules/', '/dist/'],
    },
    {
      ...common,
      displayName: 'int',
      testMatch: ['**/*.int.spec.ts'],
      testPathIgnorePatterns: ['/node_modules/', '/dist/'],
      globalSetup: '<rootDir>/libs/testing/src/jest-int-setup.ts',
      globalTeardown: '<rootDir>/libs/testing/src/jest-int-teardown.ts',
    },
  ],
};

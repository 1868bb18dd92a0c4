#!/usr/bin/env node
'use strict';
// Thin launcher so the `lse` bin exists before the first build; the CLI lives in dist/main.js.
let main;
try {
  ({ main } = require('../dist/main.js'));
} catch (e) {
  if (e && e.code === 'MODULE_NOT_FOUND' && String(e.message).includes('dist/main.js')) {
    process.stderr.write('lse: the CLI is not built yet; run `npm run build` at the repository root\n');
    process.exit(1);
  }
  throw e;
}
main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});

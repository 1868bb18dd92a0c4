#!/usr/bin/env node
'use strict';
/**
 * The public surfaces of the libs: the names each lib's `src/index.ts` exports, and which of them
 * no other package uses (apps, other libs, bench/, scripts/, examples/; specs count as users).
 *
 *   node scripts/exports.js            list unused exports (exit 1 if there are any)
 *   node scripts/exports.js --list     every lib's exports, one `lib name` a line
 *
 * A name counts as used when a file outside its lib that mentions the lib's package name (or its
 * dist/ directory) contains the name as a word: generous, so a name it calls unused really is.
 * The names come from the TypeScript checker, so `export *` chains are followed too.
 */
const fs = require('node:fs');
const path = require('node:path');
const ts = require('typescript');

const REPO = path.resolve(__dirname, '..');
const SKIP = new Set(['node_modules', 'dist', '.git', '.nx', 'coverage']);

function libs() {
  const dirs = ['libs', 'libs/adapters'].flatMap((d) => fs.readdirSync(path.join(REPO, d)).map((n) => path.join(d, n)));
  return dirs
    .filter(
      (d) => fs.existsSync(path.join(REPO, d, 'package.json')) && fs.existsSync(path.join(REPO, d, 'src/index.ts')),
    )
    .map((dir) => ({ dir, name: require(path.join(REPO, dir, 'package.json')).name }));
}

function exportsOf(entries) {
  const program = ts.createProgram(entries, {
    module: ts.ModuleKind.Node16,
    moduleResolution: ts.ModuleResolutionKind.Node16,
    target: ts.ScriptTarget.ES2022,
    noEmit: true,
    skipLibCheck: true,
  });
  const checker = program.getTypeChecker();
  return entries.map((file) => {
    const sym = checker.getSymbolAtLocation(program.getSourceFile(file));
    return sym
      ? checker
          .getExportsOfModule(sym)
          .map((s) => s.name)
          .sort()
      : [];
  });
}

function* sourceFiles(dir) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (SKIP.has(e.name)) continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) yield* sourceFiles(p);
    else if (/\.(ts|js|mjs|cjs)$/.test(e.name)) yield p;
  }
}

function main() {
  const all = libs();
  const names = exportsOf(all.map((l) => path.join(REPO, l.dir, 'src/index.ts')));
  if (process.argv.includes('--list')) {
    all.forEach((l, i) => names[i].forEach((n) => console.log(`${l.name} ${n}`)));
    return;
  }
  const files = ['apps', 'libs', 'bench', 'scripts', 'examples']
    .filter((d) => fs.existsSync(path.join(REPO, d)))
    .flatMap((d) => [...sourceFiles(path.join(REPO, d))])
    .map((f) => ({ rel: path.relative(REPO, f), text: fs.readFileSync(f, 'utf8') }));
  let unused = 0;
  all.forEach((lib, i) => {
    const users = files.filter(
      (f) =>
        !f.rel.startsWith(lib.dir + '/') && (f.text.includes(`'${lib.name}`) || f.text.includes(`${lib.dir}/dist`)),
    );
    for (const n of names[i]) {
      const word = new RegExp(`\\b${n.replace(/\$/g, '\\$')}\\b`);
      if (!users.some((f) => word.test(f.text))) {
        console.log(`${lib.name} ${n}`);
        unused++;
      }
    }
  });
  if (unused) {
    console.error(
      `${unused} exported name(s) nobody outside their lib uses: drop them from the lib's src/index.ts (and the code, if nothing inside uses it either)`,
    );
    process.exitCode = 1;
  }
}

main();

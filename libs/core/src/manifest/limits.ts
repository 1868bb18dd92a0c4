/**
 * Bounded YAML reading for manifests, which arrive from anyone who may call the gateway.
 *
 * `parseDocument` from the `yaml` package is fine for trusted text, but its composer recurses
 * once per nesting level: 1,000 nested flow maps (`{"a":` ×1000, 5 KB) overflow the stack, and
 * the overflow can leave V8 in a state where the next parse aborts the process ("RegExpCompiler
 * Allocation failed"). So a manifest is read in three steps, each with a limit checked before the
 * next step can be hurt by it:
 * 1. size: more than {@link MANIFEST_MAX_BYTES} is refused before anything looks at the text;
 * 2. the CST: the package's `Lexer` and `Parser` keep their nesting on an explicit stack (no
 *    recursion), and that stack is watched while lexemes are fed one by one, so absurd nesting
 *    stops the parse at the first level too deep; the finished CST is then walked iteratively to
 *    refuse nesting deeper than {@link MANIFEST_MAX_DEPTH}, anchors and aliases (manifests need
 *    none; refusing them rules out alias bombs), and keys over {@link MANIFEST_MAX_KEY_CHARS};
 * 3. only then the `Composer` (recursive, now over a tree at most MANIFEST_MAX_DEPTH deep) builds
 *    the document the schema checks.
 */
import { Composer, Lexer, Parser, YAMLParseError } from 'yaml';
import type { CST, Document } from 'yaml';
import type { Ctx } from './schema';

/** Largest manifest accepted, bytes of UTF-8. The gateway can use it as its request body limit. */
export const MANIFEST_MAX_BYTES = 256 * 1024;
/** Deepest nesting of maps and lists (a real manifest needs 5: require[].prefer.features[]). */
export const MANIFEST_MAX_DEPTH = 32;
/** Longest map key, characters of source text. */
export const MANIFEST_MAX_KEY_CHARS = 1024;
/** Longest string value, characters, except `files[].content` (bounded by MANIFEST_MAX_BYTES). */
export const MANIFEST_MAX_STRING_CHARS = 16 * 1024;

/** Problems beyond this many are counted, not listed (in the message and in details). */
export const MANIFEST_MAX_REPORTED = 20;

/** Why `text` is over {@link MANIFEST_MAX_BYTES}, or undefined (a long text is not measured in full). */
export function sizeProblem(text: string): string | undefined {
  const size = text.length > MANIFEST_MAX_BYTES ? `${text.length} characters` : `${Buffer.byteLength(text)} bytes`;
  if (text.length <= MANIFEST_MAX_BYTES && Buffer.byteLength(text) <= MANIFEST_MAX_BYTES) return undefined;
  return `is ${size}, over the ${MANIFEST_MAX_BYTES}-byte limit for a manifest; move large file contents into a fragment`;
}

/**
 * Reads the single YAML document in `text` within the limits above. Reports what breaks a limit
 * into `ctx` and returns undefined; otherwise returns the composed document (which may still
 * carry YAML syntax errors in `doc.errors`).
 */
export function readBoundedYaml(text: string, ctx: Ctx): Document.Parsed | undefined {
  // The package makes an Error (with a stack trace) for every syntax problem; garbage input has
  // tens of thousands, and capturing their stacks was most of the time spent on it.
  const stackTraceLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return read(text, ctx);
  } finally {
    Error.stackTraceLimit = stackTraceLimit;
  }
}

function read(text: string, ctx: Ctx): Document.Parsed | undefined {
  const parser = new Parser(ctx.lines.addNewLine);
  const tokens: CST.Token[] = [];
  ctx.lines.addNewLine(0);
  // The parser's stack holds the document, one entry per open collection and at most one
  // pending scalar; past this it is certainly deeper than the limit.
  const stackLimit = MANIFEST_MAX_DEPTH + 3;
  for (const lexeme of new Lexer().lex(text)) {
    for (const t of parser.next(lexeme)) tokens.push(t);
    if (parser.stack.length > stackLimit) {
      tooDeep(ctx, parser.offset);
      return undefined;
    }
  }
  for (const t of parser.end()) tokens.push(t);
  if (!checkTree(tokens, ctx)) return undefined;

  // uniqueKeys off: duplicate keys are reported by the schema, with their field path.
  const composer = new Composer({ keepSourceTokens: true, uniqueKeys: false });
  let doc: Document.Parsed | undefined;
  for (const d of composer.compose(tokens, true, text.length)) {
    if (!doc) doc = d;
    else {
      doc.errors.push(
        new YAMLParseError(
          [d.range[0], d.range[1]],
          'MULTIPLE_DOCS',
          'the text holds more than one YAML document; keep one (remove the --- line)',
        ),
      );
      break;
    }
  }
  return doc;
}

function tooDeep(ctx: Ctx, offset: number): void {
  ctx.reportAt(
    offset,
    '',
    `maps and lists are nested more than ${MANIFEST_MAX_DEPTH} levels deep; a manifest needs a few, flatten it`,
  );
}

type Item = { start?: CST.SourceToken[]; key?: CST.Token | null; sep?: CST.SourceToken[]; value?: CST.Token };

/** Walks the CST without recursion; reports nesting, anchors, aliases and long keys. True when none. */
function checkTree(tokens: CST.Token[], ctx: Ctx): boolean {
  const before = ctx.problems.length;
  const props = (list: readonly CST.Token[] | undefined): void => {
    for (const t of list ?? []) {
      if (t.type === 'anchor')
        ctx.reportAt(
          t.offset,
          '',
          `YAML anchors (${t.source.slice(0, 40)}) are not supported in manifests; write the value out`,
        );
    }
  };
  const work: Array<{ token: CST.Token; depth: number; key?: boolean }> = tokens.map((token) => ({ token, depth: 0 }));
  while (work.length > 0) {
    const { token, depth, key } = work.pop()!;
    switch (token.type) {
      case 'document':
        props(token.start);
        props(token.end);
        if (token.value) work.push({ token: token.value, depth });
        break;
      case 'block-map':
      case 'block-seq':
      case 'flow-collection': {
        if (depth + 1 > MANIFEST_MAX_DEPTH) {
          tooDeep(ctx, token.offset);
          return false; // one report is enough; the rest of the tree is not worth walking
        }
        if (token.type === 'flow-collection') props(token.end);
        for (const item of token.items as Item[]) {
          props(item.start);
          props(item.sep);
          if (item.key) work.push({ token: item.key, depth: depth + 1, key: true });
          if (item.value) work.push({ token: item.value, depth: depth + 1 });
        }
        break;
      }
      case 'alias':
        ctx.reportAt(
          token.offset,
          '',
          `YAML aliases (${token.source.slice(0, 40)}) are not supported in manifests; write the value out`,
        );
        break;
      case 'block-scalar':
        props(token.props);
        break;
      case 'scalar':
      case 'single-quoted-scalar':
      case 'double-quoted-scalar':
        props(token.end);
        if (key && token.source.length > MANIFEST_MAX_KEY_CHARS) {
          ctx.reportAt(
            token.offset,
            '',
            `a key is ${token.source.length} characters long (limit ${MANIFEST_MAX_KEY_CHARS}); shorten it`,
          );
        }
        break;
      default:
        break;
    }
    if (ctx.problems.length - before > MANIFEST_MAX_REPORTED) break;
  }
  return ctx.problems.length === before;
}

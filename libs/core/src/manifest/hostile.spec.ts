/**
 * Hostile manifests: refused with MANIFEST_INVALID, with short messages, and the process keeps
 * parsing afterwards (the nested-map case used to abort Node on its second parse).
 */
import { isLseError, LseError } from '../errors';
import {
  MANIFEST_MAX_BYTES,
  MANIFEST_MAX_DEPTH,
  MANIFEST_MAX_KEY_CHARS,
  MANIFEST_MAX_STRING_CHARS,
  parseManifest,
} from './index';

const HEAD = 'apiVersion: lse.dev/v1\nkind: DependencyManifest\nmetadata: { name: web-api }\nbase: minimal\n';

function refusal(text: string): LseError {
  try {
    parseManifest(text, 'hostile.yaml');
  } catch (e) {
    if (isLseError(e, 'MANIFEST_INVALID')) return e;
    throw e;
  }
  throw new Error('expected MANIFEST_INVALID');
}

/** The message and details stay small whatever the input was. */
function expectShort(e: LseError): void {
  expect(e.message.length).toBeLessThan(8_000);
  expect(JSON.stringify(e.details).length).toBeLessThan(10_000);
}

afterEach(() => {
  // still serving: an ordinary manifest parses right after a hostile one
  expect(parseManifest(`${HEAD}env: { A: b }\n`).env).toEqual({ A: 'b' });
});

describe('parseManifest: nesting', () => {
  it('1,000 nested flow maps (6 KB; aborted Node on the second parse) are refused, every time', () => {
    const text = '{"a":'.repeat(1000);
    for (let i = 0; i < 5; i++) {
      const e = refusal(text);
      expect(e.details.errors).toEqual([
        {
          path: '',
          line: 1,
          column: expect.any(Number),
          message: expect.stringMatching(`nested more than ${MANIFEST_MAX_DEPTH} levels`),
        },
      ]);
      expectShort(e);
    }
  });

  it.each([
    ['flow sequences', '['.repeat(200_000)],
    ['closed flow maps', `${'{a: '.repeat(50_000)}b${'}'.repeat(50_000)}`],
    ['compact block sequences', `${'- '.repeat(100_000)}x\n`],
    ['explicit keys', `${'? '.repeat(100_000)}x\n`],
    ['an indentation ladder', Array.from({ length: 600 }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n')],
    ['mixed block and flow', `${'- {a: [ '.repeat(20_000)}`],
    ['under a valid head', `${HEAD}labels: ${'['.repeat(1000)}\n`],
  ])('deep %s', (_name, text) => {
    const e = refusal(text);
    expect(e.details.errors).toEqual([expect.objectContaining({ message: expect.stringMatching('nested more than') })]);
    expectShort(e);
  });

  it(`${MANIFEST_MAX_DEPTH} levels reach the schema; one more does not`, () => {
    const nest = (n: number) => `${HEAD}labels: ${'['.repeat(n - 1)}${']'.repeat(n - 1)}\n`;
    expect(refusal(nest(MANIFEST_MAX_DEPTH)).details.errors).toEqual([
      expect.objectContaining({ path: 'labels', message: expect.stringMatching('must be a map of strings') }),
    ]);
    expect(refusal(nest(MANIFEST_MAX_DEPTH + 1)).details.errors).toEqual([
      expect.objectContaining({ message: expect.stringMatching('nested more than') }),
    ]);
  });
});

describe('parseManifest: anchors and aliases', () => {
  it('a billion-laughs document is refused, listing at most 20 problems', () => {
    const lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let i = 1; i < 9; i++)
      lines.push(
        `${'abcdefghi'[i]}: &${'abcdefghi'[i]} [${Array(9)
          .fill(`*${'abcdefghi'[i - 1]}`)
          .join(',')}]`,
      );
    const e = refusal(`${HEAD}${lines.join('\n')}\n`);
    expect(e.details.errors).toHaveLength(20);
    expect(e.details.omitted).toBeGreaterThan(0);
    expect(
      (e.details.errors as { message: string }[]).every((p) =>
        /(anchors|aliases) \(.+\) are not supported/.test(p.message),
      ),
    ).toBe(true);
    expect(e.message).toMatch(/20 problems shown, more omitted/);
    expectShort(e);
  });
});

describe('parseManifest: size', () => {
  it(`refuses more than MANIFEST_MAX_BYTES (${MANIFEST_MAX_BYTES}) before parsing, quoting nothing`, () => {
    const big = `${HEAD}labels: { a: "${'x'.repeat(MANIFEST_MAX_BYTES)}" }\n`;
    const e = refusal(big);
    expect(e.message).toMatch(/^invalid manifest hostile\.yaml: is \d+ characters, over the 262144-byte limit/);
    expect(e.message.length).toBeLessThan(200);
    // multi-byte characters count as bytes
    const wide = `${HEAD}labels: { a: "${'€'.repeat(MANIFEST_MAX_BYTES / 3)}" }\n`;
    expect(wide.length).toBeLessThan(MANIFEST_MAX_BYTES);
    expect(refusal(wide).message).toMatch(/is \d+ bytes, over the/);
  });

  it('a 100 MB manifest gets a message of a few bytes', () => {
    const e = refusal('x'.repeat(100 * 1024 * 1024));
    expect(e.message.length).toBeLessThan(200);
    expectShort(e);
  });
});

describe('parseManifest: huge keys and scalars', () => {
  it('a key over the limit is refused before composing', () => {
    const e = refusal(`${HEAD}labels: { "${'k'.repeat(MANIFEST_MAX_KEY_CHARS + 1)}": a }\n`);
    expect(e.details.errors).toEqual([
      expect.objectContaining({ message: expect.stringMatching(/a key is \d+ characters long/) }),
    ]);
  });

  it('a string over the limit is refused; file content may be longer', () => {
    const e = refusal(`${HEAD}labels: { a: "${'v'.repeat(MANIFEST_MAX_STRING_CHARS + 1)}" }\n`);
    expect(e.details.errors).toEqual([
      expect.objectContaining({
        path: 'labels.a',
        message: `is ${MANIFEST_MAX_STRING_CHARS + 1} characters long, over the ${MANIFEST_MAX_STRING_CHARS}-character limit; shorten it`,
      }),
    ]);
    const content = 'c'.repeat(100_000);
    expect(parseManifest(`${HEAD}files: [{ path: /etc/big, content: "${content}" }]\n`).files[0]?.content).toBe(
      content,
    );
  });

  it('a bad value is quoted as an excerpt', () => {
    const e = refusal(`${HEAD.replace('base: minimal', `base: "${'A'.repeat(10_000)}"`)}`);
    expect(e.message).toMatch(/name 'A{80}… \(10000 chars\)'/);
    expectShort(e);
    const num = refusal(`${HEAD}user: ${'9'.repeat(10_000)}\n`);
    expect(num.message).toMatch(/the number 9{80}… \(10000 chars\); quote it: "9{80}… \(10000 chars\)"/);
  });

  it('thousands of problems are counted, twenty listed', () => {
    const keys = Array.from({ length: 5000 }, (_, i) => `bad${i}: 1`).join(', ');
    const e = refusal(`${HEAD}platform: { ${keys} }\n`);
    expect(e.details.errors).toHaveLength(20);
    expect(e.details.omitted).toBe(4980);
    expectShort(e);
  });

  it('a second YAML document is a problem, not silently dropped', () => {
    expect(refusal(`${HEAD}---\nkind: x\n`).details.errors).toEqual([
      expect.objectContaining({ message: expect.stringMatching(/more than one YAML document/) }),
    ]);
  });
});

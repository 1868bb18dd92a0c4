/**
 * Debian control-file syntax (deb822, policy §5.1): paragraphs separated by blank lines, each a
 * sequence of `Field: value` lines; a line starting with a space or tab continues the previous
 * field (multiline fields such as Description and Conffiles). A `#` line at the start of a line is
 * a comment only in source control files; binary control files, Packages and status files have
 * none, so it is not treated specially here.
 *
 * A paragraph is a plain object whose keys keep their spelling and order; multiline values keep
 * their continuation lines joined by '\n' (each with its leading space), so formatting a parsed
 * paragraph gives back the same text.
 */
import { LseError } from '../errors';

export type ControlParagraph = Record<string, string>;

/** Every paragraph of a control file, Packages index or dpkg status file. */
export function parseControlFile(text: string, label = 'control data'): ControlParagraph[] {
  const out: ControlParagraph[] = [];
  let cur: ControlParagraph | undefined;
  let last: string | undefined;
  let lineNo = 0;
  let start = 0;
  const n = text.length;
  while (start <= n) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = n;
    let line = text.slice(start, end);
    start = end + 1;
    lineNo++;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line.trim() === '') {
      if (cur) out.push(cur);
      cur = undefined;
      last = undefined;
      if (end === n) break;
      continue;
    }
    if (line[0] === ' ' || line[0] === '\t') {
      if (!cur || last === undefined)
        throw new LseError(
          'FRAGMENT_INVALID',
          `${label}: line ${lineNo} continues a field, but no field came before it; fix the control data`,
          { line: lineNo },
        );
      cur[last] += '\n' + line;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0)
      throw new LseError(
        'FRAGMENT_INVALID',
        `${label}: line ${lineNo} ('${line.slice(0, 40)}') is not 'Field: value'; fix the control data`,
        { line: lineNo },
      );
    const key = line.slice(0, colon);
    cur ??= {};
    cur[key] = line.slice(colon + 1).trim();
    last = key;
    if (end === n) break;
  }
  if (cur) out.push(cur);
  return out;
}

/** The single paragraph of a binary package's `control` file. */
export function parseControl(text: string, label = 'control file'): ControlParagraph {
  const ps = parseControlFile(text, label);
  if (ps.length !== 1)
    throw new LseError(
      'FRAGMENT_INVALID',
      `${label}: expected one paragraph, found ${ps.length}; is this a binary package's control file?`,
      { paragraphs: ps.length },
    );
  return ps[0]!;
}

/** One paragraph as text, fields in the given order, ending with '\n'. */
export function formatParagraph(p: ControlParagraph): string {
  let s = '';
  for (const [k, v] of Object.entries(p)) s += v.startsWith('\n') ? `${k}:${v}\n` : `${k}: ${v}\n`;
  return s;
}

/** Field lookup ignoring the case of the name (field names are case-insensitive). */
export function field(p: ControlParagraph, name: string): string | undefined {
  if (p[name] !== undefined) return p[name];
  const lower = name.toLowerCase();
  for (const k of Object.keys(p)) if (k.toLowerCase() === lower) return p[k];
  return undefined;
}

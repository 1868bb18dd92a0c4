/** Longest piece of untrusted input an error message or detail quotes, in characters. */
export const EXCERPT_MAX = 80;

/**
 * `s` itself when short, else its first `max` characters followed by `…` and the full length, so
 * an error about a 100 MB value stays a few bytes long and still says how long the value was.
 */
export function excerpt(s: string, max = EXCERPT_MAX): string {
  if (s.length <= max) return s;
  return `${s.slice(0, max)}… (${s.length} chars)`;
}

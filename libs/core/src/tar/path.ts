/**
 * Path helpers shared by the policy, the normalizer and the host-side extractor. A "canonical"
 * path is relative, uses '/', has no empty, '.' or trailing components: `usr/lib/x.so`. The
 * archive root is the empty string.
 */

/** Splits a member path into components, dropping empty and '.' components. */
export function pathComponents(path: string): string[] {
  return path.split('/').filter((c) => c !== '' && c !== '.');
}

/** Canonical form of a relative member path ('./a//b/' → 'a/b'; '.' → ''). Keeps '..' as is. */
export function canonicalPath(path: string): string {
  return pathComponents(path).join('/');
}

/** Proper ancestors of a canonical path, outermost first: 'a/b/c' → ['a', 'a/b']. */
export function parentPaths(canonical: string): string[] {
  const parts = canonical.split('/');
  const out: string[] = [];
  for (let i = 1; i < parts.length; i++) out.push(parts.slice(0, i).join('/'));
  return out;
}

/** Byte order of the UTF-8 encoding (not UTF-16 code-unit order, which `<` would give). */
export function comparePaths(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

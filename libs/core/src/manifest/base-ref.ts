import { LseError } from '../errors';
import { excerpt } from '../util/excerpt';

export type BaseRef = { name: string; tag?: string; digest?: string } | { scratch: true };

/** Repository path: `/`-separated lowercase components joined by `.`, `_`, `__` or dashes (OCI). */
const NAME_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

/** The usage hint shown after a base-reference problem. */
export const BASE_REF_FORMS = 'write scratch, name, name:tag or name@sha256:<64 hex>, e.g. minimal:1.2';

/** Splits and checks a base reference; returns the parts or a description of what is wrong. */
export function checkBaseRef(ref: string): BaseRef | string {
  if (ref === 'scratch') return { scratch: true };
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST_RE.test(digest))
      return `digest '${excerpt(digest)}' must be sha256: followed by 64 lowercase hex digits`;
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag))
      return `tag '${excerpt(tag)}' must be letters, digits, '.', '_' or '-' (at most 128, not starting with '.' or '-')`;
  }
  if (rest === 'scratch') return "'scratch' takes no tag or digest; write just scratch";
  if (!NAME_RE.test(rest))
    return `name '${excerpt(rest)}' must be lowercase letters and digits separated by '.', '_', '-' or '/'`;
  const out: { name: string; tag?: string; digest?: string } = { name: rest };
  if (tag !== undefined) out.tag = tag;
  if (digest !== undefined) out.digest = digest;
  return out;
}

/**
 * Parses `scratch`, `name`, `name:tag`, `name@sha256:<hex>` (and `name:tag@sha256:<hex>`, where
 * the digest is what counts). Throws `USAGE` saying which part is wrong.
 */
export function parseBaseRef(ref: string): BaseRef {
  const r = checkBaseRef(ref);
  if (typeof r === 'string')
    throw new LseError('USAGE', `base '${excerpt(ref)}': ${r}; ${BASE_REF_FORMS}`, { base: excerpt(ref) });
  return r;
}

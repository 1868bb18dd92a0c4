/**
 * Fragment layers are built once. A fragment's layer (or a budget group's) is a deterministic
 * function of the fragment ids in order (each id binds the signed blob digest and, for a package
 * from a Debian index, the derivation), the layer format (how buildLayer writes tar and gzip)
 * and the epoch; the compressed bytes also depend on the zlib Node bundles. The digest of those
 * inputs is the key of a LayerRecord → { digest, diffId, size }. The assembler looks the record
 * up and, when the blob is still in the layer store, uses it without reading a fragment blob;
 * otherwise it builds the layer from verified content and records it.
 */
import { sha256Digest } from '@lse/core';

/** Bump when buildLayer's output for the same entries changes. */
export const LAYER_FORMAT = 'lse-fragment-layer/1';

/** The input key of the layer holding `fragmentIds` (in this order) at `epoch`. */
export function layerInputKey(fragmentIds: readonly string[], epoch: number): string {
  return sha256Digest([LAYER_FORMAT, `zlib ${process.versions.zlib}`, `epoch ${epoch}`, ...fragmentIds].join('\n'));
}

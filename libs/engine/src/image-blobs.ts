import type { ImageRef } from '@lse/contracts';

/** Every blob an image needs, manifest first: what its lease holds on to. */
export function imageBlobs(image: ImageRef): string[] {
  return [image.manifestDigest, image.configDigest, ...image.layers.map((l) => l.digest)];
}

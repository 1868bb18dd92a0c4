/** OCI image-spec media types and annotations LSE writes and reads. */
export const MEDIA_TYPE_OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const MEDIA_TYPE_OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const MEDIA_TYPE_OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const MEDIA_TYPE_OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';

/** Docker schema 2 types: accepted when reading base images (skopeo may write them), served on Accept (oci/attach.ts). */
export const MEDIA_TYPE_DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const MEDIA_TYPE_DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const MEDIA_TYPE_DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
export const MEDIA_TYPE_DOCKER_LAYER_GZIP = 'application/vnd.docker.image.rootfs.diff.tar.gzip';

/** Tag of a manifest inside an OCI image layout's index.json. */
export const ANNOTATION_REF_NAME = 'org.opencontainers.image.ref.name';
/** Content of the `oci-layout` file. */
export const OCI_LAYOUT_VERSION = '1.0.0';

export function isManifestMediaType(t: string | undefined): boolean {
  return t === MEDIA_TYPE_OCI_MANIFEST || t === MEDIA_TYPE_DOCKER_MANIFEST;
}

export function isIndexMediaType(t: string | undefined): boolean {
  return t === MEDIA_TYPE_OCI_INDEX || t === MEDIA_TYPE_DOCKER_MANIFEST_LIST;
}

import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { FsBlobStore } from './blob-store';
import {
  FsBaseRepository,
  FsDebianReleaseLog,
  FsFragmentRepository,
  FsLayerRecordRepository,
  FsTrustStore,
  FsVerdictRepository,
} from './repositories';

/**
 * The embedded store: everything one machine needs to synthesize with no servers.
 * ```
 * <root>/blobs/fragments/sha256/<hex>   fragment tars
 * <root>/blobs/layers/sha256/<hex>      base layers, built layers, configs, manifests
 * <root>/fragments/by-id/<hex>.json     fragment records; by-name/<name>/<hex> markers
 * <root>/bases/<hex>.json, tags.json    base images and name:tag pointers
 * <root>/trust/keys.json                trusted publisher keys
 * <root>/layer-records/<hex>.json       built fragment layers by input key (insert-once)
 * <root>/verdicts/<hex>@<hex>.json      verification verdicts by fragment and trust generation
 * <root>/debian-releases/<hex>.json      newest Debian release imported per suite (rollback rule)
 * ```
 */
export interface FsStore {
  root: string;
  fragmentBlobs: FsBlobStore;
  layerBlobs: FsBlobStore;
  fragments: FsFragmentRepository;
  bases: FsBaseRepository;
  trust: FsTrustStore;
  layerRecords: FsLayerRecordRepository;
  verdicts: FsVerdictRepository;
  debianReleases: FsDebianReleaseLog;
}

/** `--store DIR`, else `$LSE_HOME`, else `~/.local/share/lse`. */
export function defaultStoreDir(env: NodeJS.ProcessEnv): string {
  return env['LSE_HOME'] || join(homedir(), '.local', 'share', 'lse');
}

export function openFsStore(dir: string): FsStore {
  const root = resolve(dir);
  return {
    root,
    fragmentBlobs: new FsBlobStore(join(root, 'blobs', 'fragments')),
    layerBlobs: new FsBlobStore(join(root, 'blobs', 'layers')),
    fragments: new FsFragmentRepository(join(root, 'fragments')),
    bases: new FsBaseRepository(join(root, 'bases')),
    trust: new FsTrustStore(join(root, 'trust')),
    layerRecords: new FsLayerRecordRepository(join(root, 'layer-records')),
    verdicts: new FsVerdictRepository(join(root, 'verdicts')),
    debianReleases: new FsDebianReleaseLog(join(root, 'debian-releases')),
  };
}

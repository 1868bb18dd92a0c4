import { createHash } from 'node:crypto';
import { isLseError } from '../errors';
import type { Lock } from '../model';
import {
  buildImageConfig,
  buildImageIndex,
  buildImageManifest,
  buildLayoutIndex,
  descriptorOf,
  type ImageConfigInput,
} from './image';
import {
  ANNOTATION_REF_NAME,
  MEDIA_TYPE_OCI_CONFIG,
  MEDIA_TYPE_OCI_INDEX,
  MEDIA_TYPE_OCI_LAYER_GZIP,
  MEDIA_TYPE_OCI_MANIFEST,
} from './mediaTypes';
import { canonicalJson } from '../canonical-json';

const d = (c: string): string => `sha256:${c.repeat(64)}`;
const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const lockConfig = (over: Partial<Lock['config']> = {}): Lock['config'] => ({
  env: { PATH: '/usr/bin:/bin', APP_MODE: 'prod' },
  entrypoint: ['/usr/bin/app'],
  cmd: ['--serve'],
  workingDir: '/srv',
  user: '1000:1000',
  labels: { team: 'x' },
  ...over,
});
const input = (over: Partial<ImageConfigInput> = {}): ImageConfigInput => ({
  platform: { os: 'linux', arch: 'amd64' },
  config: lockConfig(),
  base: { diffIds: [d('a')] },
  layers: [
    { diffId: d('b'), fragments: ['libc6@2.36', 'zlib@1.3'] },
    { diffId: d('c'), fragments: ['inline files'] },
  ],
  created: 0,
  ...over,
});

describe('buildImageConfig', () => {
  it('writes platform, sorted Env, process fields, labels, rootfs and history', () => {
    const cfg = JSON.parse(buildImageConfig(input()).toString());
    expect(cfg.architecture).toBe('amd64');
    expect(cfg.os).toBe('linux');
    expect(cfg.variant).toBeUndefined();
    expect(cfg.created).toBe('1970-01-01T00:00:00Z');
    expect(cfg.config).toEqual({
      Env: ['APP_MODE=prod', 'PATH=/usr/bin:/bin'],
      Entrypoint: ['/usr/bin/app'],
      Cmd: ['--serve'],
      WorkingDir: '/srv',
      User: '1000:1000',
      Labels: { team: 'x' },
    });
    expect(cfg.rootfs).toEqual({ type: 'layers', diff_ids: [d('a'), d('b'), d('c')] });
    expect(cfg.history).toEqual([
      { created: '1970-01-01T00:00:00Z', created_by: 'base image layer' },
      { created: '1970-01-01T00:00:00Z', created_by: 'lse: libc6@2.36, zlib@1.3' },
      { created: '1970-01-01T00:00:00Z', created_by: 'lse: inline files' },
    ]);
  });

  it('uses the given epoch and variant', () => {
    const cfg = JSON.parse(
      buildImageConfig(
        input({ created: 1700000000, platform: { os: 'linux', arch: 'arm64', variant: 'v8' } }),
      ).toString(),
    );
    expect(cfg.created).toBe('2023-11-14T22:13:20Z');
    expect(cfg.history[1].created).toBe('2023-11-14T22:13:20Z');
    expect(cfg.variant).toBe('v8');
    expect(() => buildImageConfig(input({ created: -1 }))).toThrow(/SOURCE_DATE_EPOCH/);
  });

  it('inherits the base config where the lock sets nothing, and our env overrides', () => {
    const base = {
      diffIds: [d('a')],
      history: [
        { created: '2020-01-01T00:00:00Z', created_by: 'ADD rootfs' },
        { created_by: 'ENV x', empty_layer: true },
      ],
      config: {
        Env: ['PATH=/base', 'LANG=C.UTF-8'],
        Cmd: ['bash'],
        WorkingDir: '/',
        Labels: { base: 'y' },
        StopSignal: 'SIGTERM',
      },
    };
    const cfg = JSON.parse(
      buildImageConfig(input({ base, config: { env: { PATH: '/ours' }, labels: {} } })).toString(),
    );
    expect(cfg.config).toEqual({
      Env: ['LANG=C.UTF-8', 'PATH=/ours'],
      Cmd: ['bash'],
      WorkingDir: '/',
      Labels: { base: 'y' },
      StopSignal: 'SIGTERM',
    });
    expect(cfg.history.slice(0, 2)).toEqual(base.history);
    // An entrypoint of ours drops the base's Cmd.
    const cfg2 = JSON.parse(
      buildImageConfig(input({ base, config: { env: {}, labels: {}, entrypoint: ['/x'] } })).toString(),
    );
    expect(cfg2.config.Cmd).toBeUndefined();
    expect(cfg2.config.Entrypoint).toEqual(['/x']);
  });

  it('refuses a base whose history does not match its layers', () => {
    try {
      buildImageConfig(input({ base: { diffIds: [d('a')], history: [] } }));
      throw new Error('no error');
    } catch (e) {
      expect(isLseError(e, 'BASE_INVALID')).toBe(true);
    }
  });

  it('is byte-stable: same input, same digest; key order of inputs does not matter', () => {
    const a = buildImageConfig(input());
    const b = buildImageConfig(input({ config: lockConfig({ env: { APP_MODE: 'prod', PATH: '/usr/bin:/bin' } }) }));
    expect(sha(a)).toBe(sha(b));
    expect(a.toString()).toBe(JSON.stringify(JSON.parse(a.toString()))); // compact
    expect(sha(buildImageConfig(input({ created: 1 })))).not.toBe(sha(a));
  });
});

describe('buildImageManifest / buildImageIndex / buildLayoutIndex', () => {
  const config = buildImageConfig(input());
  const layers = [
    { digest: d('e'), size: 10, mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip' },
    { digest: d('f'), size: 20 },
  ];

  it('describes config and layers', () => {
    const m = JSON.parse(buildImageManifest(config, layers).toString());
    expect(m).toEqual({
      schemaVersion: 2,
      mediaType: MEDIA_TYPE_OCI_MANIFEST,
      config: { mediaType: MEDIA_TYPE_OCI_CONFIG, digest: sha(config), size: config.length },
      layers: [
        { mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: d('e'), size: 10 },
        { mediaType: MEDIA_TYPE_OCI_LAYER_GZIP, digest: d('f'), size: 20 },
      ],
    });
    const withAnn = JSON.parse(
      buildImageManifest(config, layers, { 'org.opencontainers.image.base.digest': d('9') }).toString(),
    );
    expect(withAnn.annotations).toEqual({ 'org.opencontainers.image.base.digest': d('9') });
    expect(buildImageManifest(config, layers).equals(buildImageManifest(Buffer.from(config), [...layers]))).toBe(true);
  });

  it('builds an index with platforms, and a layout index with the ref name', () => {
    const manifest = buildImageManifest(config, layers);
    const desc = descriptorOf(MEDIA_TYPE_OCI_MANIFEST, manifest);
    const idx = JSON.parse(
      buildImageIndex([{ descriptor: desc, platform: { architecture: 'amd64', os: 'linux' } }]).toString(),
    );
    expect(idx.mediaType).toBe(MEDIA_TYPE_OCI_INDEX);
    expect(idx.manifests).toEqual([{ ...desc, platform: { architecture: 'amd64', os: 'linux' } }]);
    const layout = JSON.parse(buildLayoutIndex(desc, 'v1').toString());
    expect(layout.manifests).toHaveLength(1);
    expect(layout.manifests[0].annotations).toEqual({ [ANNOTATION_REF_NAME]: 'v1' });
    expect(() => buildLayoutIndex(desc, '')).toThrow(/ref name/);
  });
});

describe('canonicalJson of OCI documents', () => {
  it('sorts keys at every depth and drops undefined members', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: undefined, x: 'é' }], c: null } })).toBe(
      '{"a":{"c":null,"d":[3,{"x":"é","z":1}]},"b":1}',
    );
    expect(() => canonicalJson({ a: NaN })).toThrow();
  });
});

import { sha256Digest } from '@lse/core';
import { S3BlobStore, makeS3Client } from '@lse/adapter-s3';
import { MemoryBlobStore } from '@lse/adapter-memory';
import { TieredBlobStore, silentLog } from '@lse/engine';
import { loadServiceConfig } from './config';
import { regionalCaches, tierMetricsText } from './connect';

const base = { S3_ACCESS_KEY_ID: 'key', S3_SECRET_ACCESS_KEY: 'secret', S3_ENDPOINT: 'http://127.0.0.1:1' };

describe('regionalCaches', () => {
  it("without LSE_REGION: the bucket's own stores, no tiers, no counters (single region, as before)", () => {
    const config = loadServiceConfig(base);
    const s3 = makeS3Client(config.s3);
    const c = regionalCaches(config, s3, new MemoryBlobStore(), silentLog);
    expect(c.cache).toBeInstanceOf(S3BlobStore);
    expect(c.layers).toBeInstanceOf(S3BlobStore);
    expect(c.tiers).toEqual([]);
    expect(tierMetricsText(c.tiers)).toBe('');
    c.close();
    s3.destroy();
  });

  it('with LSE_REGION: fragment cache and layer store over the peers in order (fragments then the origin)', () => {
    const config = loadServiceConfig({
      ...base,
      LSE_REGION: 'b',
      LSE_REGION_PEERS: 'a=http://127.0.0.1:2/lse,c=http://127.0.0.1:3/lse',
    });
    const s3 = makeS3Client(config.s3);
    const c = regionalCaches(config, s3, new MemoryBlobStore(), silentLog);
    expect(c.cache).toBeInstanceOf(TieredBlobStore);
    expect(c.tiers.map((t) => [t.name, t.region])).toEqual([
      ['fragments', 'b'],
      ['layers', 'b'],
    ]);
    expect(c.tiers[0]!.order()).toEqual(['peer:a', 'peer:c', 'origin:origin']);
    expect(c.tiers[1]!.order()).toEqual(['peer:a', 'peer:c']);
    c.close();
    s3.destroy();
  });

  it('renders per-tier counters as Prometheus text', async () => {
    const local = new MemoryBlobStore();
    const peer = new MemoryBlobStore();
    const t = new TieredBlobStore({
      region: 'b',
      name: 'layers',
      local,
      tiers: [{ kind: 'peer', name: 'a', store: peer }],
    });
    const data = Buffer.from('x');
    await peer.put(sha256Digest(data), data);
    await t.get(sha256Digest(data));
    const text = tierMetricsText([t]);
    expect(text).toContain('# TYPE lse_cache_tier_lookups_total counter');
    expect(text).toContain('lse_cache_tier_lookups_total{store="layers",region="b",tier="peer",source="a"} 1');
    expect(text).toContain('lse_cache_tier_bytes_total{store="layers",region="b",tier="peer",source="a"} 1');
  });
});

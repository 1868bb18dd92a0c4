import { isLseError } from '@lse/core';
import { loadServiceConfig } from './config';

const base = { S3_ACCESS_KEY_ID: 'key', S3_SECRET_ACCESS_KEY: 'secret' };
const refusal = (env: Record<string, string>): string => {
  try {
    loadServiceConfig({ ...base, ...env });
  } catch (e) {
    if (isLseError(e) && e.code === 'CONFIG_INVALID') return e.message;
    throw e;
  }
  throw new Error('accepted');
};

describe('loadServiceConfig: NATS', () => {
  it('takes a cluster as comma-separated NATS_URL', () => {
    const c = loadServiceConfig({
      ...base,
      NATS_URL: 'nats://127.0.0.1:4222, nats://127.0.0.1:4223,tls://n3.example:4222',
    });
    expect(c.natsUrl).toBe('nats://127.0.0.1:4222,nats://127.0.0.1:4223,tls://n3.example:4222');
  });
  it('refuses an empty or malformed entry, naming the variable', () => {
    expect(refusal({ NATS_URL: 'nats://a:4222,,nats://b:4222' })).toMatch(/NATS_URL has an empty entry/);
    expect(refusal({ NATS_URL: 'nats://a:4222,http://b:4222' })).toMatch(
      /NATS_URL must start with nats:\/\/ or tls:\/\/.*http:\/\/b:4222/,
    );
  });
  it('LSE_STREAM_REPLICAS: absent unless set, 1 to 5', () => {
    expect(loadServiceConfig(base).streamReplicas).toBeUndefined();
    expect(loadServiceConfig({ ...base, LSE_STREAM_REPLICAS: '3' }).streamReplicas).toBe(3);
    expect(refusal({ LSE_STREAM_REPLICAS: '0' })).toMatch(/LSE_STREAM_REPLICAS must be a whole number >= 1/);
    expect(refusal({ LSE_STREAM_REPLICAS: '7' })).toMatch(/LSE_STREAM_REPLICAS must be 1 to 5/);
  });
});

describe('loadServiceConfig: regions', () => {
  it('no LSE_REGION: one region, as before', () => {
    expect(loadServiceConfig(base).region).toBeUndefined();
  });
  it('reads the region and its peers in order, each an endpoint with the bucket as its path', () => {
    const c = loadServiceConfig({
      ...base,
      LSE_REGION: 'eu-west',
      LSE_REGION_PEERS: 'us-east=http://127.0.0.1:9100/lse, ap-south=https://s3.example:443/cache-b/',
    });
    expect(c.region).toEqual({
      name: 'eu-west',
      peers: [
        { name: 'us-east', endpoint: 'http://127.0.0.1:9100', bucket: 'lse' },
        { name: 'ap-south', endpoint: 'https://s3.example', bucket: 'cache-b' },
      ],
    });
  });
  it('refuses peers without a region, the own region as a peer, a missing bucket and credentials in the URL', () => {
    expect(refusal({ LSE_REGION_PEERS: 'a=http://h:1/lse' })).toMatch(/LSE_REGION is not/);
    expect(refusal({ LSE_REGION: 'Eu' })).toMatch(/LSE_REGION: region 'Eu' must be lowercase/);
    expect(refusal({ LSE_REGION: 'b', LSE_REGION_PEERS: 'b=http://h:1/lse' })).toMatch(/own region/);
    expect(refusal({ LSE_REGION: 'b', LSE_REGION_PEERS: 'a=http://h:1' })).toMatch(/must end in \/BUCKET/);
    expect(refusal({ LSE_REGION: 'b', LSE_REGION_PEERS: 'a=http://u:p@h:1/lse' })).toMatch(
      /must not carry credentials/,
    );
    expect(refusal({ LSE_REGION: 'b', LSE_REGION_PEERS: 'a=http://h:1/lse,a=http://h:2/lse' })).toMatch(/listed twice/);
  });
});

import { isLseError } from '@lse/core';
import { loadNodeConfig } from './config';

/** What the services' part needs (the S3 layer cache's keys), beside the variables under test. */
const base = { S3_ACCESS_KEY_ID: 'k', S3_SECRET_ACCESS_KEY: 's' };
const load = (env: Record<string, string>) => loadNodeConfig({ ...base, ...env });

const codeOf = (env: Record<string, string>) => {
  try {
    load(env);
    return 'ok';
  } catch (e) {
    return isLseError(e) ? `${e.code}: ${(e.details as { variable?: string }).variable}` : String(e);
  }
};

describe('loadNodeConfig: the registry endpoint', () => {
  it('is off without LSE_NODE_REGISTRY_PORT, on loopback with it, relaying to LSE_SERVER', () => {
    expect(load({ LSE_SERVER: 'http://127.0.0.1:8080' }).registry).toBeUndefined();
    expect(load({ LSE_SERVER: 'http://127.0.0.1:8080', LSE_NODE_REGISTRY_PORT: '5000' }).registry).toEqual({
      host: '127.0.0.1',
      port: 5000,
      upstream: 'http://127.0.0.1:8080',
    });
    expect(
      load({
        LSE_SERVER: 'http://gw:8080',
        LSE_NODE_REGISTRY_PORT: '5001',
        LSE_NODE_REGISTRY_ADDRESS: '0.0.0.0',
      }).registry?.host,
    ).toBe('0.0.0.0');
  });

  it('refuses a port that is not one, and a port without a gateway to relay to', () => {
    expect(codeOf({ LSE_SERVER: 'http://gw', LSE_NODE_REGISTRY_PORT: 'x' })).toBe(
      'CONFIG_INVALID: LSE_NODE_REGISTRY_PORT',
    );
    expect(codeOf({ LSE_SERVER: 'http://gw', LSE_NODE_REGISTRY_PORT: '70000' })).toBe(
      'CONFIG_INVALID: LSE_NODE_REGISTRY_PORT',
    );
    expect(codeOf({ LSE_NODE_REGISTRY_PORT: '5000' })).toBe('CONFIG_INVALID: LSE_SERVER');
  });
});

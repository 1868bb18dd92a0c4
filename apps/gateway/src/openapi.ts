/** The gateway's OpenAPI 3.1 description, served at /openapi.json. */
const err = { $ref: '#/components/schemas/Error' };
const json = (schema: object) => ({ content: { 'application/json': { schema } } });
const errors = {
  '400': { description: 'invalid input', ...json(err) },
  '401': { description: 'no or unknown bearer token (answered before the body is read)', ...json(err) },
  '403': { description: 'token lacks the scope', ...json(err) },
  '413': {
    description: 'body over the route limit (1 MiB for manifests) or request too large for the bus',
    ...json(err),
  },
  '503': {
    description: 'a server did not answer (NATS, MongoDB, S3); nothing was stored; retry (Retry-After)',
    ...json(err),
  },
};
const manifestBody = {
  required: true,
  content: {
    'application/yaml': {
      schema: {
        type: 'string',
        description: 'a DependencyManifest (lse.dev/v1); ?platform=linux/amd64/v3 sets the runtime profile',
      },
    },
    'application/json': {
      schema: {
        type: 'object',
        required: ['manifest'],
        properties: {
          manifest: { oneOf: [{ type: 'object' }, { type: 'string' }] },
          platform: {
            oneOf: [{ type: 'string', example: 'linux/amd64/v3' }, { $ref: '#/components/schemas/Platform' }],
          },
        },
      },
    },
  },
};

export const OPENAPI = {
  openapi: '3.1.0',
  info: {
    title: 'LSE gateway',
    version: '1',
    description:
      'Layer Synthesis Engine: synthesize OCI images from signed fragments. Bearer tokens carry scopes synth, publish, admin.',
  },
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
    schemas: {
      Error: {
        type: 'object',
        properties: {
          error: {
            type: 'object',
            properties: { code: { type: 'string' }, message: { type: 'string' }, details: { type: 'object' } },
          },
        },
      },
      Platform: {
        type: 'object',
        properties: {
          os: { type: 'string' },
          arch: { type: 'string' },
          variant: { type: 'string' },
          features: { type: 'array', items: { type: 'string' } },
          libc: { type: 'string' },
          region: { type: 'string' },
          regionFallback: { type: 'array', items: { type: 'string' } },
        },
      },
      Synthesis: {
        type: 'object',
        properties: {
          id: { type: 'string' },
          status: { enum: ['pending', 'completed', 'failed'] },
          stage: { type: 'string' },
          key: { type: ['string', 'null'] },
          result: { type: ['object', 'null'] },
          error: { type: ['object', 'null'] },
          lease: { type: ['object', 'null'] },
          links: { type: 'object' },
        },
      },
    },
  },
  security: [{ bearer: [] }],
  paths: {
    '/v1/syntheses': {
      post: {
        summary:
          'request a synthesis (scope synth); answered with an id once the request is durable; a repeat of a recent manifest is answered from memory; Prefer: wait=N blocks up to N s. A synthesis belongs to the token that asked for it: other tenants get 404',
        requestBody: manifestBody,
        responses: {
          '202': { description: 'accepted', ...json({ $ref: '#/components/schemas/Synthesis' }) },
          '200': { description: 'finished (with Prefer: wait)' },
          '422': { description: 'failed (with Prefer: wait)' },
          ...errors,
        },
      },
    },
    '/v1/syntheses/{id}': {
      get: {
        summary: 'status and result (Prefer: wait=N supported)',
        responses: {
          '200': { description: 'the synthesis', ...json({ $ref: '#/components/schemas/Synthesis' }) },
          '404': { description: 'unknown id' },
        },
      },
      delete: {
        summary: 'release the lease (its blobs become collectable)',
        responses: { '204': { description: 'released' } },
      },
    },
    '/v1/syntheses/{id}/events': {
      get: {
        summary: 'server-sent events: state, progress (one per stage), then completed or failed',
        responses: { '200': { description: 'text/event-stream' } },
      },
    },
    '/v1/syntheses/{id}/lease': {
      post: {
        summary: 'renew the lease; body { ttlSeconds? }',
        responses: { '200': { description: '{ id, expiresAt }' }, '410': { description: 'no lease to renew' } },
      },
    },
    '/v1/negotiate': {
      post: {
        summary: 'the fragment set for a manifest and runtime profile, without building',
        requestBody: manifestBody,
        responses: {
          '200': { description: '{ key, platform, base, fragments }' },
          '406': { description: 'nothing fits; the reason', ...json(err) },
        },
      },
    },
    '/v1/fragments': {
      get: { summary: 'list fragments', responses: { '200': { description: 'summaries' } } },
      post: {
        summary: 'publish a signed fragment (scope publish): { fragment, blob: base64 }; verified before storing',
        responses: {
          '201': { description: 'created' },
          '200': { description: 'already present' },
          '422': {
            description:
              'refused (signature, trust, digest, tar policy, Debian chain of a fragment carrying source.debian)',
          },
        },
      },
    },
    '/v1/fragments/batch': {
      post: {
        summary:
          "publish many signed fragments whose blobs need no upload (scope publish): { fragments[] } of at most 5000; each is verified (id, signature, key scope, and for a fragment carrying source.debian Debian's chain with the gateway's keyring over proof blobs it holds); a fragment's blob must be a .deb from a Debian index (fetched on first use) or already stored. Answers { created, existing, rejected[] }",
        responses: { '200': { description: 'counts; rejected lists each refused fragment with code and message' } },
      },
    },
    '/v1/debian/blobs/{digest}': {
      head: {
        summary: 'whether the gateway holds this Debian proof blob (scope publish)',
        responses: { '200': { description: 'held (content-length: its size)' }, '404': { description: 'not held' } },
      },
      put: {
        summary:
          'upload a Debian proof blob (InRelease, Release, Release.gpg, uncompressed Packages file) as the raw body, application/octet-stream (scope publish); hashed while received, at most LSE_DEBIAN_PROOF_LIMIT_BYTES; stored in the origin blob store. Answers { digest, size, created }',
        responses: {
          '201': { description: 'stored' },
          '200': { description: 'already held' },
          '413': { description: 'TOO_LARGE' },
          '422': { description: 'DIGEST_MISMATCH: the bytes do not have the digest in the path' },
        },
      },
    },
    '/v1/debian/releases': {
      post: {
        summary:
          "register a Debian release whose blobs were uploaded (scope publish): { inRelease, releaseGpg?, packages[], allowOlder? } (digests). Its signature must verify against the gateway's keyring (LSE_DEBIAN_KEYRING), Valid-Until must not have passed, its Date must not be older than the newest registered for its suite (Origin/Label/Codename) unless allowOlder, and each Packages digest must be listed in it. Answers { suite, date, validUntil?, signedBy[], packages: [{ digest, path, size }], previous? }",
        responses: {
          '201': { description: 'registered' },
          '400': { description: 'USAGE, DIGEST_INVALID' },
          '422': {
            description:
              'DEBIAN_SIGNATURE_INVALID, DEBIAN_KEY_UNKNOWN, DEBIAN_RELEASE_EXPIRED, DEBIAN_RELEASE_ROLLBACK, DEBIAN_INDEX_MISMATCH, DEBIAN_PROOF_UNKNOWN (a blob not uploaded); nothing recorded',
          },
        },
      },
    },
    '/v1/fragments/sets': {
      post: {
        summary:
          'for each of { sets[] } (digests of sorted fragment-id sets, at most 5000), whether a batch of exactly those fragments was stored completely (scope publish); lets bulk imports skip what they stored before',
        responses: { '200': { description: '{ stored: boolean[] }' } },
      },
    },
    '/v1/fragments/{name}': {
      get: {
        summary: 'descriptors of NAME or NAME@VERSION',
        responses: { '200': { description: 'fragments' }, '404': { description: 'unknown' } },
      },
    },
    '/v1/bases': {
      get: { summary: 'base name:tag pointers', responses: { '200': { description: 'tags' } } },
      post: {
        summary:
          'import a base (scope publish): { name, tag, image: { manifestDigest, config, layers[] } } or { name, tag, rootfsTar }',
        responses: { '201': { description: 'imported' } },
      },
    },
    '/v1/keys': {
      get: { summary: 'trust store (scope admin)', responses: { '200': { description: 'keys' } } },
      post: {
        summary: 'trust a key: { publicKey: "name:base64", scopes[] } (admin)',
        responses: { '201': { description: 'trusted' } },
      },
    },
    '/v1/keys/{name}/revoke': {
      post: { summary: 'revoke a key (admin)', responses: { '200': { description: 'revoked' } } },
    },
    '/v1/blobs/{digest}': {
      get: {
        summary: 'an image blob (manifest, config, layer) by digest',
        responses: { '200': { description: 'bytes' }, '404': { description: 'unknown' } },
      },
    },
    '/v1/image-key': {
      get: {
        security: [],
        summary: 'the public key (PEM, ECDSA P-256) images are signed with, for cosign verify --key',
        responses: {
          '200': { description: 'application/x-pem-file' },
          '404': { description: 'no LSE_IMAGE_SIGNING_KEY' },
        },
      },
    },
    '/healthz': { get: { security: [], summary: 'the process runs', responses: { '200': { description: 'ok' } } } },
    '/readyz': {
      get: {
        security: [],
        summary: 'NATS and MongoDB reachable',
        responses: { '200': { description: 'ready' }, '503': { description: 'not ready' } },
      },
    },
    '/metrics': { get: { security: [], summary: 'Prometheus metrics', responses: { '200': { description: 'text' } } } },
  },
} as const;

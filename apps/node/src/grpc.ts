/**
 * gRPC plumbing: containerd's API definitions (apps/node/proto, written from containerd 1.6's
 * interface definitions without gogoproto options) loaded with @grpc/proto-loader; the
 * Snapshots service served on a unix socket; clients of containerd's own services.
 */
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { LseError, isLseError } from '@lse/core';
import type { Log } from '@lse/engine';
import type { Mount, SnapshotInfo, Snapshotter } from './snapshotter';

const PROTO_DIR = join(__dirname, '..', 'proto');

type Ctor = grpc.ServiceClientConstructor;
interface Loaded {
  Snapshots: Ctor;
  Leases: Ctor;
  Content: Ctor;
  Images: Ctor;
}

let loaded: Loaded | undefined;
export function protos(): Loaded {
  if (loaded) return loaded;
  const def = protoLoader.loadSync(['snapshots.proto', 'leases.proto', 'content.proto', 'images.proto'], {
    includeDirs: [PROTO_DIR],
    keepCase: false,
    longs: Number,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    containerd: {
      services: {
        snapshots: { v1: { Snapshots: Ctor } };
        leases: { v1: { Leases: Ctor } };
        content: { v1: { Content: Ctor } };
        images: { v1: { Images: Ctor } };
      };
    };
  };
  const s = pkg.containerd.services;
  loaded = {
    Snapshots: s.snapshots.v1.Snapshots,
    Leases: s.leases.v1.Leases,
    Content: s.content.v1.Content,
    Images: s.images.v1.Images,
  };
  return loaded;
}

interface Timestamp {
  seconds: number;
  nanos: number;
}
const ts = (iso: string): Timestamp => {
  const ms = Date.parse(iso);
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
};
const KIND = { view: 'VIEW', active: 'ACTIVE', committed: 'COMMITTED' } as const;
const wireInfo = (i: SnapshotInfo) => ({
  name: i.name,
  parent: i.parent,
  kind: KIND[i.kind],
  createdAt: ts(i.createdAt),
  updatedAt: ts(i.updatedAt),
  labels: i.labels,
});
const wireMounts = (m: Mount[]) => ({
  mounts: m.map((x) => ({ type: x.type, source: x.source, target: x.target ?? '', options: x.options })),
});

/** The gRPC status for an error: containerd maps these codes to its errdefs (NotFound, AlreadyExists, ...). */
export function statusOf(e: unknown): grpc.StatusObject {
  const byCode: Record<string, grpc.status> = {
    SNAPSHOT_NOT_FOUND: grpc.status.NOT_FOUND,
    SNAPSHOT_EXISTS: grpc.status.ALREADY_EXISTS,
    SNAPSHOT_IN_USE: grpc.status.FAILED_PRECONDITION,
    SNAPSHOT_INVALID: grpc.status.INVALID_ARGUMENT,
  };
  const code = isLseError(e) ? (byCode[e.code] ?? grpc.status.FAILED_PRECONDITION) : grpc.status.INTERNAL;
  return { code, details: (e as Error).message, metadata: new grpc.Metadata() };
}

type Handler<Req, Res> = (req: Req) => Promise<Res>;
function unary<Req, Res>(name: string, log: Log, fn: Handler<Req, Res>): grpc.handleUnaryCall<Req, Res> {
  return (call, cb) => {
    fn(call.request).then(
      (res) => {
        log.debug({ call: name, req: call.request }, 'snapshots call');
        cb(null, res);
      },
      (e) => {
        const st = statusOf(e);
        (st.code === grpc.status.NOT_FOUND || st.code === grpc.status.ALREADY_EXISTS ? log.debug : log.warn).call(
          log,
          { call: name, req: call.request, err: (e as Error).message },
          'snapshots call failed',
        );
        cb(st as grpc.ServiceError, null);
      },
    );
  };
}

interface KeyReq {
  key: string;
  parent: string;
  name: string;
  labels: Record<string, string>;
}

/** Serves `sn` as containerd.services.snapshots.v1.Snapshots on the unix socket `socket`. */
export async function serveSnapshots(sn: Snapshotter, socket: string, log: Log): Promise<grpc.Server> {
  const server = new grpc.Server();
  const empty = {};
  server.addService(protos().Snapshots.service, {
    Prepare: unary<KeyReq, unknown>('Prepare', log, async (r) =>
      wireMounts(await sn.prepare(r.key, r.parent, r.labels ?? {}, 'active')),
    ),
    View: unary<KeyReq, unknown>('View', log, async (r) =>
      wireMounts(await sn.prepare(r.key, r.parent, r.labels ?? {}, 'view')),
    ),
    Mounts: unary<KeyReq, unknown>('Mounts', log, async (r) => wireMounts(await sn.mounts(r.key))),
    Commit: unary<KeyReq, unknown>('Commit', log, async (r) => {
      await sn.commit(r.name, r.key, r.labels ?? {});
      return empty;
    }),
    Remove: unary<KeyReq, unknown>('Remove', log, async (r) => {
      await sn.remove(r.key);
      return empty;
    }),
    Stat: unary<KeyReq, unknown>('Stat', log, async (r) => ({ info: wireInfo(sn.info(r.key)) })),
    Update: unary<
      { info: { name: string; labels: Record<string, string> }; updateMask?: { paths: string[] } },
      unknown
    >('Update', log, async (r) => {
      if (!r.info?.name) throw new LseError('SNAPSHOT_INVALID', 'Update needs info.name', {});
      return { info: wireInfo(await sn.update(r.info.name, r.info.labels ?? {}, r.updateMask?.paths ?? [])) };
    }),
    Usage: unary<KeyReq, unknown>('Usage', log, async (r) => sn.usage(r.key)),
    Cleanup: unary<unknown, unknown>('Cleanup', log, async () => {
      await sn.cleanup();
      return empty;
    }),
    List: (call: grpc.ServerWritableStream<{ filters?: string[] }, unknown>) => {
      let all;
      try {
        all = sn.list(call.request.filters ?? []).map(wireInfo);
      } catch (e) {
        call.destroy(Object.assign(new Error((e as Error).message), statusOf(e)));
        return;
      }
      for (let i = 0; i < all.length; i += 100) call.write({ info: all.slice(i, i + 100) });
      call.end();
    },
  });
  if (existsSync(socket)) await rm(socket, { force: true });
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`unix://${socket}`, grpc.ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())),
  );
  return server;
}

/** Clients of containerd's services over its socket, with namespace (and lease) metadata. */
export class Containerd {
  readonly snapshots: grpc.Client;
  readonly leases: grpc.Client;
  readonly content: grpc.Client;
  readonly images: grpc.Client;

  constructor(
    address: string,
    readonly namespace: string,
  ) {
    const p = protos();
    const target = address.startsWith('unix://') ? address : `unix://${address}`;
    const creds = grpc.credentials.createInsecure();
    this.snapshots = new p.Snapshots(target, creds);
    this.leases = new p.Leases(target, creds);
    this.content = new p.Content(target, creds);
    this.images = new p.Images(target, creds);
  }

  meta(lease?: string, namespace = this.namespace): grpc.Metadata {
    const m = new grpc.Metadata();
    m.set('containerd-namespace', namespace);
    if (lease) m.set('containerd-lease', lease);
    return m;
  }

  /** A unary call in this client's namespace (or `opts.namespace`), under `lease`, with an optional deadline. */
  call<Res = Record<string, unknown>>(
    client: grpc.Client,
    method: string,
    req: unknown,
    lease?: string,
    opts: { namespace?: string; timeoutMs?: number } = {},
  ): Promise<Res> {
    const callOpts: grpc.CallOptions = opts.timeoutMs ? { deadline: Date.now() + opts.timeoutMs } : {};
    return new Promise((resolve, reject) => {
      (
        client as unknown as Record<
          string,
          (
            r: unknown,
            m: grpc.Metadata,
            o: grpc.CallOptions,
            cb: (e: grpc.ServiceError | null, res: Res) => void,
          ) => void
        >
      )[method]!(req, this.meta(lease, opts.namespace), callOpts, (e, res) => (e ? reject(e) : resolve(res)));
    });
  }

  /** Writes a small blob into containerd's content store in one message, with labels; already there is fine. */
  writeContent(digest: string, data: Buffer, labels: Record<string, string>, lease?: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const stream = (
        this.content as unknown as { Write(m: grpc.Metadata): grpc.ClientDuplexStream<unknown, unknown> }
      ).Write(this.meta(lease));
      let done = false;
      const finish = (e?: grpc.ServiceError) => {
        if (done) return;
        done = true;
        if (e && e.code !== grpc.status.ALREADY_EXISTS) reject(e);
        else resolve();
      };
      stream.on('data', () => {
        stream.end();
        finish();
      });
      stream.on('error', (e: grpc.ServiceError) => finish(e));
      stream.on('end', () => finish());
      stream.write({
        action: 'COMMIT',
        ref: `lse-${digest}`,
        total: data.length,
        expected: digest,
        offset: 0,
        data,
        labels,
      });
    });
  }

  close(): void {
    for (const c of [this.snapshots, this.leases, this.content, this.images]) c.close();
  }
}

export const isGrpcCode = (e: unknown, code: grpc.status) => (e as grpc.ServiceError)?.code === code;
export { grpc };

/**
 * nats-server processes a test or a benchmark starts for itself (not the stack's): one server, or
 * a cluster of nodes routed on loopback, each with its own free ports, store directory, config
 * file and log. Nodes are child processes stopped by pid (`kill`, `stop`); `restart` starts a
 * killed node again on the same ports and store, as an operator would after a crash.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

export type NatsSync = 'always' | 'default';

export interface NatsClusterOptions {
  /** Nodes: 1 = a single server (no cluster block), 3 = a three-node cluster. Default 3. */
  size?: number;
  /** `always`: fsync before every PubAck; `default`: nats-server's lazy fsync. Default `always`. */
  sync?: NatsSync;
  /** Where configs, stores and logs go (default: a new temp dir, removed by `stop`). */
  dir?: string;
  /** The nats-server binary (default: natsServerBinary()). */
  binary?: string;
  /** Milliseconds to wait for every node's /healthz. Default 30 s. */
  readyTimeoutMs?: number;
}

export interface NatsNode {
  name: string;
  port: number;
  monitorPort: number;
  routePort: number;
  url: string;
  log: string;
  /** The running process' pid, undefined while the node is down. */
  pid?: number;
}

/**
 * The nats-server to run: $LSE_NATS_SERVER_BIN, else $LSE_BIN_DIR/nats-server, else
 * ~/.cache/lse/bin/nats-server (where infra/local/build-servers.sh puts it). Throws saying how to
 * get one when it is missing.
 */
export function natsServerBinary(env: NodeJS.ProcessEnv = process.env): string {
  const bin =
    env['LSE_NATS_SERVER_BIN'] || join(env['LSE_BIN_DIR'] || join(homedir(), '.cache/lse/bin'), 'nats-server');
  if (!existsSync(bin)) {
    throw new Error(
      `nats-server not found at ${bin}: build it with 'bash infra/local/build-servers.sh' (or set LSE_NATS_SERVER_BIN to a nats-server binary)`,
    );
  }
  return bin;
}

/**
 * A TCP port on 127.0.0.1 that nothing listens on right now, below the kernel's ephemeral range
 * (32768 and up on Linux): a port the kernel handed out for `listen(0)` is as likely to be taken
 * next by an outgoing connection before the server that was meant to get it binds it (CI saw a
 * nats-server fail with "address already in use" that way).
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (await canListen(port)) return port;
  }
  throw new Error('freePort: no free port found in 20000-31999 on 127.0.0.1 after 100 tries');
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

export class NatsCluster {
  private readonly procs = new Map<string, ChildProcess>();

  private constructor(
    readonly nodes: NatsNode[],
    readonly dir: string,
    private readonly ownsDir: boolean,
    private readonly binary: string,
    private readonly sync: NatsSync,
    private readonly readyTimeoutMs: number,
  ) {}

  /** Starts every node and waits until each answers /healthz (a cluster: has a meta leader). */
  static async start(opts: NatsClusterOptions = {}): Promise<NatsCluster> {
    const size = opts.size ?? 3;
    if (!Number.isInteger(size) || size < 1)
      throw new Error(`NatsCluster: size must be a positive integer, got ${size}`);
    for (let attempt = 1; ; attempt++) {
      try {
        return await NatsCluster.startOnce(size, opts);
      } catch (err) {
        // a port picked as free was taken before the node bound it: again, with other ports
        if (attempt >= 3 || !/address already in use/.test((err as Error).message)) throw err;
      }
    }
  }

  private static async startOnce(size: number, opts: NatsClusterOptions): Promise<NatsCluster> {
    const binary = opts.binary ?? natsServerBinary();
    const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'lse-nats-'));
    mkdirSync(dir, { recursive: true });
    const nodes: NatsNode[] = [];
    for (let i = 1; i <= size; i++) {
      const [port, monitorPort, routePort] = [await freePort(), await freePort(), await freePort()];
      nodes.push({
        name: `n${i}`,
        port,
        monitorPort,
        routePort,
        url: `nats://127.0.0.1:${port}`,
        log: join(dir, `n${i}.log`),
      });
    }
    const cluster = new NatsCluster(
      nodes,
      dir,
      opts.dir === undefined,
      binary,
      opts.sync ?? 'always',
      opts.readyTimeoutMs ?? 30_000,
    );
    try {
      for (const n of nodes) cluster.spawn(n);
      await Promise.all(nodes.map((n) => cluster.waitReady(n)));
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  /** Every node's client URL, comma-separated (what NATS_URL holds for a cluster). */
  get urls(): string {
    return this.nodes.map((n) => n.url).join(',');
  }

  node(nameOrIndex: string | number): NatsNode {
    const n =
      typeof nameOrIndex === 'number' ? this.nodes[nameOrIndex] : this.nodes.find((x) => x.name === nameOrIndex);
    if (!n) throw new Error(`NatsCluster: no node ${nameOrIndex} (nodes: ${this.nodes.map((x) => x.name).join(', ')})`);
    return n;
  }

  /** Sends `signal` (default SIGKILL: a crash) to the node's pid and waits until it has exited. */
  async kill(nameOrIndex: string | number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const n = this.node(nameOrIndex);
    const p = this.procs.get(n.name);
    if (!p || n.pid === undefined) return;
    const exited = new Promise<void>((r) =>
      p.exitCode !== null || p.signalCode !== null ? r() : p.once('exit', () => r()),
    );
    process.kill(n.pid, signal);
    await exited;
    this.procs.delete(n.name);
    delete n.pid;
  }

  /** Starts a node that is down again (same ports, store and config) and waits for /healthz. */
  async restart(nameOrIndex: string | number): Promise<void> {
    const n = this.node(nameOrIndex);
    if (n.pid !== undefined) throw new Error(`NatsCluster: ${n.name} is still running (pid ${n.pid}); kill it first`);
    this.spawn(n);
    await this.waitReady(n);
  }

  /** SIGTERM to every running node, SIGKILL after 10 s; removes the temp dir it created. */
  async stop(): Promise<void> {
    await Promise.all(
      this.nodes.map(async (n) => {
        const p = this.procs.get(n.name);
        if (!p || n.pid === undefined) return;
        const t = setTimeout(() => {
          if (n.pid !== undefined) process.kill(n.pid, 'SIGKILL');
        }, 10_000);
        try {
          await this.kill(n.name, 'SIGTERM');
        } finally {
          clearTimeout(t);
        }
      }),
    );
    if (this.ownsDir) rmSync(this.dir, { recursive: true, force: true });
  }

  /** The monitoring JSON of a node (`varz`, `jsz`, `healthz`...). */
  async monitor<T = Record<string, unknown>>(nameOrIndex: string | number, path: string): Promise<T> {
    const n = this.node(nameOrIndex);
    const res = await fetch(`http://127.0.0.1:${n.monitorPort}/${path}`);
    return (await res.json()) as T;
  }

  /** The last lines of a node's log (for failure messages). */
  logTail(nameOrIndex: string | number, lines = 20): string {
    const n = this.node(nameOrIndex);
    return existsSync(n.log) ? readFileSync(n.log, 'utf8').split('\n').slice(-lines).join('\n') : '';
  }

  private config(n: NatsNode): string {
    const lines = [
      `server_name: "${n.name}"`,
      `listen: "127.0.0.1:${n.port}"`,
      `http: "127.0.0.1:${n.monitorPort}"`,
      `jetstream { store_dir: "${join(this.dir, n.name)}"${this.sync === 'always' ? ', sync_interval: always' : ''} }`,
    ];
    if (this.nodes.length > 1) {
      const routes = this.nodes.map((x) => `"nats-route://127.0.0.1:${x.routePort}"`).join(', ');
      lines.push(`cluster { name: "lse-test", listen: "127.0.0.1:${n.routePort}", routes: [${routes}] }`);
    }
    const file = join(this.dir, `${n.name}.conf`);
    writeFileSync(file, lines.join('\n') + '\n');
    return file;
  }

  private spawn(n: NatsNode): void {
    const conf = this.config(n);
    const fd = openSync(n.log, 'a');
    try {
      const p = spawn(this.binary, ['-c', conf], { stdio: ['ignore', fd, fd] });
      if (p.pid === undefined) throw new Error(`NatsCluster: could not start ${this.binary} for ${n.name}`);
      n.pid = p.pid;
      this.procs.set(n.name, p);
      p.once('exit', () => {
        if (this.procs.get(n.name) === p) {
          this.procs.delete(n.name);
          delete n.pid;
        }
      });
    } finally {
      closeSync(fd);
    }
  }

  private async waitReady(n: NatsNode): Promise<void> {
    const deadline = Date.now() + this.readyTimeoutMs;
    for (;;) {
      if (n.pid === undefined)
        throw new Error(`NatsCluster: ${n.name} exited during start-up:\n${this.logTail(n.name)}`);
      try {
        const res = await fetch(`http://127.0.0.1:${n.monitorPort}/healthz`);
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline)
        throw new Error(`NatsCluster: ${n.name} not healthy after ${this.readyTimeoutMs} ms:\n${this.logTail(n.name)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

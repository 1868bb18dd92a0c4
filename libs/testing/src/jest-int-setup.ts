/**
 * Jest globalSetup of the `int` project: servers from the environment when it names them (the
 * local stack: `eval "$(bash infra/local/stack.sh env)"`), else from a container runtime
 * (testcontainers), else the tests fail with a message saying how to start servers.
 */
import { containerRuntimeAvailable, startContainerServers } from './containers';

const NEEDED = ['NATS_URL', 'MONGO_URL', 'S3_ENDPOINT', 'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY'];

export default async function setup(): Promise<void> {
  if (NEEDED.every((k) => process.env[k])) return;
  if (!(await containerRuntimeAvailable())) return; // testServers() explains how to start servers
  const servers = await startContainerServers();
  Object.assign(process.env, servers.env);
  (globalThis as { __lseContainers?: typeof servers }).__lseContainers = servers;
  process.stderr.write('[int] servers started with testcontainers (NATS, MongoDB 7, MinIO)\n');
}

/**
 * Servers for integration tests from a container runtime (testcontainers), used only when the
 * environment names none (NATS_URL, MONGO_URL, S3_*) and a runtime (Docker, Podman) answers.
 * This machine has no container runtime: here the servers come from infra/local instead.
 */
import { GenericContainer, Wait, getContainerRuntimeClient, type StartedTestContainer } from 'testcontainers';

export interface ContainerServers {
  env: Record<string, string>;
  stop(): Promise<void>;
}

/** Whether a container runtime answers (false quickly when there is none). */
export async function containerRuntimeAvailable(): Promise<boolean> {
  try {
    await getContainerRuntimeClient();
    return true;
  } catch {
    return false;
  }
}

/** Starts NATS (JetStream), MongoDB 7 and MinIO; returns the env the tests read. */
export async function startContainerServers(): Promise<ContainerServers> {
  const secret = `lse-test-${Math.random().toString(36).slice(2)}`;
  const started: StartedTestContainer[] = [];
  try {
    const nats = await new GenericContainer('nats:2.10')
      .withCommand(['-js'])
      .withExposedPorts(4222)
      .withWaitStrategy(Wait.forLogMessage(/Server is ready/))
      .start();
    started.push(nats);
    const mongo = await new GenericContainer('mongo:7')
      .withExposedPorts(27017)
      .withWaitStrategy(Wait.forLogMessage(/Waiting for connections/))
      .start();
    started.push(mongo);
    const minio = await new GenericContainer('minio/minio')
      .withCommand(['server', '/data'])
      .withEnvironment({ MINIO_ROOT_USER: 'lse-test', MINIO_ROOT_PASSWORD: secret })
      .withExposedPorts(9000)
      .withWaitStrategy(Wait.forHttp('/minio/health/ready', 9000))
      .start();
    started.push(minio);
    return {
      env: {
        NATS_URL: `nats://${nats.getHost()}:${nats.getMappedPort(4222)}`,
        MONGO_URL: `mongodb://${mongo.getHost()}:${mongo.getMappedPort(27017)}/`,
        S3_ENDPOINT: `http://${minio.getHost()}:${minio.getMappedPort(9000)}`,
        S3_BUCKET: 'lse-test',
        S3_REGION: 'us-east-1',
        S3_ACCESS_KEY_ID: 'lse-test',
        S3_SECRET_ACCESS_KEY: secret,
      },
      async stop() {
        for (const c of started.reverse()) await c.stop();
      },
    };
  } catch (e) {
    for (const c of started.reverse()) await c.stop().catch(() => undefined);
    throw e;
  }
}

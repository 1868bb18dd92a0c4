/** Jest globalTeardown of the `int` project: stops containers the setup started, if any. */
export default async function teardown(): Promise<void> {
  const started = (globalThis as { __lseContainers?: { stop(): Promise<void> } }).__lseContainers;
  if (started) await started.stop();
}

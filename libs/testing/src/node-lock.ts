/**
 * One node int test file at a time against a node agent and its containerd.
 *
 * The node int spec files assert on the agent's whole state (no active snapshot left, no mount
 * under its root, the collector removes exactly the unreferenced directories), so two of them
 * running at once (jest without --runInBand runs files in parallel workers) would see each
 * other's containers. Each file takes this lock in beforeAll and releases it in afterAll.
 *
 * The lock is a file created exclusively (`wx`) holding the owner's pid; a lock whose owner is
 * gone (a killed worker) is taken over.
 */
import { openSync, readFileSync, unlinkSync, writeSync, closeSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Waits (up to `timeoutMs`) for the lock file `path`; resolves to its release. */
export async function nodeTestLock(path: string, timeoutMs = 20 * 60_000): Promise<() => void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => {
        try {
          if (readFileSync(path, 'utf8') === String(process.pid)) unlinkSync(path);
        } catch {
          // already gone
        }
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    let owner = NaN;
    try {
      owner = Number(readFileSync(path, 'utf8'));
    } catch {
      continue; // released meanwhile
    }
    if (Number.isInteger(owner) && owner > 0 && !alive(owner)) {
      try {
        unlinkSync(path);
      } catch {
        // another waiter took it over first
      }
      continue;
    }
    if (Date.now() > until)
      throw new Error(`${path} is held by pid ${owner} (another node int test) for more than ${timeoutMs} ms`);
    await sleep(500);
  }
}

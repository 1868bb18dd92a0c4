/**
 * CPU-heavy work on uploads runs on a worker thread, so the gateway's event loop keeps answering
 * (`/healthz`, other requests) while a large or hostile upload is read, and a parse that takes
 * longer than its budget is stopped (the worker is terminated) and refused instead of freezing the
 * process. One worker per call: uploads are rare, and a fresh worker cannot inherit a bad state.
 *
 * The worker runs the built `@lse/engine` (`npm run build` first, as for every service).
 */
import { Worker } from 'node:worker_threads';
import { LseError, lseErrorFrom, type BasePackage, type Layer } from '@lse/core';

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const engine = require('@lse/engine');
try {
  const { layer, dropped, packages } = engine.rootfsLayer(Buffer.from(workerData.data.buffer, workerData.data.byteOffset, workerData.data.byteLength), workerData.opts);
  parentPort.postMessage({ ok: true, layer: { ...layer, blob: layer.blob }, dropped, packages });
} catch (e) {
  parentPort.postMessage({ ok: false, error: e && e.code ? { code: e.code, message: e.message, details: e.details } : { code: 'INTERNAL', message: String(e && e.message || e) } });
}
`;

/** How long reading one uploaded rootfs may take before it is refused. */
export const UPLOAD_PARSE_BUDGET_MS = 60_000;

/** `rootfsLayer` (engine) on a worker thread, within `budgetMs`. */
export function rootfsLayerOffThread(
  data: Buffer,
  opts: { name: string; tag: string; epoch: number },
  budgetMs = UPLOAD_PARSE_BUDGET_MS,
): Promise<{ layer: Layer; dropped: string[]; packages?: BasePackage[] }> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER, { eval: true, workerData: { data, opts } });
    let settled = false;
    const done = (f: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void worker.terminate();
      f();
    };
    const timer = setTimeout(
      () =>
        done(() =>
          reject(
            new LseError(
              'TAR_INVALID',
              `reading the uploaded rootfs of '${opts.name}' took more than ${budgetMs / 1000} s; it was refused (is it a valid tar?)`,
              { name: opts.name },
            ),
          ),
        ),
      budgetMs,
    );
    worker.on(
      'message',
      (m: {
        ok: boolean;
        layer?: Layer & { blob: Uint8Array };
        dropped?: string[];
        packages?: BasePackage[];
        error?: { code: string; message: string; details?: unknown };
      }) => {
        if (m.ok && m.layer)
          done(() =>
            resolve({
              layer: { ...m.layer!, blob: Buffer.from(m.layer!.blob) },
              dropped: m.dropped ?? [],
              ...(m.packages ? { packages: m.packages } : {}),
            }),
          );
        else done(() => reject(lseErrorFrom(m.error ?? { code: 'INTERNAL', message: 'worker failed' })));
      },
    );
    worker.on('error', (e) => done(() => reject(new LseError('INTERNAL', `the upload worker failed: ${e.message}`))));
    worker.on('exit', (code) =>
      done(() => reject(new LseError('INTERNAL', `the upload worker exited (${code}) without an answer`))),
    );
  });
}

/**
 * The short chaos run (scripts/chaos.mjs) against the running stack: syntheses over REST and
 * NATS while a service, nats-server, another service and MinIO are killed with SIGKILL and
 * restarted. Every accepted synthesis must end in exactly one terminal state that its events
 * agree with, completed images must keep their blobs, nothing may stay pending. The long run is
 * `npm run chaos -- --minutes 15` (docs/ARCHITECTURE.md has its last result).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

jest.setTimeout(600_000);

describe('chaos (short)', () => {
  it('loses, duplicates and leaves stuck no synthesis while services, nats-server and MinIO are killed', () => {
    const repo = join(__dirname, '../../..');
    const r = spawnSync(
      'node',
      [
        join(repo, 'scripts/chaos.mjs'),
        '--seconds',
        '60',
        '--kill-every',
        '8',
        '--rate',
        '2',
        '--targets',
        'service,nats,minio,service',
        '--drain-seconds',
        '360',
        '--json',
      ],
      {
        cwd: repo,
        env: process.env,
        encoding: 'utf8',
        timeout: 590_000,
      },
    );
    const last = r.stdout.trim().split('\n').pop() ?? '';
    const report = JSON.parse(r.stdout.slice(0, r.stdout.lastIndexOf('\nchaos:') + 1) || '{}');
    if (r.status !== 0) process.stderr.write(`${r.stdout}\n${r.stderr.slice(-4000)}\n`);
    expect(last).toMatch(/^chaos: \d+ syntheses, 0 lost, 0 duplicated, 0 stuck$/);
    expect(report.syntheses).toBeGreaterThanOrEqual(50);
    expect(report.killed).toEqual(
      expect.arrayContaining([expect.stringMatching(/^nats/), 'minio', expect.stringMatching(/^svc-/)]),
    );
    expect(report.completed + report.failed).toBe(report.syntheses);
    expect(r.status).toBe(0);
  });
});

describe('outages', () => {
  it('waits out MinIO, FerretDB and nats-server each down for 8 s in the middle of syntheses: every synthesis completes, once', () => {
    const repo = join(__dirname, '../../..');
    const r = spawnSync(
      'node',
      [
        join(repo, 'scripts/chaos.mjs'),
        '--seconds',
        '60',
        '--kill-every',
        '8',
        '--rate',
        '1.5',
        '--targets',
        'minio,ferretdb,nats',
        '--down-seconds',
        '8',
        '--drain-seconds',
        '360',
        '--json',
      ],
      { cwd: repo, env: process.env, encoding: 'utf8', timeout: 590_000 },
    );
    const last = r.stdout.trim().split('\n').pop() ?? '';
    const report = JSON.parse(r.stdout.slice(0, r.stdout.lastIndexOf('\nchaos:') + 1) || '{}');
    if (r.status !== 0) process.stderr.write(`${r.stdout}\n${r.stderr.slice(-4000)}\n`);
    expect(last).toMatch(/^chaos: \d+ syntheses, 0 lost, 0 duplicated, 0 stuck$/);
    expect(report.killed).toEqual(['minio', 'ferretdb', expect.stringMatching(/^nats/)]);
    expect(report.failed).toBe(0);
    expect(report.completed).toBe(report.syntheses);
  });
});

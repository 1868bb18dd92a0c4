/**
 * The record projection applies a synthesis' events to its record, in whatever order the events
 * stream delivers them to concurrent handlers.
 */
import { isLseError, sha256Digest } from '@lse/core';
import { MemoryLeaseRepository, MemorySynthesisRepository } from '@lse/adapter-memory';
import { eventSubjects, type SynthAccepted, type SynthCompleted } from '@lse/contracts';
import { makeRecordProjection } from './recorder';

const at = '2026-12-01T12:00:00.000Z';
const image = {
  manifestDigest: sha256Digest('manifest'),
  manifestSize: 100,
  configDigest: sha256Digest('config'),
  layers: [{ digest: sha256Digest('layer'), size: 10, diffId: sha256Digest('diff') }],
  platform: { os: 'linux', architecture: 'amd64' },
};

function setup() {
  const syntheses = new MemorySynthesisRepository();
  const leases = new MemoryLeaseRepository();
  const project = makeRecordProjection({ syntheses, leases, now: () => new Date(at) });
  return { syntheses, leases, project };
}

function events(id: string, withAccepted: boolean) {
  const accepted: SynthAccepted = { v: 1, synthesisId: id, manifestName: 'svc', tenant: 'team-a', requestedAt: at };
  const completed = {
    v: 1,
    synthesisId: id,
    key: sha256Digest(`lock-${id}`),
    image,
    layerPlan: [],
    completedAt: at,
    lease: { expiresAt: '2026-12-02T12:00:00.000Z', leaseBy: 'projection' },
    ...(withAccepted ? { accepted } : {}),
  } as unknown as SynthCompleted;
  return { accepted, completed };
}

describe('makeRecordProjection', () => {
  it('records a repeat whose completed event arrives before its requested event: record, key, tenant and lease at once', async () => {
    const { syntheses, leases, project } = setup();
    const { accepted, completed } = events('rep-1', true);
    await project(eventSubjects.completed('rep-1'), completed);
    expect(await syntheses.get('rep-1')).toMatchObject({
      status: 'completed',
      stage: 'assembled',
      key: completed.key,
      tenant: 'team-a',
      manifestName: 'svc',
    });
    expect((await leases.get('rep-1'))?.blobs).toEqual(
      expect.arrayContaining([image.manifestDigest, image.configDigest, image.layers[0]!.digest]),
    );
    expect(await syntheses.completedByKey(completed.key)).toMatchObject({ status: 'completed' });
    // Applied again (a redelivery), it changes nothing either.
    await project(eventSubjects.completed('rep-1'), completed);
    expect(await syntheses.get('rep-1')).toMatchObject({ status: 'completed', updatedAt: at });
    // The requested event, applied late, changes nothing.
    await project(eventSubjects.requested('rep-1'), accepted);
    expect(await syntheses.get('rep-1')).toMatchObject({ status: 'completed', stage: 'assembled' });
  });

  it('applies the same repeat in the usual order just the same', async () => {
    const { syntheses, project } = setup();
    const { accepted, completed } = events('rep-2', true);
    await project(eventSubjects.requested('rep-2'), accepted);
    expect(await syntheses.get('rep-2')).toMatchObject({ status: 'pending', stage: 'requested' });
    await project(eventSubjects.completed('rep-2'), completed);
    expect(await syntheses.get('rep-2')).toMatchObject({
      status: 'completed',
      stage: 'assembled',
      key: completed.key,
      tenant: 'team-a',
    });
  });

  it('asks for redelivery (retryable) when a completed event without the requested fields comes first', async () => {
    const { syntheses, project } = setup();
    const { completed } = events('pipe-1', false);
    const err = await project(eventSubjects.completed('pipe-1'), completed).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isLseError(err) && err.code === 'UNAVAILABLE' && err.retryable).toBe(true);
    expect(await syntheses.get('pipe-1')).toBeUndefined();
  });
});

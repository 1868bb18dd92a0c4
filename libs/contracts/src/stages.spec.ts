import { NEXT_STAGE_OF, STAGES, STAGE_NAMES, STAGE_OF, durableOf, stageAfter } from './stages';
import { SUBJECTS } from './subjects';

describe('the stage table', () => {
  it('chains the stages: each service publishes the stage the next one consumes, and the recorder ends it', () => {
    for (let i = 0; i < STAGE_NAMES.length - 1; i++)
      expect(NEXT_STAGE_OF[STAGE_NAMES[i]!]).toBe(STAGE_OF[STAGE_NAMES[i + 1]!]);
    expect(NEXT_STAGE_OF.recorder).toBeUndefined();
    expect(STAGES).toEqual(['requested', 'resolved', 'fetched', 'verified', 'assembled']);
  });
  it('derives subjects, consumed stages and durable names from it', () => {
    expect(SUBJECTS).toEqual({
      requested: 'lse.synth.requested',
      resolved: 'lse.synth.resolved',
      fetched: 'lse.synth.fetched',
      verified: 'lse.synth.verified',
      assembled: 'lse.synth.assembled',
      dead: 'lse.synth.dead',
    });
    expect(STAGE_NAMES.map((n) => STAGE_OF[n])).toEqual(STAGES);
    expect(durableOf('fetcher')).toBe('lse-fetcher');
  });
  it('orders stages, with names that are not stages first', () => {
    expect(stageAfter('verified', 'fetched')).toBe(true);
    expect(stageAfter('fetched', 'verified')).toBe(false);
    expect(stageAfter('requested', 'requested')).toBe(false);
    expect(stageAfter('requested', 'nonsense')).toBe(true);
  });
});

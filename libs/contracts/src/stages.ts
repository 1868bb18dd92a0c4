/**
 * The pipeline's stages, in order: the one table everything else about stages derives from.
 * A row is a stage service: the subject it consumes (a `Stage`, also the name progress events
 * and the synthesis record use), the subject it publishes when it is done (the recorder publishes
 * the completed event instead), and its name (the durable consumer `lse-<name>`, the `stage` of
 * the failed events it publishes, the `lse-<name>` service binary).
 */
export const STAGE_TABLE = [
  { name: 'resolver', consumes: 'requested', next: 'resolved' },
  { name: 'fetcher', consumes: 'resolved', next: 'fetched' },
  { name: 'verifier', consumes: 'fetched', next: 'verified' },
  { name: 'assembler', consumes: 'verified', next: 'assembled' },
  { name: 'recorder', consumes: 'assembled', next: undefined },
] as const;

type Row = (typeof STAGE_TABLE)[number];
/** A work subject's stage (`lse.synth.<stage>`), in pipeline order. */
export type Stage = Row['consumes'];
/** A stage service, the one that consumes a `Stage`. */
export type StageName = Row['name'];

/** Work subject stages in pipeline order. */
export const STAGES: readonly Stage[] = STAGE_TABLE.map((r) => r.consumes);
/** Stage services in pipeline order. */
export const STAGE_NAMES: readonly StageName[] = STAGE_TABLE.map((r) => r.name);

/** The stage whose subject a service consumes. */
export const STAGE_OF = Object.fromEntries(STAGE_TABLE.map((r) => [r.name, r.consumes])) as Readonly<
  Record<StageName, Stage>
>;
/** The stage a service publishes when it is done (undefined for the recorder, which ends the synthesis). */
export const NEXT_STAGE_OF = Object.fromEntries(STAGE_TABLE.map((r) => [r.name, r.next])) as Readonly<
  Record<StageName, Stage | undefined>
>;

/** The durable consumer a service's copies share. */
export const durableOf = (name: StageName): `lse-${StageName}` => `lse-${name}`;

/** Whether stage `a` comes after stage `b` (names that are not stages come before every stage). */
export function stageAfter(a: string, b: string): boolean {
  return indexOfStage(a) > indexOfStage(b);
}

function indexOfStage(s: string): number {
  return STAGE_TABLE.findIndex((r) => r.consumes === s);
}

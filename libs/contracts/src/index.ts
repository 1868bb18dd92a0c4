export { stageAfter, type Stage, type StageName, STAGE_NAMES, STAGE_OF, NEXT_STAGE_OF, durableOf } from './stages';
export {
  eventKindOf, subjectMatches, SUBJECTS, WORK_STREAM, EVENTS_STREAM, CATALOG_STREAM, CATALOG_SUBJECTS, eventSubjects,
  terminalMsgId, acceptedMsgId, HEADERS, CATALOG_CHANGES,
} from './subjects';
export {
  validateRequested, validateResolved, validateVerified, validateAssembled, validateFailed, isValidSynthesisId,
  validateFragmentsPublished, validateBaseTagged, type SynthRequested, type SynthAccepted, type SynthResolved,
  type SynthVerified, type ImageRef, type SynthAssembled, type SynthCompleted, type SynthFailed, type SynthProgress,
  type FragmentsPublished, type TrustChanged, type BaseTagged,
} from './messages';
export { backoffDelay, ACK_WAIT_MS, MAX_DELIVER, BACKOFF_MS, DUPLICATE_WINDOW_MS, DEAD_LETTER_HEADERS } from './delivery';

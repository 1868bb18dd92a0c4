export { NatsBus, connectionOptions, ACK_WAIT_MS, MAX_DELIVER, BACKOFF_MS, DEAD_LETTER_HEADERS, PUBLISH_TIMEOUT_MS, CONNECT_WAIT_MS, type NatsBusOptions, type NatsBusLog } from './bus';
export { ensureStreams, ensureStream, streamSpecs, DUPLICATE_WINDOW_MS, EVENTS_MAX_AGE_MS, type StreamOptions, type StreamSpec, type EnsureResult } from './streams';

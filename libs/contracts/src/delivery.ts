/**
 * Delivery rules of the bus, shared by both adapters (NATS JetStream and the in-process bus) so
 * that they keep the same promises. Each adapter takes these as defaults and lets tests pass
 * smaller values.
 */

/** A message unacknowledged for this long (no ack, nak or working()) is redelivered (NATS). */
export const ACK_WAIT_MS = 30_000;
/**
 * Deliveries of one message before it goes to the dead letters: with BACKOFF_MS, a stage keeps
 * retrying a retryable failure (a server that does not answer) for about six minutes.
 */
export const MAX_DELIVER = 12;
/** Delay before the redelivery that follows the n-th failed delivery (the last value repeats). */
export const BACKOFF_MS: readonly number[] = [1_000, 2_000, 5_000, 10_000, 20_000, 30_000, 45_000, 60_000];
/** A second message with the same `Nats-Msg-Id` within this time of the first is dropped. */
export const DUPLICATE_WINDOW_MS = 2 * 60_000;
/** Headers a dead letter carries besides the original ones (its `Nats-Msg-Id` is `dead:<original id>`). */
export const DEAD_LETTER_HEADERS = {
  subject: 'Lse-Dead-Subject',
  error: 'Lse-Error',
  deliveries: 'Lse-Deliveries',
} as const;

/** The delay after the `deliveries`-th failed delivery (1-based), from a backoff schedule. */
export function backoffDelay(backoffMs: readonly number[], deliveries: number): number {
  return backoffMs[Math.min(Math.max(deliveries, 1) - 1, backoffMs.length - 1)] ?? 0;
}

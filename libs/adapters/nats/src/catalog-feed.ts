/**
 * The `CatalogFeed` port on JetStream: the LSE_CATALOG stream is the log, its stream sequence the
 * position. `follow` reads with an ordered consumer (ephemeral, flow-controlled, recreated by the
 * client after a gap or a reconnect) starting at `after + 1`, so every event stored after the
 * recorded position arrives once and in order.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { LseError, type CatalogEvent, type CatalogFeed } from '@lse/core';
import { CATALOG_STREAM } from '@lse/contracts';
import type { NatsBusLog } from './bus';

const dec = new TextDecoder();

export class NatsCatalogFeed implements CatalogFeed {
  constructor(
    private readonly nc: NatsConnection,
    private readonly log?: Pick<NatsBusLog, 'error' | 'warn'>,
    private readonly stream: string = CATALOG_STREAM.name,
  ) {}

  async position(): Promise<number> {
    const jsm = await jetstreamManager(this.nc);
    return (await jsm.streams.info(this.stream)).state.last_seq;
  }

  async follow(after: number, handler: (e: CatalogEvent) => Promise<void>): Promise<() => Promise<void>> {
    const jsm = await jetstreamManager(this.nc);
    const { first_seq: first, messages } = (await jsm.streams.info(this.stream)).state;
    if (after > 0 && messages > 0 && first > after + 1) {
      throw new LseError(
        'INTERNAL',
        `catalog stream ${this.stream} starts at ${first}, after the position ${after} to follow from: events have aged out; load a new snapshot`,
        { stream: this.stream, after, first, retryable: true },
      );
    }
    // The ordered consumer recreates itself after a gap or a reconnect, but its iterator can end
    // (the stream unavailable while nats-server restarts): then follow again from the last event
    // handled, until stopped. Nothing stored after `after` is skipped, nothing is handled twice.
    let last = after;
    let stopped = false;
    let current: { stop(): void } | undefined;
    let wake: (() => void) | undefined;
    const js = jetstream(this.nc);
    // After a reconnect (nats-server restarted) the ordered consumer would notice only after
    // missed heartbeats, tens of seconds later: start it again from the last event at once.
    const status = (async () => {
      for await (const st of this.nc.status()) {
        if (stopped) break;
        if (st.type === 'reconnect') {
          this.log?.warn(
            { stream: this.stream, after: last },
            'NATS reconnected; following the catalog again from the last event',
          );
          current?.stop();
        }
      }
    })().catch(() => undefined);
    const loop = (async () => {
      for (let attempt = 0; !stopped && !this.nc.isClosed(); attempt++) {
        try {
          const consumer = await js.consumers.get(this.stream, {
            deliver_policy: DeliverPolicy.StartSequence,
            opt_start_seq: last + 1,
          });
          const msgs = await consumer.consume();
          current = msgs;
          if (stopped) msgs.stop();
          for await (const m of msgs) {
            attempt = 0;
            if (m.seq <= last) continue;
            last = m.seq;
            let data: unknown;
            try {
              data = JSON.parse(dec.decode(m.data));
            } catch (err) {
              this.log?.error({ stream: this.stream, seq: m.seq, err }, 'catalog event is not JSON; skipped');
              continue;
            }
            try {
              await handler({ seq: m.seq, subject: m.subject, data });
            } catch (err) {
              this.log?.error(
                { stream: this.stream, seq: m.seq, subject: m.subject, err },
                'catalog event handler failed',
              );
            }
          }
        } catch (err) {
          if (!stopped)
            this.log?.warn({ stream: this.stream, after: last, err }, 'catalog feed interrupted; following again');
        }
        if (stopped) break;
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, Math.min(200 * 2 ** Math.min(attempt, 4), 3000));
        });
      }
    })();
    return async () => {
      stopped = true;
      current?.stop();
      wake?.();
      await loop;
      void status;
    };
  }
}

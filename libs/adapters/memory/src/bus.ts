import type { Bus, BusMessage, Headers, SubscribeOptions } from '@lse/core';
import { subjectMatches as matches } from '@lse/contracts';

/**
 * The in-process bus: same contract as the NATS adapter (publish returns once the message is
 * accepted; handlers run asynchronously, one message at a time per subscription, in order).
 * Subscribers sharing a durable name share the messages (round robin), as a JetStream work
 * consumer does. There is no redelivery: a handler's error is reported to `onError`.
 */
export class InProcessBus implements Bus {
  private readonly subs = new Map<string, Set<(m: BusMessage) => void>>();
  private readonly groups = new Map<string, { members: ((m: BusMessage) => void)[]; next: number }>();
  constructor(private readonly onError: (err: unknown, msg: BusMessage) => void = () => undefined) {}

  async publish<T>(subject: string, data: T, headers: Headers = {}): Promise<void> {
    const msg: BusMessage = { subject, data: structuredClone(data), headers: { ...headers } };
    for (const [pattern, set] of this.subs) if (matches(pattern, subject)) for (const deliver of set) deliver(msg);
    for (const [key, g] of this.groups) {
      if (!matches(key.slice(key.indexOf(' ') + 1), subject) || !g.members.length) continue;
      g.members[g.next++ % g.members.length]!(msg);
    }
  }

  async subscribe<T>(subject: string, handler: (msg: BusMessage<T>) => Promise<void>, opts: SubscribeOptions = {}): Promise<() => Promise<void>> {
    let chain = Promise.resolve();
    const deliver = (m: BusMessage): void => {
      chain = chain.then(() => handler(m as BusMessage<T>)).catch((err) => this.onError(err, m));
    };
    if (opts.durable) {
      const key = `${opts.durable} ${subject}`;
      let g = this.groups.get(key);
      if (!g) this.groups.set(key, (g = { members: [], next: 0 }));
      g.members.push(deliver);
      return async () => {
        g.members.splice(g.members.indexOf(deliver), 1);
        await chain;
      };
    }
    let set = this.subs.get(subject);
    if (!set) this.subs.set(subject, (set = new Set()));
    set.add(deliver);
    return async () => {
      set.delete(deliver);
      await chain;
    };
  }
}

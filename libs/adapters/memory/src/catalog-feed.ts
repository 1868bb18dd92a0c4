import type { CatalogEvent, CatalogFeed } from '@lse/core';

/**
 * An in-memory catalog log: `append` stores an event (as a writer's `Bus.publish` would), and
 * followers get every event after their position, in order, one at a time.
 */
export class MemoryCatalogFeed implements CatalogFeed {
  private readonly log: CatalogEvent[] = [];
  private readonly followers = new Set<(e: CatalogEvent) => void>();

  async append(subject: string, data: unknown): Promise<number> {
    const e: CatalogEvent = { seq: this.log.length + 1, subject, data: structuredClone(data) };
    this.log.push(e);
    for (const f of this.followers) f(e);
    return e.seq;
  }

  async position(): Promise<number> {
    return this.log.length;
  }

  async follow(after: number, handler: (e: CatalogEvent) => Promise<void>): Promise<() => Promise<void>> {
    let chain = Promise.resolve();
    const deliver = (e: CatalogEvent): void => {
      chain = chain.then(() => handler(e)).catch(() => undefined);
    };
    for (const e of this.log.slice(after)) deliver(e);
    this.followers.add(deliver);
    return async () => {
      this.followers.delete(deliver);
      await chain;
    };
  }
}

/** A small seeded PRNG (mulberry32): the same seed gives the same mutations, so runs replay. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  /** Uniform in [0, 2^32). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** Uniform integer in [0, n). */
  int(n: number): number {
    return n <= 0 ? 0 : this.next() % n;
  }
  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() / 2 ** 32 < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }
  /** Mostly small, sometimes large (1 in 32 up to `max`): for lengths and repeat counts. */
  size(max: number): number {
    const r = this.int(32);
    const cap = r < 12 ? 4 : r < 24 ? 64 : r < 31 ? 1024 : max;
    return this.int(Math.min(cap, max) + 1);
  }
}

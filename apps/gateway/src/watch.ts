/**
 * What the gateway knows of syntheses from their events: one plain subscription to every
 * synthesis event (`lse.events.synthesis.>`) keeps, per synthesis, the events seen so far and
 * the state they add up to. Everything that waits on a synthesis goes through `follow`: the
 * `Prefer: wait` of POST and GET, the server-sent events route and the registry's pulls. A late
 * follower gets the earlier events replayed (from memory, or, for a synthesis this gateway has
 * not seen, from the bus' stored history: JetStream's events stream), then the live ones; nothing
 * polls the record and nothing invents progress.
 *
 * The state is the same projection the record is (recorder.ts): the first terminal event wins,
 * stages only move forward. It is bounded (oldest syntheses forgotten first); the record in the
 * database stays the durable answer.
 */
import type { Bus, BusMessage, Platform, SynthesisRecord } from '@lse/core';
import {
  eventKindOf,
  eventSubjects,
  stageAfter,
  type SynthAccepted,
  type SynthCompleted,
  type SynthFailed,
  type SynthProgress,
} from '@lse/contracts';

export interface SynthesisState {
  id: string;
  status: 'pending' | 'completed' | 'failed';
  stage: string;
  manifestName?: string;
  platform?: Platform;
  tenant?: string;
  key?: string;
  completed?: SynthCompleted;
  failed?: SynthFailed;
  createdAt?: string;
  updatedAt?: string;
  /** The events that made this state, in the order they were applied (one per kind and stage). */
  events: BusMessage[];
}

type Listener = (m: BusMessage) => void;

export class SynthesisWatch {
  private readonly states = new Map<string, SynthesisState>();
  private readonly listeners = new Map<string, Set<Listener>>();
  private stop: (() => Promise<void>) | undefined;

  constructor(
    private readonly bus: Bus,
    private readonly max = 5000,
  ) {}

  async start(): Promise<void> {
    this.stop = await this.bus.subscribe(eventSubjects.any, async (m) => this.apply(m));
  }

  async close(): Promise<void> {
    await this.stop?.();
  }

  /** Applies one event (idempotent: an event of a kind and stage already applied is ignored). */
  apply(m: BusMessage): void {
    const kind = eventKindOf(m.subject);
    const data = m.data as { synthesisId?: unknown };
    if (!kind || typeof data?.synthesisId !== 'string') return;
    const id = data.synthesisId;
    let s = this.states.get(id);
    if (!s) {
      s = { id, status: 'pending', stage: 'requested', events: [] };
      this.states.set(id, s);
      if (this.states.size > this.max) this.states.delete(this.states.keys().next().value!);
    }
    const tag = kind === 'progress' ? `progress:${(m.data as SynthProgress).stage}` : kind;
    if (s.events.some((e) => tagOf(e) === tag)) return;
    if ((kind === 'completed' || kind === 'failed') && s.status !== 'pending') return; // the first terminal event wins
    s.events.push(m);
    if (kind === 'requested') {
      const a = m.data as SynthAccepted;
      s.manifestName = a.manifestName;
      if (a.platform) s.platform = a.platform;
      if (a.tenant) s.tenant = a.tenant;
      s.createdAt = a.requestedAt;
      s.updatedAt ??= a.requestedAt;
    } else if (kind === 'progress') {
      const p = m.data as SynthProgress;
      if (stageAfter(p.stage, s.stage)) s.stage = p.stage;
      if (p.key) s.key = p.key;
      if (p.manifestName) s.manifestName ??= p.manifestName;
      s.updatedAt = p.at;
    } else if (kind === 'completed') {
      const c = m.data as SynthCompleted;
      Object.assign(s, { status: 'completed', stage: 'assembled', key: c.key, completed: c, updatedAt: c.completedAt });
    } else {
      const f = m.data as SynthFailed;
      Object.assign(s, { status: 'failed', failed: f, updatedAt: f.failedAt });
    }
    for (const l of this.listeners.get(id) ?? []) l(m);
  }

  /** The state of a synthesis this gateway has seen events of. */
  state(id: string): SynthesisState | undefined {
    return this.states.get(id);
  }

  /** The state, replaying the bus' stored events of a synthesis this gateway has not seen. */
  async load(id: string): Promise<SynthesisState | undefined> {
    const known = this.states.get(id);
    if (known || !this.bus.history) return known;
    for (const m of await this.bus.history(eventSubjects.all(id))) this.apply(m);
    return this.states.get(id);
  }

  /**
   * Calls `onEvent` with every event of the synthesis, earlier ones first (replayed), then live
   * ones, each once. Returns the function that stops following.
   */
  async follow(id: string, onEvent: Listener): Promise<() => void> {
    const sent = new Set<string>();
    const once: Listener = (m) => {
      const tag = tagOf(m);
      if (sent.has(tag)) return;
      sent.add(tag);
      onEvent(m);
    };
    let set = this.listeners.get(id);
    if (!set) this.listeners.set(id, (set = new Set()));
    set.add(once);
    const s = await this.load(id);
    for (const m of [...(s?.events ?? [])]) once(m);
    return () => {
      set.delete(once);
      if (!set.size && this.listeners.get(id) === set) this.listeners.delete(id);
    };
  }

  /** The state once the synthesis is finished, or as it is after `seconds`. */
  async waitFinished(id: string, seconds: number): Promise<SynthesisState | undefined> {
    let done!: () => void;
    const finished = new Promise<void>((r) => {
      done = r;
    });
    const timer = setTimeout(done, seconds * 1000);
    const unfollow = await this.follow(id, (m) => {
      const k = eventKindOf(m.subject);
      if (k === 'completed' || k === 'failed') done();
    });
    try {
      await finished;
    } finally {
      clearTimeout(timer);
      unfollow();
    }
    return this.states.get(id);
  }
}

function tagOf(m: BusMessage): string {
  const kind = eventKindOf(m.subject) ?? m.subject;
  return kind === 'progress' ? `progress:${(m.data as SynthProgress).stage}` : kind;
}

/** A state as a synthesis record (the shape the database holds), for answers built from events. */
export function recordOf(s: SynthesisState): SynthesisRecord {
  const at = s.updatedAt ?? s.createdAt ?? new Date(0).toISOString();
  return {
    id: s.id,
    status: s.status,
    stage: s.stage,
    manifestName: s.manifestName ?? '(unnamed)',
    createdAt: s.createdAt ?? at,
    updatedAt: at,
    ...(s.platform ? { platform: s.platform } : {}),
    ...(s.tenant ? { tenant: s.tenant } : {}),
    ...(s.key ? { key: s.key } : {}),
    ...(s.completed
      ? { result: { ...s.completed.image, key: s.completed.key, layerPlan: s.completed.layerPlan } }
      : {}),
    ...(s.failed
      ? {
          error: {
            code: s.failed.code,
            message: s.failed.message,
            stage: String(s.failed.stage),
            details: s.failed.details ?? {},
          },
        }
      : {}),
  };
}

/**
 * A bounded cache in front of a database read, for values that writers
 * change rarely and readers read constantly (the /sync hot path).
 *
 * A writer calls `invalidate(key)` before its change and again after its
 * commit. A read that ran while any invalidation happened may have seen
 * the value before the commit, so it is returned but not kept: the epoch
 * (one counter for the whole cache, since invalidations are rare) tells.
 *
 * Readers that miss the same key at once share one load: a message wakes
 * a whole room's members together, and they all want the same values.
 */
import { Lru } from "./lru.js";

export class ReadThroughCache<K, V> {
  private readonly entries: Lru<K, V>;
  private readonly loading = new Map<K, { epoch: number; value: Promise<V | undefined> }>();
  private epoch = 0;

  constructor(capacity: number) {
    this.entries = new Lru(capacity);
  }

  async get(key: K, load: () => Promise<V>): Promise<V> {
    const found = await this.getMany([key], async () => new Map([[key, await load()]]));
    return found.get(key) as V;
  }

  /** Many keys at once: those neither held nor being loaded are loaded together (`load` answers each key it is given). */
  async getMany(keys: readonly K[], load: (missing: K[]) => Promise<Map<K, V>>): Promise<Map<K, V>> {
    const out = new Map<K, V>();
    const waiting: Array<[K, Promise<V | undefined>]> = [];
    const missing: K[] = [];
    for (const k of keys) {
      const held = this.entries.get(k);
      if (held !== undefined) {
        out.set(k, held);
        continue;
      }
      const inFlight = this.loading.get(k);
      // A load begun before an invalidation may return what the writer replaced: do not join it.
      if (inFlight && inFlight.epoch === this.epoch) waiting.push([k, inFlight.value]);
      else missing.push(k);
    }
    if (missing.length) {
      const epoch = this.epoch;
      const batch = load(missing);
      for (const k of missing) {
        const value = batch.then((m) => m.get(k));
        // Never an unhandled rejection: the caller awaiting `batch` below sees the error.
        value.catch(() => {});
        this.loading.set(k, { epoch, value });
      }
      try {
        const loaded = await batch;
        for (const [k, v] of loaded) {
          out.set(k, v);
          if (epoch === this.epoch) this.entries.set(k, v);
        }
      } finally {
        for (const k of missing) if (this.loading.get(k)?.epoch === epoch) this.loading.delete(k);
      }
    }
    for (const [k, p] of waiting) {
      const v = await p;
      if (v !== undefined) out.set(k, v);
    }
    return out;
  }

  invalidate(key: K): void {
    this.epoch++;
    this.entries.delete(key);
  }

  invalidateAll(): void {
    this.epoch++;
    this.entries.clear();
  }

  /** Run a change that commits on its own, invalidating around it. */
  async around<T>(key: K, change: () => Promise<T>): Promise<T> {
    this.invalidate(key);
    try {
      return await change();
    } finally {
      this.invalidate(key);
    }
  }
}

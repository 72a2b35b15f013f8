/**
 * A bounded least-recently-used map. Map keeps insertion order, so the
 * first key is the least recently used once every hit re-inserts its key.
 * Capacity counts entries, or with `weigh` the sum of their weights (room
 * state held by entries, so one room of thousands does not count as one).
 */
export class Lru<K, V> {
  private readonly map = new Map<K, V>();
  private readonly weights = new Map<K, number>();
  private total = 0;

  constructor(
    private readonly capacity: number,
    private readonly weigh?: (value: V) => number,
  ) {}

  get(key: K): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }

  /** Look without making the entry recent. */
  peek(key: K): V | undefined {
    return this.map.get(key);
  }

  set(key: K, value: V): void {
    if (this.capacity <= 0) return;
    this.delete(key);
    const w = this.weigh ? this.weigh(value) : 1;
    if (w > this.capacity) return;
    this.map.set(key, value);
    if (this.weigh) this.weights.set(key, w);
    this.total += w;
    while (this.total > this.capacity) this.delete(this.map.keys().next().value as K);
  }

  delete(key: K): void {
    if (!this.map.delete(key)) return;
    if (this.weigh) {
      this.total -= this.weights.get(key) ?? 0;
      this.weights.delete(key);
    } else {
      this.total--;
    }
  }

  clear(): void {
    this.map.clear();
    this.weights.clear();
    this.total = 0;
  }

  get size(): number {
    return this.map.size;
  }

  /** Entries held, or with `weigh` their summed weight. */
  get weight(): number {
    return this.total;
  }
}

/**
 * One read of a fact that does not change while `key` names it, however
 * many callers ask at once: the promise is held, and dropped if it fails.
 */
export function sharedRead<K, V>(held: Lru<K, Promise<V>>, key: K, read: () => Promise<V>): Promise<V> {
  let p = held.get(key);
  if (!p) {
    p = read();
    held.set(key, p);
    p.catch(() => held.delete(key));
  }
  return p;
}

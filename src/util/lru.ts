/**
 * A bounded least-recently-used map. Map keeps insertion order, so the
 * first key is the least recently used once every hit re-inserts its key.
 */
export class Lru<K, V> {
  private readonly map = new Map<K, V>();
  constructor(private readonly capacity: number) {}

  get(key: K): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }

  set(key: K, value: V): void {
    if (this.capacity <= 0) return;
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value as K);
  }

  delete(key: K): void {
    this.map.delete(key);
  }

  clear(): void {
    this.map.clear();
  }

  get size(): number {
    return this.map.size;
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

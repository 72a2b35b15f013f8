/**
 * Stream positions for /sync. Positions are handed out in order but
 * transactions may commit out of order (two rooms persisting at once), so
 * readers must only see a position once every smaller one has committed or
 * been abandoned; otherwise a sync could skip an event that commits later.
 */
export class StreamIdGenerator {
  private last: number;
  private current: number;
  private readonly unfinished = new Set<number>();

  constructor(maxPersisted: number) {
    this.last = maxPersisted;
    this.current = maxPersisted;
  }

  /** Reserve the next position. Call finish() after commit or rollback. */
  next(): { id: number; finish: () => void } {
    const id = ++this.last;
    this.unfinished.add(id);
    return { id, finish: () => this.finish(id) };
  }

  private finish(id: number): void {
    this.unfinished.delete(id);
    let min = this.last + 1;
    for (const u of this.unfinished) if (u < min) min = u;
    this.current = min - 1;
  }

  /** The largest position below which everything is committed (or abandoned). */
  get position(): number {
    return this.current;
  }
}

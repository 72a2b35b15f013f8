/**
 * Serialises async work per key (one room's persists run one at a time,
 * different rooms run concurrently). Idle keys hold no memory.
 */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<unknown>>();

  async run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(work, work);
    const tail = result.then(noop, noop);
    this.tails.set(key, tail);
    try {
      return await result;
    } finally {
      // Only the last waiter clears the key, so later arrivals still queue.
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}

function noop(): void {}

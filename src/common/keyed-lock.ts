/**
 * Runs async work one call at a time per key (different keys run concurrently), in call order.
 * In memory only: it orders this process's own calls, nothing across processes.
 */
export class KeyedLock {
  private readonly tails = new Map<string, Promise<unknown>>();

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const run = previous.then(fn);
    const tail = run.catch(() => undefined);
    this.tails.set(key, tail);
    try {
      return await run;
    } finally {
      // The last caller of a key cleans up, so idle keys cost nothing.
      if (this.tails.get(key) === tail) {
        this.tails.delete(key);
      }
    }
  }
}

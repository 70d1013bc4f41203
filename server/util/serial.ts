// Runs async jobs one at a time, in order. Used for everything one key signs (the oracle's
// transactions would otherwise race for the same account nonce) and for per-model epoch work.
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(job: () => Promise<T>): Promise<T> {
    const result = this.tail.then(job, job);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

/** One SerialQueue per key. */
export class KeyedQueues {
  private readonly queues = new Map<string, SerialQueue>();

  run<T>(key: string, job: () => Promise<T>): Promise<T> {
    let q = this.queues.get(key);
    if (!q) {
      q = new SerialQueue();
      this.queues.set(key, q);
    }
    return q.run(job);
  }
}

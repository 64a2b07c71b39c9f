// A push-to-pull queue: the worker's batches are pushed in, the caller pulls chunks with for-await.
// Leaving the loop early (break, return, throw) aborts the request, like OpenAI's Stream.

export class ChunkStream<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private ended = false;
  private failure: { error: unknown } | undefined;
  private wake: (() => void) | undefined;
  private iterating = false;

  /** @param cancel ends the request when the consumer stops reading early */
  constructor(private readonly cancel: () => void) {}

  push(...items: T[]): void {
    if (this.ended) return;
    this.items.push(...items);
    this.notify();
  }

  end(): void {
    this.ended = true;
    this.notify();
  }

  fail(error: unknown): void {
    if (this.ended) return;
    this.failure = { error };
    this.ended = true;
    this.notify();
  }

  /** Stops generation; the stream still ends with a chunk whose finish_reason is "abort". */
  abort(): void {
    this.cancel();
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    if (this.iterating) throw new TypeError("a completion stream can be iterated only once");
    this.iterating = true;
    return {
      next: async (): Promise<IteratorResult<T>> => {
        for (;;) {
          if (this.items.length > 0) return { value: this.items.shift()!, done: false };
          if (this.failure) {
            const { error } = this.failure;
            this.failure = undefined;
            throw error;
          }
          if (this.ended) return { value: undefined, done: true };
          await new Promise<void>((resolve) => {
            this.wake = resolve;
          });
        }
      },
      return: async (): Promise<IteratorResult<T>> => {
        if (!this.ended) this.cancel();
        this.ended = true;
        this.items.length = 0;
        return { value: undefined, done: true };
      },
    };
  }
}

// Coalesces tokens into batches for one callback. A batch is sent as soon as the previous one was
// delivered; tokens that arrive meanwhile wait in the next batch. So a fast token loop sends few large
// batches, a slow one sends each token at once, and generation never waits for the main thread.
import type { BatchCallback, TokenBatch } from "../protocol.ts";

export class BatchPump {
  private pending: TokenBatch = { ids: [], text: [], logprobs: [] };
  private inFlight: Promise<void> | undefined;

  constructor(private readonly send: BatchCallback) {}

  push(id: number, text: string, logprob: number): void {
    this.pending.ids.push(id);
    this.pending.text.push(text);
    this.pending.logprobs.push(logprob);
    if (!this.inFlight) this.flush();
  }

  private flush(): void {
    const batch = this.pending;
    this.pending = { ids: [], text: [], logprobs: [] };
    this.inFlight = (async () => {
      try {
        await this.send(batch);
      } catch {
        // A consumer that went away loses its tokens; the request itself still completes.
      }
    })().finally(() => {
      this.inFlight = undefined;
      if (this.pending.ids.length > 0) this.flush();
    });
  }

  /** Resolves once every pushed token has been delivered. */
  async drain(): Promise<void> {
    while (this.inFlight || this.pending.ids.length > 0) {
      if (!this.inFlight) this.flush();
      await this.inFlight;
    }
  }
}

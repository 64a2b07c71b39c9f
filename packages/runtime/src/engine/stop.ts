// Generation options and the CPU side of the token loop: streaming text, stop tokens, stop strings,
// usage. Tokens arrive here a few steps behind the GPU; whatever the GPU computed past a stop is
// discarded.
import type { StreamDecoder, Tokenizer } from "../tokenizer/index.ts";

export interface GenerateOptions {
  /** Tokens to generate at most (default 256); also bounded by the context. */
  maxTokens?: number;
  /** 0 = greedy (default 1). */
  temperature?: number;
  topK?: number;
  topP?: number;
  minP?: number;
  repetitionPenalty?: number;
  frequencyPenalty?: number;
  presencePenalty?: number;
  /** Same seed, same prompt, same options → same tokens. */
  seed?: number;
  /** Stop when the text contains one of these (the stop string is not returned). */
  stop?: string[];
  /** Extra stop token ids; the model's eos ids always stop unless ignoreEos. */
  stopTokenIds?: number[];
  ignoreEos?: boolean;
  signal?: AbortSignal;
  /** Called for every generated token with the new text it completes (may be ""). */
  onToken?: (token: { id: number; text: string; logprob: number }) => void;
}

export type FinishReason = "stop" | "length" | "abort";

export interface GenerateResult {
  promptIds: number[];
  /** generated ids (a stop token is included, text after a stop string is not) */
  ids: number[];
  text: string;
  logprobs: number[];
  finishReason: FinishReason;
  usage: { promptTokens: number; completionTokens: number; totalTokens: number };
  timings: {
    prefillMs: number;
    decodeMs: number;
    prefillTokensPerSecond: number;
    decodeTokensPerSecond: number;
  };
}

export class StopChecker {
  readonly ids: number[] = [];
  readonly logprobs: number[] = [];
  private text = "";
  private finish: FinishReason | undefined;
  private readonly stopIds: Set<number>;
  private readonly decoder: StreamDecoder | undefined;
  /** Text already handed to onToken; held back while it could still be the start of a stop string. */
  private emitted = 0;

  constructor(
    tokenizer: Tokenizer | undefined,
    eosIds: readonly number[],
    private readonly o: GenerateOptions,
  ) {
    this.stopIds = new Set([...(o.ignoreEos ? [] : eosIds), ...(o.stopTokenIds ?? [])]);
    this.decoder = tokenizer?.createDecoder({ skipSpecialTokens: true });
  }

  /** Takes one sampled token; true when generation is finished. */
  push(id: number, logprob: number): boolean {
    this.ids.push(id);
    this.logprobs.push(logprob);
    if (this.stopIds.has(id)) {
      this.finish = "stop";
      this.o.onToken?.({ id, text: this.flushHeld(), logprob });
      return true;
    }
    this.text += this.decoder?.push(id) ?? "";
    const stops = this.o.stop ?? [];
    for (const s of stops) {
      const at = s ? this.text.indexOf(s) : -1;
      if (at >= 0) {
        this.text = this.text.slice(0, at);
        this.finish = "stop";
        this.o.onToken?.({ id, text: this.flushHeld(), logprob });
        return true;
      }
    }
    // Hold back a tail that could still grow into a stop string.
    let hold = 0;
    for (const s of stops) {
      for (let n = Math.min(s.length - 1, this.text.length); n > hold; n--) {
        if (this.text.endsWith(s.slice(0, n))) {
          hold = n;
          break;
        }
      }
    }
    const upto = this.text.length - hold;
    const piece = this.text.slice(this.emitted, Math.max(this.emitted, upto));
    this.emitted = Math.max(this.emitted, upto);
    this.o.onToken?.({ id, text: piece, logprob });
    return false;
  }

  private flushHeld(): string {
    const rest = this.text.slice(this.emitted);
    this.emitted = this.text.length;
    return rest;
  }

  abort(): void {
    this.finish = "abort";
  }

  result(
    promptIds: readonly number[],
    t: { prefillMs: number; decodeMs: number; contextFull: boolean },
  ): GenerateResult {
    if (!this.finish) {
      const tail = this.decoder?.flush() ?? "";
      this.text += tail;
    }
    const n = this.ids.length;
    return {
      promptIds: [...promptIds],
      ids: [...this.ids],
      text: this.text,
      logprobs: [...this.logprobs],
      finishReason: this.finish ?? "length",
      usage: { promptTokens: promptIds.length, completionTokens: n, totalTokens: promptIds.length + n },
      timings: {
        prefillMs: t.prefillMs,
        decodeMs: t.decodeMs,
        prefillTokensPerSecond: promptIds.length / (t.prefillMs / 1e3),
        decodeTokensPerSecond: n > 1 ? (n - 1) / (t.decodeMs / 1e3) : 0,
      },
    };
  }
}

// Worker output → OpenAI response objects. One accumulator per request turns token batches into chunks
// (one chunk per token that carries text, or per token when logprobs are wanted) and the outcome into
// the final chunk(s) or the whole response. Pure: no worker, no GPU.
import type { GenerationOutcome, TokenBatch } from "../protocol.ts";
import type { ChatPlan, CompletionPlan } from "./request.ts";
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionTokenLogprob,
  Completion,
  CompletionLogprobs,
  CompletionUsage,
} from "./types.ts";

/** Wisp has one build per engine; OpenAI clients only display this. */
export const SYSTEM_FINGERPRINT = "wisp";

const utf8 = new TextEncoder();

export function usageOf(o: GenerationOutcome): CompletionUsage {
  return {
    prompt_tokens: o.promptTokens,
    completion_tokens: o.completionTokens,
    total_tokens: o.promptTokens + o.completionTokens,
  };
}

export function requestId(prefix: string): string {
  const c = globalThis.crypto;
  const hex =
    typeof c?.randomUUID === "function"
      ? c.randomUUID().replaceAll("-", "")
      : Math.random().toString(16).slice(2) + Date.now().toString(16);
  return `${prefix}-${hex.slice(0, 24)}`;
}

interface Head {
  id: string;
  created: number;
  model: string;
}

/** Tokens seen so far and the text they streamed (the outcome's text may add a held tail). */
class Tokens {
  text = "";
  readonly pieces: string[] = [];
  readonly logprobs: number[] = [];

  add(batch: TokenBatch): Array<{ text: string; logprob: number }> {
    const out: Array<{ text: string; logprob: number }> = [];
    for (let i = 0; i < batch.ids.length; i++) {
      const text = batch.text[i] ?? "";
      const logprob = batch.logprobs[i] ?? 0;
      this.text += text;
      this.pieces.push(text);
      this.logprobs.push(logprob);
      out.push({ text, logprob });
    }
    return out;
  }

  /** Text the outcome has beyond what was streamed (a decoder tail flushed at the end). */
  tail(outcome: GenerationOutcome): string {
    return outcome.text.startsWith(this.text) ? outcome.text.slice(this.text.length) : "";
  }
}

const chatLogprob = (token: string, logprob: number): ChatCompletionTokenLogprob => ({
  token,
  logprob,
  bytes: [...utf8.encode(token)],
  top_logprobs: [],
});

export class ChatResponseBuilder {
  private readonly tokens = new Tokens();

  constructor(
    private readonly head: Head,
    private readonly plan: Pick<ChatPlan, "logprobs" | "includeUsage">,
  ) {}

  private chunk(choice: ChatCompletionChunk["choices"][number] | undefined): ChatCompletionChunk {
    const c: ChatCompletionChunk = {
      id: this.head.id,
      object: "chat.completion.chunk",
      created: this.head.created,
      model: this.head.model,
      choices: choice ? [choice] : [],
      system_fingerprint: SYSTEM_FINGERPRINT,
    };
    if (this.plan.includeUsage) c.usage = null;
    return c;
  }

  /** The first chunk of a stream: the role, no content yet (as OpenAI sends it). */
  start(): ChatCompletionChunk {
    return this.chunk({
      index: 0,
      delta: { role: "assistant", content: "" },
      finish_reason: null,
      logprobs: null,
    });
  }

  tokensChunks(batch: TokenBatch): ChatCompletionChunk[] {
    const out: ChatCompletionChunk[] = [];
    for (const t of this.tokens.add(batch)) {
      if (!t.text && !this.plan.logprobs) continue;
      out.push(
        this.chunk({
          index: 0,
          delta: { content: t.text },
          finish_reason: null,
          logprobs: this.plan.logprobs ? { content: [chatLogprob(t.text, t.logprob)], refusal: null } : null,
        }),
      );
    }
    return out;
  }

  /** The last chunks: any held tail, the finish reason, then usage when stream_options asked for it. */
  finishChunks(outcome: GenerationOutcome): ChatCompletionChunk[] {
    const out: ChatCompletionChunk[] = [];
    const tail = this.tokens.tail(outcome);
    if (tail)
      out.push(this.chunk({ index: 0, delta: { content: tail }, finish_reason: null, logprobs: null }));
    out.push(this.chunk({ index: 0, delta: {}, finish_reason: outcome.finishReason, logprobs: null }));
    if (this.plan.includeUsage) out.push({ ...this.chunk(undefined), usage: usageOf(outcome) });
    return out;
  }

  completion(outcome: GenerationOutcome): ChatCompletion {
    const t = this.tokens;
    return {
      id: this.head.id,
      object: "chat.completion",
      created: this.head.created,
      model: this.head.model,
      choices: [
        {
          index: 0,
          message: { role: "assistant", content: outcome.text, refusal: null },
          finish_reason: outcome.finishReason,
          logprobs: this.plan.logprobs
            ? { content: t.pieces.map((p, i) => chatLogprob(p, t.logprobs[i]!)), refusal: null }
            : null,
        },
      ],
      usage: usageOf(outcome),
      system_fingerprint: SYSTEM_FINGERPRINT,
    };
  }
}

export class CompletionResponseBuilder {
  private readonly tokens = new Tokens();

  constructor(
    private readonly head: Head,
    private readonly plan: Pick<CompletionPlan, "logprobs" | "includeUsage">,
  ) {}

  private chunk(choice: Completion["choices"][number] | undefined): Completion {
    const c: Completion = {
      id: this.head.id,
      object: "text_completion",
      created: this.head.created,
      model: this.head.model,
      choices: choice ? [choice] : [],
      system_fingerprint: SYSTEM_FINGERPRINT,
    };
    if (this.plan.includeUsage) c.usage = null;
    return c;
  }

  private logprobs(pieces: string[], logprobs: number[], offset: number): CompletionLogprobs {
    const text_offset: number[] = [];
    for (const p of pieces) {
      text_offset.push(offset);
      offset += p.length;
    }
    return { tokens: pieces, token_logprobs: logprobs, top_logprobs: pieces.map(() => null), text_offset };
  }

  tokensChunks(batch: TokenBatch): Completion[] {
    const out: Completion[] = [];
    let offset = this.tokens.text.length;
    for (const t of this.tokens.add(batch)) {
      if (t.text || this.plan.logprobs) {
        out.push(
          this.chunk({
            index: 0,
            text: t.text,
            finish_reason: null,
            logprobs: this.plan.logprobs ? this.logprobs([t.text], [t.logprob], offset) : null,
          }),
        );
      }
      offset += t.text.length;
    }
    return out;
  }

  finishChunks(outcome: GenerationOutcome): Completion[] {
    const out: Completion[] = [];
    const tail = this.tokens.tail(outcome);
    out.push(this.chunk({ index: 0, text: tail, finish_reason: outcome.finishReason, logprobs: null }));
    if (this.plan.includeUsage) out.push({ ...this.chunk(undefined), usage: usageOf(outcome) });
    return out;
  }

  completion(outcome: GenerationOutcome): Completion {
    const t = this.tokens;
    return {
      id: this.head.id,
      object: "text_completion",
      created: this.head.created,
      model: this.head.model,
      choices: [
        {
          index: 0,
          text: outcome.text,
          finish_reason: outcome.finishReason,
          logprobs: this.plan.logprobs ? this.logprobs(t.pieces, t.logprobs, 0) : null,
        },
      ],
      usage: usageOf(outcome),
      system_fingerprint: SYSTEM_FINGERPRINT,
    };
  }
}

// OpenAI request → what the worker runs: validation (InvalidRequestError naming the field), defaults,
// and message flattening. Pure; runs on the main thread so a bad request never reaches the worker.
import { InvalidRequestError } from "../errors.ts";
import type { GenerationParams, WireMessage } from "../protocol.ts";
import type { ChatCompletionCreateParamsBase, CompletionCreateParamsBase } from "./types.ts";

type Sampling = Omit<ChatCompletionCreateParamsBase, "messages" | "max_tokens" | "logprobs">;

const ROLES = new Set(["system", "developer", "user", "assistant", "tool"]);
/** OpenAI's default for the legacy completions endpoint. */
export const COMPLETIONS_DEFAULT_MAX_TOKENS = 16;

function num(value: number | null | undefined, param: string, min: number, max: number, fallback: number) {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value < min || value > max) {
    throw new InvalidRequestError(
      `${param} must be a number in [${min}, ${max}], got ${String(value)}`,
      param,
    );
  }
  return value;
}

function int(value: number | null | undefined, param: string, min: number): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Number.isSafeInteger(value) || value < min) {
    throw new InvalidRequestError(`${param} must be an integer ≥ ${min}, got ${String(value)}`, param);
  }
  return value;
}

function stopList(stop: string | string[] | null | undefined): string[] {
  if (stop === undefined || stop === null) return [];
  const list = typeof stop === "string" ? [stop] : stop;
  if (!Array.isArray(list) || list.some((s) => typeof s !== "string")) {
    throw new InvalidRequestError("stop must be a string or an array of strings", "stop");
  }
  if (list.length > 4) throw new InvalidRequestError("stop takes at most 4 sequences", "stop");
  return list.filter((s) => s.length > 0);
}

/**
 * Sampling fields shared by both endpoints. `maxTokens` undefined means "until the context is full"
 * (chat's default); the worker clamps it to the room the context leaves.
 */
export function generationParams(r: Sampling, maxTokens: number | undefined): GenerationParams {
  const n = int(r.n, "n", 1);
  if (n !== undefined && n !== 1) {
    throw new InvalidRequestError(
      "n > 1 is not supported: one completion per request (send several requests instead)",
      "n",
    );
  }
  const topP = num(r.top_p, "top_p", 0, 1, 1);
  const params: GenerationParams = {
    maxTokens: maxTokens ?? Number.MAX_SAFE_INTEGER,
    // top_p 0 keeps only the most likely token: greedy, which the sampler does exactly at temperature 0.
    temperature: topP === 0 ? 0 : num(r.temperature, "temperature", 0, 2, 1),
    topP: topP === 0 ? 1 : topP,
    topK: int(r.top_k, "top_k", 0) ?? 0,
    minP: num(r.min_p, "min_p", 0, 1, 0),
    repetitionPenalty: num(r.repetition_penalty, "repetition_penalty", 0.01, 10, 1),
    frequencyPenalty: num(r.frequency_penalty, "frequency_penalty", -2, 2, 0),
    presencePenalty: num(r.presence_penalty, "presence_penalty", -2, 2, 0),
    stop: stopList(r.stop),
  };
  if (r.seed !== undefined && r.seed !== null) {
    if (!Number.isSafeInteger(r.seed)) throw new InvalidRequestError("seed must be an integer", "seed");
    // The sampler's RNG takes a u32; negative and large seeds wrap (still deterministic).
    params.seed = Number(BigInt.asUintN(32, BigInt(r.seed)));
  }
  return params;
}

function flattenContent(m: ChatCompletionCreateParamsBase["messages"][number], i: number): string {
  const c = m.content;
  if (c === null || c === undefined) return "";
  if (typeof c === "string") return c;
  if (!Array.isArray(c)) {
    throw new InvalidRequestError(`messages[${i}].content must be a string or an array of parts`, "messages");
  }
  return c
    .map((part, j) => {
      if (part?.type !== "text" || typeof part.text !== "string") {
        const type = String((part as { type?: unknown })?.type);
        throw new InvalidRequestError(
          `messages[${i}].content[${j}] is a "${type}" part; only text parts are supported`,
          "messages",
        );
      }
      return part.text;
    })
    .join("\n");
}

export interface ChatPlan {
  messages: WireMessage[];
  params: GenerationParams;
  logprobs: boolean;
  stream: boolean;
  includeUsage: boolean;
}

export function planChat(r: ChatCompletionCreateParamsBase): ChatPlan {
  if (!Array.isArray(r.messages) || r.messages.length === 0) {
    throw new InvalidRequestError("messages must be a non-empty array", "messages");
  }
  const messages = r.messages.map((m, i): WireMessage => {
    if (!m || !ROLES.has(m.role)) {
      throw new InvalidRequestError(
        `messages[${i}].role must be one of ${[...ROLES].join(", ")}, got ${String(m?.role)}`,
        "messages",
      );
    }
    // "developer" is OpenAI's newer name for the system role; model templates know "system".
    const out: WireMessage = {
      role: m.role === "developer" ? "system" : m.role,
      content: flattenContent(m, i),
    };
    if (typeof m.name === "string") out.name = m.name;
    return out;
  });
  const topLogprobs = int(r.top_logprobs, "top_logprobs", 0);
  if (topLogprobs !== undefined && topLogprobs > 0) {
    throw new InvalidRequestError(
      "top_logprobs > 0 is not supported: the GPU sampler reports only the chosen token's log-probability " +
        "(use logprobs: true)",
      "top_logprobs",
    );
  }
  if (r.response_format && r.response_format.type !== "text") {
    throw new InvalidRequestError(
      `response_format "${String(r.response_format.type)}" is not supported (no constrained decoding yet)`,
      "response_format",
    );
  }
  for (const field of ["tools", "functions", "logit_bias", "audio"] as const) {
    const v = (r as unknown as Record<string, unknown>)[field];
    if (v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0)) {
      throw new InvalidRequestError(`${field} is not supported`, field);
    }
  }
  const maxTokens =
    int(r.max_completion_tokens, "max_completion_tokens", 1) ?? int(r.max_tokens, "max_tokens", 1);
  return {
    messages,
    params: generationParams(r, maxTokens),
    logprobs: r.logprobs === true,
    stream: r.stream === true,
    includeUsage: r.stream === true && r.stream_options?.include_usage === true,
  };
}

export interface CompletionPlan {
  prompt: string | number[];
  params: GenerationParams;
  logprobs: boolean;
  stream: boolean;
  includeUsage: boolean;
}

export function planCompletion(r: CompletionCreateParamsBase): CompletionPlan {
  let prompt: string | number[];
  const p = r.prompt as unknown;
  if (typeof p === "string") prompt = p;
  else if (Array.isArray(p) && p.length === 1 && typeof p[0] === "string") prompt = p[0];
  else if (Array.isArray(p) && p.length > 0 && p.every((t) => Number.isSafeInteger(t) && t >= 0)) {
    prompt = [...(p as number[])];
  } else {
    throw new InvalidRequestError(
      "prompt must be a string, a one-string array or an array of token ids (batches of prompts are not supported)",
      "prompt",
    );
  }
  if (r.echo) throw new InvalidRequestError("echo is not supported", "echo");
  for (const field of ["suffix", "best_of", "logit_bias"] as const) {
    const v = (r as unknown as Record<string, unknown>)[field];
    if (v !== undefined && v !== null && !(field === "best_of" && v === 1)) {
      throw new InvalidRequestError(`${field} is not supported`, field);
    }
  }
  const logprobs = int(r.logprobs, "logprobs", 0);
  if (logprobs !== undefined && logprobs > 0) {
    throw new InvalidRequestError(
      "logprobs > 0 is not supported: the GPU sampler reports only the chosen token's log-probability " +
        "(use logprobs: 0)",
      "logprobs",
    );
  }
  return {
    prompt,
    params: generationParams(r, int(r.max_tokens, "max_tokens", 1) ?? COMPLETIONS_DEFAULT_MAX_TOKENS),
    logprobs: logprobs !== undefined,
    stream: r.stream === true,
    includeUsage: r.stream === true && r.stream_options?.include_usage === true,
  };
}

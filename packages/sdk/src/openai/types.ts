// OpenAI's chat.completions and (legacy) completions shapes, as far as Wisp implements them. Field
// names are OpenAI's (snake_case) so code written for the OpenAI SDK ports by changing the client.
// Non-OpenAI extras (top_k, min_p, repetition_penalty) follow vLLM's names.

import type { FinishReason } from "../protocol.ts";

export type { FinishReason };

export type ChatRole = "system" | "developer" | "user" | "assistant" | "tool";

export interface ChatContentPartText {
  type: "text";
  text: string;
}

export interface ChatCompletionMessageParam {
  role: ChatRole;
  /** Text, or text parts (joined with "\n"); images and audio are refused. */
  content: string | ChatContentPartText[] | null;
  name?: string;
}

interface SamplingParams {
  /** 0..2, default 1; 0 is greedy. */
  temperature?: number | null;
  /** 0..1, default 1. */
  top_p?: number | null;
  /** -2..2, default 0. */
  frequency_penalty?: number | null;
  /** -2..2, default 0. */
  presence_penalty?: number | null;
  /** Same seed + same request + same model → same text. */
  seed?: number | null;
  /** Up to 4 strings; generation stops before the first one (it is not returned). */
  stop?: string | string[] | null;
  /** Only 1 is supported. */
  n?: number | null;
  /** vLLM-style extras. */
  top_k?: number | null;
  min_p?: number | null;
  repetition_penalty?: number | null;
  /** Ends the request within one token; the result's finish_reason is "abort". Not sent to the worker. */
  signal?: AbortSignal;
}

export interface ChatCompletionCreateParamsBase extends SamplingParams {
  messages: ChatCompletionMessageParam[];
  /** Informational: the engine serves the model it loaded. */
  model?: string;
  max_tokens?: number | null;
  max_completion_tokens?: number | null;
  /** Return the chosen token's log-probability per token. */
  logprobs?: boolean | null;
  /**
   * Must be 0 or absent: the GPU sampler reports only the chosen token's log-probability, not the
   * alternatives, so any value above 0 is refused with InvalidRequestError.
   */
  top_logprobs?: number | null;
  stream?: boolean | null;
  stream_options?: { include_usage?: boolean } | null;
  response_format?: { type: "text" } | null;
  user?: string;
}

export interface ChatCompletionCreateParamsStreaming extends ChatCompletionCreateParamsBase {
  stream: true;
}

export interface ChatCompletionCreateParamsNonStreaming extends ChatCompletionCreateParamsBase {
  stream?: false | null;
}

export type ChatCompletionCreateParams =
  | ChatCompletionCreateParamsStreaming
  | ChatCompletionCreateParamsNonStreaming;

export interface CompletionUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export interface ChatCompletionTokenLogprob {
  token: string;
  logprob: number;
  bytes: number[] | null;
  /** Always empty: only the chosen token's log-probability is available. */
  top_logprobs: Array<{ token: string; logprob: number; bytes: number[] | null }>;
}

export interface ChoiceLogprobs {
  content: ChatCompletionTokenLogprob[] | null;
  refusal: null;
}

export interface ChatCompletionMessage {
  role: "assistant";
  content: string;
  refusal: null;
}

export interface ChatCompletionChoice {
  index: number;
  message: ChatCompletionMessage;
  finish_reason: FinishReason;
  logprobs: ChoiceLogprobs | null;
}

export interface ChatCompletion {
  id: string;
  object: "chat.completion";
  created: number;
  model: string;
  choices: ChatCompletionChoice[];
  usage: CompletionUsage;
  system_fingerprint: string;
}

export interface ChatCompletionChunkChoice {
  index: number;
  delta: { role?: "assistant"; content?: string };
  finish_reason: FinishReason | null;
  logprobs: ChoiceLogprobs | null;
}

export interface ChatCompletionChunk {
  id: string;
  object: "chat.completion.chunk";
  created: number;
  model: string;
  /** Empty in the usage-only chunk sent last when stream_options.include_usage is set. */
  choices: ChatCompletionChunkChoice[];
  /** null except on that last chunk. */
  usage?: CompletionUsage | null;
  system_fingerprint: string;
}

export interface CompletionCreateParamsBase extends SamplingParams {
  /** A string (tokenized with the model's special tokens, e.g. BOS), a one-element list, or token ids. */
  prompt: string | [string] | number[];
  model?: string;
  /** Default 16, as in OpenAI's completions API. */
  max_tokens?: number | null;
  /** 0 (or absent with logprobs wanted): the chosen token's log-probability; above 0 is refused. */
  logprobs?: number | null;
  echo?: false | null;
  stream?: boolean | null;
  stream_options?: { include_usage?: boolean } | null;
  user?: string;
}

export interface CompletionCreateParamsStreaming extends CompletionCreateParamsBase {
  stream: true;
}

export interface CompletionCreateParamsNonStreaming extends CompletionCreateParamsBase {
  stream?: false | null;
}

export type CompletionCreateParams = CompletionCreateParamsStreaming | CompletionCreateParamsNonStreaming;

export interface CompletionLogprobs {
  tokens: string[];
  token_logprobs: number[];
  /** null per token: alternatives are not available. */
  top_logprobs: null[];
  text_offset: number[];
}

export interface CompletionChoice {
  index: number;
  text: string;
  finish_reason: FinishReason | null;
  logprobs: CompletionLogprobs | null;
}

/** A whole completion, and (with stream: true) each chunk: OpenAI uses one shape for both. */
export interface Completion {
  id: string;
  object: "text_completion";
  created: number;
  model: string;
  choices: CompletionChoice[];
  usage?: CompletionUsage | null;
  system_fingerprint: string;
}

/**
 * Chat templates, rendered with @huggingface/jinja the way transformers' `apply_chat_template` renders
 * them: same variables, same `raise_exception`, and the result is meant to be tokenized WITHOUT adding
 * special tokens again (templates write their own BOS, e.g. Llama 3's `{{ bos_token }}`).
 */
import { Template } from "@huggingface/jinja";
import { ChatTemplateError } from "./errors.ts";

/** One chat turn. Extra keys (tool_calls, reasoning_content, name, …) reach the template as-is. */
export interface ChatMessage {
  role: string;
  content: string | null;
  [key: string]: unknown;
}

export interface ChatTemplateOptions {
  /** End with the assistant header so the model writes the reply (transformers' add_generation_prompt). Default true. */
  addGenerationPrompt?: boolean;
  /** JSON-schema tool descriptions; templates see `tools` (None when absent, as in transformers). */
  tools?: unknown[];
  /** RAG documents; templates see `documents` (None when absent). */
  documents?: unknown[];
  /**
   * More template variables, as transformers' `**kwargs`: `enable_thinking: false` (Qwen3),
   * `date_string: "26 Jul 2024"` (Llama 3.1/3.2 templates that print today's date), …
   */
  extra?: Record<string, unknown>;
}

/**
 * The template used when a model ships none (stories260K, a bare SmolLM2 folder). Plain role-prefixed
 * lines, which base models have seen in ordinary text; the generation prompt is "Assistant:" with no
 * trailing space because both SentencePiece and byte-level BPE vocabularies carry the space on the next
 * word ("▁Hello", "ĠHello"). It starts with bos_token only when that variable is given, which Wisp does
 * exactly when `encode(text)` would itself add BOS (Llama 2 style), so the token ids match a plain
 * prompt. Example, system + user, add_generation_prompt:
 *
 *     <s>System: You are a storyteller.
 *     User: Tell me a story.
 *     Assistant:
 *
 * Without add_generation_prompt the last line is the last message followed by "\n".
 */
// No whitespace control ({%-) and the newline written as a Jinja string literal: trim_blocks/lstrip_blocks
// are on (as in transformers), and a raw newline beside a block tag would be eaten.
export const FALLBACK_CHAT_TEMPLATE =
  "{% if bos_token is defined and bos_token %}{{ bos_token }}{% endif %}" +
  "{% for message in messages %}{{ message.role | capitalize }}: {{ message.content }}{{ '\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}Assistant:{% endif %}";

/**
 * tokenizer_config.json's `chat_template` is a string, or (transformers ≥ 4.43) a list of
 * `{name, template}` with "default" and e.g. "tool_use". Like transformers: "tool_use" when tools are
 * given and it exists, else "default".
 */
export function pickChatTemplate(value: unknown, hasTools: boolean): string | undefined {
  if (typeof value === "string") return value;
  const named = new Map<string, string>();
  if (Array.isArray(value)) {
    for (const entry of value) {
      const { name, template } = (entry ?? {}) as { name?: unknown; template?: unknown };
      if (typeof name === "string" && typeof template === "string") named.set(name, template);
    }
  } else if (value !== null && typeof value === "object") {
    for (const [name, template] of Object.entries(value)) {
      if (typeof template === "string") named.set(name, template);
    }
  }
  if (hasTools && named.has("tool_use")) return named.get("tool_use");
  return named.get("default");
}

// The name we give the template's `raise_exception` after renaming it (see compileChatTemplate).
const RAISE = "__wisp_raise_exception";

/**
 * @huggingface/jinja declares its own `raise_exception` (throwing a plain Error) and refuses a second
 * declaration, so a caller cannot tell the template's deliberate refusal from a render bug. We rename
 * every identifier `raise_exception` in the parsed template and bind ours, which throws a typed error.
 */
function renameIdentifier(node: unknown, from: string, to: string, seen = new Set<object>()): void {
  if (node === null || typeof node !== "object" || seen.has(node)) return;
  seen.add(node);
  const record = node as Record<string, unknown>;
  if (record["type"] === "Identifier" && record["value"] === from) record["value"] = to;
  for (const child of Object.values(record)) renameIdentifier(child, from, to, seen);
}

export interface CompiledChatTemplate {
  readonly source: string;
  render(messages: ChatMessage[], options: ChatTemplateOptions, tokenVars: Record<string, unknown>): string;
}

export function compileChatTemplate(source: string): CompiledChatTemplate {
  let template: Template;
  try {
    template = new Template(source);
  } catch (cause) {
    throw new ChatTemplateError(
      `chat template does not parse: ${String(cause)}`,
      { raisedByTemplate: false },
      { cause },
    );
  }
  renameIdentifier(template.parsed, "raise_exception", RAISE);

  return {
    source,
    render(messages, options, tokenVars) {
      const variables: Record<string, unknown> = {
        ...tokenVars,
        messages,
        // transformers passes these even when unset (as None), so `tools is defined` is true there too.
        tools: options.tools ?? null,
        documents: options.documents ?? null,
        add_generation_prompt: options.addGenerationPrompt ?? true,
        ...options.extra,
        [RAISE]: (message: unknown) => {
          throw new ChatTemplateError(String(message), { raisedByTemplate: true });
        },
      };
      try {
        return template.render(variables);
      } catch (cause) {
        if (cause instanceof ChatTemplateError) throw cause;
        throw new ChatTemplateError(
          `chat template failed to render: ${String(cause)}`,
          { raisedByTemplate: false },
          { cause },
        );
      }
    },
  };
}

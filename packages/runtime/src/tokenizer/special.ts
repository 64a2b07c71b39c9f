/**
 * Which ids and strings are the model's special tokens (BOS, EOS, PAD, …), gathered from the several
 * Hugging Face files that each hold part of the answer.
 *
 * Sources, and why in this order:
 * - tokenizer_config.json names the tokens as strings (`"bos_token": "<s>"`, or the older AddedToken
 *   dict `{"content": "<s>", ...}`); it is the tokenizer's own view and what chat templates receive.
 * - generation_config.json / config.json give ids (`eos_token_id` may be a number or a list, e.g.
 *   Llama 3.1 stops on [128001, 128008, 128009]); they are what `generate()` stops on.
 * A folder may lack tokenizer_config.json (SmolLM2 here), so strings fall back to the id's token.
 */

export type JsonObject = Record<string, unknown>;

export interface SpecialTokenSources {
  tokenizerConfig?: JsonObject | undefined;
  config?: JsonObject | undefined;
  generationConfig?: JsonObject | undefined;
}

export interface SpecialTokens {
  bosToken: string | undefined;
  eosToken: string | undefined;
  unkToken: string | undefined;
  padToken: string | undefined;
  bosId: number | undefined;
  /** Deduplicated, generation_config first: any of them ends a generation. */
  eosIds: number[];
  /**
   * The special-token variables transformers hands to chat templates (its `special_tokens_map`): only
   * tokens that are set appear, so `{% if bos_token is defined %}` behaves as in Python.
   */
  templateVars: Record<string, string | string[]>;
}

/** `"<s>"`, `{"content": "<s>", ...}` or null → the token's text. */
export function tokenContent(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (value !== null && typeof value === "object") {
    const content = (value as JsonObject)["content"];
    if (typeof content === "string") return content;
  }
  return undefined;
}

/** `2`, `[128001, 128009]` or null → a list of ids. */
function idList(value: unknown): number[] {
  if (typeof value === "number" && Number.isInteger(value)) return [value];
  if (Array.isArray(value))
    return value.filter((v): v is number => typeof v === "number" && Number.isInteger(v));
  return [];
}

const TEMPLATE_TOKEN_KEYS = [
  "bos_token",
  "eos_token",
  "unk_token",
  "sep_token",
  "pad_token",
  "cls_token",
  "mask_token",
] as const;

export function resolveSpecialTokens(
  sources: SpecialTokenSources,
  tokenToId: (token: string) => number | undefined,
  idToToken: (id: number) => string | undefined,
): SpecialTokens {
  const tc = sources.tokenizerConfig;
  const gen = sources.generationConfig;
  const cfg = sources.config;

  // With a tokenizer_config, its word is final even when it says null (Qwen3 has no BOS although its
  // config.json names one); without it, the configs' ids are all we know.
  const named = (key: string, fallbackIds: number[]): string | undefined => {
    if (tc && key in tc) return tokenContent(tc[key]);
    const id = fallbackIds[0];
    return id === undefined ? undefined : idToToken(id);
  };

  const configBosIds = [...idList(gen?.["bos_token_id"]), ...idList(cfg?.["bos_token_id"])];
  const configEosIds = [...idList(gen?.["eos_token_id"]), ...idList(cfg?.["eos_token_id"])];
  const configPadIds = [...idList(gen?.["pad_token_id"]), ...idList(cfg?.["pad_token_id"])];

  const bosToken = named("bos_token", configBosIds);
  const eosToken = named("eos_token", configEosIds);
  const unkToken = named("unk_token", []);
  const padToken = named("pad_token", configPadIds);

  const bosId = (bosToken === undefined ? undefined : tokenToId(bosToken)) ?? configBosIds[0];
  const eosIds = [...configEosIds];
  const eosTokenId = eosToken === undefined ? undefined : tokenToId(eosToken);
  if (eosTokenId !== undefined) eosIds.push(eosTokenId);

  const templateVars: Record<string, string | string[]> = {};
  const resolved: Record<string, string | undefined> = {
    bos_token: bosToken,
    eos_token: eosToken,
    unk_token: unkToken,
    pad_token: padToken,
  };
  for (const key of TEMPLATE_TOKEN_KEYS) {
    const value = key in resolved ? resolved[key] : tokenContent(tc?.[key]);
    if (value !== undefined) templateVars[key] = value;
  }
  const additional = tc?.["additional_special_tokens"];
  if (Array.isArray(additional)) {
    const texts = additional.map(tokenContent).filter((t): t is string => t !== undefined);
    if (texts.length > 0) templateVars["additional_special_tokens"] = texts;
  }

  return { bosToken, eosToken, unkToken, padToken, bosId, eosIds: [...new Set(eosIds)], templateVars };
}

// <wisp-chat>: the embeddable chat element and the registry its instances share engines through.
export {
  type EngineFactory,
  type EngineLease,
  EngineRegistry,
  type EngineRegistryOptions,
  modelKey,
} from "./registry.ts";
export {
  DEFAULT_MAX_TOKENS,
  DEFAULT_TEMPERATURE,
  defineWispChat,
  errorSentence,
  sharedEngines,
  shortModelName,
  WispChatElement,
  type WispChatReplyDetail,
  type WispChatState,
} from "./wisp-chat.ts";

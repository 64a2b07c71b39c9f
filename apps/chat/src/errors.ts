// Errors as a person reads them: the SDK's sentence (errorSentence: its typed errors carry one), then
// what to do next. Never a stack trace.
import { errorSentence } from "@wisp/sdk";

export interface Explained {
  sentence: string;
  /** The next step, when the sentence does not already give one. */
  next: string;
  /** The error's class name (ModelFileError, …), for tests and styling. */
  name: string;
}

const NEXT: Record<string, string> = {
  WebGPUUnavailable: "Try Chrome or Edge 113+ on a desktop, with hardware acceleration on.",
  NetworkError: "Check the connection and try again, or load a model that is already downloaded.",
  ModelFileError:
    "Check that the folder or URL holds config.json, tokenizer.json, tokenizer_config.json and the .safetensors files (or one .gguf file).",
  IntegrityError: "Delete this model in Downloaded models and load it again.",
  UnsupportedArchitecture: "Pick a Llama, Qwen2 or Qwen3 model, such as one from the catalog.",
  QuotaExceeded: "Delete a downloaded model to free space, then load again.",
  DeviceLost: "Reload the page to restart the GPU, then load the model again.",
  ContextLengthExceeded: "Start a new chat, or lower Max tokens in Settings.",
  ChatTemplateError: "Try another model: this one's chat template could not be used.",
  InvalidRequestError: "Check the values in Settings.",
  OutOfMemory: "Close other GPU-heavy tabs or pick a smaller model.",
};

export function explain(error: unknown): Explained {
  const name = String((error as { name?: unknown } | null)?.name ?? "Error");
  let sentence = errorSentence(error);
  // Some browser errors spell their own name first ("TypeError: Failed to fetch").
  sentence = sentence.replace(/^(Something went wrong: )?[A-Z]\w*Error: /, "$1");
  let next = NEXT[name] ?? "Try again; if it keeps failing, reload the page or pick a smaller model.";
  if (/\btry\b/i.test(sentence) && name === "WebGPUUnavailable") next = "";
  if (/fetch|network/i.test(sentence) && !NEXT[name]) next = NEXT["NetworkError"]!;
  return { sentence, next, name };
}

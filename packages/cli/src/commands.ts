import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { tokenizerFromFolderFiles } from "@wisp/runtime";
import { folderSource } from "@wisp/runtime/node";
import {
  activationsOption,
  intOption,
  loadEngine,
  memoryReport,
  numberOption,
  quantOption,
  streamingOptions,
  tuneOption,
  tuneReport,
} from "./host.ts";

type Values = Record<string, string | boolean | undefined>;
const str = (v: Values, k: string) => v[k] as string | undefined;

export async function generate(v: Values): Promise<void> {
  const prompt = str(v, "prompt");
  if (prompt === undefined) throw new Error("--prompt is required (use --prompt '' to start from BOS)");
  const context = str(v, "context");
  const tokenizerDir = str(v, "tokenizer");
  const streaming = streamingOptions(str(v, "gpu-budget"), str(v, "stream-slots"));
  const engine = await loadEngine(str(v, "model"), {
    quant: quantOption(str(v, "quant"), "int4"),
    ...(context ? { contextLength: intOption(context, "context", 0) } : {}),
    ...(tokenizerDir ? { tokenizerSource: folderSource(tokenizerDir) } : {}),
    ...streaming,
    ...tuneOption(v),
    ...activationsOption(v.activations as string | undefined),
  });
  if (!engine.tokenizer) {
    throw new Error(
      "the model has no tokenizer (no tokenizer.json beside it, no tokenizer.ggml.* metadata in its GGUF): give one with --tokenizer <dir>",
    );
  }
  const promptIds = engine.tokenizer.encode(prompt);
  const json = v.json === true;
  const seed = str(v, "seed");
  const r = await engine.generate(promptIds, {
    maxTokens: intOption(str(v, "max-tokens"), "max-tokens", 256),
    temperature: numberOption(str(v, "temperature"), "temperature", 1),
    topK: intOption(str(v, "top-k"), "top-k", 0),
    topP: numberOption(str(v, "top-p"), "top-p", 1),
    ...(seed !== undefined ? { seed: intOption(seed, "seed", 0) } : {}),
    ...(json ? {} : { onToken: (t) => process.stdout.write(t.text) }),
  });
  if (json)
    process.stdout.write(`${JSON.stringify({ prompt_ids: r.promptIds, ids: r.ids, text: r.text })}\n`);
  else {
    process.stdout.write("\n");
    const s = r.timings;
    process.stderr.write(
      `[${r.usage.promptTokens} prompt tokens, ${r.usage.completionTokens} generated (${r.finishReason}); ` +
        `prefill ${s.prefillTokensPerSecond.toFixed(1)} tok/s, decode ${s.decodeTokensPerSecond.toFixed(1)} tok/s]\n`,
    );
  }
  // stderr only: the --json line on stdout stays the same contract with or without a budget.
  if (v.stats === true) process.stderr.write(`${memoryReport(engine)}\n${tuneReport(engine)}\n`);
}

export async function logits(v: Values): Promise<void> {
  const tokens = str(v, "tokens");
  if (!tokens) throw new Error("--tokens is required, e.g. --tokens 1,5,9");
  const ids = tokens.split(",").map((t) => intOption(t.trim(), "tokens", 0));
  const streaming = streamingOptions(str(v, "gpu-budget"), str(v, "stream-slots"));
  const engine = await loadEngine(str(v, "model"), {
    quant: quantOption(str(v, "quant"), "f32"),
    requireTokenizer: false,
    contextLength: Math.max(16, ids.length),
    ...streaming,
    ...activationsOption(str(v, "activations")),
  });
  for (const id of ids) {
    if (id >= engine.config.vocabSize)
      throw new RangeError(`token ${id} is outside the vocabulary (${engine.config.vocabSize})`);
  }
  const rows = await engine.logits(ids, { decode: v.decode === true });
  process.stdout.write(`${JSON.stringify({ logits: rows.map((r) => Array.from(r)) })}\n`);
  if (v.stats === true) process.stderr.write(`${memoryReport(engine)}\n`);
}

export async function template(v: Values): Promise<void> {
  const dir = str(v, "tokenizer");
  const file = str(v, "messages");
  if (!dir || !file) throw new Error("--tokenizer <dir> and --messages <file.json> are required");
  const tok = await tokenizerFromFolderFiles(async (name) =>
    readFile(join(dir, name), "utf8").catch(() => undefined),
  );
  const messages = JSON.parse(await readFile(file, "utf8"));
  if (!Array.isArray(messages)) throw new Error(`${file}: expected a JSON array of {role, content} messages`);
  const text = tok.applyChatTemplate(messages, { addGenerationPrompt: true });
  const ids = tok.encodeChat(messages, { addGenerationPrompt: true });
  process.stdout.write(`${JSON.stringify({ text, ids })}\n`);
}

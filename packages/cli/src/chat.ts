// An interactive terminal chat: the model's chat template (or the documented plain fallback),
// streamed tokens, Ctrl-C stops a reply, an empty line or /exit quits.
import { createInterface } from "node:readline/promises";
import type { ChatMessage } from "@wisp/runtime";
import { activationsOption, loadEngine, quantOption, streamingOptions, tuneOption } from "./host.ts";

type Values = Record<string, string | boolean | undefined>;

export async function chat(v: Values): Promise<void> {
  const streaming = streamingOptions(
    v["gpu-budget"] as string | undefined,
    v["stream-slots"] as string | undefined,
  );
  const engine = await loadEngine(v.model as string | undefined, {
    quant: quantOption(v.quant as string | undefined, "int4"),
    ...streaming,
    ...tuneOption(v),
    ...activationsOption(v.activations as string | undefined),
  });
  const tok = engine.tokenizer;
  if (!tok) throw new Error("the model folder has no tokenizer.json");
  const messages: ChatMessage[] = v.system ? [{ role: "system", content: v.system as string }] : [];
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  const s = engine.streamStats;
  const streamed = s ? `, ${s.streamedLayers} of ${engine.config.numLayers} layers streamed` : "";
  process.stdout.write(
    `wisp chat — ${engine.config.architecture}, ${engine.quant}${streamed}; empty line or /exit quits\n`,
  );
  for (;;) {
    const line = (await rl.question("> ")).trim();
    if (!line || line === "/exit") break;
    messages.push({ role: "user", content: line });
    const controller = new AbortController();
    const onSigint = () => controller.abort();
    process.once("SIGINT", onSigint);
    const r = await engine.generate(tok.encodeChat(messages), {
      maxTokens: 512,
      temperature: 0.7,
      topP: 0.95,
      signal: controller.signal,
      onToken: (t) => process.stdout.write(t.text),
    });
    process.off("SIGINT", onSigint);
    process.stdout.write(
      `\n[${r.usage.completionTokens} tokens, ${r.timings.decodeTokensPerSecond.toFixed(1)} tok/s]\n`,
    );
    messages.push({ role: "assistant", content: r.text });
  }
  rl.close();
}

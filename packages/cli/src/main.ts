// wisp — the Node host. A stable contract (scripts rely on it):
//   wisp generate --model <dir|url|gguf> --prompt <text> --max-tokens N --temperature T [--seed S]
//                 [--quant int4|f32] [--activations f32|q8] [--gpu-budget <size> [--stream-slots N]] [--stats]
//                 [--tune] [--json]
//   wisp logits --model <dir> --tokens 1,5,9 [--quant f32|int4] [--decode [--activations f32|q8]]
//               [--gpu-budget <size>] --json
//   wisp template --tokenizer <dir> --messages <file.json> --json
//   wisp chat --model <dir> [--gpu-budget <size>]
// Errors print one line to stderr and exit non-zero (2 for bad usage). --stats writes to stderr only:
// generate's --json line is the same with or without a budget.
import { parseArgs } from "node:util";
import { chat } from "./chat.ts";
import { generate, logits, template } from "./commands.ts";
import { UsageError } from "./host.ts";

const USAGE = `usage: wisp <generate|logits|template|chat> [options]
  generate --model <dir|url|file.gguf> --prompt <text> [--max-tokens N] [--temperature T] [--top-k K]
           [--top-p P] [--seed S] [--quant int4|f32] [--context N] [--tokenizer <dir>] [--json]
           [--activations f32|q8] [--gpu-budget <size> [--stream-slots N]] [--stats] [--tune]
           (a GGUF file's tokenizer comes from its own metadata; --tokenizer: a folder with
            tokenizer.json to use instead, e.g. for a GGUF without tokenizer metadata)
  logits   --model <dir> --tokens 1,5,9 [--quant f32|int4] [--decode [--activations f32|q8]]
           [--gpu-budget <size>] [--stats] --json
           (--decode: positions after the first through the decode step, teacher-forced, as
            generation computes them; default: all by prefill)
  template --tokenizer <dir> --messages <file.json> --json
  chat     --model <dir> [--quant int4|f32] [--activations f32|q8] [--system <text>] [--gpu-budget <size>]
  --gpu-budget: GPU memory for weights, KV cache and activations, in bytes or with a unit (512MB,
                1.5GiB, 300KB; KB/MB/GB decimal, KiB/MiB/GiB binary); layers that do not fit stream
                from host memory through --stream-slots GPU layer slots (default 2) every pass
  --activations: with INT4 weights, q8 rounds the decode matrix products' inputs to 8 bits per block
                of 32 (integer dot products: 14-19% shorter decode steps for 1B-8B shapes on an H200;
                outputs close to but not the same as f32, the default)
  --stats:      GPU memory, weight streaming and autotuning counters on stderr
  --tune:       autotune the decode kernels on this GPU first (generate, chat; at most 2 s the first
                time, then read from <cache dir>/tuning.json; same output). Off by default: its picks,
                timed kernel by kernel, never made the decode step faster on an H200 (--no-tune is
                accepted and is the default)`;

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  const { values } = parseArgs({
    args: rest,
    options: {
      model: { type: "string" },
      prompt: { type: "string" },
      "max-tokens": { type: "string" },
      temperature: { type: "string" },
      "top-k": { type: "string" },
      "top-p": { type: "string" },
      seed: { type: "string" },
      quant: { type: "string" },
      activations: { type: "string" },
      context: { type: "string" },
      tokens: { type: "string" },
      tokenizer: { type: "string" },
      messages: { type: "string" },
      system: { type: "string" },
      "gpu-budget": { type: "string" },
      "stream-slots": { type: "string" },
      stats: { type: "boolean", default: false },
      tune: { type: "boolean", default: false },
      "no-tune": { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      decode: { type: "boolean", default: false },
    },
    strict: true,
  });
  switch (command) {
    case "generate":
      return generate(values);
    case "logits":
      return logits(values);
    case "template":
      return template(values);
    case "chat":
      return chat(values);
    default:
      throw new UsageError(command ? `unknown command "${command}"\n${USAGE}` : USAGE);
  }
}

/** Exits once stdout and stderr are flushed (a pipe write is asynchronous in Node). */
function exit(code: number): void {
  clearInterval(keepAlive);
  let pending = 2;
  const done = () => --pending === 0 && process.exit(code);
  process.stdout.write("", done);
  process.stderr.write("", done);
}

// Dawn does not hold Node's event loop open while GPU work or a mapAsync is pending; without this the
// process can exit mid-generation once stdin closes (seen with `wisp chat` fed from a pipe).
const keepAlive = setInterval(() => {}, 1 << 30);

main(process.argv.slice(2)).then(
  () => exit(0),
  (e: unknown) => {
    const err = e as { name?: string; message?: string };
    const name = err?.name && err.name !== "Error" ? `${err.name}: ` : "";
    process.stderr.write(`wisp: ${name}${err?.message ?? String(e)}\n`);
    exit(e instanceof UsageError ? 2 : 1);
  },
);

// wisp — the Node host. A stable contract (scripts rely on it):
//   wisp generate --model <dir|url|gguf> --prompt <text> --max-tokens N --temperature T [--seed S]
//                 [--quant int4|f32] [--json]
//   wisp logits --model <dir> --tokens 1,5,9 [--quant f32|int4] --json
//   wisp template --tokenizer <dir> --messages <file.json> --json
//   wisp chat --model <dir>
// Errors print one line to stderr and exit non-zero.
import { parseArgs } from "node:util";
import { chat } from "./chat.ts";
import { generate, logits, template } from "./commands.ts";

const USAGE = `usage: wisp <generate|logits|template|chat> [options]
  generate --model <dir|url|file.gguf> --prompt <text> [--max-tokens N] [--temperature T] [--top-k K]
           [--top-p P] [--seed S] [--quant int4|f32] [--context N] [--tokenizer <dir>] [--json]
           (--tokenizer: tokenizer.json from another folder, e.g. for a GGUF file)
  logits   --model <dir> --tokens 1,5,9 [--quant f32|int4] --json
  template --tokenizer <dir> --messages <file.json> --json
  chat     --model <dir> [--quant int4|f32] [--system <text>]`;

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
      context: { type: "string" },
      tokens: { type: "string" },
      tokenizer: { type: "string" },
      messages: { type: "string" },
      system: { type: "string" },
      json: { type: "boolean", default: false },
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

export class UsageError extends Error {
  override name = "UsageError";
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

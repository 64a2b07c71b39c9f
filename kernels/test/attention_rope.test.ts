import { attentionRopeCases } from "./cases/attention_rope.ts";
import { runCases } from "./harness.ts";

runCases(attentionRopeCases);

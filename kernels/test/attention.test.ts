import { attentionCases } from "./cases/attention.ts";
import { runCases } from "./harness.ts";

runCases(attentionCases);

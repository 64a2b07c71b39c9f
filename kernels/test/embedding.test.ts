import { embeddingCases } from "./cases/embedding.ts";
import { runCases } from "./harness.ts";

runCases(embeddingCases);

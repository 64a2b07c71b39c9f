export * from "./config.ts";
export * from "./errors.ts";
export * from "./loader/index.ts";
export * from "./tokenizer/index.ts";

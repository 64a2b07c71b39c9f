export * from "./config.ts";
export * from "./device.ts";
export * from "./engine/engine.ts";
export * from "./engine/stop.ts";
export * from "./errors.ts";
export * from "./loader/index.ts";
export * from "./model/linear.ts";
export * from "./tokenizer/index.ts";

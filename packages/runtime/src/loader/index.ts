// The loader's browser-safe public surface (node-files.ts is deliberately absent: Node hosts import
// it by path).

export * from "./gguf.ts";
export * from "./gguf-map.ts";
export * from "./model.ts";
export * from "./safetensors.ts";
export * from "./source.ts";
export * from "./tensor.ts";
export * from "./url-source.ts";

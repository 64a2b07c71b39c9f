// Typed errors. Every error Wisp raises on purpose is a WispError with a stable `name` and `code`.
// Why not rely on `instanceof` across the worker boundary: structured cloning (postMessage) keeps only
// `message` and a standard `name` of an Error (a custom class name becomes "Error"; own properties
// such as `code` and `details` are dropped), and Comlink's default throw handler keeps only
// {name, message, stack}. So the worker sends `serializeError(e)` (a plain object) and the main
// thread rebuilds the class with `deserializeError`; `toWispError` also recognises an Error whose
// `name` survived on its own.

/** Structured-cloneable detail values (no functions, classes or typed arrays). */
export type DetailValue = string | number | boolean | null | DetailValue[] | { [key: string]: DetailValue };
export type ErrorDetails = { [key: string]: DetailValue };

export const ERROR_CODES = {
  WispError: "INTERNAL",
  UnsupportedArchitecture: "UNSUPPORTED_ARCHITECTURE",
  ModelFileError: "MODEL_FILE",
  IntegrityError: "INTEGRITY",
  NetworkError: "NETWORK",
  QuotaExceeded: "QUOTA_EXCEEDED",
  DeviceLost: "DEVICE_LOST",
  ContextLengthExceeded: "CONTEXT_LENGTH_EXCEEDED",
  Aborted: "ABORTED",
  WebGPUUnavailable: "WEBGPU_UNAVAILABLE",
  ChatTemplateError: "CHAT_TEMPLATE",
} as const;

export type WispErrorName = keyof typeof ERROR_CODES;
export type WispErrorCode = (typeof ERROR_CODES)[WispErrorName];

export class WispError extends Error {
  override name: WispErrorName = "WispError";
  code: WispErrorCode = "INTERNAL";
  details?: ErrorDetails;

  constructor(message: string, details?: ErrorDetails, options?: { cause?: unknown }) {
    super(message, options);
    if (details !== undefined) this.details = details;
  }
}

/** config.json / GGUF metadata describe a model Wisp cannot run (the message says what). */
export class UnsupportedArchitecture extends WispError {
  override name = "UnsupportedArchitecture" as const;
  override code = "UNSUPPORTED_ARCHITECTURE" as const;
}

/**
 * A model file is missing, corrupt, truncated or inconsistent. `details.kind` says which:
 * "missing_file" | "corrupt" | "truncated" | "bad_dtype" | "shape_mismatch" | "missing_tensor" |
 * "non_finite"; `details.file` / `details.tensor` say where.
 */
export class ModelFileError extends WispError {
  override name = "ModelFileError" as const;
  override code = "MODEL_FILE" as const;
}

/** Downloaded bytes do not match the expected hash. */
export class IntegrityError extends WispError {
  override name = "IntegrityError" as const;
  override code = "INTEGRITY" as const;
}

/** A fetch failed (network down, HTTP 5xx, server refused); retrying may help, unlike ModelFileError. */
export class NetworkError extends WispError {
  override name = "NetworkError" as const;
  override code = "NETWORK" as const;
}

export class QuotaExceeded extends WispError {
  override name = "QuotaExceeded" as const;
  override code = "QUOTA_EXCEEDED" as const;
}

export class DeviceLost extends WispError {
  override name = "DeviceLost" as const;
  override code = "DEVICE_LOST" as const;
}

export class ContextLengthExceeded extends WispError {
  override name = "ContextLengthExceeded" as const;
  override code = "CONTEXT_LENGTH_EXCEEDED" as const;
}

export class Aborted extends WispError {
  override name = "Aborted" as const;
  override code = "ABORTED" as const;
}

export class WebGPUUnavailable extends WispError {
  override name = "WebGPUUnavailable" as const;
  override code = "WEBGPU_UNAVAILABLE" as const;
}

/**
 * The chat template rejected the conversation: its `raise_exception(...)` was called (e.g. "roles must
 * alternate user/assistant"), or it failed to parse/render. A bad request, not a broken model file.
 */
export class ChatTemplateError extends WispError {
  override name = "ChatTemplateError" as const;
  override code = "CHAT_TEMPLATE" as const;
  /** True when the template itself called raise_exception (the message is the template's text). */
  get raisedByTemplate(): boolean {
    return this.details?.raisedByTemplate === true;
  }
}

type WispErrorClass = new (
  message: string,
  details?: ErrorDetails,
  options?: { cause?: unknown },
) => WispError;

const CLASSES: Record<WispErrorName, WispErrorClass> = {
  WispError,
  UnsupportedArchitecture,
  ModelFileError,
  IntegrityError,
  NetworkError,
  QuotaExceeded,
  DeviceLost,
  ContextLengthExceeded,
  Aborted,
  WebGPUUnavailable,
  ChatTemplateError,
};

const BY_CODE = new Map<string, WispErrorClass>(
  Object.entries(ERROR_CODES).map(([name, code]) => [code, CLASSES[name as WispErrorName]]),
);

/** The plain-object form that crosses postMessage / Comlink intact. */
export interface SerializedError {
  __wispError: true;
  name: WispErrorName;
  code: WispErrorCode;
  message: string;
  details?: ErrorDetails;
  stack?: string;
}

export function isWispError(e: unknown): e is WispError {
  return e instanceof WispError;
}

export function isSerializedError(v: unknown): v is SerializedError {
  return (
    typeof v === "object" &&
    v !== null &&
    (v as { __wispError?: unknown }).__wispError === true &&
    typeof (v as { code?: unknown }).code === "string" &&
    typeof (v as { message?: unknown }).message === "string"
  );
}

export function serializeError(e: unknown): SerializedError {
  const w = toWispError(e);
  const out: SerializedError = { __wispError: true, name: w.name, code: w.code, message: w.message };
  // Round-trip through JSON so details are guaranteed cloneable even if a caller put odd values in.
  if (w.details !== undefined) out.details = JSON.parse(JSON.stringify(w.details)) as ErrorDetails;
  if (w.stack !== undefined) out.stack = w.stack;
  return out;
}

export function deserializeError(s: SerializedError): WispError {
  const Cls = BY_CODE.get(s.code) ?? WispError;
  const e = new Cls(s.message, s.details);
  if (s.stack !== undefined) e.stack = s.stack;
  return e;
}

/**
 * Anything thrown → a WispError: WispErrors pass through; serialized ones are rebuilt; Errors whose
 * `name` is a Wisp name (a clone that lost its class) or a DOM name with a Wisp meaning (AbortError,
 * QuotaExceededError) map to that class; everything else becomes a WispError with code INTERNAL.
 */
export function toWispError(e: unknown): WispError {
  if (e instanceof WispError) return e;
  if (isSerializedError(e)) return deserializeError(e);
  const name = typeof e === "object" && e !== null ? (e as { name?: unknown }).name : undefined;
  const message =
    typeof e === "object" && e !== null && typeof (e as { message?: unknown }).message === "string"
      ? (e as { message: string }).message
      : String(e);
  let Cls: WispErrorClass = WispError;
  if (typeof name === "string" && name in CLASSES) Cls = CLASSES[name as WispErrorName];
  else if (name === "AbortError") Cls = Aborted;
  else if (name === "QuotaExceededError") Cls = QuotaExceeded;
  const details: ErrorDetails | undefined =
    Cls === WispError && typeof name === "string" ? { originalName: name } : undefined;
  const w = new Cls(message, details, { cause: e });
  const stack = typeof e === "object" && e !== null ? (e as { stack?: unknown }).stack : undefined;
  if (typeof stack === "string") w.stack = stack;
  return w;
}

// The SDK raises the runtime's typed errors (they cross the worker boundary by name and code) plus one
// of its own for requests it refuses before anything reaches the worker. InvalidRequestError is not a
// WispError subclass because the runtime's error names are a closed set; it never crosses the boundary.

export {
  Aborted,
  ChatTemplateError,
  ContextLengthExceeded,
  DeviceLost,
  ERROR_CODES,
  IntegrityError,
  isWispError,
  ModelFileError,
  NetworkError,
  QuotaExceeded,
  UnsupportedArchitecture,
  WebGPUUnavailable,
  WispError,
  type WispErrorCode,
  type WispErrorName,
} from "@wisp/runtime";

/** A request the SDK does not support or that is malformed; `param` names the offending field (as OpenAI's 400s do). */
export class InvalidRequestError extends Error {
  override name = "InvalidRequestError" as const;
  readonly code = "INVALID_REQUEST" as const;
  constructor(
    message: string,
    readonly param: string,
  ) {
    super(message);
  }
}

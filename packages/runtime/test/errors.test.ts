import { describe, expect, it } from "vitest";
import {
  Aborted,
  ContextLengthExceeded,
  DeviceLost,
  deserializeError,
  ERROR_CODES,
  IntegrityError,
  isSerializedError,
  ModelFileError,
  NetworkError,
  QuotaExceeded,
  serializeError,
  toWispError,
  UnsupportedArchitecture,
  WebGPUUnavailable,
  WispError,
} from "../src/errors.ts";

const ALL = [
  UnsupportedArchitecture,
  ModelFileError,
  IntegrityError,
  NetworkError,
  QuotaExceeded,
  DeviceLost,
  ContextLengthExceeded,
  Aborted,
  WebGPUUnavailable,
];

describe("errors", () => {
  it("every class has a stable name and code and is an Error", () => {
    for (const Cls of ALL) {
      const e = new Cls("boom", { file: "x" });
      expect(e).toBeInstanceOf(WispError);
      expect(e).toBeInstanceOf(Error);
      expect(e.name).toBe(Cls.name);
      expect(e.code).toBe(ERROR_CODES[e.name]);
      expect(e.message).toBe("boom");
      expect(e.details).toEqual({ file: "x" });
    }
    expect(new Set(Object.values(ERROR_CODES)).size).toBe(Object.keys(ERROR_CODES).length);
  });

  it("serialized errors survive structured cloning (the worker boundary) with class, code and details", () => {
    for (const Cls of ALL) {
      const e = new Cls("bad tensor", { tensor: "model.norm.weight", shape: [64], nested: { ok: true } });
      const cloned = structuredClone(serializeError(e));
      expect(isSerializedError(cloned)).toBe(true);
      const back = deserializeError(cloned);
      expect(back).toBeInstanceOf(Cls);
      expect(back.name).toBe(e.name);
      expect(back.code).toBe(e.code);
      expect(back.message).toBe("bad tensor");
      expect(back.details).toEqual(e.details);
      // and through JSON too (postMessage to a page, logs)
      expect(deserializeError(JSON.parse(JSON.stringify(serializeError(e))))).toBeInstanceOf(Cls);
    }
  });

  it("a raw structured clone loses code and details (why serializeError exists)", () => {
    const cloned = structuredClone(new ModelFileError("x", { tensor: "t" })) as unknown as Record<
      string,
      unknown
    >;
    expect(cloned["code"]).toBeUndefined();
  });

  it("toWispError maps foreign errors", () => {
    const w = new DeviceLost("gone");
    expect(toWispError(w)).toBe(w);
    expect(toWispError(new DOMException("stop", "AbortError"))).toBeInstanceOf(Aborted);
    expect(toWispError(new DOMException("full", "QuotaExceededError"))).toBeInstanceOf(QuotaExceeded);
    // What Comlink's default throw handler delivers: a plain Error with the name kept.
    const named = Object.assign(new Error("ctx"), { name: "ContextLengthExceeded" });
    expect(toWispError(named)).toBeInstanceOf(ContextLengthExceeded);
    const other = toWispError(new TypeError("oops"));
    expect(other.code).toBe("INTERNAL");
    expect(other.message).toBe("oops");
    expect(other.details).toEqual({ originalName: "TypeError" });
    expect(toWispError("just a string").message).toBe("just a string");
    expect(toWispError(serializeError(new IntegrityError("hash")))).toBeInstanceOf(IntegrityError);
  });

  it("deserializing an unknown code gives a base WispError instead of throwing", () => {
    const e = deserializeError({
      __wispError: true,
      name: "WispError",
      code: "NOPE" as "INTERNAL",
      message: "m",
    });
    expect(e).toBeInstanceOf(WispError);
    expect(e.message).toBe("m");
  });
});

// probeDevice's contract: the request it sends (validated before any worker starts), and the worker
// side on a real device (Dawn; SwiftShader without a GPU), across a real Comlink boundary where Node
// allows: stories260K's config.json, given or read from the model's files, gives an estimate; progress
// crosses; a config Wisp cannot run is a typed error on the page's side.
import { readFileSync } from "node:fs";
import { nodeDevice } from "@wisp/gpu-test/node";
import { afterAll, describe, expect, it } from "vitest";
import { LocalWispBackend } from "../src/backend/index.ts";
import { probeRequest } from "../src/client/probe.ts";
import { InvalidRequestError, UnsupportedArchitecture } from "../src/errors.ts";
import type { ProbeProgress } from "../src/protocol.ts";
import { connectEndpoint, exposeBackend } from "../src/transport.ts";

const hf = new URL("../../../../shared/models/stories260K/hf", import.meta.url).pathname;
const configJson = JSON.parse(readFileSync(`${hf}/config.json`, "utf8")) as Record<string, unknown>;
const ports: MessagePort[] = [];
afterAll(() => {
  for (const p of ports) p.close();
});

describe("probeRequest", () => {
  it("takes exactly one of config and model; numbers must be positive", () => {
    expect(probeRequest({ config: configJson, budgetMs: 500 }, "http://x/")).toEqual({
      config: configJson,
      budgetMs: 500,
    });
    expect(probeRequest({ model: "/models/m/", contextLength: 256 }, "http://x/")).toEqual({
      model: { kind: "url", url: "http://x/models/m/" },
      contextLength: 256,
    });
    expect(probeRequest({ model: "org/name" }, "http://x/").model).toEqual({ kind: "hf", id: "org/name" });
    expect(probeRequest({ config: configJson, activations: "q8" }, "http://x/").activations).toBe("q8");
    for (const bad of [
      {},
      { config: configJson, model: "org/name" },
      { config: [] as unknown as Record<string, unknown> },
      { config: configJson, budgetMs: 0 },
      { config: configJson, contextLength: 1.5 },
      { config: configJson, gpuMemoryBudget: -1 },
      { config: configJson, activations: "int8" as "q8" },
    ]) {
      expect(() => probeRequest(bad, "http://x/"), JSON.stringify(bad)).toThrow(InvalidRequestError);
    }
  });
});

describe("probe across the worker boundary (stories260K's shapes, Dawn)", () => {
  const connect = async () => {
    const { device } = await nodeDevice();
    const { port1, port2 } = new MessageChannel();
    ports.push(port1, port2);
    exposeBackend(new LocalWispBackend({ device, store: false }), port1);
    return connectEndpoint(port2);
  };

  it("config given: an estimate with progress, nothing loaded", async () => {
    const { api } = await connect();
    const events: ProbeProgress[] = [];
    const r = await api.probe({ config: configJson, budgetMs: 300, contextLength: 128 }, (p) => {
      events.push(p);
    });
    await new Promise((done) => setTimeout(done, 20)); // progress messages are fire-and-forget
    console.log(
      `stories260K probe: ${r.decodeTokS?.toFixed(2)} tok/s (${r.method}); ${r.verdict}: ${r.reason}; ` +
        `build ${r.buildMs.toFixed(0)} ms, measure ${r.measureMs.toFixed(0)} ms`,
    );
    expect(r.decodeTokS).toBeGreaterThan(0);
    expect(r).toMatchObject({
      verdict: "fits",
      fits: true,
      layersMeasured: [1, 3],
      contextLength: 128,
      architecture: "LlamaForCausalLM",
      adapter: "device given by the host",
    });
    expect(events[0]).toEqual({ phase: "config", fraction: 0 });
    expect(events.map((e) => e.phase)).toContain("measure");
    expect(events.at(-1)).toEqual({ phase: "done", fraction: 1 });
    expect((await api.stats()).loaded).toBe(false);
  });

  it("config read from the model's files; an unsupported architecture is a typed error", async () => {
    const { device } = await nodeDevice();
    // In-thread: Node's structured clone does not carry File objects across a MessageChannel (browsers do).
    const local = new LocalWispBackend({ device, store: false });
    const file = new File([readFileSync(`${hf}/config.json`)], "config.json");
    const r = await local.probe({
      model: { kind: "files", files: [file] },
      budgetMs: 200,
      contextLength: 64,
    });
    expect(r.decodeTokS).toBeGreaterThan(0);
    expect(r.contextLength).toBe(64);
    const { api } = await connect();
    const mistral = { ...configJson, architectures: ["MistralForCausalLM"], model_type: "mistral" };
    const error = await api.probe({ config: mistral }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnsupportedArchitecture);
    expect((error as UnsupportedArchitecture).message).toMatch(/sliding-window/);
  });
});

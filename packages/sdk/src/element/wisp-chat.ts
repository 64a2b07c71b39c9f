// <wisp-chat model="org/name" system-prompt="…" max-tokens="256" temperature="0.7">: a small chat box
// any page can embed. Shadow DOM (styles.ts: CSS custom properties, parts, light/dark), one shared
// engine per model (registry.ts), streamed replies with a Stop button, load progress, tokens/s, and
// errors as the sentence the SDK's typed errors carry. Defined only where there is a DOM.
import { type CreateEngineOptions, createEngine } from "../client/create.ts";
import type { WispEngine } from "../client/engine.ts";
import type { ChatCompletionChunk, ChatCompletionMessageParam, FinishReason } from "../openai/types.ts";
import type { LoadProgress, ModelInfo } from "../protocol.ts";
import { type EngineLease, EngineRegistry } from "./registry.ts";
import { STYLES } from "./styles.ts";

/** The engines every <wisp-chat> on the page shares: one per model. `created` counts loads. */
export const sharedEngines = new EngineRegistry({
  create: (options: CreateEngineOptions) => createEngine(options),
});

export type WispChatState = "idle" | "loading" | "ready" | "replying" | "error";

/** `wisp-chat-reply`'s detail: one finished (or stopped) reply. */
export interface WispChatReplyDetail {
  text: string;
  finishReason: FinishReason;
  completionTokens: number;
  /** Decode speed as the engine measured it (or as the page saw the tokens arrive). */
  tokensPerSecond: number | undefined;
}

export const DEFAULT_MAX_TOKENS = 256;
export const DEFAULT_TEMPERATURE = 0.7;

const PHASES: Record<string, string> = {
  download: "Downloading the weights",
  quantize: "Preparing the weights",
  compile: "Compiling GPU kernels",
  warmup: "Warming up",
};

/** What people read for an error: its message (the SDK's errors are sentences), never a stack. */
export function errorSentence(error: unknown): string {
  let text = "";
  if (error instanceof Error || (typeof error === "object" && error !== null && "message" in error)) {
    text = String((error as { message: unknown }).message ?? "");
  } else if (typeof error === "string") {
    text = error;
  }
  text = text.trim();
  if (!text) return "Something went wrong.";
  const named = (error as { name?: unknown } | null)?.name;
  const ours =
    typeof named === "string" &&
    (named === "InvalidRequestError" || typeof (error as { code?: unknown }).code === "string");
  // Errors that are not the SDK's (a TypeError from fetch, …) get a lead-in so they read as a sentence.
  if (!ours && error instanceof Error && !(error as { code?: unknown }).code) {
    text = `Something went wrong: ${text}`;
  }
  text = text.charAt(0).toUpperCase() + text.slice(1);
  return /[.!?…]$/.test(text) ? text : `${text}.`;
}

/** A model string as a short label: "org/name" stays, a folder URL keeps its last two segments. */
export function shortModelName(model: string): string {
  const text = model.trim();
  if (!/^(?:[a-z][a-z\d+.-]*:|\/|\.\.?\/)/i.test(text)) return text;
  const parts = text
    .replace(/[?#].*$/, "")
    .split("/")
    .filter((p) => p && p !== "." && p !== "..");
  return parts.slice(-2).join("/") || text;
}

function readNumber(value: string | null, fallback: number, ok: (n: number) => boolean): number {
  if (value === null || value.trim() === "") return fallback;
  const n = Number(value);
  return Number.isFinite(n) && ok(n) ? n : fallback;
}

/** The loading line under the progress bar. */
export function formatProgress(p: LoadProgress | undefined): string {
  if (!p) return "Loading the model…";
  const phase = PHASES[p.phase] ?? `Loading (${p.phase})`;
  if (p.phase === "download" && p.total > 0) {
    const mb = (n: number) => (n / 1e6).toFixed(1);
    return `${phase}: ${mb(p.loaded)} of ${mb(p.total)} MB`;
  }
  return `${phase}: ${Math.round(Math.min(1, Math.max(0, p.fraction)) * 100)}%`;
}

const TEMPLATE = `
<style>${STYLES}</style>
<section class="box" part="box" data-state="idle" aria-labelledby="title">
  <header part="header">
    <div class="title" id="title" part="title"><span class="dot" aria-hidden="true"></span><slot name="title">Chat</slot></div>
    <span class="model" part="model"></span>
  </header>
  <div class="loading" part="loading" hidden>
    <label for="progress" id="phase"></label>
    <progress id="progress" part="progress" max="1"></progress>
  </div>
  <p class="error" part="error" role="alert"></p>
  <div class="log" part="log" role="log" aria-live="polite" aria-label="Conversation" tabindex="0">
    <p class="empty">Ask something to start. Replies are written by a model running in your browser.</p>
  </div>
  <form part="form">
    <label for="input" part="label">Message</label>
    <div class="row">
      <textarea id="input" part="input" rows="2" aria-describedby="hint" placeholder="Ask something…"></textarea>
      <button type="submit" part="send" data-action="send" disabled>Send</button>
    </div>
    <p class="hint" part="hint"><span id="hint"><kbd>Enter</kbd> to send, <kbd>Shift</kbd>+<kbd>Enter</kbd> for a new line</span><span class="status" part="status" role="status"></span></p>
  </form>
</section>`;

let template: HTMLTemplateElement | undefined;

// Node, SSR and workers have no HTMLElement: the class still exists there (never instantiated).
const ElementBase = (globalThis.HTMLElement ?? class {}) as typeof HTMLElement;

interface MessageView {
  root: HTMLElement;
  bubble: HTMLElement;
  meta: HTMLElement;
  error: HTMLElement;
}

export class WispChatElement extends ElementBase {
  static readonly observedAttributes = ["model", "system-prompt", "max-tokens", "temperature", "placeholder"];

  private readonly root: ShadowRoot;
  private readonly box: HTMLElement;
  private readonly modelLabel: HTMLElement;
  private readonly loading: HTMLElement;
  private readonly phase: HTMLElement;
  private readonly progress: HTMLProgressElement;
  private readonly error: HTMLElement;
  private readonly log: HTMLElement;
  private readonly empty: HTMLElement;
  private readonly input: HTMLTextAreaElement;
  private readonly button: HTMLButtonElement;
  private readonly status: HTMLElement;

  private connected = false;
  private lease: EngineLease | undefined;
  private loaded: WispEngine | undefined;
  private controller: AbortController | undefined;
  private history: ChatCompletionMessageParam[] = [];
  private current: WispChatState = "idle";
  /** Whether the log follows new text (true until the reader scrolls up). */
  private pinned = true;

  constructor() {
    super();
    if (!template) {
      template = document.createElement("template");
      template.innerHTML = TEMPLATE;
    }
    this.root = this.attachShadow({ mode: "open" });
    this.root.append(template.content.cloneNode(true));
    const $ = <T extends HTMLElement>(selector: string) => this.root.querySelector(selector) as T;
    this.box = $(".box");
    this.modelLabel = $(".model");
    this.loading = $(".loading");
    this.phase = $("#phase");
    this.progress = $("progress");
    this.error = $(".box > .error");
    this.log = $(".log");
    this.empty = $(".empty");
    this.input = $("textarea");
    this.button = $("button");
    this.status = $(".status");

    this.root.querySelector("form")!.addEventListener("submit", (event) => {
      event.preventDefault();
      if (this.current === "replying") this.stop();
      else void this.send();
    });
    this.log.addEventListener("scroll", () => {
      this.pinned = this.nearBottom();
    });
    // A resized log (a narrower page re-wraps the text) keeps a pinned log at its end.
    if (typeof ResizeObserver !== "undefined") {
      new ResizeObserver(() => {
        if (this.pinned) this.scrollToEnd();
      }).observe(this.log);
    }
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && this.current === "replying") {
        event.preventDefault();
        this.stop();
        return;
      }
      if (event.key !== "Enter" || event.shiftKey || event.isComposing) return;
      if (event.altKey || event.ctrlKey || event.metaKey) return;
      event.preventDefault();
      if (this.current !== "replying") void this.send();
    });
  }

  // ---- attributes as properties ----

  /** A Hugging Face id, a model folder URL or a .gguf URL (required). */
  get model(): string {
    return this.getAttribute("model") ?? "";
  }
  set model(value: string) {
    this.setAttribute("model", value);
  }
  get systemPrompt(): string {
    return this.getAttribute("system-prompt") ?? "";
  }
  set systemPrompt(value: string) {
    if (value) this.setAttribute("system-prompt", value);
    else this.removeAttribute("system-prompt");
  }
  /** max_tokens of each reply (default 256; invalid values fall back to it). */
  get maxTokens(): number {
    return Math.floor(
      readNumber(this.getAttribute("max-tokens"), DEFAULT_MAX_TOKENS, (n) => n >= 1 && n <= 1e6),
    );
  }
  set maxTokens(value: number) {
    this.setAttribute("max-tokens", String(value));
  }
  /** Sampling temperature 0..2 (default 0.7; 0 is greedy). */
  get temperature(): number {
    return readNumber(this.getAttribute("temperature"), DEFAULT_TEMPERATURE, (n) => n >= 0 && n <= 2);
  }
  set temperature(value: number) {
    this.setAttribute("temperature", String(value));
  }

  /** idle (no model), loading, ready, replying, error (the model could not be loaded). */
  get state(): WispChatState {
    return this.current;
  }
  /** The loaded engine (shared with every <wisp-chat> naming the same model), once ready. */
  get engine(): WispEngine | undefined {
    return this.loaded;
  }
  /** The conversation so far (user and assistant turns; the system prompt is added per request). */
  get messages(): ChatCompletionMessageParam[] {
    return this.history.map((m) => ({ ...m }));
  }

  // ---- lifecycle ----

  connectedCallback(): void {
    // Properties set before the element was defined shadow the accessors: hand them to them.
    for (const prop of ["model", "systemPrompt", "maxTokens", "temperature"] as const) {
      if (Object.hasOwn(this, prop)) {
        const value = (this as Record<string, unknown>)[prop];
        delete (this as Record<string, unknown>)[prop];
        (this as Record<string, unknown>)[prop] = value;
      }
    }
    this.connected = true;
    this.load();
  }

  disconnectedCallback(): void {
    this.connected = false;
    this.stop();
    // The registry keeps the engine a moment, so a move in the DOM (disconnect + connect) reuses it.
    this.lease?.release();
    this.lease = undefined;
    this.loaded = undefined;
  }

  attributeChangedCallback(name: string, _old: string | null, value: string | null): void {
    if (name === "placeholder") {
      if (value === null) this.input.placeholder = "Ask something…";
      else this.input.placeholder = value;
      return;
    }
    // system-prompt, max-tokens and temperature are read when a message is sent.
    if (name === "model" && this.connected) this.load();
  }

  // ---- actions ----

  /** Sends `text` (default: what is typed) as the next user message and streams the reply. */
  async send(text?: string): Promise<void> {
    const fromInput = text === undefined;
    const content = (text ?? this.input.value).trim();
    const engine = this.loaded;
    const lease = this.lease;
    if (!content || !engine || !lease || this.current !== "ready") return;
    if (fromInput) this.input.value = "";

    this.empty.hidden = true;
    this.addMessage("user").bubble.textContent = content;
    const reply = this.addMessage("assistant");
    reply.root.classList.add("streaming");
    const turn: ChatCompletionMessageParam = { role: "user", content };
    this.history.push(turn);
    const controller = new AbortController();
    this.controller = controller;
    this.setState("replying");

    let answer = "";
    let tokens = 0;
    let first = 0;
    let last = 0;
    let id = "";
    let finish: FinishReason = "stop";
    let usageTokens: number | undefined;
    try {
      const stream = await this.createStream(engine, controller.signal);
      for await (const chunk of stream as AsyncIterable<ChatCompletionChunk>) {
        id = chunk.id;
        const choice = chunk.choices[0];
        const delta = choice?.delta.content;
        if (delta) {
          answer += delta;
          reply.bubble.textContent = answer;
          last = performance.now();
          if (tokens++ === 0) first = last;
          if (this.pinned) this.scrollToEnd();
        }
        if (choice?.finish_reason) finish = choice.finish_reason;
        if (chunk.usage) usageTokens = chunk.usage.completion_tokens;
      }
      this.history.push({ role: "assistant", content: answer });
      const count = usageTokens ?? tokens;
      const tps = await this.tokensPerSecond(engine, id, tokens, first, last);
      const parts = [`${count} ${count === 1 ? "token" : "tokens"}`];
      if (tps !== undefined) parts.push(`${tps.toFixed(1)} tokens/s`);
      if (finish === "abort") parts.push("stopped");
      else if (finish === "length") parts.push("length limit");
      reply.meta.textContent = parts.join(" · ");
      reply.root.dataset["finish"] = finish;
      reply.root.dataset["tokens"] = String(count);
      if (tps !== undefined) reply.root.dataset["tokensPerSecond"] = tps.toFixed(2);
      if (this.lease === lease) this.setStatus(finish === "abort" ? "Stopped" : "Ready");
      this.dispatch<WispChatReplyDetail>("wisp-chat-reply", {
        text: answer,
        finishReason: finish,
        completionTokens: count,
        tokensPerSecond: tps,
      });
    } catch (error) {
      // The turn failed: it leaves the history, the sentence stays under it.
      const at = this.history.indexOf(turn);
      if (at >= 0) this.history.splice(at, 1);
      if (answer) reply.bubble.textContent = answer;
      else reply.bubble.remove();
      this.showError(reply.error, error);
      this.dispatch("wisp-chat-error", { error });
      if (this.lease === lease) this.setStatus("");
    } finally {
      reply.root.classList.remove("streaming");
      if (this.controller === controller) this.controller = undefined;
      if (this.lease === lease && (this.current as WispChatState) === "replying")
        this.setState("ready", false);
      if (this.pinned) this.scrollToEnd();
    }
  }

  /** Stops the reply being streamed (within one token); the text so far stays. */
  stop(): void {
    this.controller?.abort();
  }

  /** Forgets the conversation (the engine stays loaded). */
  clear(): void {
    this.stop();
    this.history = [];
    for (const m of [...this.log.querySelectorAll(".message")]) m.remove();
    this.empty.hidden = false;
  }

  // ---- internals ----

  private load(): void {
    const model = this.model.trim();
    if (this.lease && this.lease.model === model) return;
    this.stop();
    this.lease?.release();
    this.lease = undefined;
    this.loaded = undefined;
    this.error.textContent = "";
    delete this.error.dataset["errorName"];
    this.modelLabel.textContent = model ? shortModelName(model) : "";
    this.modelLabel.title = model;
    if (!model) {
      this.loading.hidden = true;
      this.setState("idle");
      this.setStatus("No model");
      this.error.textContent =
        'No model to load: set the model attribute to a Hugging Face id ("org/name") or a model folder URL.';
      return;
    }
    // The callback hears later progress only; what arrived before this claim is lease.progress.
    const lease: EngineLease = sharedEngines.acquire(model, (p) => {
      if (this.lease === lease) this.showProgress(p);
    });
    this.lease = lease;
    this.setState("loading");
    this.showProgress(lease.progress);
    lease.engine.then(
      (engine) => {
        if (this.lease !== lease) return;
        this.loaded = engine;
        this.loading.hidden = true;
        this.modelLabel.title = `${engine.model.model} (${engine.model.architecture}, ${engine.model.quant}, on ${engine.model.adapter})`;
        this.setState("ready");
        this.dispatch<{ model: ModelInfo }>("wisp-chat-ready", { model: engine.model });
      },
      (error: unknown) => {
        if (this.lease !== lease) return;
        this.loading.hidden = true;
        this.showError(this.error, error);
        this.setState("error");
        this.dispatch("wisp-chat-error", { error });
      },
    );
  }

  private async createStream(engine: WispEngine, signal: AbortSignal) {
    const system = this.systemPrompt.trim();
    for (;;) {
      const messages: ChatCompletionMessageParam[] = [
        ...(system ? [{ role: "system" as const, content: system }] : []),
        ...this.history,
      ];
      try {
        return await engine.chat.completions.create({
          messages,
          stream: true,
          stream_options: { include_usage: true },
          max_tokens: this.maxTokens,
          temperature: this.temperature,
          signal,
        });
      } catch (error) {
        // The conversation outgrew the context: forget the oldest exchange and try again.
        const next = this.history.findIndex((m, i) => i > 0 && m.role === "user");
        if ((error as { name?: string } | null)?.name !== "ContextLengthExceeded" || next <= 0) throw error;
        this.history.splice(0, next);
      }
    }
  }

  private async tokensPerSecond(
    engine: WispEngine,
    id: string,
    tokens: number,
    first: number,
    last: number,
  ): Promise<number | undefined> {
    // The engine's own decode timing when the last request it finished is this one (a shared engine
    // may have served another element's request since).
    const stats = await engine.stats().catch(() => undefined);
    const timing = stats?.lastRequest?.requestId === id ? stats.lastRequest.timings : undefined;
    if (timing && Number.isFinite(timing.decodeTokensPerSecond) && timing.decodeTokensPerSecond > 0) {
      return timing.decodeTokensPerSecond;
    }
    return tokens > 1 && last > first ? (tokens - 1) / ((last - first) / 1000) : undefined;
  }

  private setState(state: WispChatState, announce = true): void {
    this.current = state;
    this.box.dataset["state"] = state;
    const replying = state === "replying";
    this.log.setAttribute("aria-busy", String(replying));
    this.button.textContent = replying ? "Stop" : "Send";
    this.button.dataset["action"] = replying ? "stop" : "send";
    this.button.disabled = !(state === "ready" || replying);
    if (!announce) return;
    const text: Record<WispChatState, string> = {
      idle: "",
      loading: "Loading…",
      ready: "Ready",
      replying: "Replying…",
      error: "",
    };
    this.setStatus(text[state]);
  }

  private setStatus(text: string): void {
    if (this.status.textContent !== text) this.status.textContent = text;
  }

  private showProgress(p: LoadProgress | undefined): void {
    this.loading.hidden = false;
    this.phase.textContent = formatProgress(p);
    if (p) this.progress.value = Math.min(1, Math.max(0, p.fraction));
    else this.progress.removeAttribute("value");
  }

  private showError(target: HTMLElement, error: unknown): void {
    target.textContent = errorSentence(error);
    const name = (error as { name?: unknown } | null)?.name;
    if (typeof name === "string") target.dataset["errorName"] = name;
  }

  private addMessage(role: "user" | "assistant"): MessageView {
    const root = document.createElement("div");
    root.className = `message ${role}`;
    root.setAttribute("part", `message ${role}`);
    const who = document.createElement("span");
    who.className = "sr-only";
    who.textContent = role === "user" ? "You said:" : "Reply:";
    const bubble = document.createElement("p");
    bubble.className = "bubble";
    const meta = document.createElement("div");
    meta.className = "meta";
    meta.setAttribute("part", "meta");
    const error = document.createElement("p");
    error.className = "error";
    error.setAttribute("part", "error");
    root.append(who, bubble, meta, error);
    this.log.append(root);
    // A new message is the reader's own action (or its reply): show it.
    this.pinned = true;
    this.scrollToEnd();
    return { root, bubble, meta, error };
  }

  private nearBottom(): boolean {
    return this.log.scrollHeight - this.log.scrollTop - this.log.clientHeight < 48;
  }

  private scrollToEnd(): void {
    this.log.scrollTop = this.log.scrollHeight;
  }

  private dispatch<T>(type: string, detail: T): void {
    this.dispatchEvent(new CustomEvent<T>(type, { detail, bubbles: true, composed: true }));
  }
}

/**
 * Defines the element as `name` (default "wisp-chat"). Does nothing without a DOM or when the name is
 * already taken (a second copy of the SDK on the page); returns whether it defined it.
 */
export function defineWispChat(name = "wisp-chat"): boolean {
  const registry = (globalThis as { customElements?: CustomElementRegistry }).customElements;
  if (!registry || typeof globalThis.HTMLElement === "undefined" || registry.get(name)) return false;
  // One constructor can be defined once: other names get a subclass.
  registry.define(name, name === "wisp-chat" ? WispChatElement : class extends WispChatElement {});
  return true;
}

declare global {
  interface HTMLElementTagNameMap {
    "wisp-chat": WispChatElement;
  }
}

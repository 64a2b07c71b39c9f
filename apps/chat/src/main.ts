// Wisp Chat: the app. One page, no framework: state in this module, the DOM of index.html, and
// @wisp/sdk for everything that touches the model (createEngine in a worker, OpenAI-style streaming).
import "./style.css";
import type {
  ChatCompletionChunk,
  ChatCompletionMessageParam,
  FinishReason,
  LoadProgress,
  WispEngine,
} from "@wisp/sdk";
import {
  type CachedModel,
  cacheAvailable,
  cachedMatches,
  clearCached,
  deleteCached,
  listCached,
  persistStorage,
  storageNumbers,
} from "./cache.ts";
import {
  CATALOG,
  type CatalogEntry,
  contextFor,
  type DeviceInfo,
  estimate,
  type Fit,
  fitFor,
  modelInput,
} from "./catalog.ts";
import {
  type ChatMessage,
  type Conversation,
  deleteConversation,
  listConversations,
  newConversation,
  newId,
  type ReplyStats,
  saveConversation,
  titleFrom,
} from "./conversations.ts";
import { DeviceTests } from "./device-test.ts";
import { byId, copyText, fillIcons, h, icon } from "./dom.ts";
import { type Explained, explain } from "./errors.ts";
import { fromDirectoryHandle, fromFileList, modelFilesFrom, type PickedFile } from "./folder.ts";
import { formatBytes, formatCount, formatRate, formatWhen } from "./format.ts";
import { readDeviceInfo } from "./gpu.ts";
import { ICONS } from "./icons.ts";
import { loadModel, type ModelLoad } from "./loader.ts";
import { renderReply } from "./markdown.ts";
import { PHASES, phaseDetail, RateMeter } from "./progress.ts";
import {
  DEFAULTS,
  loadSettings,
  normalize,
  readPref,
  type Settings,
  saveSettings,
  writePref,
} from "./settings.ts";

// ---------------------------------------------------------------- state

type ModelSource =
  | { kind: "catalog"; entry: CatalogEntry }
  | { kind: "url"; input: string }
  | { kind: "files"; files: File[]; name: string };

interface ModelState {
  status: "none" | "loading" | "ready" | "error";
  source?: ModelSource;
  label: string;
  engine?: WispEngine;
  load?: ModelLoad;
  error?: Explained;
}

let settings: Settings = loadSettings();
let device: DeviceInfo | undefined;
let conversations: Conversation[] = [];
let current: Conversation = newConversation();
let model: ModelState = { status: "none", label: "" };
let generating: { controller: AbortController; conversationId: string; messageId: string } | undefined;
let cached: CachedModel[] = [];
/** Whether the log follows new text (until the reader scrolls up). */
let pinned = true;

// ---------------------------------------------------------------- elements

const app = byId("app");
const log = byId("log");
const input = byId<HTMLTextAreaElement>("composer-input");
const sendButton = byId<HTMLButtonElement>("send-button");
const composerNotice = byId("composer-notice");
const composerStatus = byId("composer-status");
const modelButton = byId<HTMLButtonElement>("model-button");
const modelsDialog = byId<HTMLDialogElement>("models-dialog");
const settingsDialog = byId<HTMLDialogElement>("settings-dialog");
const settingsForm = byId<HTMLFormElement>("settings-form");
const loadCard = byId("load-card");
const sidebarToggle = byId<HTMLButtonElement>("sidebar-toggle");
const scrim = byId("scrim");

// ---------------------------------------------------------------- helpers

function sourceLabel(source: ModelSource): string {
  if (source.kind === "catalog") return source.entry.name;
  if (source.kind === "files") return source.name;
  const text = source.input.trim();
  if (/^[\w.-]+\/[\w.-]+$/.test(text)) return text;
  const parts = text
    .replace(/[?#].*$/, "")
    .split("/")
    .filter((p) => p && !/^https?:$/.test(p));
  return parts.slice(-2).join("/") || text;
}

function sourceInput(source: ModelSource): string | File[] {
  if (source.kind === "catalog") return modelInput(source.entry);
  if (source.kind === "files") return source.files;
  return source.input.trim();
}

function canSend(): boolean {
  return model.status === "ready" && !generating;
}

let toastTimer: ReturnType<typeof setTimeout> | undefined;
function toast(text: string, action?: { label: string; run: () => void }): void {
  const box = byId("toast");
  const button = byId<HTMLButtonElement>("toast-action");
  byId("toast-text").textContent = text;
  button.hidden = !action;
  button.onclick = action
    ? () => {
        box.hidden = true;
        action.run();
      }
    : null;
  if (action) button.textContent = action.label;
  box.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    box.hidden = true;
  }, 6000);
}

// ---------------------------------------------------------------- theme

type Theme = "system" | "light" | "dark";
const THEME_NEXT: Record<Theme, Theme> = { system: "light", light: "dark", dark: "system" };

function applyTheme(theme: Theme): void {
  if (theme === "system") delete document.documentElement.dataset["theme"];
  else document.documentElement.dataset["theme"] = theme;
  writePref("theme", theme === "system" ? null : theme);
  byId("theme-icon").innerHTML = ICONS[theme === "system" ? "system" : theme === "light" ? "sun" : "moon"];
  const names: Record<Theme, string> = { system: "system", light: "light", dark: "dark" };
  const label = `Theme: ${names[theme]} (switch to ${names[THEME_NEXT[theme]]})`;
  byId("theme-label").textContent = label;
  byId("theme-button").title = label;
}

function currentTheme(): Theme {
  const t = readPref("theme");
  return t === "light" || t === "dark" ? t : "system";
}

// ---------------------------------------------------------------- sidebar (conversations)

function setSidebar(open: boolean): void {
  app.classList.toggle("sidebar-open", open);
  sidebarToggle.setAttribute("aria-expanded", String(open));
  scrim.hidden = !open;
  if (open) byId("new-chat").focus();
}

function renderConversationList(): void {
  const list = byId("conversation-list");
  list.replaceChildren();
  for (const c of conversations) {
    const active = c.id === current.id;
    const open = h(
      "button",
      { type: "button", class: "conversation-open", "aria-current": active ? "true" : undefined },
      h("span", { class: "conversation-title" }, c.title),
      h("span", { class: "conversation-when" }, formatWhen(c.updatedAt)),
    );
    open.addEventListener("click", () => {
      void selectConversation(c.id);
      if (app.classList.contains("sidebar-open")) setSidebar(false);
    });
    const remove = h(
      "button",
      { type: "button", class: "icon-btn conversation-delete", "aria-label": `Delete chat “${c.title}”` },
      icon("trash"),
    );
    remove.addEventListener("click", () => void removeConversation(c));
    list.append(h("li", { class: active ? "active" : undefined }, open, remove));
  }
  byId("conversation-empty").hidden = conversations.length > 0;
}

async function selectConversation(id: string): Promise<void> {
  if (id === current.id) return;
  stopGenerating();
  const next = conversations.find((c) => c.id === id);
  if (!next) return;
  current = next;
  writePref("current", current.id);
  pinned = true;
  renderConversationList();
  renderLog();
  input.focus();
}

function startNewChat(): void {
  stopGenerating();
  current = newConversation();
  writePref("current", null);
  renderConversationList();
  renderLog();
  if (app.classList.contains("sidebar-open")) setSidebar(false);
  input.focus();
}

async function removeConversation(c: Conversation): Promise<void> {
  if (generating?.conversationId === c.id) stopGenerating();
  await deleteConversation(c.id);
  conversations = conversations.filter((x) => x.id !== c.id);
  if (current.id === c.id) {
    current = newConversation();
    writePref("current", null);
    renderLog();
  }
  renderConversationList();
  toast(`Deleted “${c.title}”.`, {
    label: "Undo",
    run: () => {
      void (async () => {
        await saveConversation(c);
        conversations = [c, ...conversations].sort((a, b) => b.updatedAt - a.updatedAt);
        renderConversationList();
      })();
    },
  });
}

async function persist(c: Conversation): Promise<void> {
  c.updatedAt = Date.now();
  if (!conversations.includes(c)) conversations.unshift(c);
  conversations.sort((a, b) => b.updatedAt - a.updatedAt);
  writePref("current", c.id);
  try {
    await saveConversation(c);
  } catch (error) {
    toast(`This chat could not be saved: ${explain(error).sentence}`);
  }
  renderConversationList();
}

// ---------------------------------------------------------------- the log

function renderLog(): void {
  log.replaceChildren();
  if (current.messages.length === 0) {
    log.append(welcome());
    updateComposer();
    return;
  }
  const lastUser = current.messages.findLastIndex((m) => m.role === "user");
  const lastAssistant = current.messages.findLastIndex((m) => m.role === "assistant");
  current.messages.forEach((m, i) => {
    log.append(messageView(m, { lastUser: i === lastUser, lastAssistant: i === lastAssistant }));
  });
  updateComposer();
  scrollToEnd();
}

function welcome(): HTMLElement {
  const box = h(
    "div",
    { class: "welcome" },
    h("div", { class: "welcome-logo" }),
    h("h1", {}, "Chat with a model on your own GPU"),
    h(
      "p",
      {},
      "Wisp runs the model in this tab with WebGPU. Once a model is downloaded it works offline, and nothing you type leaves this page.",
    ),
  );
  box.querySelector(".welcome-logo")!.innerHTML = ICONS.logo;
  if (model.status === "ready") {
    const ideas =
      model.source?.kind === "catalog" && model.source.entry.id.startsWith("stories")
        ? ["Once upon a time", "Tell me a story about a cat.", "Lily and the red ball"]
        : [
            "Explain WebGPU in two sentences.",
            "Write a Python function that reverses a string.",
            "Give me three names for a grey kitten.",
          ];
    const row = h("div", { class: "suggestions", role: "group", "aria-label": "Suggestions" });
    for (const idea of ideas) {
      const b = h("button", { type: "button", class: "chip" }, idea);
      b.addEventListener("click", () => {
        input.value = idea;
        void send();
      });
      row.append(b);
    }
    box.append(row);
  } else if (model.status === "none" || model.status === "error") {
    const actions = h("div", { class: "row-actions center" });
    const choose = h("button", { type: "button", class: "btn btn-primary" }, "Choose a model");
    choose.addEventListener("click", () => openModels());
    actions.append(choose);
    const last = lastSource();
    if (last) {
      const again = h("button", { type: "button", class: "btn" }, `Load ${sourceLabel(last)}`);
      again.addEventListener("click", () => void startLoad(last));
      actions.append(again);
    }
    box.append(actions);
  }
  return box;
}

interface Place {
  lastUser: boolean;
  lastAssistant: boolean;
}

function statsLine(m: ChatMessage): { text: string; title: string } {
  const s = m.stats;
  const parts: string[] = [];
  if (s) {
    parts.push(`${s.completionTokens} ${s.completionTokens === 1 ? "token" : "tokens"}`);
    if (s.prefillTokensPerSecond) parts.push(`prefill ${formatRate(s.prefillTokensPerSecond)} tok/s`);
    if (s.decodeTokensPerSecond) parts.push(`decode ${formatRate(s.decodeTokensPerSecond)} tok/s`);
  }
  if (m.finish === "abort") parts.push("stopped");
  else if (m.finish === "length") parts.push("hit the token limit");
  if (s?.droppedTurns) parts.push("oldest turns left out");
  const title: string[] = [];
  if (m.model) title.push(`Model: ${m.model}`);
  if (s?.promptTokens !== undefined)
    title.push(`Prompt: ${s.promptTokens} tokens${s.prefillMs ? ` in ${Math.round(s.prefillMs)} ms` : ""}`);
  if (s)
    title.push(`Reply: ${s.completionTokens} tokens${s.decodeMs ? ` in ${Math.round(s.decodeMs)} ms` : ""}`);
  return { text: parts.join(" · "), title: title.join("\n") };
}

function messageView(m: ChatMessage, place: Place): HTMLElement {
  const isUser = m.role === "user";
  const body = h("div", { class: isUser ? "msg-body plain" : "msg-body markdown" });
  if (isUser) body.textContent = m.content;
  else body.innerHTML = renderReply(m.content);
  const article = h(
    "article",
    {
      class: `msg ${m.role}`,
      "data-id": m.id,
      "data-role": m.role,
      "data-finish": m.finish,
      "data-tokens": m.stats?.completionTokens,
      "data-last": (isUser ? place.lastUser : place.lastAssistant) || undefined,
      "aria-label": isUser ? "You" : "Assistant",
    },
    body,
  );
  const streaming = generating?.messageId === m.id;
  if (streaming) article.classList.add("streaming");
  if (m.error) {
    article.append(h("p", { class: "msg-error", role: "alert", "data-error-name": m.errorName }, m.error));
  }
  const foot = h("div", { class: "msg-foot" });
  if (!isUser) {
    const stats = statsLine(m);
    const line = h("span", { class: "msg-stats", title: stats.title || undefined }, stats.text);
    foot.append(line);
  }
  const actions = h("div", { class: "msg-actions" });
  if (!streaming && m.content) {
    const copy = actionButton("copy", "Copy", isUser ? "Copy message" : "Copy reply");
    copy.addEventListener("click", async () => {
      const ok = await copyText(m.content);
      copy.querySelector(".btn-text")!.textContent = ok ? "Copied" : "Copy failed";
      setTimeout(() => {
        copy.querySelector(".btn-text")!.textContent = "Copy";
      }, 1500);
    });
    actions.append(copy);
  }
  if (!streaming && !generating && place.lastAssistant && !isUser) {
    const again = actionButton("redo", "Regenerate", "Regenerate this reply");
    again.disabled = model.status !== "ready";
    if (again.disabled) again.title = "Load a model to regenerate";
    again.addEventListener("click", () => void regenerate());
    actions.append(again);
  }
  if (!generating && place.lastUser && isUser) {
    const edit = actionButton("edit", "Edit", "Edit this message");
    edit.addEventListener("click", () => editMessage(article, m));
    actions.append(edit);
  }
  foot.append(actions);
  article.append(foot);
  return article;
}

function actionButton(name: keyof typeof ICONS, text: string, label: string): HTMLButtonElement {
  const b = h("button", { type: "button", class: "msg-action", "aria-label": label, title: label });
  b.append(icon(name), h("span", { class: "btn-text" }, text));
  return b;
}

function editMessage(article: HTMLElement, m: ChatMessage): void {
  const body = article.querySelector<HTMLElement>(".msg-body")!;
  const foot = article.querySelector<HTMLElement>(".msg-foot")!;
  const area = h("textarea", { class: "edit-area", "aria-label": "Edit your message", rows: 3 });
  area.value = m.content;
  const save = h("button", { type: "button", class: "btn btn-primary btn-small" }, "Save and send");
  const cancel = h("button", { type: "button", class: "btn btn-small" }, "Cancel");
  const editor = h("div", { class: "editor" }, area, h("div", { class: "row-actions end" }, cancel, save));
  body.hidden = true;
  foot.hidden = true;
  article.classList.add("editing");
  article.insertBefore(editor, foot);
  area.focus();
  area.setSelectionRange(area.value.length, area.value.length);
  const close = () => renderLog();
  cancel.addEventListener("click", close);
  const commit = () => {
    const text = area.value.trim();
    if (!text) return;
    const at = current.messages.indexOf(m);
    if (at < 0) return close();
    m.content = text;
    current.messages.splice(at + 1);
    if (at === current.messages.findIndex((x) => x.role === "user")) current.title = titleFrom(text);
    if (model.status !== "ready") {
      void persist(current);
      renderLog();
      return;
    }
    const reply = newReply();
    current.messages.push(reply);
    void persist(current);
    renderLog();
    void runReply(current, reply);
  };
  save.addEventListener("click", commit);
  area.addEventListener("keydown", (e) => {
    if (e.key === "Escape") {
      e.preventDefault();
      e.stopPropagation();
      close();
    } else if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      if (model.status === "ready") commit();
    }
  });
  save.disabled = model.status !== "ready";
  if (save.disabled) save.title = "Load a model to send";
}

function nearBottom(): boolean {
  return log.scrollHeight - log.scrollTop - log.clientHeight < 64;
}

function scrollToEnd(): void {
  log.scrollTop = log.scrollHeight;
}

// ---------------------------------------------------------------- composer

function updateComposer(): void {
  const replying = Boolean(generating);
  sendButton.dataset["action"] = replying ? "stop" : "send";
  byId("send-label").textContent = replying ? "Stop" : "Send";
  byId("send-icon").innerHTML = replying ? ICONS.stop : ICONS.send;
  sendButton.disabled = !(replying || canSend());
  sendButton.classList.toggle("stop", replying);
  log.setAttribute("aria-busy", String(replying));
  const notice = byId("composer-notice-text");
  const choose = byId<HTMLButtonElement>("composer-choose");
  let text = "";
  if (device && !device.webgpu) {
    text = "This browser has no WebGPU support — try Chrome or Edge 113+ on a desktop.";
  } else if (model.status === "none") text = "Load a model to start chatting.";
  else if (model.status === "loading") text = `Loading ${model.label}…`;
  else if (model.status === "error") text = `${model.label} could not be loaded.`;
  notice.textContent = text;
  choose.hidden = model.status === "loading" || (device !== undefined && !device.webgpu);
  composerNotice.hidden = text === "";
  input.placeholder = model.status === "ready" ? `Message ${model.label}…` : "Message the model…";
}

function setStatus(text: string): void {
  if (composerStatus.textContent !== text) composerStatus.textContent = text;
}

function autosize(): void {
  input.style.height = "auto";
  input.style.height = `${Math.min(input.scrollHeight, 200)}px`;
}

function newReply(): ChatMessage {
  return {
    id: newId("msg"),
    role: "assistant",
    content: "",
    createdAt: Date.now(),
    model: model.label,
  };
}

async function send(): Promise<void> {
  const text = input.value.trim();
  if (!text || !canSend()) return;
  input.value = "";
  autosize();
  const conv = current;
  if (conv.messages.length === 0) conv.title = titleFrom(text);
  conv.messages.push({ id: newId("msg"), role: "user", content: text, createdAt: Date.now() });
  const reply = newReply();
  conv.messages.push(reply);
  pinned = true;
  await persist(conv);
  renderLog();
  await runReply(conv, reply);
}

async function regenerate(): Promise<void> {
  if (!canSend()) return;
  const conv = current;
  const at = conv.messages.findLastIndex((m) => m.role === "assistant");
  if (at < 0) return;
  conv.messages.splice(at);
  const reply = newReply();
  conv.messages.push(reply);
  pinned = true;
  renderLog();
  await runReply(conv, reply);
}

function stopGenerating(): void {
  generating?.controller.abort();
}

/** The request's messages: the system prompt, then the turns before `reply` (failed replies left out). */
function requestMessages(
  conv: Conversation,
  reply: ChatMessage,
  dropTurns: number,
): ChatCompletionMessageParam[] {
  let turns = conv.messages
    .slice(0, conv.messages.indexOf(reply))
    .filter((m) => !(m.error && m.role === "assistant"));
  for (let i = 0; i < dropTurns; i++) {
    const next = turns.findIndex((m, j) => j > 0 && m.role === "user");
    if (next <= 0) break;
    turns = turns.slice(next);
  }
  const system = settings.systemPrompt.trim();
  return [
    ...(system ? [{ role: "system" as const, content: system }] : []),
    ...turns.map((m) => ({ role: m.role, content: m.content })),
  ];
}

async function runReply(conv: Conversation, reply: ChatMessage): Promise<void> {
  const engine = model.engine;
  if (!engine) return;
  const controller = new AbortController();
  generating = { controller, conversationId: conv.id, messageId: reply.id };
  renderLog();
  setStatus("Replying…");
  const view = () => log.querySelector<HTMLElement>(`[data-id="${reply.id}"]`);
  const el = view();
  const body = el?.querySelector<HTMLElement>(".msg-body");
  if (body)
    body.innerHTML =
      '<span class="typing" aria-label="Waiting for the first token"><i></i><i></i><i></i></span>';

  let text = "";
  let id = "";
  let finish: FinishReason = "stop";
  let usage: { prompt: number; completion: number } | undefined;
  let tokens = 0;
  let dropped = 0;
  let frame = 0;
  const paint = () => {
    frame = 0;
    const b = view()?.querySelector<HTMLElement>(".msg-body");
    if (b) b.innerHTML = renderReply(text);
    if (pinned) scrollToEnd();
  };
  try {
    let stream: AsyncIterable<ChatCompletionChunk> | undefined;
    for (;;) {
      try {
        stream = await engine.chat.completions.create({
          messages: requestMessages(conv, reply, dropped),
          stream: true,
          stream_options: { include_usage: true },
          max_tokens: settings.maxTokens,
          temperature: settings.temperature,
          top_p: settings.topP,
          ...(settings.seed !== null ? { seed: settings.seed } : {}),
          signal: controller.signal,
        });
        break;
      } catch (error) {
        // The conversation outgrew the context: leave out the oldest exchange and try again.
        const turns = conv.messages.filter((m) => m.role === "user").length;
        if ((error as { name?: string } | null)?.name !== "ContextLengthExceeded" || dropped + 1 >= turns) {
          throw error;
        }
        dropped++;
      }
    }
    for await (const chunk of stream) {
      id = chunk.id;
      const choice = chunk.choices[0];
      const delta = choice?.delta.content;
      if (delta) {
        text += delta;
        tokens++;
        reply.content = text;
        if (!frame) frame = requestAnimationFrame(paint);
      }
      if (choice?.finish_reason) finish = choice.finish_reason;
      if (chunk.usage)
        usage = { prompt: chunk.usage.prompt_tokens, completion: chunk.usage.completion_tokens };
    }
    const stats: ReplyStats = { completionTokens: usage?.completion ?? tokens };
    if (usage) stats.promptTokens = usage.prompt;
    if (dropped) stats.droppedTurns = dropped;
    const engineStats = await engine.stats().catch(() => undefined);
    const last = engineStats?.lastRequest;
    if (last && last.requestId === id) {
      stats.promptTokens = last.promptTokens;
      stats.completionTokens = last.completionTokens;
      stats.prefillMs = last.timings.prefillMs;
      stats.decodeMs = last.timings.decodeMs;
      if (Number.isFinite(last.timings.prefillTokensPerSecond))
        stats.prefillTokensPerSecond = last.timings.prefillTokensPerSecond;
      if (Number.isFinite(last.timings.decodeTokensPerSecond))
        stats.decodeTokensPerSecond = last.timings.decodeTokensPerSecond;
    }
    reply.content = text;
    reply.finish = finish;
    reply.stats = stats;
    setStatus(finish === "abort" ? "Stopped" : "Ready");
  } catch (error) {
    const ex = explain(error);
    reply.content = text;
    reply.error = `${ex.sentence}${ex.next ? ` ${ex.next}` : ""}`;
    reply.errorName = ex.name;
    setStatus("");
    if (ex.name === "DeviceLost") {
      model = { ...model, status: "error", error: ex };
      delete model.engine;
      updateModelChip();
    }
  } finally {
    if (frame) cancelAnimationFrame(frame);
    if (generating?.controller === controller) generating = undefined;
    await persist(conv);
    if (current === conv) renderLog();
    updateComposer();
  }
}

// ---------------------------------------------------------------- model loading

function lastSource(): ModelSource | undefined {
  const raw = readPref("last-model");
  if (!raw) return undefined;
  const entry = CATALOG.find((e) => e.id === raw);
  if (entry) return { kind: "catalog", entry };
  if (raw.startsWith("url:")) return { kind: "url", input: raw.slice(4) };
  return undefined;
}

function updateModelChip(): void {
  modelButton.dataset["state"] = model.status;
  byId("model-name").textContent = model.status === "none" ? "Choose a model" : model.label;
  const state: Record<ModelState["status"], string> = {
    none: "",
    loading: "loading",
    ready: "ready",
    error: "failed",
  };
  byId("model-state").textContent = state[model.status];
  modelButton.setAttribute(
    "aria-label",
    model.status === "none"
      ? "Choose a model"
      : `Model: ${model.label}, ${state[model.status]}. Change model`,
  );
  const loaded = byId("loaded-line");
  loaded.hidden = model.status !== "ready";
  byId("loaded-text").textContent = model.status === "ready" ? `Loaded: ${model.label}` : "";
  updateComposer();
}

const meters = new Map<string, RateMeter>();

function renderPhases(): void {
  const list = byId("phases");
  list.replaceChildren();
  meters.clear();
  for (const phase of PHASES) addPhaseRow(phase.id, phase.label);
}

function addPhaseRow(id: string, label: string): HTMLElement {
  const labelId = `phase-${id}-label`;
  const row = h(
    "li",
    { class: "phase", "data-phase": id, "data-state": "pending" },
    h("span", { class: "phase-mark", "aria-hidden": "true" }),
    h("span", { class: "phase-label", id: labelId }, label),
    h("span", { class: "phase-detail" }, "waiting"),
    h("progress", { max: 1, value: 0, "aria-labelledby": labelId }),
  );
  byId("phases").append(row);
  return row;
}

function showProgress(p: LoadProgress): void {
  let row = byId("phases").querySelector<HTMLElement>(`[data-phase="${CSS.escape(p.phase)}"]`);
  if (!row) row = addPhaseRow(p.phase, p.phase.charAt(0).toUpperCase() + p.phase.slice(1));
  // Every phase before this one is done.
  for (const r of byId("phases").querySelectorAll<HTMLElement>(".phase")) {
    if (r === row) break;
    if (r.dataset["state"] !== "done") markDone(r);
  }
  let meter = meters.get(p.phase);
  if (!meter) {
    meter = new RateMeter();
    meters.set(p.phase, meter);
  }
  if (p.phase === "download") meter.add(p.loaded, performance.now());
  const fraction = Math.min(1, Math.max(0, p.fraction));
  row.querySelector("progress")!.value = fraction;
  row.querySelector(".phase-detail")!.textContent = phaseDetail(p, meter);
  row.dataset["state"] = fraction >= 1 ? "done" : "active";
  const overall = overallFraction();
  byId("model-state").textContent = `${Math.round(overall * 100)}%`;
}

function markDone(row: HTMLElement): void {
  row.dataset["state"] = "done";
  row.querySelector("progress")!.value = 1;
  const detail = row.querySelector(".phase-detail")!;
  if (detail.textContent === "waiting") {
    detail.textContent = row.dataset["phase"] === "download" ? "already in this browser" : "skipped";
  } else if (!/done|of/.test(detail.textContent ?? "")) detail.textContent = "done";
}

function overallFraction(): number {
  // Download dominates the time of a first load; the GPU phases share the rest.
  const weights: Record<string, number> = {
    download: 0.5,
    read: 0.1,
    quantize: 0.25,
    compile: 0.1,
    warmup: 0.05,
  };
  let sum = 0;
  for (const r of byId("phases").querySelectorAll<HTMLElement>(".phase")) {
    const w = weights[r.dataset["phase"] ?? ""] ?? 0;
    sum += w * (r.querySelector("progress")?.value ?? 0);
  }
  return Math.min(1, sum);
}

async function startLoad(source: ModelSource): Promise<void> {
  stopGenerating();
  if (modelsDialog.open) modelsDialog.close();
  byId("toast").hidden = true;
  model.load?.cancel();
  const previous = model.engine;
  const label = sourceLabel(source);
  model = { status: "loading", source, label };
  updateModelChip();
  renderPhases();
  byId("phases").hidden = false;
  loadCard.hidden = false;
  loadCard.dataset["state"] = "loading";
  byId("load-title").textContent = `Loading ${label}`;
  byId("load-sub").textContent = loadSubtitle(source);
  byId("load-error").hidden = true;
  byId("load-cancel").hidden = false;
  byId("load-cancel").textContent = "Cancel";
  renderLog();
  setStatus(`Loading ${label}…`);
  if (previous) await previous.unload().catch(() => {});

  const contextLength =
    source.kind === "catalog" ? contextFor(source.entry, settings.contextLength) : undefined;
  const load = loadModel(
    {
      model: sourceInput(source),
      ...(contextLength ? { contextLength } : {}),
      ...(settings.fastDecode ? { activations: "q8" as const } : {}),
    },
    (p) => {
      if (model.load === load) showProgress(p);
    },
  );
  model.load = load;
  try {
    const engine = await load.engine;
    if (model.load !== load) {
      void engine.unload().catch(() => {});
      return;
    }
    model = { status: "ready", source, label, engine };
    for (const r of byId("phases").querySelectorAll<HTMLElement>(".phase")) markDone(r);
    if (source.kind === "catalog") writePref("last-model", source.entry.id);
    else if (source.kind === "url") writePref("last-model", `url:${source.input}`);
    loadCard.dataset["state"] = "done";
    loadCard.hidden = true;
    setStatus(`${label} is ready`);
    updateModelChip();
    renderLog();
    input.focus();
    void refreshCached();
  } catch (error) {
    if (model.load !== load) return;
    const ex = explain(error);
    model = { status: "error", source, label, error: ex };
    updateModelChip();
    showLoadError(ex);
    renderLog();
    setStatus("");
  }
}

function loadSubtitle(source: ModelSource): string {
  if (source.kind === "catalog") {
    const e = source.entry;
    const where = e.local ? "from this app's server" : `from Hugging Face (${e.hf})`;
    return `${formatBytes(e.downloadBytes)} ${where}, kept in this browser for next time.`;
  }
  if (source.kind === "files") return `${source.files.length} files from a folder on this computer.`;
  return `From ${source.input}`;
}

function showLoadError(ex: Explained): void {
  loadCard.hidden = false;
  loadCard.dataset["state"] = "error";
  byId("load-title").textContent = `${model.label} could not be loaded`;
  byId("load-error").hidden = false;
  byId("load-error").dataset["errorName"] = ex.name;
  byId("load-error-sentence").textContent = ex.sentence;
  byId("load-error-next").textContent = ex.next;
  byId("load-error-next").hidden = !ex.next;
  byId("load-cancel").textContent = "Dismiss";
  byId("load-retry").hidden = !model.source;
  for (const r of byId("phases").querySelectorAll<HTMLElement>('.phase[data-state="active"]'))
    r.dataset["state"] = "failed";
  // Phases only help when one had started.
  byId("phases").hidden = !byId("phases").querySelector('.phase:not([data-state="pending"])');
  byId<HTMLButtonElement>("load-retry").focus();
}

function cancelLoad(): void {
  const wasLoading = model.status === "loading";
  model.load?.cancel();
  model = { status: "none", label: "" };
  loadCard.hidden = true;
  updateModelChip();
  renderLog();
  setStatus(wasLoading ? "Loading cancelled" : "");
  if (wasLoading) toast("Loading cancelled.");
  input.focus();
}

async function unloadModel(): Promise<void> {
  stopGenerating();
  const engine = model.engine;
  model = { status: "none", label: "" };
  updateModelChip();
  renderLog();
  await engine?.unload().catch(() => {});
  setStatus("Model unloaded");
}

// ---------------------------------------------------------------- models dialog

function openModels(): void {
  renderCatalog();
  void refreshCached();
  if (!modelsDialog.open) modelsDialog.showModal();
}

function renderDeviceLine(): void {
  const line = byId("device-line");
  if (!device) {
    line.textContent = "Checking this device's GPU…";
    return;
  }
  if (!device.webgpu) {
    line.textContent =
      "This browser has no WebGPU support, so models cannot run here — try Chrome or Edge 113+ on a desktop.";
    line.dataset["level"] = "no";
    return;
  }
  const parts = [`GPU: ${device.adapter ?? "unknown"}`];
  if (device.maxStorageBufferBindingSize)
    parts.push(
      `largest buffer ${formatBytes(Math.min(device.maxStorageBufferBindingSize, device.maxBufferSize ?? Infinity))}`,
    );
  if (device.deviceMemory) parts.push(`device memory ${formatBytes(device.deviceMemory)}+`);
  line.textContent = parts.join(" · ");
  line.dataset["level"] = device.software ? "tight" : "ok";
}

function renderCatalog(): void {
  renderDeviceLine();
  const list = byId("catalog");
  list.replaceChildren();
  for (const entry of CATALOG) {
    const ctx = contextFor(entry, settings.contextLength);
    const est = estimate(entry.config, ctx);
    const fit: Fit = device
      ? fitFor(est, device, formatBytes)
      : { level: "unknown", label: "Checking", reason: "Checking the GPU…" };
    const noWebGpu = device !== undefined && !device.webgpu;
    // Over a limit the estimate may be wrong: let people try; without WebGPU nothing can run.
    const tryAnyway = fit.level === "no" && !noWebGpu;
    const isCached = cached.some((c) => cachedMatches(c, modelInput(entry)));
    const isCurrent =
      model.source?.kind === "catalog" && model.source.entry.id === entry.id && model.status !== "error";
    const titleId = `catalog-${entry.id}`;
    const facts = [
      `${formatCount(entry.parameters)} parameters`,
      `${formatBytes(entry.downloadBytes)} download`,
      `≈ ${formatBytes(est.total)} GPU memory`,
      `${ctx.toLocaleString()} tokens context`,
    ];
    const load = h(
      "button",
      {
        type: "button",
        class: fit.level === "no" ? "btn" : "btn btn-primary",
        "aria-label": `${tryAnyway ? "Try" : "Load"} ${entry.name}`,
        "aria-describedby": `${titleId}-fit`,
        disabled: isCurrent || noWebGpu,
      },
      isCurrent ? (model.status === "loading" ? "Loading…" : "Loaded") : tryAnyway ? "Try anyway" : "Load",
    );
    load.addEventListener("click", () => void startLoad({ kind: "catalog", entry }));
    const test = deviceTests.view(entry, ctx, noWebGpu, settings.fastDecode ? "q8" : "f32");
    const badges = h("span", { class: "badges" });
    if (entry.local) badges.append(h("span", { class: "badge" }, "offline"));
    if (isCached) badges.append(h("span", { class: "badge badge-ok" }, "downloaded"));
    list.append(
      h(
        "li",
        { class: "model-card", "data-model-id": entry.id, "data-fit": fit.level, "aria-labelledby": titleId },
        h(
          "div",
          { class: "model-card-main" },
          h("div", { class: "model-card-title" }, h("h4", { id: titleId }, entry.name), badges),
          h("p", { class: "model-desc" }, entry.description),
          h("p", { class: "model-facts" }, facts.join(" · ")),
          h(
            "p",
            { class: "fit", "data-level": fit.level, id: `${titleId}-fit` },
            h("span", { class: "fit-dot", "aria-hidden": "true" }),
            h("strong", {}, `${fit.label}: `),
            fit.reason,
          ),
          test.status,
        ),
        h("div", { class: "model-card-actions" }, load, test.button),
      ),
    );
  }
}

/** "Test my device": ?probeMs=N sets the time it spends timing decode steps (tests pass a short one). */
const deviceTests = new DeviceTests(
  (id) => {
    if (!modelsDialog.open) return;
    const list = byId("catalog");
    const hadFocus = list.contains(document.activeElement) || document.activeElement === document.body;
    renderCatalog();
    if (hadFocus)
      list.querySelector<HTMLElement>(`[data-model-id="${CSS.escape(id)}"] .probe-button`)?.focus();
  },
  Number(new URLSearchParams(location.search).get("probeMs")) || 3000,
);

let clearArmed: ReturnType<typeof setTimeout> | undefined;

async function refreshCached(): Promise<void> {
  const line = byId("storage-line");
  const list = byId("cached-list");
  const clear = byId<HTMLButtonElement>("clear-cache");
  const available = cacheAvailable();
  try {
    cached = available ? await listCached() : [];
    line.textContent = "";
  } catch (error) {
    cached = [];
    line.textContent = `The downloaded models could not be listed: ${explain(error).sentence}`;
  }
  const numbers = await storageNumbers().catch(
    () => ({}) as { usage?: number; quota?: number; persisted?: boolean },
  );
  list.replaceChildren();
  if (!available) {
    list.append(
      h(
        "li",
        { class: "cached-empty" },
        "This browser cannot keep models (no IndexedDB, as in some private windows), so every load downloads the model again.",
      ),
    );
  } else if (cached.length === 0) {
    list.append(
      h("li", { class: "cached-empty" }, "No models downloaded yet. Models you load are kept here."),
    );
  }
  for (const c of cached) {
    const entry = CATALOG.find((e) => cachedMatches(c, modelInput(e)));
    const name = entry?.name ?? (c.label || c.id);
    const remove = h(
      "button",
      { type: "button", class: "btn btn-small btn-danger", "aria-label": `Delete ${name}` },
      icon("trash"),
      "Delete",
    );
    remove.addEventListener("click", async () => {
      remove.disabled = true;
      try {
        await deleteCached(c.id);
        toast(`Deleted ${name} from this browser.`);
      } catch (error) {
        toast(`${name} could not be deleted: ${explain(error).sentence}`);
      }
      await refreshCached();
      byId("clear-cache").focus();
    });
    const facts = [formatBytes(c.bytes)];
    if (!c.complete) facts.push("partial download (it resumes on the next load)");
    if (c.updatedAt) facts.push(`saved ${formatWhen(c.updatedAt)}`);
    list.append(
      h(
        "li",
        { class: "cached-item", "data-cached-id": c.id },
        h(
          "div",
          { class: "cached-main" },
          h("span", { class: "cached-name", title: c.id }, name),
          name !== c.id ? h("span", { class: "cached-id" }, c.id) : null,
          h("span", { class: "cached-facts" }, facts.join(" · ")),
        ),
        remove,
      ),
    );
  }
  clear.hidden = !available || cached.length === 0;
  const { usage, quota, persisted } = numbers;
  const meter = byId("storage-meter");
  const keep = byId<HTMLButtonElement>("persist-button");
  if (usage !== undefined && quota) {
    line.textContent = `This site uses ${formatBytes(usage)} of the ${formatBytes(quota)} this browser allows it${
      persisted ? "; the browser keeps these models even when space runs low" : ""
    }.`;
    meter.hidden = false;
    byId("storage-fill").style.width = `${Math.min(100, (usage / quota) * 100).toFixed(1)}%`;
  } else {
    line.textContent = "This browser does not report how much space is left.";
    meter.hidden = true;
  }
  keep.hidden = !available || persisted !== false || cached.length === 0;
  if (modelsDialog.open) renderCatalog();
}

// ---------------------------------------------------------------- settings

function fillSettingsForm(): void {
  const f = settingsForm.elements as unknown as Record<string, HTMLInputElement & HTMLOutputElement>;
  f["systemPrompt"]!.value = settings.systemPrompt;
  f["temperature"]!.value = String(settings.temperature);
  f["topP"]!.value = String(settings.topP);
  f["maxTokens"]!.value = String(settings.maxTokens);
  f["seed"]!.value = settings.seed === null ? "" : String(settings.seed);
  f["contextLength"]!.value = String(settings.contextLength);
  f["fastDecode"]!.checked = settings.fastDecode;
  f["temperatureOut"]!.value = settings.temperature.toFixed(2);
  f["topPOut"]!.value = settings.topP.toFixed(2);
}

function readSettingsForm(): void {
  const data = new FormData(settingsForm);
  settings = normalize({
    systemPrompt: data.get("systemPrompt"),
    temperature: data.get("temperature"),
    topP: data.get("topP"),
    maxTokens: data.get("maxTokens"),
    seed: data.get("seed"),
    contextLength: data.get("contextLength"),
    fastDecode: data.get("fastDecode"),
  });
  saveSettings(settings);
  const f = settingsForm.elements as unknown as Record<string, HTMLOutputElement>;
  f["temperatureOut"]!.value = settings.temperature.toFixed(2);
  f["topPOut"]!.value = settings.topP.toFixed(2);
}

// ---------------------------------------------------------------- local folder / URL

async function openFolder(): Promise<void> {
  const picker = (window as { showDirectoryPicker?: (o?: object) => Promise<unknown> }).showDirectoryPicker;
  if (!picker) {
    byId<HTMLInputElement>("folder-input").click();
    return;
  }
  let picked: PickedFile[];
  try {
    const handle = await picker({ mode: "read", id: "wisp-model" });
    picked = await fromDirectoryHandle(handle as Parameters<typeof fromDirectoryHandle>[0]);
  } catch (error) {
    if ((error as { name?: string } | null)?.name === "AbortError") return; // the person closed the picker
    toast(explain(error).sentence);
    return;
  }
  loadPicked(picked);
}

function loadPicked(picked: PickedFile[]): void {
  const found = modelFilesFrom(picked);
  if (!found) {
    toast(
      "That folder has no config.json or .gguf file. Pick a Hugging Face model folder (config.json, tokenizer.json, *.safetensors) or a folder with one .gguf file.",
    );
    return;
  }
  void startLoad({ kind: "files", files: found.files, name: found.name });
}

// ---------------------------------------------------------------- wiring

function wire(): void {
  byId<HTMLFormElement>("composer").addEventListener("submit", (e) => {
    e.preventDefault();
    if (generating) stopGenerating();
    else void send();
  });
  input.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && generating) {
      e.preventDefault();
      stopGenerating();
      return;
    }
    if (e.key !== "Enter" || e.shiftKey || e.isComposing || e.altKey || e.ctrlKey || e.metaKey) return;
    e.preventDefault();
    if (!generating) void send();
  });
  input.addEventListener("input", () => {
    autosize();
  });
  document.addEventListener("keydown", (e) => {
    if (e.key !== "Escape" || e.defaultPrevented) return;
    if (modelsDialog.open || settingsDialog.open) return;
    if (app.classList.contains("sidebar-open")) {
      setSidebar(false);
      sidebarToggle.focus();
      return;
    }
    if (generating) {
      e.preventDefault();
      stopGenerating();
    }
  });
  log.addEventListener("scroll", () => {
    pinned = nearBottom();
  });
  log.addEventListener("click", async (e) => {
    const button = (e.target as HTMLElement).closest<HTMLButtonElement>("[data-copy-code]");
    if (!button) return;
    const code = button.closest(".code-block")?.querySelector("code")?.textContent ?? "";
    const ok = await copyText(code);
    button.textContent = ok ? "Copied" : "Copy failed";
    setTimeout(() => {
      button.textContent = "Copy code";
    }, 1500);
  });

  byId("new-chat").addEventListener("click", startNewChat);
  sidebarToggle.addEventListener("click", () => setSidebar(!app.classList.contains("sidebar-open")));
  scrim.addEventListener("click", () => setSidebar(false));

  modelButton.addEventListener("click", openModels);
  byId("composer-choose").addEventListener("click", openModels);
  byId("load-choose").addEventListener("click", () => {
    cancelLoad();
    openModels();
  });
  byId("load-cancel").addEventListener("click", cancelLoad);
  byId("load-retry").addEventListener("click", () => {
    if (model.source) void startLoad(model.source);
  });
  byId("unload-button").addEventListener("click", () => {
    void unloadModel();
    renderCatalog();
  });
  for (const dialog of [modelsDialog, settingsDialog]) {
    for (const close of dialog.querySelectorAll("[data-close]")) {
      close.addEventListener("click", () => dialog.close());
    }
    // A click on the backdrop (outside the dialog box) closes it.
    dialog.addEventListener("click", (e) => {
      if (e.target === dialog) dialog.close();
    });
  }
  byId("open-folder").addEventListener("click", () => void openFolder());
  byId<HTMLInputElement>("folder-input").addEventListener("change", (e) => {
    const el = e.target as HTMLInputElement;
    if (el.files && el.files.length > 0) loadPicked(fromFileList(el.files));
    el.value = "";
  });
  byId<HTMLFormElement>("url-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const value = byId<HTMLInputElement>("url-input").value.trim();
    if (!value) {
      byId("url-input").focus();
      return;
    }
    void startLoad({ kind: "url", input: value });
  });
  byId("clear-cache").addEventListener("click", async () => {
    const button = byId<HTMLButtonElement>("clear-cache");
    if (!clearArmed) {
      button.textContent = `Delete all ${cached.length} — sure?`;
      button.classList.add("armed");
      clearArmed = setTimeout(() => {
        clearArmed = undefined;
        button.textContent = "Delete all";
        button.classList.remove("armed");
      }, 4000);
      return;
    }
    clearTimeout(clearArmed);
    clearArmed = undefined;
    button.textContent = "Delete all";
    button.classList.remove("armed");
    try {
      await clearCached();
      toast("Deleted every downloaded model.");
    } catch (error) {
      toast(`The models could not be deleted: ${explain(error).sentence}`);
    }
    await refreshCached();
  });

  byId("persist-button").addEventListener("click", async () => {
    const granted = await persistStorage().catch(() => false);
    toast(
      granted
        ? "The browser will keep downloaded models even when space runs low."
        : "The browser did not agree to keep them; it may delete them when space runs low.",
    );
    await refreshCached();
  });
  byId("settings-button").addEventListener("click", () => {
    fillSettingsForm();
    settingsDialog.showModal();
  });
  settingsForm.addEventListener("input", readSettingsForm);
  settingsForm.addEventListener("change", () => {
    readSettingsForm();
    fillSettingsForm();
  });
  byId("settings-reset").addEventListener("click", () => {
    settings = { ...DEFAULTS };
    saveSettings(settings);
    fillSettingsForm();
  });
  byId("theme-button").addEventListener("click", () => applyTheme(THEME_NEXT[currentTheme()]));
}

async function start(): Promise<void> {
  fillIcons();
  applyTheme(currentTheme());
  wire();
  renderPhases();
  updateModelChip();
  try {
    conversations = await listConversations();
  } catch {
    conversations = [];
    toast(
      "Saved chats could not be read (is this a private window?). New chats last until you close the tab.",
    );
  }
  // A reply that was being written when the page went away has no ending: say so.
  for (const c of conversations) {
    for (const m of c.messages) {
      if (m.role === "assistant" && !m.finish && !m.error) {
        m.finish = "abort";
        m.error = "This reply was cut off when the page was closed or reloaded. Regenerate it to try again.";
        m.errorName = "Interrupted";
      }
    }
  }
  const wanted = readPref("current");
  const found = conversations.find((c) => c.id === wanted);
  if (found) current = found;
  renderConversationList();
  renderLog();
  autosize();

  device = await readDeviceInfo();
  updateComposer();
  if (modelsDialog.open) renderCatalog();
  void refreshCached();

  // ?model=<catalog id | URL | org/name> loads a model right away (links to a ready chat).
  const param = new URLSearchParams(location.search).get("model");
  if (param) {
    const entry = CATALOG.find((e) => e.id === param);
    void startLoad(entry ? { kind: "catalog", entry } : { kind: "url", input: param });
  }
}

void start();

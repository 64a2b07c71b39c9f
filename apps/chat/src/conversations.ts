// Conversations live in IndexedDB (idb-keyval, a database of the app's own: "wisp-chat"), one entry
// per conversation, so they survive reloads and work offline.
import type { FinishReason } from "@wisp/sdk";
import { createStore, del, get, set, values } from "idb-keyval";

export interface ReplyStats {
  promptTokens?: number;
  completionTokens: number;
  prefillTokensPerSecond?: number;
  decodeTokensPerSecond?: number;
  prefillMs?: number;
  decodeMs?: number;
  /** Earlier turns left out because the conversation outgrew the context. */
  droppedTurns?: number;
}

export interface ChatMessage {
  id: string;
  role: "user" | "assistant";
  content: string;
  createdAt: number;
  /** Assistant replies: the model that wrote it, how it ended, its numbers. */
  model?: string;
  finish?: FinishReason;
  stats?: ReplyStats;
  /** A reply that failed: the sentence shown under it (the turn is not sent to the model again). */
  error?: string;
  /** The failed reply's error class (ModelFileError, DeviceLost, …). */
  errorName?: string;
}

export interface Conversation {
  id: string;
  title: string;
  createdAt: number;
  updatedAt: number;
  messages: ChatMessage[];
}

const store = createStore("wisp-chat", "conversations");

export function newId(prefix: string): string {
  const random = crypto.getRandomValues(new Uint32Array(2));
  return `${prefix}-${Date.now().toString(36)}-${random[0]!.toString(36)}${random[1]!.toString(36)}`;
}

export function newConversation(): Conversation {
  const now = Date.now();
  return { id: newId("chat"), title: "New chat", createdAt: now, updatedAt: now, messages: [] };
}

/** A title from the first user message: its first line, at most ~48 characters. */
export function titleFrom(text: string): string {
  const line = text.trim().split("\n")[0]!.replace(/\s+/g, " ");
  return line.length > 48 ? `${line.slice(0, 47).trimEnd()}…` : line || "New chat";
}

export async function listConversations(): Promise<Conversation[]> {
  const all = (await values<Conversation>(store)).filter((c) => c && Array.isArray(c.messages));
  return all.sort((a, b) => b.updatedAt - a.updatedAt);
}

export function loadConversation(id: string): Promise<Conversation | undefined> {
  return get<Conversation>(id, store);
}

export function saveConversation(c: Conversation): Promise<void> {
  // A structured clone of plain data (no DOM, no class instances).
  return set(c.id, JSON.parse(JSON.stringify(c)) as Conversation, store);
}

export function deleteConversation(id: string): Promise<void> {
  return del(id, store);
}

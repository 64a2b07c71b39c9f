// <wisp-chat>'s shadow stylesheet. Theming goes through CSS custom properties set on the element (or any
// ancestor), all optional; the private --_ variables resolve them against light or dark defaults
// (prefers-color-scheme, or the theme="light" / theme="dark" attribute). Shades in between (borders,
// bubbles, muted text) are mixed from the background and foreground, so setting those two is enough.
//
//   --wisp-chat-accent     buttons, your messages, focus ring, progress bar
//   --wisp-chat-accent-fg  text on the accent
//   --wisp-chat-bg         background
//   --wisp-chat-fg         text
//   --wisp-chat-radius     corner radius of the box (bubbles and controls derive theirs)
//   --wisp-chat-font       font shorthand's family list
//   --wisp-chat-height     maximum height of the message list before it scrolls
//   --wisp-chat-error      error text
//
// Parts for finer styling: box, header, title, model, loading, progress, log, message, user, assistant,
// meta, error, form, label, input, send, hint, status.

const light = `
  --_accent: var(--wisp-chat-accent, #6d28d9);
  --_accent-fg: var(--wisp-chat-accent-fg, #ffffff);
  --_bg: var(--wisp-chat-bg, #ffffff);
  --_fg: var(--wisp-chat-fg, #1f2328);
  --_error: var(--wisp-chat-error, #b42318);
`;

const dark = `
  --_accent: var(--wisp-chat-accent, #a78bfa);
  --_accent-fg: var(--wisp-chat-accent-fg, #17102b);
  --_bg: var(--wisp-chat-bg, #16181d);
  --_fg: var(--wisp-chat-fg, #e6e8eb);
  --_error: var(--wisp-chat-error, #ff8a80);
`;

export const STYLES = `
:host {
  ${light}
  --_radius: var(--wisp-chat-radius, 12px);
  --_font: var(--wisp-chat-font, system-ui, -apple-system, "Segoe UI", Roboto, sans-serif);
  --_height: var(--wisp-chat-height, 22rem);
  --_muted: color-mix(in srgb, var(--_fg) 62%, var(--_bg));
  --_border: color-mix(in srgb, var(--_fg) 16%, var(--_bg));
  --_surface: color-mix(in srgb, var(--_fg) 6%, var(--_bg));
  --_field: color-mix(in srgb, var(--_fg) 2%, var(--_bg));
  display: block;
  color-scheme: light;
  font-family: var(--_font);
  font-size: 15px;
  line-height: 1.45;
  text-align: start;
}
@media (prefers-color-scheme: dark) {
  :host(:not([theme="light"])) { ${dark} color-scheme: dark; }
}
:host([theme="dark"]) { ${dark} color-scheme: dark; }
:host([hidden]) { display: none; }

*, *::before, *::after { box-sizing: border-box; }

.box {
  display: flex;
  flex-direction: column;
  background: var(--_bg);
  color: var(--_fg);
  border: 1px solid var(--_border);
  border-radius: var(--_radius);
  overflow: hidden;
  min-width: 0;
}

header {
  display: flex;
  flex-wrap: wrap;
  align-items: baseline;
  gap: 0.1rem 0.75rem;
  padding: 0.6rem 0.9rem;
  border-bottom: 1px solid var(--_border);
}
.title {
  flex: 0 1 auto;
  margin: 0;
  font-size: 0.95rem;
  font-weight: 650;
  display: flex;
  align-items: center;
  gap: 0.45rem;
  min-width: 0;
}
.dot {
  flex: none;
  width: 0.55rem;
  height: 0.55rem;
  border-radius: 50%;
  background: var(--_muted);
  align-self: center;
}
.box[data-state="ready"] .dot, .box[data-state="replying"] .dot { background: #1f9d55; }
.box[data-state="loading"] .dot { background: #d4a72c; }
.box[data-state="error"] .dot { background: var(--_error); }
.model {
  flex: 0 1 auto;
  margin-inline-start: auto;
  color: var(--_muted);
  font-size: 0.78rem;
  white-space: nowrap;
  overflow: hidden;
  text-overflow: ellipsis;
  min-width: 0;
}

.loading {
  padding: 0.6rem 0.9rem 0;
  font-size: 0.82rem;
  color: var(--_muted);
}
.loading[hidden] { display: none; }
.loading label { display: block; margin-bottom: 0.3rem; font-variant-numeric: tabular-nums; }
progress {
  display: block;
  width: 100%;
  height: 0.4rem;
  border: 0;
  border-radius: 999px;
  overflow: hidden;
  background: var(--_surface);
  accent-color: var(--_accent);
  appearance: none;
}
progress::-webkit-progress-bar { background: var(--_surface); border-radius: 999px; }
progress::-webkit-progress-value { background: var(--_accent); border-radius: 999px; }
progress::-moz-progress-bar { background: var(--_accent); border-radius: 999px; }
/* Before the first progress event: a band sweeping the track. */
progress:indeterminate {
  background: linear-gradient(90deg, transparent 0 35%, var(--_accent) 35% 65%, transparent 65%) 0 0 / 300% 100%
    var(--_surface);
  animation: wisp-chat-sweep 1.4s linear infinite;
}
progress:indeterminate::-webkit-progress-bar { background: transparent; }
@keyframes wisp-chat-sweep { from { background-position: 100% 0; } to { background-position: 0 0; } }

.log {
  display: flex;
  flex-direction: column;
  gap: 0.6rem;
  padding: 0.8rem 0.9rem;
  min-height: 7rem;
  max-height: var(--_height);
  overflow-y: auto;
  overscroll-behavior: contain;
}
/* A model that could not load: the sentence says why; an empty conversation has nothing to add. */
.box[data-state="error"] .log:not(:has(.message)), .box[data-state="idle"] .log:not(:has(.message)) {
  display: none;
}
.box > .error:not(:empty) { padding-bottom: 0.6rem; }
.empty {
  margin: auto;
  color: var(--_muted);
  font-size: 0.88rem;
  text-align: center;
}
.message {
  max-width: min(85%, 40rem);
  display: flex;
  flex-direction: column;
}
.message.user { align-self: flex-end; align-items: flex-end; }
.message.assistant { align-self: flex-start; align-items: flex-start; }
.bubble {
  margin: 0;
  padding: 0.45rem 0.75rem;
  border-radius: calc(var(--_radius) * 0.9);
  white-space: pre-wrap;
  overflow-wrap: anywhere;
}
.user .bubble {
  background: var(--_accent);
  color: var(--_accent-fg);
  border-end-end-radius: calc(var(--_radius) * 0.25);
}
.assistant .bubble {
  background: var(--_surface);
  border-end-start-radius: calc(var(--_radius) * 0.25);
}
.assistant .bubble:empty::before { content: "…"; color: var(--_muted); }
.streaming .bubble::after {
  content: "";
  display: inline-block;
  width: 0.5em;
  height: 1em;
  margin-inline-start: 0.1em;
  vertical-align: text-bottom;
  background: currentColor;
  opacity: 0.5;
  animation: wisp-chat-blink 1s steps(2, start) infinite;
}
.assistant .bubble:empty::after { display: none; }
@keyframes wisp-chat-blink { to { visibility: hidden; } }
@media (prefers-reduced-motion: reduce) {
  .streaming .bubble::after { animation: none; }
  progress:indeterminate { animation: none; background-position: 50% 0; }
}
.meta {
  margin-top: 0.2rem;
  font-size: 0.75rem;
  color: var(--_muted);
  font-variant-numeric: tabular-nums;
}
.meta:empty { display: none; }
.error {
  margin: 0;
  color: var(--_error);
  font-size: 0.88rem;
}
.error:empty { display: none; }
.message .error { margin-top: 0.25rem; }
.box > .error { padding: 0.6rem 0.9rem 0; }

form {
  margin: 0;
  padding: 0.6rem 0.9rem 0.7rem;
  border-top: 1px solid var(--_border);
}
form > label {
  display: block;
  font-size: 0.8rem;
  font-weight: 600;
  margin-bottom: 0.3rem;
}
.row { display: flex; gap: 0.5rem; align-items: stretch; }
textarea {
  flex: 1;
  min-width: 0;
  min-height: 2.6rem;
  max-height: 10rem;
  resize: vertical;
  margin: 0;
  padding: 0.5rem 0.65rem;
  font: inherit;
  color: inherit;
  background: var(--_field);
  border: 1px solid var(--_border);
  border-radius: calc(var(--_radius) * 0.6);
}
textarea::placeholder { color: var(--_muted); opacity: 1; }
button {
  flex: none;
  min-width: 4.75rem;
  margin: 0;
  padding: 0 1rem;
  font: inherit;
  font-weight: 600;
  color: var(--_accent-fg);
  background: var(--_accent);
  border: 1px solid var(--_accent);
  border-radius: calc(var(--_radius) * 0.6);
  cursor: pointer;
}
button:hover:not(:disabled) { filter: brightness(1.08); }
button:disabled { opacity: 0.45; cursor: not-allowed; }
button[data-action="stop"] {
  color: var(--_fg);
  background: var(--_surface);
  border-color: var(--_border);
}
.hint {
  display: flex;
  flex-wrap: wrap;
  justify-content: space-between;
  gap: 0.15rem 1rem;
  margin: 0.35rem 0 0;
  font-size: 0.75rem;
  color: var(--_muted);
}
.status { font-variant-numeric: tabular-nums; }
kbd { font: inherit; font-weight: 600; }

:focus { outline: none; }
:focus-visible {
  outline: 2px solid var(--_accent);
  outline-offset: 2px;
}
textarea:focus-visible { outline-offset: 0; border-color: var(--_accent); }
.log:focus-visible { outline-offset: -2px; }

.sr-only {
  position: absolute;
  width: 1px;
  height: 1px;
  margin: -1px;
  padding: 0;
  overflow: hidden;
  clip: rect(0 0 0 0);
  white-space: nowrap;
  border: 0;
}
@media (forced-colors: active) {
  .user .bubble, .assistant .bubble, button { border: 1px solid CanvasText; }
}
`;

// Replies as Markdown: marked (GFM) → HTML, code blocks highlighted by highlight.js, then DOMPurify.
// Model output is untrusted text: raw HTML in it is shown as text (never parsed), images become
// links (no request leaves the page by itself), and the result is sanitized before it touches the DOM.
import DOMPurify from "dompurify";
import hljs from "highlight.js/lib/common";
import { Marked, type Tokens } from "marked";

function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!,
  );
}

function highlight(code: string, lang: string | undefined): { html: string; language: string } {
  const name = (lang ?? "").trim().split(/\s+/)[0]?.toLowerCase() ?? "";
  try {
    if (name && hljs.getLanguage(name)) {
      return { html: hljs.highlight(code, { language: name, ignoreIllegals: true }).value, language: name };
    }
    // Unlabelled blocks: guess among the common languages only when there is enough to go on.
    if (!name && code.length > 24) {
      const auto = hljs.highlightAuto(code);
      if (auto.language && auto.relevance >= 5) return { html: auto.value, language: auto.language };
    }
  } catch {
    // Highlighting is decoration: plain text on any failure.
  }
  return { html: escapeHtml(code), language: name };
}

const marked = new Marked({ gfm: true, breaks: true, async: false });
marked.use({
  renderer: {
    code({ text, lang }: Tokens.Code): string {
      const { html, language } = highlight(text.replace(/\n$/, ""), lang);
      const label = language ? `<span class="code-lang">${escapeHtml(language)}</span>` : "<span></span>";
      return (
        `<div class="code-block"><div class="code-head">${label}` +
        `<button type="button" class="code-copy" data-copy-code>Copy code</button></div>` +
        `<pre><code class="hljs${language ? ` language-${escapeHtml(language)}` : ""}">${html}</code></pre></div>`
      );
    },
    html({ text }: Tokens.HTML | Tokens.Tag): string {
      return escapeHtml(text);
    },
    image({ href, text }: Tokens.Image): string {
      const label = text ? `image: ${text}` : "image";
      return `<a href="${escapeHtml(href)}">${escapeHtml(label)}</a>`;
    },
  },
});

let hooked = false;
function purify(html: string): string {
  if (!hooked) {
    hooked = true;
    DOMPurify.addHook("afterSanitizeAttributes", (node) => {
      if (node.tagName === "A") {
        node.setAttribute("target", "_blank");
        node.setAttribute("rel", "noopener noreferrer nofollow");
      }
    });
  }
  return DOMPurify.sanitize(html, {
    FORBID_TAGS: ["style", "img", "video", "audio", "iframe", "form", "input", "svg", "math"],
    FORBID_ATTR: ["style"],
    ALLOWED_URI_REGEXP: /^(?:https?:|mailto:|#)/i,
  });
}

/** Markdown text → sanitized HTML. */
export function renderMarkdown(text: string): string {
  return purify(marked.parse(text) as string);
}

/**
 * A reply → sanitized HTML. A reasoning model's `<think>…</think>` becomes a collapsed "Thoughts"
 * section (open while the model is still thinking).
 */
export function renderReply(text: string): string {
  const open = text.indexOf("<think>");
  if (open < 0 || text.slice(0, open).trim() !== "") return renderMarkdown(text);
  const close = text.indexOf("</think>", open);
  const thoughts = text.slice(open + 7, close < 0 ? undefined : close).trim();
  const answer = close < 0 ? "" : text.slice(close + 8);
  const summary = close < 0 ? "Thinking…" : "Thoughts";
  const details =
    thoughts === "" && close >= 0
      ? ""
      : `<details class="thoughts"${close < 0 ? " open" : ""}><summary>${summary}</summary>${renderMarkdown(thoughts)}</details>`;
  return purify(details) + renderMarkdown(answer);
}

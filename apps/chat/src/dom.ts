// A few DOM helpers: element by id, element builder, clipboard with a fallback, icons.
import { ICONS } from "./icons.ts";

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing from index.html`);
  return el as T;
}

type Attrs = Record<string, string | number | boolean | undefined | null>;

/** `h("button", { class: "btn", "aria-label": "…" }, "text", child)`: false/null/undefined attributes are left out. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Node | string | null | undefined | false)[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child);
  }
  return el;
}

/** An icon (decorative SVG) as an element. */
export function icon(name: keyof typeof ICONS): HTMLElement {
  const span = document.createElement("span");
  span.className = "icon-wrap";
  span.innerHTML = ICONS[name];
  return span;
}

/** Fills every `[data-icon]` placeholder of the static page. */
export function fillIcons(root: ParentNode = document): void {
  for (const el of root.querySelectorAll<HTMLElement>("[data-icon]")) {
    const name = el.dataset["icon"] as keyof typeof ICONS;
    if (ICONS[name]) el.innerHTML = ICONS[name];
    el.classList.add("icon-wrap");
  }
}

export async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // No clipboard permission (or an insecure context): the old way.
    const area = h("textarea", { "aria-hidden": "true", class: "offscreen" });
    area.value = text;
    document.body.append(area);
    area.select();
    let ok = false;
    try {
      ok = document.execCommand("copy");
    } catch {
      ok = false;
    }
    area.remove();
    return ok;
  }
}

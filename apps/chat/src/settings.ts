// Generation settings and preferences, kept in localStorage (small, read synchronously at start).

export interface Settings {
  systemPrompt: string;
  temperature: number;
  topP: number;
  maxTokens: number;
  /** Empty: a random seed per reply. */
  seed: number | null;
  /** KV cache size the next model is loaded with (capped by the model's maximum). */
  contextLength: number;
  /** Load the next model (and run the device test) with 8-bit activations (SDK `activations: "q8"`). */
  fastDecode: boolean;
}

export const DEFAULTS: Settings = {
  systemPrompt: "You are a helpful assistant. Answer concisely.",
  temperature: 0.7,
  topP: 0.95,
  maxTokens: 512,
  seed: null,
  contextLength: 2048,
  fastDecode: false,
};

const KEY = "wisp-chat:settings";

function clamp(v: unknown, lo: number, hi: number, fallback: number, integer = false): number {
  const n = typeof v === "number" ? v : Number(v);
  if (!Number.isFinite(n)) return fallback;
  const c = Math.min(hi, Math.max(lo, n));
  return integer ? Math.round(c) : c;
}

/** Any stored or typed values → valid settings (bad values fall back to the defaults). */
export function normalize(raw: Partial<Record<keyof Settings, unknown>>): Settings {
  const seed = raw.seed;
  return {
    systemPrompt: typeof raw.systemPrompt === "string" ? raw.systemPrompt : DEFAULTS.systemPrompt,
    temperature: clamp(raw.temperature, 0, 2, DEFAULTS.temperature),
    topP: clamp(raw.topP, 0.01, 1, DEFAULTS.topP),
    maxTokens: clamp(raw.maxTokens, 1, 32768, DEFAULTS.maxTokens, true),
    seed:
      seed === null || seed === undefined || seed === "" || !Number.isFinite(Number(seed))
        ? null
        : clamp(seed, 0, 2 ** 32 - 1, 0, true),
    contextLength: clamp(raw.contextLength, 256, 131072, DEFAULTS.contextLength, true),
    fastDecode: raw.fastDecode === true || raw.fastDecode === "on",
  };
}

export function loadSettings(): Settings {
  try {
    const text = localStorage.getItem(KEY);
    return normalize(text ? (JSON.parse(text) as Partial<Settings>) : {});
  } catch {
    return { ...DEFAULTS };
  }
}

export function saveSettings(s: Settings): void {
  try {
    localStorage.setItem(KEY, JSON.stringify(s));
  } catch {
    // Private mode without storage: settings last for this visit.
  }
}

export function readPref(key: string): string | null {
  try {
    return localStorage.getItem(`wisp-chat:${key}`);
  } catch {
    return null;
  }
}

export function writePref(key: string, value: string | null): void {
  try {
    if (value === null) localStorage.removeItem(`wisp-chat:${key}`);
    else localStorage.setItem(`wisp-chat:${key}`, value);
  } catch {
    // As above.
  }
}

/**
 * Streaming detokenization: turn token ids, one at a time, into text that is final.
 *
 * A token's text is not a function of the token alone:
 * - byte-fallback tokens (`<0xF0><0x9F><0x91><0x8B>` = 👋) and byte-level BPE tokens (Qwen, Llama 3)
 *   can split one UTF-8 character across tokens; decoding a prefix gives U+FFFD until it completes;
 * - SentencePiece-style decoders strip the leading space of the first token of the text only;
 * - `clean_up_tokenization_spaces` deletes a space depending on what follows it.
 *
 * The window method (as in text-generation-inference): keep `prefix..read`, the ids whose text was
 * emitted last; decode `ids[prefix..]` and emit what it adds to `decode(ids[prefix..read])`, unless the
 * text ends in U+FFFD (an unfinished character). Decoding a window that starts on already-emitted ids
 * gives those ids the same context they had, so the pieces concatenate to `decode(ids)`: per-token
 * rules apply alike in both decodes, and the first-token space strip applies to the window's first token
 * in both. Cleanup runs on top, cut only where {@link lastCleanupCut} says it is safe.
 *
 * Cost: each push decodes the window (usually 2 tokens), so streaming is O(total tokens).
 */
import { cleanUpTokenizationSpaces, lastCleanupCut } from "./cleanup.ts";

/** Streams text for a sequence of ids: concatenating every `push` result and `flush()` equals decode(ids). */
export interface StreamDecoder {
  /** Adds one id; returns the text it completes (often "", e.g. mid-character). */
  push(id: number): string;
  /** Ends the sequence: returns the text held back (an unfinished character becomes U+FFFD, as decode does). */
  flush(): string;
  /** Every id pushed so far. */
  readonly ids: readonly number[];
}

/**
 * @param decodeRaw decode without `clean_up_tokenization_spaces` (and with the caller's special-token
 *   choice); must return "" for an empty list.
 * @param cleanup whether to apply clean_up_tokenization_spaces, as `decode` would.
 */
export function createStreamDecoder(decodeRaw: (ids: number[]) => string, cleanup: boolean): StreamDecoder {
  const ids: number[] = [];
  let prefix = 0;
  let read = 0;
  let prefixText = "";
  // Raw text already taken from the window but not yet cleaned (cleanup mode only).
  let held = "";

  const advance = (final: boolean): string => {
    const text = decodeRaw(ids.slice(prefix));
    if (text.length <= prefixText.length) return "";
    if (!final && text.endsWith("\uFFFD")) return "";
    const added = text.slice(prefixText.length);
    prefix = read;
    read = ids.length;
    // The next window starts at the old `read`: its text is what we just decoded minus the old prefix text,
    // but only if decoding that sub-range alone gives the same string (true for all decoders we ship;
    // recomputing keeps the invariant exact for decoders with first-token rules).
    prefixText = decodeRaw(ids.slice(prefix, read));
    return added;
  };

  const clean = (raw: string, final: boolean): string => {
    if (!cleanup) return raw;
    held += raw;
    const cut = final ? held.length : lastCleanupCut(held);
    if (cut === 0) return "";
    const out = cleanUpTokenizationSpaces(held.slice(0, cut));
    held = held.slice(cut);
    return out;
  };

  return {
    push(id: number): string {
      ids.push(id);
      return clean(advance(false), false);
    },
    flush(): string {
      return clean(advance(true), true);
    },
    get ids(): readonly number[] {
      return ids;
    },
  };
}

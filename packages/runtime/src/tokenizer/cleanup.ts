/**
 * transformers' `clean_up_tokenization_spaces`: after decoding, drop the space before punctuation and
 * English contractions ("Hello , world !" → "Hello, world!"). Meant for WordPiece vocabularies; transformers
 * 5 ignores the flag for BPE ones (Llama 3.1's tokenizer_config sets it, yet its decode keeps the spaces),
 * so it is on by default only for non-BPE tokenizers whose config asks for it, or when a caller asks.
 *
 * The chain is transformers' `PreTrainedTokenizerBase.clean_up_tokenization`, replace for replace, in
 * order (each replace is global, left to right, non-overlapping, as Python's str.replace).
 */
export function cleanUpTokenizationSpaces(text: string): string {
  return text
    .replaceAll(" .", ".")
    .replaceAll(" ?", "?")
    .replaceAll(" !", "!")
    .replaceAll(" ,", ",")
    .replaceAll(" ' ", "'")
    .replaceAll(" n't", "n't")
    .replaceAll(" 'm", "'m")
    .replaceAll(" 's", "'s")
    .replaceAll(" 've", "'ve")
    .replaceAll(" 're", "'re");
}

/**
 * Where a growing text may be cut so that `clean(a + b) === clean(a) + clean(b)`: the streaming
 * decoder cleans and emits everything before the last such cut and holds back the rest.
 *
 * Why this cut is safe: every pattern above starts with a space, and each replace only deletes spaces.
 * A match can straddle the cut only if it contains both the last character of `a` (at a pattern position
 * ≥ 1) and the first character of `b`. Cutting right before a space whose previous character is not
 * whitespace and not one of `' n v r` rules that out: those four are the only pattern characters that
 * are followed by another pattern character (" ' ", " 'm", " n't", " 've", " 're"), and deletions inside
 * `b` cannot change the last character of `a`. The property test in tokenizer.test.ts checks it.
 *
 * Returns the index of the last safe cut in `text` (0 when there is none).
 */
export function lastCleanupCut(text: string): number {
  for (let i = text.length - 1; i > 0; i--) {
    if (text[i] !== " ") continue;
    const prev = text[i - 1]!;
    if (!/\s/.test(prev) && !"'nvr".includes(prev)) return i;
  }
  return 0;
}

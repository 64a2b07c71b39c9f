/** CPU reference (f64): out[t][i] = silu(gate[t][i]) · up[t][i]; gate, up: (tokens, inter). */
export function swigluRef(gate: ArrayLike<number>, up: ArrayLike<number>, tokens: number, inter: number) {
  const out = new Float64Array(tokens * inter);
  for (let j = 0; j < tokens * inter; j++) {
    const g = gate[j]!;
    // exp(-|g|) never overflows; for g < 0, g·e/(1+e) = g/(1+exp(-g)).
    const e = Math.exp(-Math.abs(g));
    const silu = g >= 0 ? g / (1 + e) : (g * e) / (1 + e);
    out[j] = silu * up[j]!;
  }
  return out;
}

/** Splits a fused gate_up (tokens, 2·inter) into gate and up (tokens, inter). */
export function splitGateUp(gateUp: ArrayLike<number>, tokens: number, inter: number) {
  const gate = new Float64Array(tokens * inter);
  const up = new Float64Array(tokens * inter);
  for (let t = 0; t < tokens; t++) {
    for (let i = 0; i < inter; i++) {
      gate[t * inter + i] = gateUp[t * 2 * inter + i]!;
      up[t * inter + i] = gateUp[t * 2 * inter + inter + i]!;
    }
  }
  return { gate, up };
}

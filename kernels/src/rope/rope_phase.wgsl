// RoPE rotation from the phase table (rope_freqs.ts), shared by rope_kv_append.wgsl and the fused
// decode attention (attention_decode_split_rope.wgsl): both concatenate this file, so q and k are
// rotated by the same instructions wherever the rotation happens. No bindings: the caller loads the
// lane's two phase words and passes them in.
//
// phase: (2, headDim/2) u32 = (2, headDim/8) vec4<u32>: hi words then lo words of invFreq/2π as a
// 0.64 fixed-point fraction of a turn. Lane l (rotation pairs 4l .. 4l+3) uses hi = phase[l] and
// lo = phase[headDim/8 + l].

// sin/cos on [-π/4, π/4] (Cephes sinf/cosf minimax polynomials, ~1 ulp): the builtins are only
// specified to 2^-11 absolute, and the argument is already reduced.
fn sinPoly(x: vec4<f32>) -> vec4<f32> {
  let z = x * x;
  return x + x * z * ((-1.9515295891e-4 * z + 8.3321608736e-3) * z - 1.6666654611e-1);
}

fn cosPoly(x: vec4<f32>) -> vec4<f32> {
  let z = x * x;
  return 1.0 - 0.5 * z + z * z * ((2.443315711809948e-5 * z - 1.388731625493765e-3) * z + 4.166664568298827e-2);
}

struct CosSin {
  c: vec4<f32>,
  s: vec4<f32>,
}

// cos/sin of pos · invFreq[i] for a lane's 4 pairs. The phase in turns is (pos · invFreq/2π) mod 1
// as a u32 fraction (2^-32 turn): pos·hi wraps mod 2^32 exactly, plus the high word of pos·lo (its
// 16x16 partial products; the dropped low terms and carries are < 3·2^-32 turn).
fn cosSin(pos: u32, hi: vec4<u32>, lo: vec4<u32>) -> CosSin {
  let p1 = pos >> 16u;
  let p0 = pos & 0xffffu;
  let lo1 = lo >> vec4<u32>(16u);
  let lo0 = lo & vec4<u32>(0xffffu);
  let mulhi = p1 * lo1 + ((p1 * lo0) >> vec4<u32>(16u)) + ((p0 * lo1) >> vec4<u32>(16u));
  let turn = pos * hi + mulhi;
  // Nearest quarter turn q and the remainder in [-1/8, 1/8) turn, i.e. x in [-π/4, π/4).
  let quad = (turn + vec4<u32>(0x20000000u)) >> vec4<u32>(30u);
  let rem = bitcast<vec4<i32>>(turn - (quad << vec4<u32>(30u)));
  let x = vec4<f32>(rem) * 1.4629180792671596e-9; // 2π / 2^32
  let sx = sinPoly(x);
  let cx = cosPoly(x);
  // angle = q·π/2 + x: q=0 (cx, sx), q=1 (−sx, cx), q=2 (−cx, −sx), q=3 (sx, −cx).
  let odd = (quad & vec4<u32>(1u)) == vec4<u32>(1u);
  let c = select(cx, sx, odd);
  let s = select(sx, cx, odd);
  let cNeg = ((quad + vec4<u32>(1u)) & vec4<u32>(2u)) != vec4<u32>(0u);
  let sNeg = (quad & vec4<u32>(2u)) != vec4<u32>(0u);
  return CosSin(select(c, -c, cNeg), select(s, -s, sNeg));
}

// Kernels for src/ops/rnn: GRU / LSTM over a whole sequence (forward with saved activations, BPTT).
//
// Layout (f32, row-major; see src/ops/rnn/types.ts): xg [B, T, G*H], h [B, T, H], states [B, H],
// Wh [H, G*H], bh [G*H], saved activations [B, T, S] with S = (G+1)*H: GRU [r, z, n, hn],
// LSTM [i, f, g, o, c]. Kind code 0 = GRU (G = 3), 1 = LSTM (G = 4).
//
// Strategy: time is the outer loop (it is sequential); inside a step the recurrent products are small
// matrix products over the whole batch, done by one register-blocked f32x4 routine `mmAcc` (2 rows x
// 16 columns per block, 8 accumulators kept in registers over the contraction); the gate maths is
// vectorised over the hidden index with the shared f32x4 sigmoid and tanh (simd_math.ts). Scalar tails (H not a multiple of 4) run the very
// same vector code on a splatted lane, so tails and bodies round identically.

import { hdrU32 } from "./common";
import { vsigmoid, vtanh } from "./simd_math";

// ---------------------------------------------------------------------------------------------
// Elementwise maths on f32x4.

// Load / store either 4 lanes (vec) or one value splatted into every lane (scalar tail): lets the
// gate maths below be written once for bodies and tails.
// @ts-ignore: decorator
@inline function ld(p: usize, vec: bool): v128 {
  return vec ? v128.load(p) : f32x4.splat(load<f32>(p));
}
// @ts-ignore: decorator
@inline function st(p: usize, v: v128, vec: bool): void {
  if (vec) v128.store(p, v);
  else store<f32>(p, f32x4.extract_lane(v, 0));
}

// ---------------------------------------------------------------------------------------------
// Out[m, n] += sum_k X[m*xr + k*xc] * W[k*wr + n]   (m < M, n < N, k < K)
// Pointers in bytes, strides in f32 elements. Register blocks of 2 rows x 16 columns; every W vector
// loaded once per block serves both rows. Unaligned loads are fine in wasm.

function mmAcc(
  M: i32, N: i32, K: i32,
  X: usize, xr: usize, xc: usize,
  W: usize, wr: usize,
  O: usize, or: usize,
): void {
  const xcB = xc << 2;
  const wrB = wr << 2;
  let m = 0;
  for (; m + 2 <= M; m += 2) {
    const x0 = X + ((<usize>m * xr) << 2);
    const x1 = x0 + (xr << 2);
    const o0 = O + ((<usize>m * or) << 2);
    const o1 = o0 + (or << 2);
    let n = 0;
    for (; n + 16 <= N; n += 16) {
      const on = <usize>n << 2;
      let a0 = v128.load(o0 + on), a1 = v128.load(o0 + on, 16), a2 = v128.load(o0 + on, 32), a3 = v128.load(o0 + on, 48);
      let b0 = v128.load(o1 + on), b1 = v128.load(o1 + on, 16), b2 = v128.load(o1 + on, 32), b3 = v128.load(o1 + on, 48);
      let w = W + on;
      let p0 = x0, p1 = x1;
      for (let k = 0; k < K; k++) {
        const s0 = f32x4.splat(load<f32>(p0));
        const s1 = f32x4.splat(load<f32>(p1));
        const w0 = v128.load(w), w1 = v128.load(w, 16), w2 = v128.load(w, 32), w3 = v128.load(w, 48);
        a0 = f32x4.add(a0, f32x4.mul(s0, w0));
        a1 = f32x4.add(a1, f32x4.mul(s0, w1));
        a2 = f32x4.add(a2, f32x4.mul(s0, w2));
        a3 = f32x4.add(a3, f32x4.mul(s0, w3));
        b0 = f32x4.add(b0, f32x4.mul(s1, w0));
        b1 = f32x4.add(b1, f32x4.mul(s1, w1));
        b2 = f32x4.add(b2, f32x4.mul(s1, w2));
        b3 = f32x4.add(b3, f32x4.mul(s1, w3));
        w += wrB;
        p0 += xcB;
        p1 += xcB;
      }
      v128.store(o0 + on, a0); v128.store(o0 + on, a1, 16); v128.store(o0 + on, a2, 32); v128.store(o0 + on, a3, 48);
      v128.store(o1 + on, b0); v128.store(o1 + on, b1, 16); v128.store(o1 + on, b2, 32); v128.store(o1 + on, b3, 48);
    }
    for (; n + 4 <= N; n += 4) {
      const on = <usize>n << 2;
      let a0 = v128.load(o0 + on);
      let b0 = v128.load(o1 + on);
      let w = W + on;
      let p0 = x0, p1 = x1;
      for (let k = 0; k < K; k++) {
        const w0 = v128.load(w);
        a0 = f32x4.add(a0, f32x4.mul(f32x4.splat(load<f32>(p0)), w0));
        b0 = f32x4.add(b0, f32x4.mul(f32x4.splat(load<f32>(p1)), w0));
        w += wrB;
        p0 += xcB;
        p1 += xcB;
      }
      v128.store(o0 + on, a0);
      v128.store(o1 + on, b0);
    }
    for (; n < N; n++) {
      const on = <usize>n << 2;
      let a0 = load<f32>(o0 + on);
      let b0 = load<f32>(o1 + on);
      let w = W + on;
      let p0 = x0, p1 = x1;
      for (let k = 0; k < K; k++) {
        const w0 = load<f32>(w);
        a0 += load<f32>(p0) * w0;
        b0 += load<f32>(p1) * w0;
        w += wrB;
        p0 += xcB;
        p1 += xcB;
      }
      store<f32>(o0 + on, a0);
      store<f32>(o1 + on, b0);
    }
  }
  if (m < M) {
    const x0 = X + ((<usize>m * xr) << 2);
    const o0 = O + ((<usize>m * or) << 2);
    let n = 0;
    for (; n + 16 <= N; n += 16) {
      const on = <usize>n << 2;
      let a0 = v128.load(o0 + on), a1 = v128.load(o0 + on, 16), a2 = v128.load(o0 + on, 32), a3 = v128.load(o0 + on, 48);
      let w = W + on;
      let p0 = x0;
      for (let k = 0; k < K; k++) {
        const s0 = f32x4.splat(load<f32>(p0));
        a0 = f32x4.add(a0, f32x4.mul(s0, v128.load(w)));
        a1 = f32x4.add(a1, f32x4.mul(s0, v128.load(w, 16)));
        a2 = f32x4.add(a2, f32x4.mul(s0, v128.load(w, 32)));
        a3 = f32x4.add(a3, f32x4.mul(s0, v128.load(w, 48)));
        w += wrB;
        p0 += xcB;
      }
      v128.store(o0 + on, a0); v128.store(o0 + on, a1, 16); v128.store(o0 + on, a2, 32); v128.store(o0 + on, a3, 48);
    }
    for (; n + 4 <= N; n += 4) {
      const on = <usize>n << 2;
      let a0 = v128.load(o0 + on);
      let w = W + on;
      let p0 = x0;
      for (let k = 0; k < K; k++) {
        a0 = f32x4.add(a0, f32x4.mul(f32x4.splat(load<f32>(p0)), v128.load(w)));
        w += wrB;
        p0 += xcB;
      }
      v128.store(o0 + on, a0);
    }
    for (; n < N; n++) {
      const on = <usize>n << 2;
      let a0 = load<f32>(o0 + on);
      let w = W + on;
      let p0 = x0;
      for (let k = 0; k < K; k++) {
        a0 += load<f32>(p0) * load<f32>(w);
        w += wrB;
        p0 += xcB;
      }
      store<f32>(o0 + on, a0);
    }
  }
}

/** dst[0..n) += src[0..n) */
function addRow(dst: usize, src: usize, n: i32): void {
  let j = 0;
  for (; j + 4 <= n; j += 4) {
    const o = <usize>j << 2;
    v128.store(dst + o, f32x4.add(v128.load(dst + o), v128.load(src + o)));
  }
  for (; j < n; j++) {
    const o = <usize>j << 2;
    store<f32>(dst + o, load<f32>(dst + o) + load<f32>(src + o));
  }
}

// ---------------------------------------------------------------------------------------------
// Gate maths for 4 hidden units (vec) or one (tail) at byte offset `o` inside the row; hB = H * 4.

// GRU forward. x: xg row [3H], g: hg row [3H] (= h_{t-1} Wh + bh), hp: h_{t-1}, ho: h_t, a: acts [4H].
// @ts-ignore: decorator
@inline function gruFwd(o: usize, hB: usize, x: usize, g: usize, hp: usize, ho: usize, a: usize, vec: bool): void {
  const one = f32x4.splat(1.0);
  const r = vsigmoid(f32x4.add(ld(x + o, vec), ld(g + o, vec)));
  const z = vsigmoid(f32x4.add(ld(x + hB + o, vec), ld(g + hB + o, vec)));
  const hn = ld(g + 2 * hB + o, vec);
  const n = vtanh(f32x4.add(ld(x + 2 * hB + o, vec), f32x4.mul(r, hn)));
  const h = f32x4.add(f32x4.mul(f32x4.sub(one, z), n), f32x4.mul(z, ld(hp + o, vec)));
  st(ho + o, h, vec);
  st(a + o, r, vec);
  st(a + hB + o, z, vec);
  st(a + 2 * hB + o, n, vec);
  st(a + 3 * hB + o, hn, vec);
}

// LSTM forward. x, g: [4H] rows, c: cell state [H] (read c_{t-1}, write c_t), ho: h_t, a: acts [5H].
// @ts-ignore: decorator
@inline function lstmFwd(o: usize, hB: usize, x: usize, g: usize, c: usize, ho: usize, a: usize, vec: bool): void {
  const ig = vsigmoid(f32x4.add(ld(x + o, vec), ld(g + o, vec)));
  const fg = vsigmoid(f32x4.add(ld(x + hB + o, vec), ld(g + hB + o, vec)));
  const gg = vtanh(f32x4.add(ld(x + 2 * hB + o, vec), ld(g + 2 * hB + o, vec)));
  const og = vsigmoid(f32x4.add(ld(x + 3 * hB + o, vec), ld(g + 3 * hB + o, vec)));
  const cn = f32x4.add(f32x4.mul(fg, ld(c + o, vec)), f32x4.mul(ig, gg));
  st(c + o, cn, vec);
  st(ho + o, f32x4.mul(og, vtanh(cn)), vec);
  st(a + o, ig, vec);
  st(a + hB + o, fg, vec);
  st(a + 2 * hB + o, gg, vec);
  st(a + 3 * hB + o, og, vec);
  st(a + 4 * hB + o, cn, vec);
}

// GRU backward of one step. a: acts [4H], hp: h_{t-1}, dh: dL/dh_t (output path), dhc: in dL/dh_t
// from step t+1, out the direct part z * dh_t of dL/dh_{t-1}; dx: dxg row [3H]; dg: d(hg) row [3H].
// @ts-ignore: decorator
@inline function gruBwd(o: usize, hB: usize, a: usize, hp: usize, dh: usize, dhc: usize, dx: usize, dg: usize, vec: bool): void {
  const one = f32x4.splat(1.0);
  const dht = f32x4.add(ld(dh + o, vec), ld(dhc + o, vec));
  const r = ld(a + o, vec);
  const z = ld(a + hB + o, vec);
  const n = ld(a + 2 * hB + o, vec);
  const hn = ld(a + 3 * hB + o, vec);
  const dn = f32x4.mul(dht, f32x4.sub(one, z));
  const dz = f32x4.mul(dht, f32x4.sub(ld(hp + o, vec), n));
  const dnp = f32x4.mul(dn, f32x4.sub(one, f32x4.mul(n, n)));
  const drp = f32x4.mul(f32x4.mul(f32x4.mul(dnp, hn), r), f32x4.sub(one, r));
  const dzp = f32x4.mul(f32x4.mul(dz, z), f32x4.sub(one, z));
  st(dx + o, drp, vec);
  st(dx + hB + o, dzp, vec);
  st(dx + 2 * hB + o, dnp, vec);
  st(dg + o, drp, vec);
  st(dg + hB + o, dzp, vec);
  st(dg + 2 * hB + o, f32x4.mul(dnp, r), vec);
  st(dhc + o, f32x4.mul(dht, z), vec);
}

// LSTM backward of one step. a: acts [5H], cp: c_{t-1}, dh: dL/dh_t (output path), dhc: in dL/dh_t
// from step t+1, out 0 (the whole of dL/dh_{t-1} goes through Wh); dcc: in dL/dc_t, out dL/dc_{t-1};
// dx: dxg row [4H] (= d(hg) for the LSTM).
// @ts-ignore: decorator
@inline function lstmBwd(o: usize, hB: usize, a: usize, cp: usize, dh: usize, dhc: usize, dcc: usize, dx: usize, vec: bool): void {
  const one = f32x4.splat(1.0);
  const dht = f32x4.add(ld(dh + o, vec), ld(dhc + o, vec));
  const ig = ld(a + o, vec);
  const fg = ld(a + hB + o, vec);
  const gg = ld(a + 2 * hB + o, vec);
  const og = ld(a + 3 * hB + o, vec);
  const tc = vtanh(ld(a + 4 * hB + o, vec));
  const dog = f32x4.mul(dht, tc);
  const dc = f32x4.add(ld(dcc + o, vec), f32x4.mul(f32x4.mul(dht, og), f32x4.sub(one, f32x4.mul(tc, tc))));
  st(dx + o, f32x4.mul(f32x4.mul(f32x4.mul(dc, gg), ig), f32x4.sub(one, ig)), vec);
  st(dx + hB + o, f32x4.mul(f32x4.mul(f32x4.mul(dc, ld(cp + o, vec)), fg), f32x4.sub(one, fg)), vec);
  st(dx + 2 * hB + o, f32x4.mul(f32x4.mul(dc, ig), f32x4.sub(one, f32x4.mul(gg, gg))), vec);
  st(dx + 3 * hB + o, f32x4.mul(f32x4.mul(dog, og), f32x4.sub(one, og)), vec);
  st(dcc + o, f32x4.mul(dc, fg), vec);
  st(dhc + o, f32x4.splat(0.0), vec);
}

// ---------------------------------------------------------------------------------------------

/**
 * Forward over all steps. Header u32 fields:
 *  0 kind (0 gru, 1 lstm), 1 B, 2 T, 3 H, 4 xg [B,T,GH], 5 Wh [H,GH], 6 bh [GH], 7 h0 [B,H],
 *  8 c [B,H] (lstm: in c0, out c_T; gru: unused), 9 h out [B,T,H], 10 acts ([B,T,S] if saveAll else
 *  per-step scratch [B,S]), 11 saveAll, 12 scratch hg [B,GH].
 */
export function rnn_forward(hdr: usize): void {
  const lstm = hdrU32(hdr, 0) == 1;
  const B = <i32>hdrU32(hdr, 1);
  const T = <i32>hdrU32(hdr, 2);
  const H = <i32>hdrU32(hdr, 3);
  const xg = <usize>hdrU32(hdr, 4);
  const Wh = <usize>hdrU32(hdr, 5);
  const bh = <usize>hdrU32(hdr, 6);
  const h0 = <usize>hdrU32(hdr, 7);
  const cS = <usize>hdrU32(hdr, 8);
  const hOut = <usize>hdrU32(hdr, 9);
  const acts = <usize>hdrU32(hdr, 10);
  const saveAll = hdrU32(hdr, 11) != 0;
  const hg = <usize>hdrU32(hdr, 12);

  const G = lstm ? 4 : 3;
  const GH = G * H;
  const S = (G + 1) * H;
  const hB = <usize>H << 2;
  const ghB = <usize>GH << 2;

  for (let t = 0; t < T; t++) {
    // h_{t-1} rows: the initial state, or column t-1 of the output (row stride T*H)
    const hp = t == 0 ? h0 : hOut + ((<usize>(t - 1) * H) << 2);
    const hpStride = t == 0 ? <usize>H : <usize>T * H;
    // hg = bh + h_{t-1} Wh over the batch
    for (let b = 0; b < B; b++) memory.copy(hg + <usize>b * ghB, bh, ghB);
    mmAcc(B, GH, H, hp, hpStride, 1, Wh, GH, hg, GH);
    for (let b = 0; b < B; b++) {
      const bt = <usize>b * T + t;
      const x = xg + bt * ghB;
      const g = hg + <usize>b * ghB;
      const hpb = hp + ((<usize>b * hpStride) << 2);
      const ho = hOut + bt * hB;
      const a = acts + ((saveAll ? bt * S : <usize>b * S) << 2);
      let j = 0;
      if (lstm) {
        const c = cS + <usize>b * hB;
        for (; j + 4 <= H; j += 4) lstmFwd(<usize>j << 2, hB, x, g, c, ho, a, true);
        for (; j < H; j++) lstmFwd(<usize>j << 2, hB, x, g, c, ho, a, false);
      } else {
        for (; j + 4 <= H; j += 4) gruFwd(<usize>j << 2, hB, x, g, hpb, ho, a, true);
        for (; j < H; j++) gruFwd(<usize>j << 2, hB, x, g, hpb, ho, a, false);
      }
    }
  }
}

/**
 * BPTT over all steps. Header u32 fields:
 *  0 kind, 1 B, 2 T, 3 H, 4 Wh [H,GH], 5 h [B,T,H] (forward output), 6 h0 [B,H], 7 c0 [B,H] (lstm),
 *  8 acts [B,T,S], 9 dh [B,T,H], 10 dxg out [B,T,GH], 11 dWh [H,GH] (zeroed, accumulated),
 *  12 dbh [GH] (zeroed, accumulated), 13 dhc [B,H] (in dL/dh_T, out dL/dh_0),
 *  14 dcc [B,H] (lstm: in dL/dc_T, out dL/dc_0), 15 scratch d(hg) [B,GH] (gru), 16 scratch Wh^T [GH,H].
 */
export function rnn_backward(hdr: usize): void {
  const lstm = hdrU32(hdr, 0) == 1;
  const B = <i32>hdrU32(hdr, 1);
  const T = <i32>hdrU32(hdr, 2);
  const H = <i32>hdrU32(hdr, 3);
  const Wh = <usize>hdrU32(hdr, 4);
  const hAll = <usize>hdrU32(hdr, 5);
  const h0 = <usize>hdrU32(hdr, 6);
  const c0 = <usize>hdrU32(hdr, 7);
  const acts = <usize>hdrU32(hdr, 8);
  const dh = <usize>hdrU32(hdr, 9);
  const dxg = <usize>hdrU32(hdr, 10);
  const dWh = <usize>hdrU32(hdr, 11);
  const dbh = <usize>hdrU32(hdr, 12);
  const dhc = <usize>hdrU32(hdr, 13);
  const dcc = <usize>hdrU32(hdr, 14);
  const dhgS = <usize>hdrU32(hdr, 15);
  const WhT = <usize>hdrU32(hdr, 16);

  const G = lstm ? 4 : 3;
  const GH = G * H;
  const S = (G + 1) * H;
  const hB = <usize>H << 2;
  const ghB = <usize>GH << 2;
  const sB = <usize>S << 2;

  // Wh^T [GH, H], so that dL/dh_{t-1} = d(hg) Wh^T is the same row-times-matrix product as the forward.
  for (let i = 0; i < H; i++) {
    for (let k = 0; k < GH; k++) {
      store<f32>(WhT + ((<usize>k * H + i) << 2), load<f32>(Wh + ((<usize>i * GH + k) << 2)));
    }
  }

  for (let t = T - 1; t >= 0; t--) {
    const hp = t == 0 ? h0 : hAll + ((<usize>(t - 1) * H) << 2);
    const hpStride = t == 0 ? <usize>H : <usize>T * H;
    for (let b = 0; b < B; b++) {
      const bt = <usize>b * T + t;
      const a = acts + bt * sB;
      const dhb = dh + bt * hB;
      const dhcb = dhc + <usize>b * hB;
      const dx = dxg + bt * ghB;
      let j = 0;
      if (lstm) {
        const cp = t == 0 ? c0 + <usize>b * hB : a - sB + 4 * hB;
        const dccb = dcc + <usize>b * hB;
        for (; j + 4 <= H; j += 4) lstmBwd(<usize>j << 2, hB, a, cp, dhb, dhcb, dccb, dx, true);
        for (; j < H; j++) lstmBwd(<usize>j << 2, hB, a, cp, dhb, dhcb, dccb, dx, false);
      } else {
        const hpb = hp + ((<usize>b * hpStride) << 2);
        const dg = dhgS + <usize>b * ghB;
        for (; j + 4 <= H; j += 4) gruBwd(<usize>j << 2, hB, a, hpb, dhb, dhcb, dx, dg, true);
        for (; j < H; j++) gruBwd(<usize>j << 2, hB, a, hpb, dhb, dhcb, dx, dg, false);
      }
    }
    // d(hg) rows of this step: the GRU's scratch, or (LSTM, where d(hg) = dxg) column t of dxg.
    const dg = lstm ? dxg + <usize>t * ghB : dhgS;
    const dgStride = lstm ? <usize>T * GH : <usize>GH;
    for (let b = 0; b < B; b++) addRow(dbh, dg + ((<usize>b * dgStride) << 2), GH);
    // dWh += h_{t-1}^T d(hg): output [H, GH], contraction over the batch
    mmAcc(H, GH, B, hp, 1, hpStride, dg, dgStride, dWh, GH);
    // dL/dh_{t-1} += d(hg) Wh^T: output [B, H], contraction over GH
    mmAcc(B, H, GH, dg, dgStride, 1, WhT, H, dhc, H);
  }
}

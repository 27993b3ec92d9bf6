//! The SHA-NI kernel: x86 SHA extensions, several nonces in flight.
//!
//! `sha256rnds2` does two rounds on a state split as `ABEF`/`CDGH`. On the
//! development machine (AMD Zen 3) its latency is about 4 cycles and its
//! throughput about one per cycle, while `sha256msg2` costs about 2.5-3
//! cycles of the same unit. A single stream is latency-bound (that is
//! OpenSSL's and ring's one-buffer rate); the kernel keeps `S` independent
//! nonces ("streams") in flight, issuing each step for every stream in turn.
//! With `S = 2` the SHA unit is already saturated on Zen 3: 3 and 4 streams
//! measured no faster (see `SHANI_STREAMS`).
//!
//! Work is organised in *quads* (4 rounds, one message vector). Round pairs
//! before the first nonce word are precomputed; message vectors, and the
//! `sha256msg1` halves of the schedule, that depend on constant words only
//! are precomputed too, and a vector whose `sha256msg2` would only add
//! constants is computed with one addition. All of it is decided at compile
//! time from the layout.

// Kernels index parallel per-lane/per-stream/per-round arrays by one index.
#![allow(clippy::needless_range_loop)]

use core::arch::x86_64::*;

use super::plan::{Layout, Plan, K};

/// A state as `sha256rnds2` wants it.
#[derive(Copy, Clone)]
struct St {
    abef: __m128i,
    cdgh: __m128i,
}

// SAFETY (every `unsafe` block in this file outside `scan`/`hash`): the
// intrinsics need SHA, SSE2, SSSE3 and SSE4.1. These `#[inline(always)]`
// helpers are only called from `scan` and `hash` below, which are compiled
// with those features enabled and are only called by the engine dispatch
// once `is_x86_feature_detected!` reported all of them (see `Checked`).

/// A vector of four words, element `i` = `w[i]`.
#[inline(always)]
fn vec4(w: [u32; 4]) -> __m128i {
    unsafe { _mm_set_epi32(w[3] as i32, w[2] as i32, w[1] as i32, w[0] as i32) }
}

#[inline(always)]
fn group(words: &[u32], g: usize) -> __m128i {
    vec4([
        words[4 * g],
        words[4 * g + 1],
        words[4 * g + 2],
        words[4 * g + 3],
    ])
}

#[inline(always)]
fn state(s: &[u32; 8]) -> St {
    let [a, b, c, d, e, f, g, h] = *s;
    St {
        abef: vec4([f, e, b, a]),
        cdgh: vec4([h, g, d, c]),
    }
}

#[inline(always)]
fn add(x: __m128i, y: __m128i) -> __m128i {
    unsafe { _mm_add_epi32(x, y) }
}

#[inline(always)]
fn add_state(x: St, y: St) -> St {
    St {
        abef: add(x.abef, y.abef),
        cdgh: add(x.cdgh, y.cdgh),
    }
}

/// Two rounds; the low half of `wk` holds `K + W` for them.
#[inline(always)]
fn pair(s: &mut St, wk: __m128i) {
    let abef = unsafe { _mm_sha256rnds2_epu32(s.cdgh, s.abef, wk) };
    *s = St { abef, cdgh: s.abef };
}

/// Rounds `4 g + 2`, `4 g + 3` of a quad whose `K + W` vector is `wk`.
#[inline(always)]
fn second_pair(s: &mut St, wk: __m128i) {
    pair(s, unsafe { _mm_shuffle_epi32::<0x0e>(wk) });
}

/// Four rounds with `wk = K + W` for them.
#[inline(always)]
fn quad(s: &mut St, wk: __m128i) {
    pair(s, wk);
    second_pair(s, wk);
}

/// Message vector `g` from the four before it.
#[inline(always)]
fn next_msg(first_half: __m128i, m2: __m128i, m1: __m128i) -> __m128i {
    // m2 = vector g-2, m1 = vector g-1; first_half = msg1(vector g-4, g-3).
    unsafe { _mm_sha256msg2_epu32(add(first_half, alignr(m1, m2)), m1) }
}

#[inline(always)]
fn msg1(a: __m128i, b: __m128i) -> __m128i {
    unsafe { _mm_sha256msg1_epu32(a, b) }
}

/// The first id word (`A`) of a final state.
#[inline(always)]
fn word0(s: &St) -> u32 {
    unsafe { _mm_extract_epi32::<3>(s.abef) as u32 }
}

#[cfg(test)]
fn to_words(s: &St) -> [u32; 8] {
    let mut abef = [0u32; 4];
    let mut cdgh = [0u32; 4];
    // SAFETY: unaligned 16-byte stores into 16-byte arrays; SSE2 is part of
    // the x86_64 baseline.
    unsafe {
        _mm_storeu_si128(abef.as_mut_ptr().cast(), s.abef);
        _mm_storeu_si128(cdgh.as_mut_ptr().cast(), s.cdgh);
    }
    [
        abef[3], abef[2], cdgh[3], cdgh[2], abef[1], abef[0], cdgh[1], cdgh[0],
    ]
}

/// Nonce-independent vectors, built once per call from the plan.
struct Consts {
    k: [__m128i; 16],
    w1: [__m128i; 16],
    kw1: [__m128i; 16],
    msg1: [__m128i; 16],
    /// For vectors where `msg2_const`: the vector minus its `alignr` term.
    msg2: [__m128i; 16],
    kw2: [__m128i; 16],
    start: St,
    chain: St,
}

#[inline(always)]
const fn group_var(mask: u64, g: usize) -> bool {
    (mask >> (4 * g)) & 0xf != 0
}

/// Whether `msg1(vector g-4, vector g-3)` is constant: it reads the four
/// words of vector g-4 and the first word of vector g-3.
#[inline(always)]
const fn msg1_const(mask: u64, g: usize) -> bool {
    g >= 4 && (mask >> (4 * g - 16)) & 0x1f == 0
}

/// Whether vector `g` is a constant plus `alignr(vector g-1, vector g-2, 4)`:
/// `msg1` is constant and so are the four words whose `σ1` `sha256msg2`
/// adds (the last two of vector g-1 and the first two of vector g itself).
#[inline(always)]
const fn msg2_const(mask: u64, g: usize) -> bool {
    msg1_const(mask, g) && (mask >> (4 * g - 2)) & 0xf == 0
}

#[inline(always)]
fn alignr(hi: __m128i, lo: __m128i) -> __m128i {
    unsafe { _mm_alignr_epi8::<4>(hi, lo) }
}

#[inline(always)]
fn consts<L: Layout>(p: &Plan) -> Consts {
    let k = core::array::from_fn(|g| group(&K, g));
    let w1: [__m128i; 16] = core::array::from_fn(|g| group(&p.sched1, g));
    let kw1 = core::array::from_fn(|g| group(&p.kw1, g));
    let msg1v = core::array::from_fn(|g| {
        if msg1_const(L::SCHED1, g) {
            msg1(w1[g - 4], w1[g - 3])
        } else {
            w1[0] // unused
        }
    });
    // `w1` holds the constant part of every word (the nonce bytes as zero;
    // for later words the sum of their constant terms), and vectors are
    // sums of constant and nonce-dependent parts, so with `a` the `alignr`
    // of constant parts, vector g = msg2(msg1 + a, w1[g-1]) - a + alignr(...).
    let msg2v = core::array::from_fn(|g| {
        if msg2_const(L::SCHED1, g) {
            let a = alignr(w1[g - 1], w1[g - 2]);
            unsafe { _mm_sub_epi32(_mm_sha256msg2_epu32(add(msg1v[g], a), w1[g - 1]), a) }
        } else {
            w1[0] // unused
        }
    });
    let kw2 = core::array::from_fn(|g| group(&p.kw2, g));
    Consts {
        k,
        w1,
        kw1,
        msg1: msg1v,
        msg2: msg2v,
        kw2,
        start: state(&p.skipped_pairs),
        chain: state(&p.midstate),
    }
}

/// Message vector `g` of block 1 for stream `s`: computed if it depends on
/// the nonce, else the precomputed constant.
#[inline(always)]
fn msg<L: Layout, const S: usize>(
    c: &Consts,
    m: &[[__m128i; 16]; S],
    s: usize,
    g: usize,
) -> __m128i {
    if group_var(L::SCHED1, g) {
        m[s][g]
    } else {
        c.w1[g]
    }
}

/// Block 1, quad `G`, for every stream.
#[inline(always)]
fn quad1<L: Layout, const S: usize, const G: usize>(
    c: &Consts,
    m: &mut [[__m128i; 16]; S],
    st: &mut [St; S],
) {
    let var = group_var(L::SCHED1, G);
    if var && msg2_const(L::SCHED1, G) {
        for s in 0..S {
            m[s][G] = add(
                c.msg2[G],
                alignr(msg::<L, S>(c, m, s, G - 1), msg::<L, S>(c, m, s, G - 2)),
            );
        }
    } else if var && G >= 4 {
        for s in 0..S {
            let half = if msg1_const(L::SCHED1, G) {
                c.msg1[G]
            } else {
                msg1(msg::<L, S>(c, m, s, G - 4), msg::<L, S>(c, m, s, G - 3))
            };
            m[s][G] = next_msg(
                half,
                msg::<L, S>(c, m, s, G - 2),
                msg::<L, S>(c, m, s, G - 1),
            );
        }
    }
    let skip = L::P.skip_pairs();
    if 4 * G + 4 > skip {
        for s in 0..S {
            let wk = if var { add(m[s][G], c.k[G]) } else { c.kw1[G] };
            if 4 * G + 2 == skip {
                second_pair(&mut st[s], wk);
            } else {
                quad(&mut st[s], wk);
            }
        }
    }
}

/// Block 2, quad `G`, for every stream.
#[inline(always)]
fn quad2<L: Layout, const S: usize, const G: usize>(
    c: &Consts,
    m: &mut [[__m128i; 16]; S],
    st: &mut [St; S],
) {
    if L::P.var2 == 0 {
        for s in 0..S {
            quad(&mut st[s], c.kw2[G]);
        }
    } else {
        // General path: the whole block is treated as variable; `m[s][..4]`
        // holds its message on entry.
        if G >= 4 {
            for s in 0..S {
                let half = msg1(m[s][G - 4], m[s][G - 3]);
                m[s][G] = next_msg(half, m[s][G - 2], m[s][G - 1]);
            }
        }
        for s in 0..S {
            quad(&mut st[s], add(m[s][G], c.k[G]));
        }
    }
}

macro_rules! quads {
    ($f:ident::<$L:ty, $S:ident>($($arg:expr),*)) => {
        $f::<$L, $S, 0>($($arg),*); $f::<$L, $S, 1>($($arg),*); $f::<$L, $S, 2>($($arg),*);
        $f::<$L, $S, 3>($($arg),*); $f::<$L, $S, 4>($($arg),*); $f::<$L, $S, 5>($($arg),*);
        $f::<$L, $S, 6>($($arg),*); $f::<$L, $S, 7>($($arg),*); $f::<$L, $S, 8>($($arg),*);
        $f::<$L, $S, 9>($($arg),*); $f::<$L, $S, 10>($($arg),*); $f::<$L, $S, 11>($($arg),*);
        $f::<$L, $S, 12>($($arg),*); $f::<$L, $S, 13>($($arg),*); $f::<$L, $S, 14>($($arg),*);
        $f::<$L, $S, 15>($($arg),*);
    };
}

/// Message word `i` of the tail for one nonce: the nonce's own words
/// (`nw`, two or three of them from `pos`) or the constant tail.
#[inline(always)]
fn tail_word(p: &Plan, pos: usize, three: bool, nw: &[u32; 3], i: usize) -> u32 {
    let k = i.wrapping_sub(pos);
    if k < 2 || (k == 2 && three) {
        nw[k]
    } else {
        p.tail[i]
    }
}

/// Final states for nonces `base + s` (wrapping), `s < S`.
#[inline(always)]
fn compress<L: Layout, const S: usize>(p: &Plan, c: &Consts, base: u64) -> [St; S] {
    let pos = L::pos(p);
    let three = L::three_words(p);
    // SAFETY: SSE2 is part of the x86_64 baseline.
    let mut m = [[unsafe { _mm_setzero_si128() }; 16]; S];
    for s in 0..S {
        // This stream's tail words; only the variable vectors are rebuilt.
        let nw = p.nonce_words(pos, three, base.wrapping_add(s as u64));
        let word = |i: usize| tail_word(p, pos, three, &nw, i);
        for g in 0..4 {
            if group_var(L::SCHED1, g) {
                m[s][g] = vec4([
                    word(4 * g),
                    word(4 * g + 1),
                    word(4 * g + 2),
                    word(4 * g + 3),
                ]);
            }
        }
    }
    let mut st = [c.start; S];
    quads!(quad1::<L, S>(c, &mut m, &mut st));
    let mut h = [c.chain; S];
    for s in 0..S {
        h[s] = add_state(h[s], st[s]);
    }
    if !L::P.two_blocks {
        return h;
    }
    if L::P.var2 != 0 {
        for s in 0..S {
            let nw = p.nonce_words(pos, three, base.wrapping_add(s as u64));
            let word = |i: usize| tail_word(p, pos, three, &nw, i);
            for g in 0..4 {
                let i = 16 + 4 * g;
                m[s][g] = vec4([word(i), word(i + 1), word(i + 2), word(i + 3)]);
            }
        }
    }
    let mut st = h;
    quads!(quad2::<L, S>(c, &mut m, &mut st));
    for s in 0..S {
        h[s] = add_state(h[s], st[s]);
    }
    h
}

/// Scans `batches` batches of `S` nonces from `base` (wrapping); see
/// `lanes::scan` for the result.
///
/// # Safety
/// The CPU must support SHA, SSE2, SSSE3 and SSE4.1.
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
pub(super) unsafe fn scan<L: Layout, const S: usize>(
    p: &Plan,
    mut base: u64,
    batches: usize,
) -> Option<(u64, u32)> {
    let c = consts::<L>(p);
    for _ in 0..batches {
        let h = compress::<L, S>(p, &c, base);
        let mut mask = 0u32;
        for (s, st) in h.iter().enumerate() {
            mask |= u32::from(word0(st) <= p.target0) << s;
        }
        if mask != 0 {
            return Some((base, mask));
        }
        base = base.wrapping_add(S as u64);
    }
    None
}

/// Full final states of nonces `base + s`, `s < S`, into `out[s]`.
///
/// # Safety
/// The CPU must support SHA, SSE2, SSSE3 and SSE4.1.
#[cfg(test)]
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
pub(super) unsafe fn hash<L: Layout, const S: usize>(
    p: &Plan,
    base: u64,
    out: &mut [[u32; 8]; 16],
) {
    let c = consts::<L>(p);
    let h = compress::<L, S>(p, &c, base);
    for (s, st) in h.iter().enumerate() {
        out[s] = to_words(st);
    }
}

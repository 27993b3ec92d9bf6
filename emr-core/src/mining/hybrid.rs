//! The hybrid kernel: one thread drives the SHA unit and the vector unit
//! together.
//!
//! Each batch is 16 nonces in the lanes of an AVX-512 register (the
//! `lanes` kernel) plus `S` nonces on the SHA extensions (the `shani`
//! kernel), their rounds interleaved in the instruction stream: SHA-NI
//! quad `G` (rounds `4G..4G+4` of every SHA stream), then vector rounds
//! `4G..4G+4`, for `G` in `0..16`. `sha256rnds2` has a latency of several
//! cycles that a single SHA stream cannot hide, and the vector rounds fill
//! those cycles, so the out-of-order core keeps both units busy. Both
//! halves reuse the other kernels' steps unchanged (same layouts, same
//! precomputation), so the hybrid computes exactly what they compute.

// Kernels index parallel per-lane/per-stream/per-round arrays by one index.
#![allow(clippy::needless_range_loop)]

use super::lanes::{self, Lanes, V16};
use super::plan::{Layout, Plan};
use super::shani::{self, St};

/// Nonces per batch in the vector half: lanes `0..16`; the SHA streams are
/// lanes `16..16 + S`.
const VECTOR: usize = 16;

/// Quad `G` of the SHA streams, then the vector rounds of that quad.
macro_rules! interleave {
    ($quad:ident, $step:ident, $L:ty, $S:ident,
     ($p:expr, $c:expr, $mv:expr, $w:expr, $sv:expr, $ms:expr, $st:expr):
     $($g:literal [$($t:literal)*])*) => {
        $(
            shani::$quad::<$L, $S, $g>($c, $ms, $st);
            $( lanes::$step::<V16, $L, $t>($p, $mv, $w, $sv); )*
        )*
    };
}

/// Final states for nonces `base + i` (vector lane `i < 16`) and
/// `base + 16 + s` (SHA stream `s < S`), wrapping; `mv` holds the vector
/// half's tail words with its nonces loaded.
#[inline(always)]
fn compress<L: Layout, const S: usize>(
    p: &Plan,
    c: &shani::Consts,
    mv: &[V16; 32],
    base: u64,
) -> ([V16; 8], [St; S]) {
    let sha_base = base.wrapping_add(VECTOR as u64);
    let mut ms = shani::messages1::<L, S>(p, sha_base);
    let mut st = [c.start; S];
    let mut w = [V16::splat(0); 64];
    let mut sv: [V16; 8] = lanes::splat_all(&p.skipped);
    interleave!(quad1, step1, L, S, (p, c, mv, &mut w, &mut sv, &mut ms, &mut st):
        0 [0 1 2 3] 1 [4 5 6 7] 2 [8 9 10 11] 3 [12 13 14 15]
        4 [16 17 18 19] 5 [20 21 22 23] 6 [24 25 26 27] 7 [28 29 30 31]
        8 [32 33 34 35] 9 [36 37 38 39] 10 [40 41 42 43] 11 [44 45 46 47]
        12 [48 49 50 51] 13 [52 53 54 55] 14 [56 57 58 59] 15 [60 61 62 63]);
    let mut hv: [V16; 8] = lanes::splat_all(&p.midstate);
    for i in 0..8 {
        hv[i] = hv[i].add(sv[i]);
    }
    let mut hs = [c.chain; S];
    for s in 0..S {
        hs[s] = shani::add_state(hs[s], st[s]);
    }
    if !L::P.two_blocks {
        return (hv, hs);
    }
    shani::messages2::<L, S>(p, sha_base, &mut ms);
    let mut sv = hv;
    let mut st = hs;
    interleave!(quad2, step2, L, S, (p, c, mv, &mut w, &mut sv, &mut ms, &mut st):
        0 [0 1 2 3] 1 [4 5 6 7] 2 [8 9 10 11] 3 [12 13 14 15]
        4 [16 17 18 19] 5 [20 21 22 23] 6 [24 25 26 27] 7 [28 29 30 31]
        8 [32 33 34 35] 9 [36 37 38 39] 10 [40 41 42 43] 11 [44 45 46 47]
        12 [48 49 50 51] 13 [52 53 54 55] 14 [56 57 58 59] 15 [60 61 62 63]);
    for i in 0..8 {
        hv[i] = hv[i].add(sv[i]);
    }
    for s in 0..S {
        hs[s] = shani::add_state(hs[s], st[s]);
    }
    (hv, hs)
}

/// Scans `batches` batches of `16 + S` nonces from `base` (wrapping); see
/// `lanes::scan` for the result (lane `16 + s` is SHA stream `s`).
///
/// # Safety
/// The CPU must support AVX-512F, SHA, SSE2, SSSE3 and SSE4.1.
#[target_feature(enable = "avx512f,sha,sse2,ssse3,sse4.1")]
pub(super) unsafe fn scan<L: Layout, const S: usize>(
    p: &Plan,
    mut base: u64,
    batches: usize,
) -> Option<(u64, u32)> {
    let c = shani::consts::<L>(p);
    let mut mv = lanes::initial_message::<V16>(p);
    for _ in 0..batches {
        lanes::load_nonces::<V16, L>(p, &mut mv, base);
        let (hv, hs) = compress::<L, S>(p, &c, &mv, base);
        let mut mask = hv[0].le_mask(p.target0);
        for s in 0..S {
            mask |= u32::from(shani::word0(&hs[s]) <= p.target0) << (VECTOR + s);
        }
        if mask != 0 {
            return Some((base, mask));
        }
        base = base.wrapping_add((VECTOR + S) as u64);
    }
    None
}

/// Full final states of nonces `base + i`, `i < 16 + S`, into `out[i]`.
///
/// # Safety
/// The CPU must support AVX-512F, SHA, SSE2, SSSE3 and SSE4.1.
#[cfg(test)]
#[target_feature(enable = "avx512f,sha,sse2,ssse3,sse4.1")]
pub(super) unsafe fn hash<L: Layout, const S: usize>(p: &Plan, base: u64, out: &mut [[u32; 8]; 32]) {
    let c = shani::consts::<L>(p);
    let mut mv = lanes::initial_message::<V16>(p);
    lanes::load_nonces::<V16, L>(p, &mut mv, base);
    let (hv, hs) = compress::<L, S>(p, &c, &mv, base);
    for (j, word) in hv.iter().enumerate() {
        let mut lanes = [0u32; 16];
        word.store(&mut lanes);
        for i in 0..VECTOR {
            out[i][j] = lanes[i];
        }
    }
    for s in 0..S {
        out[VECTOR + s] = shani::to_words(&hs[s]);
    }
}

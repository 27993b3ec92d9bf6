//! The lane-parallel kernel: one nonce per 32-bit lane.
//!
//! The SHA-256 logic is written once, generically over [`Lanes`], and is
//! instantiated for a plain `u32` (the scalar engine), for 8 lanes in an AVX2
//! `__m256i` and for 16 lanes in an AVX-512 `__m512i`. The vector types only
//! supply the primitive operations, so the AVX2 tests exercise exactly the
//! round and schedule logic the AVX-512 engine runs.
//!
//! Every round index is a compile-time constant (the rounds are unrolled by
//! a macro), so the layout's masks of nonce-dependent words fold away and
//! each instantiation keeps only the work that depends on the nonce.

// Kernels index parallel per-lane/per-stream/per-round arrays by one index.
#![allow(clippy::needless_range_loop)]

use super::plan::{Layout, Plan, K};

/// Lanes of 32-bit words, processed in lockstep.
///
/// Implementations for SIMD types may only be used inside functions compiled
/// with the matching target features, reached after runtime detection.
pub(super) trait Lanes: Copy {
    /// Number of lanes (at most 16).
    const N: usize;
    /// Every lane set to `x`.
    fn splat(x: u32) -> Self;
    /// Lane `i` set to `a[i]`, for `i < N`.
    fn load(a: &[u32; 16]) -> Self;
    /// Lane `i` stored to `a[i]`, for `i < N`.
    #[cfg(test)]
    fn store(self, a: &mut [u32; 16]);
    /// Lane-wise wrapping addition.
    fn add(self, o: Self) -> Self;
    /// SHA-256 `σ0`.
    fn ssig0(self) -> Self;
    /// SHA-256 `σ1`.
    fn ssig1(self) -> Self;
    /// SHA-256 `Σ0`.
    fn bsig0(self) -> Self;
    /// SHA-256 `Σ1`.
    fn bsig1(self) -> Self;
    /// SHA-256 `Ch(e, f, g)`.
    fn ch(e: Self, f: Self, g: Self) -> Self;
    /// SHA-256 `Maj(a, b, c)`.
    fn maj(a: Self, b: Self, c: Self) -> Self;
    /// Bit `i` set when lane `i` is at most `t` (unsigned).
    fn le_mask(self, t: u32) -> u32;
}

impl Lanes for u32 {
    const N: usize = 1;
    #[inline(always)]
    fn splat(x: u32) -> Self {
        x
    }
    #[inline(always)]
    fn load(a: &[u32; 16]) -> Self {
        a[0]
    }
    #[cfg(test)]
    #[inline(always)]
    fn store(self, a: &mut [u32; 16]) {
        a[0] = self;
    }
    #[inline(always)]
    fn add(self, o: Self) -> Self {
        self.wrapping_add(o)
    }
    #[inline(always)]
    fn ssig0(self) -> Self {
        super::plan::small_sigma0(self)
    }
    #[inline(always)]
    fn ssig1(self) -> Self {
        super::plan::small_sigma1(self)
    }
    #[inline(always)]
    fn bsig0(self) -> Self {
        self.rotate_right(2) ^ self.rotate_right(13) ^ self.rotate_right(22)
    }
    #[inline(always)]
    fn bsig1(self) -> Self {
        self.rotate_right(6) ^ self.rotate_right(11) ^ self.rotate_right(25)
    }
    #[inline(always)]
    fn ch(e: Self, f: Self, g: Self) -> Self {
        ((f ^ g) & e) ^ g
    }
    #[inline(always)]
    fn maj(a: Self, b: Self, c: Self) -> Self {
        (a & b) | (c & (a | b))
    }
    #[inline(always)]
    fn le_mask(self, t: u32) -> u32 {
        u32::from(self <= t)
    }
}

#[cfg(target_arch = "x86_64")]
pub(super) use x86::{V16, V8};

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::Lanes;
    use core::arch::x86_64::*;

    /// 8 lanes in an AVX2 register.
    ///
    /// Only used by `scan_avx2`/`hash_avx2`, which are compiled with AVX2
    /// enabled and only called once AVX2 was detected at run time.
    #[derive(Copy, Clone)]
    #[repr(transparent)]
    pub(in crate::mining) struct V8(__m256i);

    macro_rules! ror8 {
        ($x:expr, $n:literal) => {
            _mm256_or_si256(
                _mm256_srli_epi32::<$n>($x),
                _mm256_slli_epi32::<{ 32 - $n }>($x),
            )
        };
    }

    // SAFETY (every `unsafe` block in this impl): the intrinsics need AVX2
    // (and AVX, implied by it). `V8` values are created and used only inside
    // the `#[target_feature(enable = "avx2")]` functions of this module tree,
    // which the engine dispatch calls only after `is_x86_feature_detected!`
    // reported AVX2 (see `Checked`); these `#[inline(always)]` methods are
    // inlined into them. Loads and stores go through `&[u32; 16]`, which has
    // room for the 8 lanes accessed.
    impl Lanes for V8 {
        const N: usize = 8;
        #[inline(always)]
        fn splat(x: u32) -> Self {
            unsafe { V8(_mm256_set1_epi32(x as i32)) }
        }
        #[inline(always)]
        fn load(a: &[u32; 16]) -> Self {
            unsafe { V8(_mm256_loadu_si256(a.as_ptr().cast())) }
        }
        #[cfg(test)]
        #[inline(always)]
        fn store(self, a: &mut [u32; 16]) {
            unsafe { _mm256_storeu_si256(a.as_mut_ptr().cast(), self.0) }
        }
        #[inline(always)]
        fn add(self, o: Self) -> Self {
            unsafe { V8(_mm256_add_epi32(self.0, o.0)) }
        }
        #[inline(always)]
        fn ssig0(self) -> Self {
            let x = self.0;
            unsafe {
                V8(_mm256_xor_si256(
                    _mm256_xor_si256(ror8!(x, 7), ror8!(x, 18)),
                    _mm256_srli_epi32::<3>(x),
                ))
            }
        }
        #[inline(always)]
        fn ssig1(self) -> Self {
            let x = self.0;
            unsafe {
                V8(_mm256_xor_si256(
                    _mm256_xor_si256(ror8!(x, 17), ror8!(x, 19)),
                    _mm256_srli_epi32::<10>(x),
                ))
            }
        }
        #[inline(always)]
        fn bsig0(self) -> Self {
            let x = self.0;
            unsafe {
                V8(_mm256_xor_si256(
                    _mm256_xor_si256(ror8!(x, 2), ror8!(x, 13)),
                    ror8!(x, 22),
                ))
            }
        }
        #[inline(always)]
        fn bsig1(self) -> Self {
            let x = self.0;
            unsafe {
                V8(_mm256_xor_si256(
                    _mm256_xor_si256(ror8!(x, 6), ror8!(x, 11)),
                    ror8!(x, 25),
                ))
            }
        }
        #[inline(always)]
        fn ch(e: Self, f: Self, g: Self) -> Self {
            unsafe {
                V8(_mm256_xor_si256(
                    _mm256_and_si256(_mm256_xor_si256(f.0, g.0), e.0),
                    g.0,
                ))
            }
        }
        #[inline(always)]
        fn maj(a: Self, b: Self, c: Self) -> Self {
            unsafe {
                V8(_mm256_or_si256(
                    _mm256_and_si256(a.0, b.0),
                    _mm256_and_si256(c.0, _mm256_or_si256(a.0, b.0)),
                ))
            }
        }
        #[inline(always)]
        fn le_mask(self, t: u32) -> u32 {
            unsafe {
                let t = _mm256_set1_epi32(t as i32);
                let le = _mm256_cmpeq_epi32(_mm256_max_epu32(self.0, t), t);
                _mm256_movemask_ps(_mm256_castsi256_ps(le)) as u32
            }
        }
    }

    /// 16 lanes in an AVX-512 register.
    ///
    /// Only used by `scan_avx512`/`hash_avx512`, which are compiled with
    /// AVX-512F enabled and only called once AVX-512F was detected at run
    /// time. It shares all SHA-256 logic with the AVX2 and scalar
    /// instantiations; only these primitives differ (and the engine tests
    /// run it wherever AVX-512F is present, e.g. AMD Zen 5).
    #[derive(Copy, Clone)]
    #[repr(transparent)]
    pub(in crate::mining) struct V16(__m512i);

    // SAFETY (every `unsafe` block in this impl): the intrinsics need
    // AVX-512F. `V16` values are created and used only inside the
    // `#[target_feature(enable = "avx512f")]` functions of this module tree,
    // which the engine dispatch calls only after `is_x86_feature_detected!`
    // reported AVX-512F (see `Checked`); these `#[inline(always)]` methods are
    // inlined into them. Loads and stores go through `&[u32; 16]`, exactly
    // the 64 bytes accessed.
    impl Lanes for V16 {
        const N: usize = 16;
        #[inline(always)]
        fn splat(x: u32) -> Self {
            unsafe { V16(_mm512_set1_epi32(x as i32)) }
        }
        #[inline(always)]
        fn load(a: &[u32; 16]) -> Self {
            unsafe { V16(_mm512_loadu_si512(a.as_ptr().cast())) }
        }
        #[cfg(test)]
        #[inline(always)]
        fn store(self, a: &mut [u32; 16]) {
            unsafe { _mm512_storeu_si512(a.as_mut_ptr().cast(), self.0) }
        }
        #[inline(always)]
        fn add(self, o: Self) -> Self {
            unsafe { V16(_mm512_add_epi32(self.0, o.0)) }
        }
        #[inline(always)]
        fn ssig0(self) -> Self {
            let x = self.0;
            unsafe {
                V16(_mm512_ternarylogic_epi32::<0x96>(
                    _mm512_ror_epi32::<7>(x),
                    _mm512_ror_epi32::<18>(x),
                    _mm512_srli_epi32::<3>(x),
                ))
            }
        }
        #[inline(always)]
        fn ssig1(self) -> Self {
            let x = self.0;
            unsafe {
                V16(_mm512_ternarylogic_epi32::<0x96>(
                    _mm512_ror_epi32::<17>(x),
                    _mm512_ror_epi32::<19>(x),
                    _mm512_srli_epi32::<10>(x),
                ))
            }
        }
        #[inline(always)]
        fn bsig0(self) -> Self {
            let x = self.0;
            unsafe {
                V16(_mm512_ternarylogic_epi32::<0x96>(
                    _mm512_ror_epi32::<2>(x),
                    _mm512_ror_epi32::<13>(x),
                    _mm512_ror_epi32::<22>(x),
                ))
            }
        }
        #[inline(always)]
        fn bsig1(self) -> Self {
            let x = self.0;
            unsafe {
                V16(_mm512_ternarylogic_epi32::<0x96>(
                    _mm512_ror_epi32::<6>(x),
                    _mm512_ror_epi32::<11>(x),
                    _mm512_ror_epi32::<25>(x),
                ))
            }
        }
        #[inline(always)]
        fn ch(e: Self, f: Self, g: Self) -> Self {
            // Truth table of `e ? f : g` over (e, f, g) = bits (2, 1, 0).
            unsafe { V16(_mm512_ternarylogic_epi32::<0xca>(e.0, f.0, g.0)) }
        }
        #[inline(always)]
        fn maj(a: Self, b: Self, c: Self) -> Self {
            // Truth table of majority(a, b, c).
            unsafe { V16(_mm512_ternarylogic_epi32::<0xe8>(a.0, b.0, c.0)) }
        }
        #[inline(always)]
        fn le_mask(self, t: u32) -> u32 {
            unsafe { u32::from(_mm512_cmple_epu32_mask(self.0, _mm512_set1_epi32(t as i32))) }
        }
    }
}

/// Every word of `x` broadcast (a plain loop: `array::map` would not be
/// inlined into the target-feature kernels).
#[inline(always)]
fn splat_all<V: Lanes, const N: usize>(x: &[u32; N]) -> [V; N] {
    let mut out = [V::splat(0); N];
    for i in 0..N {
        out[i] = V::splat(x[i]);
    }
    out
}

/// One round, `kw = K[t] + W[t]`.
#[inline(always)]
fn round<V: Lanes>(s: &mut [V; 8], kw: V) {
    let [a, b, c, d, e, f, g, h] = *s;
    let t1 = h.add(e.bsig1()).add(V::ch(e, f, g)).add(kw);
    let t2 = a.bsig0().add(V::maj(a, b, c));
    *s = [t1.add(t2), a, b, c, d.add(t1), e, f, g];
}

#[inline(always)]
const fn bit(mask: u64, t: usize) -> bool {
    (mask >> t) & 1 == 1
}

/// Block 1, step `T`: schedule word `T` (if it varies) and round `T` (if
/// not precomputed).
#[inline(always)]
fn step1<V: Lanes, L: Layout, const T: usize>(
    p: &Plan,
    m: &[V; 32],
    w: &mut [V; 64],
    s: &mut [V; 8],
) {
    let var = bit(L::SCHED1, T);
    if var {
        if T < 16 {
            w[T] = m[T];
        } else {
            let mut x = V::splat(p.sched1[T]);
            if bit(L::SCHED1, T.wrapping_sub(2)) {
                x = x.add(w[T - 2].ssig1());
            }
            if bit(L::SCHED1, T.wrapping_sub(7)) {
                x = x.add(w[T - 7]);
            }
            if bit(L::SCHED1, T.wrapping_sub(15)) {
                x = x.add(w[T - 15].ssig0());
            }
            if bit(L::SCHED1, T.wrapping_sub(16)) {
                x = x.add(w[T - 16]);
            }
            w[T] = x;
        }
    }
    if T >= L::P.skip {
        let kw = if var {
            w[T].add(V::splat(K[T]))
        } else {
            V::splat(p.kw1[T])
        };
        round(s, kw);
    }
}

/// Block 2, step `T`.
#[inline(always)]
fn step2<V: Lanes, L: Layout, const T: usize>(
    p: &Plan,
    m: &[V; 32],
    w: &mut [V; 64],
    s: &mut [V; 8],
) {
    if L::P.var2 == 0 {
        round(s, V::splat(p.kw2[T]));
    } else {
        // General path: every word of block 2 treated as variable.
        w[T] = if T < 16 {
            m[16 + T]
        } else {
            w[T - 2]
                .ssig1()
                .add(w[T - 7])
                .add(w[T - 15].ssig0())
                .add(w[T - 16])
        };
        round(s, w[T].add(V::splat(K[T])));
    }
}

macro_rules! steps {
    ($f:ident::<$V:ty, $L:ty> $args:tt : $($t:literal)*) => {
        $( $f::<$V, $L, $t> $args; )*
    };
}

/// The final state for the lanes' nonces; `m` holds the tail words, of which
/// only the layout's variable ones are read.
#[inline(always)]
pub(super) fn compress_tail<V: Lanes, L: Layout>(p: &Plan, m: &[V; 32]) -> [V; 8] {
    let mut w = [V::splat(0); 64];
    let mut s: [V; 8] = splat_all(&p.skipped);
    steps!(step1::<V, L>(p, m, &mut w, &mut s) :
        0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31
        32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63);
    let mut h: [V; 8] = splat_all(&p.midstate);
    for i in 0..8 {
        h[i] = h[i].add(s[i]);
    }
    if !L::P.two_blocks {
        return h;
    }
    let mut s = h;
    steps!(step2::<V, L>(p, m, &mut w, &mut s) :
        0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31
        32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63);
    for i in 0..8 {
        h[i] = h[i].add(s[i]);
    }
    h
}

/// Places the lanes' nonce words (nonces `base + i`, wrapping) into `m`.
#[inline(always)]
fn load_nonces<V: Lanes, L: Layout>(p: &Plan, m: &mut [V; 32], base: u64) {
    let pos = L::pos(p);
    let three = L::three_words(p);
    let mut lanes = [[0u32; 16]; 3];
    for i in 0..V::N {
        let words = p.nonce_words(pos, three, base.wrapping_add(i as u64));
        lanes[0][i] = words[0];
        lanes[1][i] = words[1];
        lanes[2][i] = words[2];
    }
    m[pos] = V::load(&lanes[0]);
    m[pos + 1] = V::load(&lanes[1]);
    if three {
        m[pos + 2] = V::load(&lanes[2]);
    }
}

#[inline(always)]
fn initial_message<V: Lanes>(p: &Plan) -> [V; 32] {
    splat_all(&p.tail)
}

/// Scans `batches` batches of `V::N` nonces from `base` (wrapping). Returns
/// the first batch's base whose lanes include a candidate (first id word at
/// most the target's), with the candidate lanes as a bit mask.
#[inline(always)]
pub(super) fn scan<V: Lanes, L: Layout>(
    p: &Plan,
    mut base: u64,
    batches: usize,
) -> Option<(u64, u32)> {
    let mut m = initial_message::<V>(p);
    for _ in 0..batches {
        load_nonces::<V, L>(p, &mut m, base);
        let h = compress_tail::<V, L>(p, &m);
        let mask = h[0].le_mask(p.target0);
        if mask != 0 {
            return Some((base, mask));
        }
        base = base.wrapping_add(V::N as u64);
    }
    None
}

/// The full final states of one batch from `base` (lane `i`: nonce
/// `base + i`), into `out[i]`.
#[cfg(test)]
#[inline(always)]
pub(super) fn hash_batch<V: Lanes, L: Layout>(p: &Plan, base: u64, out: &mut [[u32; 8]; 16]) {
    let mut m = initial_message::<V>(p);
    load_nonces::<V, L>(p, &mut m, base);
    let h = compress_tail::<V, L>(p, &m);
    for (j, word) in h.iter().enumerate() {
        let mut lanes = [0u32; 16];
        word.store(&mut lanes);
        for i in 0..V::N {
            out[i][j] = lanes[i];
        }
    }
}

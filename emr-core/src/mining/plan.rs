//! Everything about a search that does not depend on the nonce.
//!
//! The message hashed for a nonce is `prefix ‖ LE64(nonce)`. Let `r` be
//! `prefix.len() % 64`. The prefix's full 64-byte blocks are compressed once
//! into a *midstate*; what is left, the *tail*, is `r` prefix bytes, the 8
//! nonce bytes and the SHA-256 padding (`0x80`, zeros, the 64-bit bit length):
//!
//! * `r <= 47`: the tail is one block, and only it is compressed per nonce.
//! * `48 <= r <= 56`: the nonce still fits in the first tail block but the
//!   padding spills into a second block.
//! * `r >= 57`: the nonce straddles the two tail blocks.
//!
//! A block header prefix (`previous ‖ miner ‖ n txids ‖ LE64(timestamp) ‖
//! LE128(difficulty)`) is `76 + 32 n` bytes long, so `r` is 12 for even `n`
//! (nonce in message words 3 and 4) and 44 for odd `n` (words 11 and 12):
//! always one tail block. Those two layouts get kernels specialised at
//! compile time; any other prefix length takes a general, slower path that
//! is equally correct (one or two tail blocks, every word treated as
//! nonce-dependent, only the midstate precomputed).
//!
//! Per nonce, only 2 or 3 message words change (the nonce's 8 bytes cover
//! `[r, r + 8)`). The rounds before the first of them are the same for every
//! nonce and are precomputed, and so is every message-schedule word, or the
//! part of a schedule word, that depends only on constant words.

// Kernels index parallel per-lane/per-stream/per-round arrays by one index.
#![allow(clippy::needless_range_loop)]

/// SHA-256 round constants.
pub(super) const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

/// SHA-256 initial hash value.
pub(super) const IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

#[inline(always)]
pub(super) const fn small_sigma0(x: u32) -> u32 {
    x.rotate_right(7) ^ x.rotate_right(18) ^ (x >> 3)
}

#[inline(always)]
pub(super) const fn small_sigma1(x: u32) -> u32 {
    x.rotate_right(17) ^ x.rotate_right(19) ^ (x >> 10)
}

#[inline(always)]
const fn big_sigma0(x: u32) -> u32 {
    x.rotate_right(2) ^ x.rotate_right(13) ^ x.rotate_right(22)
}

#[inline(always)]
const fn big_sigma1(x: u32) -> u32 {
    x.rotate_right(6) ^ x.rotate_right(11) ^ x.rotate_right(25)
}

/// One SHA-256 round on a scalar state, `kw = K[t] + W[t]`.
#[inline(always)]
fn scalar_round(s: &mut [u32; 8], kw: u32) {
    let [a, b, c, d, e, f, g, h] = *s;
    let t1 = h
        .wrapping_add(big_sigma1(e))
        .wrapping_add((e & f) ^ (!e & g))
        .wrapping_add(kw);
    let t2 = big_sigma0(a).wrapping_add((a & b) ^ (a & c) ^ (b & c));
    *s = [t1.wrapping_add(t2), a, b, c, d.wrapping_add(t1), e, f, g];
}

/// The 64 message-schedule words of one block.
fn expand(block: &[u32; 16]) -> [u32; 64] {
    let mut w = [0u32; 64];
    w[..16].copy_from_slice(block);
    for t in 16..64 {
        w[t] = small_sigma1(w[t - 2])
            .wrapping_add(w[t - 7])
            .wrapping_add(small_sigma0(w[t - 15]))
            .wrapping_add(w[t - 16]);
    }
    w
}

/// The SHA-256 compression function (portable reference).
pub(super) fn compress(state: &mut [u32; 8], block: &[u32; 16]) {
    let w = expand(block);
    let mut s = *state;
    for t in 0..64 {
        scalar_round(&mut s, K[t].wrapping_add(w[t]));
    }
    for i in 0..8 {
        state[i] = state[i].wrapping_add(s[i]);
    }
}

/// Big-endian words of a 64-byte block.
fn block_words(bytes: &[u8]) -> [u32; 16] {
    let mut w = [0u32; 16];
    for (i, chunk) in bytes.chunks_exact(4).enumerate() {
        w[i] = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
    }
    w
}

/// Bit `t` set: schedule word `t` (0..64) depends on the nonce, given the
/// message words (bits 0..16 of `var_words`) that do.
pub(super) const fn schedule_mask(var_words: u16) -> u64 {
    let mut m = var_words as u64;
    let mut t = 16;
    while t < 64 {
        let deps = (m >> (t - 2)) | (m >> (t - 7)) | (m >> (t - 15)) | (m >> (t - 16));
        m |= (deps & 1) << t;
        t += 1;
    }
    m
}

/// Which kernel a prefix length calls for (see the module docs).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum LayoutKind {
    /// `r == 12`: headers with an even number of txids.
    At12,
    /// `r == 44`: headers with an odd number of txids.
    At44,
    /// Any other `r <= 47`.
    AnyOneBlock,
    /// Any other `r >= 48`.
    AnyTwoBlocks,
}

/// Compile-time description of a tail layout, shared by every kernel.
pub(super) struct LayoutParams {
    /// Tail blocks per nonce (1 or 2).
    pub two_blocks: bool,
    /// Bit `j`: word `j` of the first tail block depends on the nonce.
    pub var1: u16,
    /// Same for the second tail block (0: that block's message is constant).
    pub var2: u16,
    /// Rounds of the first block that are precomputed.
    pub skip: usize,
}

impl LayoutParams {
    /// The exact layout for a nonce at tail offset `r` (used for the
    /// specialised kernels).
    pub(super) const fn exact(r: usize) -> LayoutParams {
        let first = r / 4;
        let last = (r + 7) / 4; // inclusive
        let mut mask: u32 = 0;
        let mut w = first;
        while w <= last {
            mask |= 1 << w;
            w += 1;
        }
        LayoutParams {
            two_blocks: r > 47,
            var1: (mask & 0xffff) as u16,
            var2: (mask >> 16) as u16,
            skip: first,
        }
    }

    /// The layout of [`LayoutParams::exact`]`(r)`, for `r % 4 == 0`, once the
    /// nonce's high 32-bit word is folded into the plan
    /// ([`Plan::with_high_word`]): only the low word, word `r / 4`, varies,
    /// so the schedule words that depend on the high word alone are
    /// precomputed as well.
    pub(super) const fn low_word(r: usize) -> LayoutParams {
        LayoutParams {
            two_blocks: false,
            var1: 1 << (r / 4),
            var2: 0,
            skip: r / 4,
        }
    }

    /// A layout that treats every message word as variable (general path).
    pub(super) const fn general(two_blocks: bool) -> LayoutParams {
        LayoutParams {
            two_blocks,
            var1: 0xffff,
            var2: if two_blocks { 0xffff } else { 0 },
            skip: 0,
        }
    }

    /// Number of rounds the SHA-NI kernel skips: it works two rounds at a
    /// time.
    pub(super) const fn skip_pairs(&self) -> usize {
        self.skip & !1
    }
}

/// A tail layout known at compile time; selects the constants a kernel uses.
pub(super) trait Layout {
    /// The layout's parameters.
    const P: LayoutParams;
    /// Bit `t`: schedule word `t` of tail block 1 depends on the nonce.
    const SCHED1: u64 = schedule_mask(Self::P.var1);
    /// Whether the word positions of the nonce are the compile-time ones
    /// (`Some(first word)`) or come from the plan (`None`).
    const POS: Option<usize>;
    /// Whether the nonce covers 3 words (`r % 4 != 0`).
    const THREE_WORDS: bool;

    /// Index of the first nonce word in the tail (0..16).
    #[inline(always)]
    fn pos(p: &Plan) -> usize {
        match Self::POS {
            Some(pos) => pos,
            None => p.pos,
        }
    }

    /// Whether the nonce covers 3 words.
    #[inline(always)]
    fn three_words(p: &Plan) -> bool {
        match Self::POS {
            Some(_) => Self::THREE_WORDS,
            None => p.three_words,
        }
    }
}

/// Layout of a header with an even number of txids.
pub(super) struct At12;
impl Layout for At12 {
    const P: LayoutParams = LayoutParams::exact(12);
    const POS: Option<usize> = Some(3);
    const THREE_WORDS: bool = false;
}

/// Layout of a header with an odd number of txids.
pub(super) struct At44;
impl Layout for At44 {
    const P: LayoutParams = LayoutParams::exact(44);
    const POS: Option<usize> = Some(11);
    const THREE_WORDS: bool = false;
}

/// [`At12`] with the nonce's high word in the plan (see
/// [`Plan::with_high_word`]).
pub(super) struct At12Low;
impl Layout for At12Low {
    const P: LayoutParams = LayoutParams::low_word(12);
    const POS: Option<usize> = Some(3);
    const THREE_WORDS: bool = false;
}

/// [`At44`] with the nonce's high word in the plan.
pub(super) struct At44Low;
impl Layout for At44Low {
    const P: LayoutParams = LayoutParams::low_word(44);
    const POS: Option<usize> = Some(11);
    const THREE_WORDS: bool = false;
}

/// Any one-block layout.
pub(super) struct AnyOneBlock;
impl Layout for AnyOneBlock {
    const P: LayoutParams = LayoutParams::general(false);
    const POS: Option<usize> = None;
    const THREE_WORDS: bool = true;
}

/// Any two-block layout.
pub(super) struct AnyTwoBlocks;
impl Layout for AnyTwoBlocks {
    const P: LayoutParams = LayoutParams::general(true);
    const POS: Option<usize> = None;
    const THREE_WORDS: bool = true;
}

impl LayoutKind {
    /// The kernel a prefix of `len` bytes calls for.
    pub(super) const fn of_len(len: usize) -> LayoutKind {
        match len % 64 {
            12 => LayoutKind::At12,
            44 => LayoutKind::At44,
            0..=47 => LayoutKind::AnyOneBlock,
            _ => LayoutKind::AnyTwoBlocks,
        }
    }

    /// The parameters the plan must be precomputed for.
    const fn params(self) -> LayoutParams {
        match self {
            LayoutKind::At12 => At12::P,
            LayoutKind::At44 => At44::P,
            LayoutKind::AnyOneBlock => AnyOneBlock::P,
            LayoutKind::AnyTwoBlocks => AnyTwoBlocks::P,
        }
    }
}

/// The nonce-independent precomputation for one prefix and target.
pub(super) struct Plan {
    /// Which kernel applies.
    pub kind: LayoutKind,
    /// State after the prefix's full blocks.
    pub midstate: [u32; 8],
    /// Message words of the tail (two blocks), with the nonce bytes zero.
    pub tail: [u32; 32],
    /// First tail word holding a nonce byte (0..16).
    pub pos: usize,
    /// Whether the nonce covers 3 words (`r % 4 != 0`).
    pub three_words: bool,
    /// Left shift placing the byte-swapped nonce in a 96-bit big-endian
    /// window over words `pos..pos+3`.
    pub shift: u32,
    /// State after the precomputed rounds of block 1 (`P.skip` rounds).
    pub skipped: [u32; 8],
    /// State after `P.skip_pairs()` rounds of block 1 (SHA-NI).
    pub skipped_pairs: [u32; 8],
    /// Block 1 schedule: the full word where it is constant, else the sum of
    /// its constant terms (for `t < 16`, the constant part of the word).
    pub sched1: [u32; 64],
    /// `K[t] + sched1[t]`.
    pub kw1: [u32; 64],
    /// `K[t] + W[t]` of block 2, when its message is constant.
    pub kw2: [u32; 64],
    /// The target, big-endian.
    pub target: [u8; 32],
    /// The target's first word: an id whose first word is above it fails.
    pub target0: u32,
}

impl Plan {
    /// Precomputes everything for `prefix` and `target`.
    pub(super) fn new(prefix: &[u8], target: [u8; 32]) -> Plan {
        let r = prefix.len() % 64;
        let kind = LayoutKind::of_len(prefix.len());
        let params = kind.params();

        let full = prefix.len() - r;
        let mut midstate = IV;
        for block in prefix[..full].chunks_exact(64) {
            compress(&mut midstate, &block_words(block));
        }

        let mut bytes = [0u8; 128];
        bytes[..r].copy_from_slice(&prefix[full..]);
        bytes[r + 8] = 0x80;
        let blocks = if r <= 47 { 1 } else { 2 };
        debug_assert_eq!(blocks == 2, params.two_blocks);
        // The SHA-256 length field is the message length in bits mod 2^64.
        let bit_len = (prefix.len() as u64).wrapping_add(8).wrapping_mul(8);
        bytes[64 * blocks - 8..64 * blocks].copy_from_slice(&bit_len.to_be_bytes());
        let mut tail = [0u32; 32];
        tail[..16].copy_from_slice(&block_words(&bytes[..64]));
        tail[16..].copy_from_slice(&block_words(&bytes[64..]));

        Plan::precompute(kind, params, midstate, tail, r, target)
    }

    /// For a header layout ([`LayoutKind::At12`] or [`LayoutKind::At44`]):
    /// the plan for the nonces whose high 32-bit word is `high`, for the
    /// [`At12Low`] / [`At44Low`] kernels, which vary only the low word. A
    /// search makes one per 2^32 nonces.
    pub(super) fn with_high_word(&self, high: u32) -> Plan {
        debug_assert!(matches!(self.kind, LayoutKind::At12 | LayoutKind::At44));
        let mut tail = self.tail;
        // The nonce's bytes 4..8, read big-endian, as `nonce_words` places them.
        tail[self.pos + 1] |= high.swap_bytes();
        let r = 4 * self.pos;
        Plan::precompute(self.kind, LayoutParams::low_word(r), self.midstate, tail, r, self.target)
    }

    /// The nonce-independent work for a tail (nonce bytes zero, except those
    /// `params` treats as constant) at offset `r`, after `midstate`.
    fn precompute(
        kind: LayoutKind,
        params: LayoutParams,
        midstate: [u32; 8],
        tail: [u32; 32],
        r: usize,
        target: [u8; 32],
    ) -> Plan {
        // Block 1 schedule, split into constant values and constant parts.
        let mask = schedule_mask(params.var1);
        let var = |t: usize| (mask >> t) & 1 == 1;
        let mut sched1 = [0u32; 64];
        sched1[..16].copy_from_slice(&tail[..16]);
        for t in 16..64 {
            let mut x = 0u32;
            if !var(t - 2) {
                x = x.wrapping_add(small_sigma1(sched1[t - 2]));
            }
            if !var(t - 7) {
                x = x.wrapping_add(sched1[t - 7]);
            }
            if !var(t - 15) {
                x = x.wrapping_add(small_sigma0(sched1[t - 15]));
            }
            if !var(t - 16) {
                x = x.wrapping_add(sched1[t - 16]);
            }
            sched1[t] = x;
        }
        let mut kw1 = [0u32; 64];
        for t in 0..64 {
            kw1[t] = K[t].wrapping_add(sched1[t]);
        }

        // Rounds before the first nonce word see constant words only.
        let mut skipped = midstate;
        let mut skipped_pairs = midstate;
        for t in 0..params.skip {
            debug_assert!(!var(t));
            scalar_round(&mut skipped, kw1[t]);
            if t + 1 == params.skip_pairs() {
                skipped_pairs = skipped;
            }
        }

        let mut kw2 = [0u32; 64];
        if params.two_blocks && params.var2 == 0 {
            let mut block2 = [0u32; 16];
            block2.copy_from_slice(&tail[16..]);
            let w = expand(&block2);
            for t in 0..64 {
                kw2[t] = K[t].wrapping_add(w[t]);
            }
        }

        let target0 = u32::from_be_bytes([target[0], target[1], target[2], target[3]]);
        Plan {
            kind,
            midstate,
            tail,
            pos: r / 4,
            three_words: r & 3 != 0,
            shift: 8 * (4 - (r % 4) as u32),
            skipped,
            skipped_pairs,
            sched1,
            kw1,
            kw2,
            target,
            target0,
        }
    }

    /// The tail words `pos`, `pos + 1`, `pos + 2` for `nonce`, constant bytes
    /// included (the third is meaningful only when `three_words`).
    #[inline(always)]
    pub(super) fn nonce_words(&self, pos: usize, three: bool, nonce: u64) -> [u32; 3] {
        // The nonce's bytes, least significant first, read big-endian are
        // `nonce.swap_bytes()`; place them at byte `r % 4` of a 12-byte window.
        let shift = if three { self.shift } else { 32 };
        let v = u128::from(nonce.swap_bytes()) << shift;
        [
            self.tail[pos] | (v >> 64) as u32,
            self.tail[pos + 1] | (v >> 32) as u32,
            self.tail[pos + 2] | v as u32,
        ]
    }

    /// The full id for `nonce`, with the portable compression function:
    /// the reference the kernels are tested against, independent of them.
    #[cfg(test)]
    pub(super) fn hash_reference(&self, nonce: u64) -> [u8; 32] {
        let mut tail = self.tail;
        let words = self.nonce_words(self.pos, self.three_words, nonce);
        let n = if self.three_words { 3 } else { 2 };
        tail[self.pos..self.pos + n].copy_from_slice(&words[..n]);
        let mut state = self.midstate;
        let mut block = [0u32; 16];
        block.copy_from_slice(&tail[..16]);
        compress(&mut state, &block);
        if self.kind.params().two_blocks {
            block.copy_from_slice(&tail[16..]);
            compress(&mut state, &block);
        }
        words_to_bytes(&state)
    }

    /// Whether `id` (big-endian) is at most the target.
    #[inline]
    pub(super) fn meets(&self, id: &[u8; 32]) -> bool {
        id <= &self.target
    }
}

/// The digest bytes of a final state.
#[cfg(test)]
pub(super) fn words_to_bytes(state: &[u32; 8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, w) in state.iter().enumerate() {
        out[4 * i..4 * i + 4].copy_from_slice(&w.to_be_bytes());
    }
    out
}

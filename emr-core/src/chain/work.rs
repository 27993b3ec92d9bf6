//! Exact 256-bit unsigned arithmetic for the difficulty rule and total work.
//!
//! `S * B` in the difficulty rule and the sum of a chain's difficulties both
//! outgrow `u128`, but never 256 bits: S is at most W difficulties, so
//! below 2^192, and B fits in 64 bits. Only the few operations those two
//! need are here.

use core::cmp::Ordering;
use core::fmt;

/// A 256-bit unsigned integer as four 64-bit limbs, least significant first.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct U256([u64; 4]);

impl U256 {
    pub(crate) const ZERO: U256 = U256([0; 4]);

    pub(crate) const fn from_u128(v: u128) -> U256 {
        U256([v as u64, (v >> 64) as u64, 0, 0])
    }

    /// The value if it fits in a `u128`.
    pub(crate) fn to_u128(self) -> Option<u128> {
        if self.0[2] != 0 || self.0[3] != 0 {
            return None;
        }
        Some(u128::from(self.0[0]) | (u128::from(self.0[1]) << 64))
    }

    /// `self + other`, saturating at 2^256-1 (out of reach for any real
    /// chain: that takes more than 2^128 blocks).
    pub(crate) fn saturating_add(self, other: U256) -> U256 {
        let mut out = [0u64; 4];
        let mut carry = false;
        for (i, limb) in out.iter_mut().enumerate() {
            let (sum, c1) = self.0[i].overflowing_add(other.0[i]);
            let (sum, c2) = sum.overflowing_add(u64::from(carry));
            *limb = sum;
            carry = c1 || c2;
        }
        if carry { U256([u64::MAX; 4]) } else { U256(out) }
    }

    /// `self * m`, or `None` past 2^256-1.
    pub(crate) fn checked_mul_u64(self, m: u64) -> Option<U256> {
        let mut out = [0u64; 4];
        let mut carry: u128 = 0;
        for (i, limb) in out.iter_mut().enumerate() {
            let wide = u128::from(self.0[i]) * u128::from(m) + carry;
            *limb = wide as u64;
            carry = wide >> 64;
        }
        if carry == 0 { Some(U256(out)) } else { None }
    }

    /// `floor(self / d)`, or `None` for `d == 0`.
    pub(crate) fn checked_div_u64(self, d: u64) -> Option<U256> {
        if d == 0 {
            return None;
        }
        let mut out = [0u64; 4];
        let mut rem: u128 = 0;
        for i in (0..4).rev() {
            let wide = (rem << 64) | u128::from(self.0[i]);
            out[i] = (wide / u128::from(d)) as u64;
            rem = wide % u128::from(d);
        }
        Some(U256(out))
    }

    /// Big-endian bytes; their lexicographic order is the numeric order.
    pub(crate) fn to_be_bytes(self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for i in 0..4 {
            out[24 - 8 * i..32 - 8 * i].copy_from_slice(&self.0[i].to_be_bytes());
        }
        out
    }

    pub(crate) fn from_be_bytes(bytes: [u8; 32]) -> U256 {
        let mut limbs = [0u64; 4];
        for (i, limb) in limbs.iter_mut().enumerate() {
            let mut word = [0u8; 8];
            word.copy_from_slice(&bytes[24 - 8 * i..32 - 8 * i]);
            *limb = u64::from_be_bytes(word);
        }
        U256(limbs)
    }

    fn is_zero(self) -> bool {
        self.0 == [0; 4]
    }

    /// `(floor(self / 10), self % 10)`, for decimal display.
    fn div_rem_10(self) -> (U256, u8) {
        let mut out = [0u64; 4];
        let mut rem: u128 = 0;
        for i in (0..4).rev() {
            let wide = (rem << 64) | u128::from(self.0[i]);
            out[i] = (wide / 10) as u64;
            rem = wide % 10;
        }
        (U256(out), rem as u8)
    }
}

impl Ord for U256 {
    fn cmp(&self, other: &U256) -> Ordering {
        self.0.iter().rev().cmp(other.0.iter().rev())
    }
}

impl PartialOrd for U256 {
    fn partial_cmp(&self, other: &U256) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A chain's total difficulty: the sum of its blocks' difficulties from
/// genesis, exact (it can exceed `u128`). Ordered numerically.
#[derive(Copy, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Work(pub(crate) U256);

impl Work {
    /// No blocks, no work.
    pub const ZERO: Work = Work(U256::ZERO);

    /// The value as a 256-bit big-endian integer.
    pub fn to_be_bytes(self) -> [u8; 32] {
        self.0.to_be_bytes()
    }

    /// The inverse of [`Work::to_be_bytes`].
    pub fn from_be_bytes(bytes: [u8; 32]) -> Work {
        Work(U256::from_be_bytes(bytes))
    }

    /// The value if it fits in a `u128`.
    pub fn to_u128(self) -> Option<u128> {
        self.0.to_u128()
    }

    /// The work of a chain that is this one plus a block of `difficulty`.
    pub(crate) fn plus(self, difficulty: u128) -> Work {
        Work(self.0.saturating_add(U256::from_u128(difficulty)))
    }
}

impl From<u128> for Work {
    fn from(v: u128) -> Work {
        Work(U256::from_u128(v))
    }
}

impl fmt::Display for Work {
    /// Decimal.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // 2^256 has 78 decimal digits.
        let mut digits = [0u8; 78];
        let mut n = self.0;
        let mut start = digits.len();
        loop {
            let (q, r) = n.div_rem_10();
            start -= 1;
            digits[start] = b'0' + r;
            n = q;
            if n.is_zero() || start == 0 {
                break;
            }
        }
        f.pad_integral(true, "", core::str::from_utf8(&digits[start..]).map_err(|_| fmt::Error)?)
    }
}

/// Why text is not a [`Work`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a total work: decimal digits below 2^256 expected")]
pub struct ParseWorkError;

impl core::str::FromStr for Work {
    type Err = ParseWorkError;

    /// Decimal digits, as [`Work`]'s `Display` writes them (a peer's
    /// advertised work, SPEC 9.1); no sign, no spaces, below 2^256.
    fn from_str(text: &str) -> Result<Work, ParseWorkError> {
        if text.is_empty() || text.len() > 78 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParseWorkError);
        }
        let mut n = U256::ZERO;
        for digit in text.bytes() {
            let ten = n.checked_mul_u64(10).ok_or(ParseWorkError)?;
            let next = ten.saturating_add(U256::from_u128(u128::from(digit - b'0')));
            if next < ten {
                return Err(ParseWorkError);
            }
            n = next;
        }
        if n == U256([u64::MAX; 4]) {
            // Saturation cannot be told from 2^256-1 itself; no chain gets there.
            return Err(ParseWorkError);
        }
        Ok(Work(n))
    }
}

impl fmt::Debug for Work {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Work({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_past_u128() {
        let max = U256::from_u128(u128::MAX);
        let doubled = max.saturating_add(max);
        assert_eq!(doubled.to_u128(), None);
        assert_eq!(doubled.checked_div_u64(2).and_then(U256::to_u128), Some(u128::MAX));
        let big = max.checked_mul_u64(u64::MAX).unwrap();
        assert_eq!(big.checked_div_u64(u64::MAX).and_then(U256::to_u128), Some(u128::MAX));
        assert_eq!(U256([u64::MAX; 4]).checked_mul_u64(2), None);
        assert_eq!(U256([u64::MAX; 4]).saturating_add(U256::from_u128(1)), U256([u64::MAX; 4]));
        assert_eq!(max.checked_div_u64(0), None);
        assert!(doubled > max && U256::from_u128(1 << 64) > U256::from_u128(u64::MAX.into()));
    }

    #[test]
    fn work_bytes_and_decimal() {
        let w = Work::from(u128::MAX).plus(1);
        assert_eq!(w.to_string(), "340282366920938463463374607431768211456");
        assert_eq!(Work::from_be_bytes(w.to_be_bytes()), w);
        assert_eq!(w.to_be_bytes()[15], 1);
        assert_eq!(Work::ZERO.to_string(), "0");
        assert_eq!(Work(U256([u64::MAX; 4])).to_string().len(), 78);
        assert!(Work::from(5) < Work::from(6));
    }
}

#[cfg(test)]
mod parse_tests {
    use super::Work;

    #[test]
    fn decimal_text_round_trips_and_bad_text_is_refused() {
        for v in [0u128, 1, 9, 10, 1_000_000_007, u128::MAX] {
            let w = Work::from(v);
            assert_eq!(w.to_string().parse::<Work>(), Ok(w));
        }
        let big = Work::from(u128::MAX).plus(u128::MAX).plus(5);
        assert_eq!(big.to_string().parse::<Work>(), Ok(big));
        for bad in ["", "-1", "+1", " 1", "1 ", "1e3", "0x10", &"9".repeat(79),
            "115792089237316195423570985008687907853269984665640564039457584007913129639936"] {
            assert!(bad.parse::<Work>().is_err(), "{bad:?}");
        }
    }
}

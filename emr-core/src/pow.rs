//! Proof of work: the difficulty type and the target test of SPEC section 3.

use core::num::NonZeroU128;

use crate::hash::Hash256;

/// A block difficulty, 1 ..= 2^128-1.
///
/// The target is `floor(2^256 / difficulty)`; difficulty 1 accepts every id.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Difficulty(NonZeroU128);

impl Difficulty {
    /// The smallest difficulty: every block id meets it.
    pub const MIN: Difficulty = Difficulty(NonZeroU128::MIN);

    /// `None` for 0, the one `u128` outside the valid range.
    pub const fn new(value: u128) -> Option<Difficulty> {
        match NonZeroU128::new(value) {
            Some(v) => Some(Difficulty(v)),
            None => None,
        }
    }

    /// The difficulty as an integer.
    pub const fn get(self) -> u128 {
        self.0.get()
    }

    /// The target as a big-endian 256-bit integer.
    ///
    /// For difficulty 1 the exact target, 2^256, does not fit in 256 bits;
    /// 2^256-1 is returned instead, which accepts exactly the same ids.
    pub fn target(self) -> [u8; 32] {
        let d = self.get();
        if d == 1 {
            return [0xff; 32];
        }
        // Bitwise long division of 2^256 by d. The running remainder stays
        // below d < 2^128, but doubling it can need 129 bits, hence `carry`.
        let mut quotient = [0u8; 32];
        let mut rem: u128 = 1; // the leading 1 bit of 2^256
        for bit in 0..256 {
            let carry = rem >> 127;
            let doubled = rem << 1;
            if carry == 1 || doubled >= d {
                rem = doubled.wrapping_sub(d);
                quotient[bit / 8] |= 0x80 >> (bit % 8);
            } else {
                rem = doubled;
            }
        }
        quotient
    }

    /// Whether `id`, read as a big-endian integer, is at most the target.
    pub fn is_met_by(self, id: &Hash256) -> bool {
        id.as_bytes() <= &self.target()
    }
}

impl core::fmt::Display for Difficulty {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id_from_u128_shifted(value: u128, shift_bytes: usize) -> Hash256 {
        let mut bytes = [0u8; 32];
        bytes[32 - 16 - shift_bytes..32 - shift_bytes].copy_from_slice(&value.to_be_bytes());
        Hash256::from_bytes(bytes)
    }

    #[test]
    fn zero_is_not_a_difficulty() {
        assert!(Difficulty::new(0).is_none());
        assert_eq!(Difficulty::new(u128::MAX).unwrap().get(), u128::MAX);
    }

    #[test]
    fn difficulty_one_accepts_every_id() {
        assert!(Difficulty::MIN.is_met_by(&Hash256::from_bytes([0xff; 32])));
    }

    #[test]
    fn difficulty_two_is_half_the_range() {
        let d = Difficulty::new(2).unwrap();
        let mut at = [0u8; 32];
        at[0] = 0x80; // 2^255 == floor(2^256 / 2)
        assert!(d.is_met_by(&Hash256::from_bytes(at)));
        at[31] = 1;
        assert!(!d.is_met_by(&Hash256::from_bytes(at)));
    }

    #[test]
    fn difficulty_three_exact_boundary() {
        let d = Difficulty::new(3).unwrap();
        // floor(2^256 / 3) = 0x5555...55
        let target = [0x55u8; 32];
        assert_eq!(d.target(), target);
        assert!(d.is_met_by(&Hash256::from_bytes(target)));
        let mut above = target;
        above[31] = 0x56;
        assert!(!d.is_met_by(&Hash256::from_bytes(above)));
    }

    #[test]
    fn largest_difficulty_boundary() {
        // floor(2^256 / (2^128-1)) = 2^128 + 1
        let d = Difficulty::new(u128::MAX).unwrap();
        let mut target = [0u8; 32];
        target[15] = 1;
        target[31] = 1;
        assert_eq!(d.target(), target);
        assert!(d.is_met_by(&Hash256::from_bytes(target)));
        let mut above = target;
        above[31] = 2;
        assert!(!d.is_met_by(&Hash256::from_bytes(above)));
        assert!(d.is_met_by(&id_from_u128_shifted(u128::MAX, 0)));
    }

    #[test]
    fn target_matches_division_for_small_difficulties() {
        for d in [5u128, 1000, 4096, 65_537, 1 << 100] {
            let t = Difficulty::new(d).unwrap().target();
            // t*d <= 2^256 < (t+1)*d, checked on the top 128 bits where
            // floor(2^256/d) >> 128 == floor(2^128/d) for these d.
            let hi = u128::from_be_bytes(t[..16].try_into().unwrap());
            assert_eq!(hi, (u128::MAX / d) + u128::from(u128::MAX % d == d - 1));
        }
    }
}

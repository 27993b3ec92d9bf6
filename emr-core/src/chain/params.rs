//! The chain's parameters (SPEC sections 5 and 8.1), fixed for a chain's life.

use crate::block::DEFAULT_BLOCK_REWARD;
use crate::hash::sha256;
use crate::keys::PublicKey;
use crate::pow::Difficulty;

use super::error::ChainError;

/// Parameters of a chain. Stored with the chain when it is created; reopening
/// it with different explicit parameters is an error.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ChainParams {
    /// The difficulty of blocks `0 ..= window`.
    pub initial_difficulty: Difficulty,
    /// Retarget window W, in blocks; at least 1.
    pub window: u64,
    /// Target block time B, in seconds; at least 1.
    pub block_time: u64,
    /// Adjustment clamp C: one retarget moves the difficulty by at most a
    /// factor of C either way; at least 1.
    pub max_adjust: u64,
    /// The miner's reward per block.
    pub block_reward: u64,
    /// The authorities whose grants decide which doctors may write (SPEC
    /// 8.1), in the order given; empty (the default) for an open chain, where
    /// anyone may write and every entry fails `unknown_authority`. Reopening
    /// a chain with another list (order included) fails with
    /// [`ChainError::AuthoritiesMismatch`].
    pub authorities: Vec<PublicKey>,
}

impl Default for ChainParams {
    /// SPEC section 5: initial difficulty 1000, W = 10, B = 12 s, C = 4,
    /// reward 10_000.
    fn default() -> ChainParams {
        ChainParams {
            // 1000 is not zero, so this never falls back.
            initial_difficulty: Difficulty::new(1000).unwrap_or(Difficulty::MIN),
            window: 10,
            block_time: 12,
            max_adjust: 4,
            block_reward: DEFAULT_BLOCK_REWARD,
            authorities: Vec::new(),
        }
    }
}

/// Bytes of the values in [`ChainParams::to_bytes`].
const VALUES_LEN: usize = 16 + 4 * 8;

/// Bytes of [`ChainParams::to_bytes`]: the values and their SHA-256.
pub(crate) const PARAMS_LEN: usize = VALUES_LEN + 32;

impl ChainParams {
    /// `invalid_argument` unless window, block time and clamp are at least
    /// 1 and no authority is listed twice.
    pub fn validate(&self) -> Result<(), ChainError> {
        for (i, authority) in self.authorities.iter().enumerate() {
            if self.authorities[..i].contains(authority) {
                return Err(ChainError::InvalidParams("an authority is listed twice"));
            }
        }
        if self.window == 0 {
            return Err(ChainError::InvalidParams("window must be at least 1"));
        }
        if self.block_time == 0 {
            return Err(ChainError::InvalidParams("block_time must be at least 1"));
        }
        if self.max_adjust == 0 {
            return Err(ChainError::InvalidParams("max_adjust must be at least 1"));
        }
        Ok(())
    }

    /// How the parameters sit in the database's `meta` table: `v ‖
    /// SHA-256(v)` with `v = LE128(initial) ‖ LE64(window) ‖
    /// LE64(block_time) ‖ LE64(max_adjust) ‖ LE64(reward)`. The digest is
    /// there because `check` can re-derive everything else from the
    /// blocks, but not the parameters they were checked under.
    pub(crate) fn to_bytes(&self) -> [u8; PARAMS_LEN] {
        let mut out = [0u8; PARAMS_LEN];
        out[..16].copy_from_slice(&self.initial_difficulty.get().to_le_bytes());
        for (i, v) in [self.window, self.block_time, self.max_adjust, self.block_reward].into_iter().enumerate() {
            out[16 + 8 * i..24 + 8 * i].copy_from_slice(&v.to_le_bytes());
        }
        let digest = sha256(&[&out[..VALUES_LEN]]);
        out[VALUES_LEN..].copy_from_slice(digest.as_bytes());
        out
    }

    /// The inverse of [`Self::to_bytes`] (the authorities, stored apart, are
    /// left empty); `None` for anything else.
    pub(crate) fn from_bytes(bytes: &[u8]) -> Option<ChainParams> {
        let bytes: &[u8; PARAMS_LEN] = bytes.try_into().ok()?;
        if sha256(&[&bytes[..VALUES_LEN]]).as_bytes() != &bytes[VALUES_LEN..] {
            return None;
        }
        let initial_difficulty = Difficulty::new(u128::from_le_bytes(bytes[..16].try_into().ok()?))?;
        let word = |i: usize| bytes[16 + 8 * i..24 + 8 * i].try_into().ok().map(u64::from_le_bytes);
        let params = ChainParams {
            initial_difficulty,
            window: word(0)?,
            block_time: word(1)?,
            max_adjust: word(2)?,
            block_reward: word(3)?,
            authorities: Vec::new(),
        };
        params.validate().ok()?;
        Some(params)
    }
}

/// How the authorities sit in the `meta` table: `LE64(n) ‖ n × (LE64(len) ‖
/// SPKI DER) ‖ SHA-256 of all before it`.
pub(crate) fn authorities_to_bytes(authorities: &[PublicKey]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(authorities.len() as u64).to_le_bytes());
    for key in authorities {
        let der = key.to_spki_der();
        out.extend_from_slice(&(der.len() as u64).to_le_bytes());
        out.extend_from_slice(&der);
    }
    let digest = sha256(&[&out]);
    out.extend_from_slice(digest.as_bytes());
    out
}

/// The inverse of [`authorities_to_bytes`]; `None` for anything else.
pub(crate) fn authorities_from_bytes(bytes: &[u8]) -> Option<Vec<PublicKey>> {
    let (body, digest) = bytes.split_at_checked(bytes.len().checked_sub(32)?)?;
    if sha256(&[body]).as_bytes()[..] != *digest {
        return None;
    }
    let mut reader = crate::codec::Reader::new(body);
    let count = reader.u64().ok()?;
    let mut out = Vec::new();
    for _ in 0..count {
        let der = reader.length_prefixed().ok()?;
        let key = PublicKey::from_spki_der(der).ok()?;
        out.push(key);
    }
    reader.finish().ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn defaults_and_validation() {
        let p = ChainParams::default();
        assert_eq!((p.initial_difficulty.get(), p.window, p.block_time, p.max_adjust, p.block_reward), (1000, 10, 12, 4, 10_000));
        assert_eq!(p.validate(), Ok(()));
        for bad in [
            ChainParams { window: 0, ..p.clone() },
            ChainParams { block_time: 0, ..p.clone() },
            ChainParams { max_adjust: 0, ..p.clone() },
        ] {
            assert_eq!(bad.validate().map_err(|e| e.kind()), Err(ErrorKind::InvalidArgument));
        }
    }

    #[test]
    fn bytes_round_trip() {
        let p = ChainParams { window: 3, block_reward: 7, ..ChainParams::default() };
        assert_eq!(ChainParams::from_bytes(&p.to_bytes()), Some(p.clone()));
        assert_eq!(ChainParams::from_bytes(&p.to_bytes()[1..]), None);
        assert_eq!(ChainParams::from_bytes(&ChainParams { window: 0, ..p.clone() }.to_bytes()), None);
        let mut flipped = p.to_bytes();
        flipped[16] ^= 1;
        assert_eq!(ChainParams::from_bytes(&flipped), None);
    }

    #[test]
    fn authorities_round_trip_and_duplicates_are_refused() {
        use crate::keys::{Curve, SigningKey};
        let keys: Vec<PublicKey> = [Curve::P256, Curve::Secp256k1]
            .into_iter()
            .map(|c| *SigningKey::generate(c).unwrap().public_key())
            .collect();
        let bytes = authorities_to_bytes(&keys);
        assert_eq!(authorities_from_bytes(&bytes), Some(keys.clone()));
        assert_eq!(authorities_from_bytes(&authorities_to_bytes(&[])), Some(vec![]));
        assert_eq!(authorities_from_bytes(&bytes[1..]), None);
        let mut flipped = bytes.clone();
        flipped[20] ^= 1;
        assert_eq!(authorities_from_bytes(&flipped), None);
        let twice = ChainParams { authorities: vec![keys[0], keys[1], keys[0]], ..ChainParams::default() };
        assert_eq!(twice.validate().map_err(|e| e.kind()), Err(ErrorKind::InvalidArgument));
    }
}

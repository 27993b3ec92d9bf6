//! The chain's parameters (SPEC sections 5 and 8.1), fixed for a chain's life.

use crate::block::DEFAULT_BLOCK_REWARD;
use crate::hash::{sha256, Hash256};
use crate::keys::PublicKey;
use crate::pow::Difficulty;

use super::error::ChainError;

/// The default of [`ChainParams::max_future`], in seconds (SPEC v1.2; it
/// was 7200 s, which let one block stamped two hours ahead drive the
/// retarget's clamp for hours).
pub const DEFAULT_MAX_FUTURE: u64 = 60;

/// Bytes of a chain's salt.
pub const SALT_LEN: usize = 16;

const CHAIN_ID_DOMAIN: &[u8] = b"cryptoemr/chain/v1";

/// Parameters of a chain. Stored with the chain when it is created; reopening
/// it with different explicit parameters is an error. They name the chain:
/// [`ChainParams::chain_id`].
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
    /// How far ahead of the caller's clock a block's timestamp may be, in
    /// seconds (`timestamp_too_late` beyond).
    pub max_future: u64,
    /// Makes the chain's id unique among chains of equal settings (a test
    /// chain and the real one). `None`: a random salt when the chain is
    /// created, and any stored salt when it is reopened.
    pub salt: Option<[u8; SALT_LEN]>,
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
            max_future: DEFAULT_MAX_FUTURE,
            salt: None,
        }
    }
}

/// Bytes of the values in [`ChainParams::to_bytes`]: format 3's, and the
/// shorter format 2 (before `max_future` and `salt`).
const VALUES_LEN: usize = 16 + 5 * 8 + SALT_LEN;
const VALUES_LEN_FORMAT_2: usize = 16 + 4 * 8;

/// Bytes of [`ChainParams::to_bytes`]: the values and their SHA-256.
pub(crate) const PARAMS_LEN: usize = VALUES_LEN + 32;

impl ChainParams {
    /// The chain's id (SPEC 5, v1.2): `SHA-256("cryptoemr/chain/v1" ‖
    /// LE128(initial_difficulty) ‖ LE64(window) ‖ LE64(block_time) ‖
    /// LE64(max_adjust) ‖ LE64(block_reward) ‖ LE64(max_future) ‖ LE16(n) ‖
    /// n × (LE16(len) ‖ authority) ‖ salt)`. Every entry names it. `None`
    /// while the salt is not chosen (before the chain is created; a chain's
    /// own parameters always have one: [`super::Chain::chain_id`]).
    pub fn chain_id(&self) -> Option<Hash256> {
        let salt = self.salt?;
        let mut out = Vec::with_capacity(CHAIN_ID_DOMAIN.len() + VALUES_LEN + 2 + self.authorities.len() * 93);
        out.extend_from_slice(CHAIN_ID_DOMAIN);
        out.extend_from_slice(&self.initial_difficulty.get().to_le_bytes());
        for v in [self.window, self.block_time, self.max_adjust, self.block_reward, self.max_future] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        // validate() bounds the list far below 2^16, and an SPKI is 88 or 91 bytes.
        let count = u16::try_from(self.authorities.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&count.to_le_bytes());
        for key in &self.authorities {
            let der = key.to_spki_der();
            out.extend_from_slice(&u16::try_from(der.len()).unwrap_or(u16::MAX).to_le_bytes());
            out.extend_from_slice(&der);
        }
        out.extend_from_slice(&salt);
        Some(sha256(&[&out]))
    }

    /// Whether a chain stored with `stored` may be opened with these
    /// parameters: equal, but for a salt left `None`, which matches any.
    pub(crate) fn matches(&self, stored: &ChainParams) -> bool {
        let salt = self.salt.or(stored.salt);
        ChainParams { salt, ..self.clone() } == *stored
    }

    /// These parameters with a salt: the given one, else a fresh random one.
    pub(crate) fn salted(mut self) -> Result<ChainParams, ChainError> {
        if self.salt.is_none() {
            use ring::rand::SecureRandom;
            let mut salt = [0u8; SALT_LEN];
            ring::rand::SystemRandom::new()
                .fill(&mut salt)
                .map_err(|_| ChainError::Io("the system's random source failed".into()))?;
            self.salt = Some(salt);
        }
        Ok(self)
    }

    /// `invalid_argument` unless window, block time and clamp are at least
    /// 1 and no authority is listed twice.
    pub fn validate(&self) -> Result<(), ChainError> {
        if self.authorities.len() > MAX_AUTHORITIES {
            return Err(ChainError::InvalidParams("at most 1000 authorities"));
        }
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
    /// LE64(block_time) ‖ LE64(max_adjust) ‖ LE64(reward) ‖
    /// LE64(max_future) ‖ salt`. The digest is there because `check` can
    /// re-derive everything else from the blocks, but not the parameters
    /// they were checked under. A salt must have been chosen (a `None`
    /// salt is stored as zeros, which a created chain never has).
    pub(crate) fn to_bytes(&self) -> [u8; PARAMS_LEN] {
        let mut out = [0u8; PARAMS_LEN];
        out[..16].copy_from_slice(&self.initial_difficulty.get().to_le_bytes());
        let words = [self.window, self.block_time, self.max_adjust, self.block_reward, self.max_future];
        for (i, v) in words.into_iter().enumerate() {
            out[16 + 8 * i..24 + 8 * i].copy_from_slice(&v.to_le_bytes());
        }
        out[VALUES_LEN - SALT_LEN..VALUES_LEN].copy_from_slice(&self.salt.unwrap_or_default());
        let digest = sha256(&[&out[..VALUES_LEN]]);
        out[VALUES_LEN..].copy_from_slice(digest.as_bytes());
        out
    }

    /// The inverse of [`Self::to_bytes`] (the authorities, stored apart, are
    /// left empty); `None` for anything else.
    pub(crate) fn from_bytes(bytes: &[u8]) -> Option<ChainParams> {
        let bytes: &[u8; PARAMS_LEN] = bytes.try_into().ok()?;
        let (values, digest) = bytes.split_at(VALUES_LEN);
        if sha256(&[values]).as_bytes()[..] != *digest {
            return None;
        }
        let mut params = Self::from_values(values)?;
        params.max_future = u64::from_le_bytes(values[48..56].try_into().ok()?);
        params.salt = Some(values[56..VALUES_LEN].try_into().ok()?);
        params.validate().ok()?;
        Some(params)
    }

    /// Format 2's stored parameters (before SPEC v1.2), with the default
    /// `max_future` and no salt; `None` for anything else.
    pub(crate) fn from_format_2_bytes(bytes: &[u8]) -> Option<ChainParams> {
        let (values, digest) = bytes.split_at_checked(VALUES_LEN_FORMAT_2)?;
        if digest.len() != 32 || sha256(&[values]).as_bytes()[..] != *digest {
            return None;
        }
        let params = Self::from_values(values)?;
        params.validate().ok()?;
        Some(params)
    }

    /// The five values every format stores first.
    fn from_values(values: &[u8]) -> Option<ChainParams> {
        let initial_difficulty = Difficulty::new(u128::from_le_bytes(values.get(..16)?.try_into().ok()?))?;
        let word = |i: usize| values.get(16 + 8 * i..24 + 8 * i)?.try_into().ok().map(u64::from_le_bytes);
        Some(ChainParams {
            initial_difficulty,
            window: word(0)?,
            block_time: word(1)?,
            max_adjust: word(2)?,
            block_reward: word(3)?,
            ..ChainParams::default()
        })
    }
}

/// Why parameters without a salt cannot check a chain's entries.
pub(crate) const MISSING_SALT: &str = "the chain's salt is needed: its entries name the chain's id";

/// The most authorities a chain may have: far more than any consortium,
/// and few enough that the chain id's `LE16` count cannot wrap.
pub const MAX_AUTHORITIES: usize = 1000;

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
        assert_eq!((p.max_future, p.salt, p.chain_id()), (60, None, None));
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
        let p = ChainParams { window: 3, block_reward: 7, max_future: 9, salt: Some([5; 16]), ..ChainParams::default() };
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

    #[test]
    fn salts_and_matching() {
        let unsalted = ChainParams::default();
        let a = unsalted.clone().salted().unwrap();
        let b = unsalted.clone().salted().unwrap();
        assert_ne!(a.salt, b.salt, "random salts");
        assert_ne!(a.chain_id(), b.chain_id());
        assert!(unsalted.matches(&a) && unsalted.matches(&b));
        assert!(a.matches(&a) && !a.matches(&b));
        assert!(!ChainParams { max_future: 61, ..unsalted.clone() }.matches(&a));
        let given = ChainParams { salt: Some([1; 16]), ..unsalted };
        assert_eq!(given.clone().salted().unwrap(), given);
    }

    #[test]
    fn format_2_parameters_read_with_the_defaults() {
        let p = ChainParams { window: 3, block_reward: 7, ..ChainParams::default() };
        let mut old = p.to_bytes()[..VALUES_LEN_FORMAT_2].to_vec();
        let digest = sha256(&[&old]);
        old.extend_from_slice(digest.as_bytes());
        assert_eq!(ChainParams::from_format_2_bytes(&old), Some(p));
        old[3] ^= 1;
        assert_eq!(ChainParams::from_format_2_bytes(&old), None);
        assert_eq!(ChainParams::from_format_2_bytes(&old[..40]), None);
    }
}

//! Hash newtypes and the two digests the protocol uses.

use core::fmt;

macro_rules! hash_newtype {
    ($name:ident, $len:expr, $doc:expr) => {
        #[doc = $doc]
        #[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name([u8; $len]);

        impl $name {
            /// Length in bytes.
            pub const LEN: usize = $len;

            /// Wraps raw bytes.
            pub const fn from_bytes(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }

            /// `None` unless `bytes` has exactly [`Self::LEN`] bytes.
            pub fn from_slice(bytes: &[u8]) -> Option<Self> {
                bytes.try_into().ok().map(Self)
            }

            /// The raw bytes.
            pub const fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            /// The raw bytes, by value.
            pub const fn to_bytes(self) -> [u8; $len] {
                self.0
            }
        }

        impl AsRef<[u8]> for $name {
            fn as_ref(&self) -> &[u8] {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), hex::encode(self.0))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&hex::encode(self.0))
            }
        }
    };
}

hash_newtype!(Hash160, 20, "A 20-byte SHA-1 hash: a doctor's, patient's or miner's identity.");
hash_newtype!(Hash256, 32, "A 32-byte SHA-256 hash: a txid, a signature hash or a block id.");

/// SHA-1 of the concatenation of `parts` (the protocol's `H160`).
pub fn sha1(parts: &[&[u8]]) -> Hash160 {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
    for part in parts {
        ctx.update(part);
    }
    Hash160(ctx.finish().as_ref().try_into().expect("SHA-1 is 20 bytes"))
}

/// SHA-256 of the concatenation of `parts`.
pub fn sha256(parts: &[&[u8]]) -> Hash256 {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for part in parts {
        ctx.update(part);
    }
    Hash256(ctx.finish().as_ref().try_into().expect("SHA-256 is 32 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digests() {
        assert_eq!(sha1(&[b"ab", b"c"]).to_string(), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(
            sha256(&[b"a", b"bc"]).to_string(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn from_slice_checks_length() {
        assert!(Hash160::from_slice(&[0; 19]).is_none());
        assert!(Hash160::from_slice(&[0; 20]).is_some());
        assert!(Hash256::from_slice(&[0; 33]).is_none());
    }
}

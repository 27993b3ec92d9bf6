//! The canonical binary encoding of records and blocks (`docs/FORMAT.md`).
//!
//! Every length is checked against the bytes that remain before anything is
//! allocated, so a decoder never allocates more than its input justifies.

use crate::error::ErrorKind;

/// Why bytes are not a canonical encoding. Every variant is of kind `decode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ends before the structure does.
    #[error("decode error: input truncated")]
    Truncated,
    /// Bytes remain after a complete structure.
    #[error("decode error: {0} trailing bytes")]
    TrailingBytes(usize),
    /// The leading tag is not the one of the expected structure.
    #[error("decode error: wrong type tag {0:#04x}")]
    WrongTag(u8),
    /// A version this library does not know.
    #[error("decode error: unsupported version {0}")]
    UnsupportedVersion(u8),
    /// A length prefix larger than the bytes that follow it.
    #[error("decode error: length {0} exceeds the input")]
    LengthTooLarge(u64),
    /// Text that is not UTF-8.
    #[error("decode error: prescription is not UTF-8")]
    InvalidUtf8,
    /// A field whose value is outside its range (a zero difficulty, ...).
    #[error("decode error: {0} out of range")]
    OutOfRange(&'static str),
}

impl DecodeError {
    /// Always [`ErrorKind::Decode`].
    pub const fn kind(&self) -> ErrorKind {
        ErrorKind::Decode
    }
}

pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(input: &'a [u8]) -> Self {
        Reader { rest: input }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.rest.len()
    }

    pub(crate) fn bytes(&mut self, len: usize) -> Result<&'a [u8], DecodeError> {
        if self.rest.len() < len {
            return Err(DecodeError::Truncated);
        }
        let (head, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(head)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    pub(crate) fn u128(&mut self) -> Result<u128, DecodeError> {
        Ok(u128::from_le_bytes(self.array()?))
    }

    /// A `LE64` length followed by that many bytes.
    pub(crate) fn length_prefixed(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.u64()?;
        match usize::try_from(len) {
            Ok(n) if n <= self.rest.len() => self.bytes(n),
            _ => Err(DecodeError::LengthTooLarge(len)),
        }
    }

    /// Checks the structure's tag and version.
    pub(crate) fn header(&mut self, tag: u8, version: u8) -> Result<(), DecodeError> {
        let actual_tag = self.u8()?;
        if actual_tag != tag {
            return Err(DecodeError::WrongTag(actual_tag));
        }
        let actual_version = self.u8()?;
        if actual_version != version {
            return Err(DecodeError::UnsupportedVersion(actual_version));
        }
        Ok(())
    }

    pub(crate) fn finish(self) -> Result<(), DecodeError> {
        match self.rest.len() {
            0 => Ok(()),
            n => Err(DecodeError::TrailingBytes(n)),
        }
    }
}

/// Appends a `LE64` length and the bytes. 64 bits so that every in-memory
/// value has an encoding and `to_bytes` cannot fail.
pub(crate) fn put_length_prefixed(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    out.extend_from_slice(bytes);
}

//! The block file (SPEC 9.1, `emr chain export`): a list of blocks as one
//! byte stream,
//!
//! ```text
//! "EMRBLKS" (7 bytes) ‖ version 0x01 ‖ LE64(n) ‖ n × (LE64(len) ‖ block's canonical encoding)
//! ```
//!
//! [`BlockFileReader`] decodes it as it is read: it holds one encoding at a
//! time, never allocates what a length field claims before the bytes are
//! there, and refuses a count or a length over the caller's limits at the
//! field that states it, so a hostile peer's body or file costs no more
//! than its limits.

use std::io::Read;

use crate::block::Block;
use crate::codec::DecodeError;

/// The file's first bytes.
pub const MAGIC: &[u8; 7] = b"EMRBLKS";
/// The only version written and read.
pub const VERSION: u8 = 1;
/// The longest block encoding accepted: far above any block that can
/// verify (about 12 KB with plain prescriptions, about 30 KB sealed), so a
/// length beyond it is refused before anything is read.
pub const MAX_BLOCK_BYTES: u64 = 16 << 20;

/// Why bytes are not a block file within its limits.
#[derive(Debug, thiserror::Error)]
pub enum BlockFileError {
    /// Reading the underlying stream failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The header or a length is wrong, or the data ends early.
    #[error("{0}")]
    Format(String),
    /// The file claims more blocks than the caller accepts.
    #[error("the file holds {count} blocks, more than the {limit} accepted")]
    TooManyBlocks {
        /// What the header claims.
        count: u64,
        /// The caller's limit.
        limit: u64,
    },
    /// One block's encoding does not decode.
    #[error("block {index}: {error}")]
    Block {
        /// Its position in the file.
        index: u64,
        /// Why.
        error: DecodeError,
    },
}

/// Writes `encodings` (each a block's canonical encoding) as a block file.
pub fn encode<'a>(encodings: impl ExactSizeIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&(encodings.len() as u64).to_le_bytes());
    for bytes in encodings {
        out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        out.extend_from_slice(bytes);
    }
    out
}

/// Writes `blocks` as a block file.
pub fn encode_blocks(blocks: &[Block]) -> Vec<u8> {
    let encodings: Vec<Vec<u8>> = blocks.iter().map(Block::to_bytes).collect();
    encode(encodings.iter().map(Vec::as_slice))
}

/// Reads a block file block by block; see the module's description.
#[derive(Debug)]
pub struct BlockFileReader<R> {
    input: R,
    count: u64,
    next: u64,
    failed: bool,
}

fn take(input: &mut impl Read, n: u64, what: &str) -> Result<Vec<u8>, BlockFileError> {
    let mut out = Vec::new();
    input.take(n).read_to_end(&mut out)?;
    if (out.len() as u64) < n {
        return Err(BlockFileError::Format(format!("the file ends inside {what}")));
    }
    Ok(out)
}

fn le64(input: &mut impl Read, what: &str) -> Result<u64, BlockFileError> {
    let bytes: [u8; 8] = take(input, 8, what)?.try_into().unwrap_or([0; 8]);
    Ok(u64::from_le_bytes(bytes))
}

impl<R: Read> BlockFileReader<R> {
    /// Reads the header: the magic, the version and the block count, which
    /// must be at most `max_blocks`.
    pub fn new(mut input: R, max_blocks: u64) -> Result<BlockFileReader<R>, BlockFileError> {
        let magic = take(&mut input, MAGIC.len() as u64, "the header")
            .map_err(|_| BlockFileError::Format("not a block file (no EMRBLKS header)".into()))?;
        if magic != MAGIC {
            return Err(BlockFileError::Format("not a block file (no EMRBLKS header)".into()));
        }
        let version = take(&mut input, 1, "the header")?[0];
        if version != VERSION {
            return Err(BlockFileError::Format(format!("block file version {version} is not supported")));
        }
        let count = le64(&mut input, "the header")?;
        if count > max_blocks {
            return Err(BlockFileError::TooManyBlocks { count, limit: max_blocks });
        }
        Ok(BlockFileReader { input, count, next: 0, failed: false })
    }

    /// The number of blocks the header announces.
    pub fn count(&self) -> u64 {
        self.count
    }

    fn read_block(&mut self) -> Result<Block, BlockFileError> {
        let index = self.next;
        let what = format!("block {index}");
        let len = le64(&mut self.input, &what)?;
        if len > MAX_BLOCK_BYTES {
            return Err(BlockFileError::Format(format!(
                "{what} claims {len} bytes, more than any block can be ({MAX_BLOCK_BYTES})"
            )));
        }
        let encoded = take(&mut self.input, len, &what)?;
        Block::from_bytes(&encoded).map_err(|error| BlockFileError::Block { index, error })
    }

    /// After the last block: refuses bytes after it.
    pub fn finish(mut self) -> Result<(), BlockFileError> {
        let trailing = std::io::copy(&mut self.input, &mut std::io::sink())?;
        if trailing > 0 {
            return Err(BlockFileError::Format(format!("{trailing} trailing bytes after the last block")));
        }
        Ok(())
    }
}

impl<R: Read> Iterator for BlockFileReader<R> {
    type Item = Result<Block, BlockFileError>;

    /// The next block; after an error, nothing more.
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.next >= self.count {
            return None;
        }
        let item = self.read_block();
        self.next += 1;
        self.failed = item.is_err();
        Some(item)
    }
}

/// Decodes a whole block file of at most `max_blocks` blocks, trailing
/// bytes refused.
pub fn decode(input: impl Read, max_blocks: u64) -> Result<Vec<Block>, BlockFileError> {
    let mut reader = BlockFileReader::new(input, max_blocks)?;
    let mut blocks = Vec::new();
    for block in reader.by_ref() {
        blocks.push(block?);
    }
    reader.finish()?;
    Ok(blocks)
}

//! The block file of `emr chain export` / `import` (`docs/CLI.md`):
//!
//! ```text
//! "EMRBLKS" (7 bytes) ‖ version 0x01 ‖ LE64(n) ‖ n × (LE64(len) ‖ block's canonical encoding)
//! ```
//!
//! Decoding refuses a wrong magic or version, truncation, a length larger
//! than the bytes that follow it or than any block can be, and trailing
//! bytes; it reads the file as it goes and allocates nothing the bytes read
//! so far do not justify. `import` also takes one block's canonical
//! encoding on its own (a file starting with the block tag `B`).

use std::io::Read;

use emr_core::Block;

use crate::error::CliError;

pub const MAGIC: &[u8; 7] = b"EMRBLKS";
pub const VERSION: u8 = 1;
const BLOCK_TAG: u8 = 0x42;

pub fn encode(blocks: &[Block]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&(blocks.len() as u64).to_le_bytes());
    for block in blocks {
        let bytes = block.to_bytes();
        out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        out.extend_from_slice(&bytes);
    }
    out
}

fn decode_error(message: impl Into<String>) -> CliError {
    CliError::new("decode", message)
}

/// The longest block encoding a file may hold: far above any block that can
/// verify (25 records of at most ~470 bytes each and a 134-byte header,
/// about 12 KB), so a length beyond it is refused before anything is read or
/// allocated, whatever the file claims.
pub const MAX_BLOCK_BYTES: u64 = 16 << 20;

fn io_error(e: std::io::Error) -> CliError {
    CliError::io(e.to_string())
}

/// Reads exactly `n` bytes (n is at most MAX_BLOCK_BYTES or a header's).
fn take(input: &mut impl Read, n: u64, what: &str) -> Result<Vec<u8>, CliError> {
    let mut out = Vec::new();
    input.take(n).read_to_end(&mut out).map_err(io_error)?;
    if (out.len() as u64) < n {
        return Err(decode_error(format!("the file ends inside {what}")));
    }
    Ok(out)
}

fn le64(input: &mut impl Read, what: &str) -> Result<u64, CliError> {
    let bytes = take(input, 8, what)?;
    Ok(u64::from_le_bytes(bytes.try_into().unwrap_or([0; 8])))
}

/// Decodes a block file as it is read: memory holds the blocks decoded so
/// far and one encoding at a time, never what a length field claims, so a
/// huge or hostile file is refused at its first bad field.
pub fn read(mut input: impl Read) -> Result<Vec<Block>, CliError> {
    let mut first = [0u8; 1];
    if input.read(&mut first).map_err(io_error)? == 0 {
        return Err(decode_error("the file is empty"));
    }
    if first[0] == BLOCK_TAG {
        let mut encoded = first.to_vec();
        input.take(MAX_BLOCK_BYTES).read_to_end(&mut encoded).map_err(io_error)?;
        if encoded.len() as u64 > MAX_BLOCK_BYTES {
            return Err(decode_error(format!(
                "the block is longer than {MAX_BLOCK_BYTES} bytes, more than any block can be"
            )));
        }
        return Ok(vec![
            Block::from_bytes(&encoded).map_err(|e| CliError::from(e).context("the block"))?
        ]);
    }
    let rest = take(&mut input, MAGIC.len() as u64 - 1, "the header").ok();
    if first[0] != MAGIC[0] || rest.as_deref() != Some(&MAGIC[1..]) {
        return Err(decode_error(
            "not a block file (no EMRBLKS header, and not one block's encoding)",
        ));
    }
    let version = take(&mut input, 1, "the header")?[0];
    if version != VERSION {
        return Err(decode_error(format!(
            "block file version {version} is not supported"
        )));
    }
    let count = le64(&mut input, "the header")?;
    // No capacity from `count`: the file has to hold the blocks it claims.
    let mut blocks = Vec::new();
    for i in 0..count {
        let what = format!("block {i}");
        let len = le64(&mut input, &what)?;
        if len > MAX_BLOCK_BYTES {
            return Err(decode_error(format!(
                "{what} claims {len} bytes, more than any block can be ({MAX_BLOCK_BYTES})"
            )));
        }
        let encoded = take(&mut input, len, &what)?;
        blocks.push(Block::from_bytes(&encoded).map_err(|e| CliError::from(e).context(&what))?);
    }
    let trailing = std::io::copy(&mut input, &mut std::io::sink()).map_err(io_error)?;
    if trailing > 0 {
        return Err(decode_error(format!(
            "{trailing} trailing bytes after the last block"
        )));
    }
    Ok(blocks)
}

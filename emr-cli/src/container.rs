//! The block file of `emr chain export` / `import` (`docs/CLI.md`):
//!
//! ```text
//! "EMRBLKS" (7 bytes) ‖ version 0x01 ‖ LE64(n) ‖ n × (LE64(len) ‖ block's canonical encoding)
//! ```
//!
//! Decoding refuses a wrong magic or version, truncation, a length larger
//! than the bytes that follow it and trailing bytes, and allocates nothing
//! the input does not justify. `import` also takes one block's canonical
//! encoding on its own (a file starting with the block tag `B`).

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

fn take<'a>(input: &mut &'a [u8], n: u64, what: &str) -> Result<&'a [u8], CliError> {
    if n > input.len() as u64 {
        return Err(decode_error(format!("the file ends inside {what}")));
    }
    let (head, rest) = input.split_at(n as usize);
    *input = rest;
    Ok(head)
}

fn le64(input: &mut &[u8], what: &str) -> Result<u64, CliError> {
    let bytes = take(input, 8, what)?;
    Ok(u64::from_le_bytes(bytes.try_into().unwrap_or([0; 8])))
}

pub fn decode(bytes: &[u8]) -> Result<Vec<Block>, CliError> {
    if bytes.first() == Some(&BLOCK_TAG) {
        return Ok(vec![
            Block::from_bytes(bytes).map_err(|e| CliError::from(e).context("the block"))?
        ]);
    }
    let mut input = bytes;
    if take(&mut input, MAGIC.len() as u64, "the header").ok() != Some(MAGIC.as_slice()) {
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
    // Each block takes at least its 8-byte length: refuse counts the input cannot hold.
    if count > (input.len() / 8) as u64 {
        return Err(decode_error(format!(
            "the file claims {count} blocks, more than it can hold"
        )));
    }
    let mut blocks = Vec::with_capacity(count as usize);
    for i in 0..count {
        let what = format!("block {i}");
        let len = le64(&mut input, &what)?;
        let encoded = take(&mut input, len, &what)?;
        blocks.push(Block::from_bytes(encoded).map_err(|e| CliError::from(e).context(&what))?);
    }
    if !input.is_empty() {
        return Err(decode_error(format!(
            "{} trailing bytes after the last block",
            input.len()
        )));
    }
    Ok(blocks)
}

//! The block file of `emr chain export` / `import` (`docs/CLI.md`), as the
//! core reads and writes it (`emr_core::blockfile`, SPEC 9.1). `import`
//! also takes one block's canonical encoding on its own (a file starting
//! with the block tag `B`).

use std::io::Read;

use emr_core::blockfile::{self, BlockFileError, MAX_BLOCK_BYTES};
use emr_core::Block;

use crate::error::CliError;

const BLOCK_TAG: u8 = 0x42;

pub fn encode(blocks: &[Block]) -> Vec<u8> {
    blockfile::encode_blocks(blocks)
}

fn file_error(e: BlockFileError) -> CliError {
    match e {
        BlockFileError::Io(e) => CliError::io(e.to_string()),
        BlockFileError::Block { index, error } => CliError::from(error).context(format!("block {index}")),
        other => CliError::new("decode", other.to_string()),
    }
}

/// Decodes a block file as it is read: memory holds the blocks decoded so
/// far and one encoding at a time, never what a length field claims, so a
/// huge or hostile file is refused at its first bad field.
pub fn read(mut input: impl Read) -> Result<Vec<Block>, CliError> {
    let mut first = [0u8; 1];
    if input.read(&mut first).map_err(|e| CliError::io(e.to_string()))? == 0 {
        return Err(CliError::new("decode", "the file is empty"));
    }
    if first[0] == BLOCK_TAG {
        let mut encoded = first.to_vec();
        input
            .take(MAX_BLOCK_BYTES)
            .read_to_end(&mut encoded)
            .map_err(|e| CliError::io(e.to_string()))?;
        if encoded.len() as u64 > MAX_BLOCK_BYTES {
            return Err(CliError::new(
                "decode",
                format!("the block is longer than {MAX_BLOCK_BYTES} bytes, more than any block can be"),
            ));
        }
        return Ok(vec![
            Block::from_bytes(&encoded).map_err(|e| CliError::from(e).context("the block"))?
        ]);
    }
    blockfile::decode(first.chain(input), u64::MAX).map_err(|e| match e {
        BlockFileError::Format(m) if m.starts_with("not a block file") => CliError::new(
            "decode",
            "not a block file (no EMRBLKS header, and not one block's encoding)",
        ),
        other => file_error(other),
    })
}

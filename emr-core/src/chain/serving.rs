//! Reads that serve other nodes (SPEC 9.1): ids and encodings by height,
//! any stored block by id, and where a block stands in the active chain.
//! Encodings are served as stored: every receiver checks them anyway.

use crate::hash::Hash256;

use super::{Chain, ChainError};

impl Chain {
    /// The active chain's block ids at heights `from ..`, at most `count`
    /// (fewer at the tip, none past it), read in one transaction.
    pub fn active_ids_from(&self, from: u64, count: u64) -> Result<Vec<Hash256>, ChainError> {
        self.read(|c| c.store.active_ids_from(from, count))
    }

    /// The active blocks' canonical encodings from height `from`: at most
    /// `count` of them and at most `max_bytes` in all, except that the
    /// first is always included when it exists (one block may be larger
    /// than a page's budget).
    pub fn active_encodings(&self, from: u64, count: u64, max_bytes: usize) -> Result<Vec<Vec<u8>>, ChainError> {
        if i64::try_from(from).is_err() {
            return Ok(Vec::new());
        }
        self.read(|c| {
            let mut out: Vec<Vec<u8>> = Vec::new();
            let mut total = 0usize;
            let mut next = from;
            while (out.len() as u64) < count {
                let want = (count - out.len() as u64).min(64);
                let page = c.store.active_blocks(next, want)?;
                if page.is_empty() {
                    break;
                }
                for stored in page {
                    if !out.is_empty() && total.saturating_add(stored.bytes.len()) > max_bytes {
                        return Ok(out);
                    }
                    total = total.saturating_add(stored.bytes.len());
                    next = stored.height.saturating_add(1);
                    out.push(stored.bytes);
                }
            }
            Ok(out)
        })
    }

    /// The canonical encoding of a stored block, active or on a side
    /// branch; `None` for an id this chain does not hold.
    pub fn block_encoding(&self, id: &Hash256) -> Result<Option<Vec<u8>>, ChainError> {
        self.store.block_bytes(id)
    }

    /// The height of the block `id` when it is in the active chain.
    pub fn active_height(&self, id: &Hash256) -> Result<Option<u64>, ChainError> {
        self.read(|c| match c.store.block_row(id)? {
            Some(row) if c.store.active_id(row.height)? == Some(*id) => Ok(Some(row.height)),
            _ => Ok(None),
        })
    }
}

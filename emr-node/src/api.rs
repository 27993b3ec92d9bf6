//! What goes over the wire (SPEC 9.1): the limits, the JSON bodies, and
//! the outcomes of adding blocks and submitting records, as both the
//! server and the client read and write them.

use emr_core::chain::{AddOutcome, ChainError, ChainParams, SubmitOutcome};
use emr_core::{Difficulty, Hash256, PublicKey};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// `GET /v1/ids`: at most this many ids per request.
pub const MAX_IDS: u64 = 2000;
/// `GET /v1/blocks`: at most this many blocks per page ...
pub const MAX_PAGE_BLOCKS: u64 = 500;
/// ... and at most this many bytes of encodings (at least one block).
pub const MAX_PAGE_BYTES: usize = 8 << 20;
/// `POST /v1/blocks`: at most this many blocks ...
pub const MAX_POST_BLOCKS: u64 = 500;
/// ... in a body of at most this many bytes.
pub const MAX_POST_BYTES: u64 = 16 << 20;
/// `POST /v1/submit`: one record or entry. The largest record that can
/// verify (a sealed prescription of 1,024 bytes with its key and
/// signature) is under 1.5 KiB; this leaves room and no more.
pub const MAX_SUBMIT_BYTES: u64 = 64 << 10;
/// A JSON answer a client reads: `info` with 1,000 authorities is about
/// 200 KiB, a pending list of a large pool a few MiB.
pub const MAX_JSON_BYTES: u64 = 16 << 20;
/// A `GET /v1/blocks` answer a client reads: one page and its framing.
pub const MAX_PAGE_ANSWER_BYTES: u64 = MAX_PAGE_BYTES as u64 + (16 << 20);

/// `GET /v1/info`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Info {
    /// The serving library's version.
    pub version: String,
    /// The chain's id (SPEC 5), lowercase hex.
    pub chain_id: String,
    /// Block 0's id, or null on an empty chain.
    pub genesis: Option<String>,
    /// Every chain parameter.
    pub params: Params,
    /// Blocks in the active chain.
    pub height: u64,
    /// The tip's id, or null.
    pub tip: Option<String>,
    /// The active chain's total difficulty, decimal.
    pub work: String,
    /// Records and entries in the pool.
    pub pending: u64,
}

/// A chain's parameters as JSON: integers as numbers, but the initial
/// difficulty (up to 2^128-1) as a decimal string; authorities as hex SPKI
/// in their order; the salt as hex.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Params {
    /// Decimal.
    pub initial_difficulty: String,
    /// Blocks in the retarget window.
    pub window: u64,
    /// Target seconds between blocks.
    pub block_time: u64,
    /// Retarget clamp factor.
    pub max_adjust: u64,
    /// A miner's reward per block.
    pub block_reward: u64,
    /// Hex SPKI DER of each authority, in order.
    pub authorities: Vec<String>,
    /// Seconds a block may be ahead of the receiver's clock.
    pub max_future: u64,
    /// 16 bytes, hex.
    pub salt: Option<String>,
}

impl Params {
    /// The JSON form of `params`.
    pub fn from_chain(params: &ChainParams) -> Params {
        Params {
            initial_difficulty: params.initial_difficulty.get().to_string(),
            window: params.window,
            block_time: params.block_time,
            max_adjust: params.max_adjust,
            block_reward: params.block_reward,
            authorities: params.authorities.iter().map(|k| hex::encode(k.to_spki_der())).collect(),
            max_future: params.max_future,
            salt: params.salt.map(hex::encode),
        }
    }

    /// The parameters these say, each field checked; the caller then
    /// checks them against the chain id it was given.
    pub fn to_chain(&self) -> Result<ChainParams, String> {
        let initial_difficulty = self
            .initial_difficulty
            .parse::<u128>()
            .ok()
            .and_then(Difficulty::new)
            .ok_or_else(|| format!("initial_difficulty {:?} is not 1 to 2^128-1", self.initial_difficulty))?;
        let authorities = self
            .authorities
            .iter()
            .enumerate()
            .map(|(i, text)| {
                let der = hex::decode(text).map_err(|_| format!("authority {i} is not hex"))?;
                PublicKey::from_spki_der(&der).map_err(|e| format!("authority {i}: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let salt = match &self.salt {
            Some(text) => Some(
                hex::decode(text)
                    .ok()
                    .and_then(|b| <[u8; 16]>::try_from(b).ok())
                    .ok_or("salt is not 16 bytes of hex")?,
            ),
            None => None,
        };
        Ok(ChainParams {
            initial_difficulty,
            window: self.window,
            block_time: self.block_time,
            max_adjust: self.max_adjust,
            block_reward: self.block_reward,
            authorities,
            max_future: self.max_future,
            salt,
        })
    }
}

/// A 32-byte hash from lowercase or uppercase hex.
pub fn parse_hash(text: &str) -> Option<Hash256> {
    let bytes = hex::decode(text).ok()?;
    Hash256::from_slice(&bytes)
}

/// The JSON of a refusal: its kind (SPEC 7's names) and the message.
pub fn error_json(error: &ChainError) -> Value {
    json!({ "error": error.kind().as_str(), "message": error.to_string() })
}

/// One block's outcome in `POST /v1/blocks`' answer.
pub fn add_outcome_json(outcome: &AddOutcome) -> Value {
    Value::String(outcome.as_str().to_owned())
}

/// `POST /v1/submit`'s answer.
pub fn submit_json(result: &Result<SubmitOutcome, ChainError>) -> Value {
    match result {
        Ok(SubmitOutcome::ConflictsWithPending { pending_txid }) => {
            json!({ "outcome": "conflicts_with_pending", "pending_txid": pending_txid.to_string() })
        }
        Ok(outcome) => json!({ "outcome": outcome.as_str() }),
        Err(e) => json!({ "outcome": error_json(e) }),
    }
}

/// What a peer answered to one block or one submission, as read back by a
/// client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// An outcome's name (`extended`, `ready`, ...).
    Outcome(String),
    /// A refusal: its kind and message.
    Refused {
        /// SPEC 7's kind name.
        kind: String,
        /// For people.
        message: String,
    },
}

impl Answer {
    /// Reads `"extended"` or `{"error": kind, "message": ...}`.
    pub fn from_json(value: &Value) -> Option<Answer> {
        match value {
            Value::String(s) => Some(Answer::Outcome(s.clone())),
            Value::Object(map) => {
                let kind = map.get("error")?.as_str()?.to_owned();
                let message = map.get("message").and_then(Value::as_str).unwrap_or_default().to_owned();
                Some(Answer::Refused { kind, message })
            }
            _ => None,
        }
    }

    /// The outcome's or the refusal's name.
    pub fn name(&self) -> &str {
        match self {
            Answer::Outcome(name) => name,
            Answer::Refused { kind, .. } => kind,
        }
    }
}

/// Who signed a dispensing or cancellation, under the name its role has:
/// `pharmacy` (`H160` of the pharmacy's key) or `canceller`.
fn actor(entry: &emr_core::Entry) -> (&'static str, Value) {
    match entry {
        emr_core::Entry::Dispense(d) => ("pharmacy", json!(d.pharmacy_hash().to_string())),
        emr_core::Entry::Cancellation(c) => ("canceller", json!(c.canceller_hash().to_string())),
        other => ("signer", json!(emr_core::hash::sha1(&[other.signer()]).to_string())),
    }
}

/// One item of `GET /v1/conflicts` for a dispensing or cancellation the
/// chain dropped (SPEC 9.3): the prescription, the dropped entry with its
/// pharmacy (or canceller), and the entry that took its place with its own,
/// so a conflict between two pharmacies names both.
pub fn entry_conflict_json(conflict: &emr_core::chain::EntryConflict) -> Value {
    let (role, who) = actor(&conflict.entry);
    let (kept_role, kept_who) = actor(&conflict.replaced_by);
    let mut value = json!({
        "kind": conflict.entry.entry_type().as_str(),
        "id": conflict.entry.entry_id().to_string(),
        "replaced_by": conflict.replaced_by.entry_id().to_string(),
        "replaced_by_kind": conflict.replaced_by.entry_type().as_str(),
        "block": conflict.block_id.to_string(),
        "height": conflict.height,
        "entry": hex::encode(conflict.entry.to_bytes()),
    });
    value[role] = who;
    value[format!("replaced_by_{kept_role}")] = kept_who;
    if let Some(rx) = conflict.entry.prescription() {
        value["doctor"] = json!(emr_core::address::encode(emr_core::Role::Doctor, &rx.dr_hash));
        value["nonce"] = json!(rx.nonce);
        value["record_hash"] = json!(rx.record_hash.to_string());
    }
    value
}

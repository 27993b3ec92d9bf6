//! `emr chain`: a chain kept in a directory. This file holds the group's
//! arguments, creating a chain and its status; the other rooms are
//! `pool.rs` (submit, mine, undo), `query.rs` (history, doctor, find,
//! conflicts, check) and `exchange.rs` (export, import, backup).

mod exchange;
mod pool;
mod query;

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};
use emr_core::chain::ChainParams;
use emr_core::Difficulty;
use serde_json::{json, Value};

use crate::error::CliError;
use crate::infile::read_public_key;
use crate::node::Node;
use crate::output::{count, Output, Ui};
use crate::times;

#[derive(Args)]
pub struct ParamArgs {
    /// Difficulty of the first window + 1 blocks.
    #[arg(long, default_value_t = 1000)]
    initial_difficulty: u128,
    /// Retarget window, in blocks.
    #[arg(long, default_value_t = 10)]
    window: u64,
    /// Target block time, in seconds.
    #[arg(long, default_value_t = 12)]
    block_time: u64,
    /// Most a retarget moves the difficulty, as a factor.
    #[arg(long, default_value_t = 4)]
    max_adjust: u64,
    /// A miner's reward per block.
    #[arg(long, default_value_t = emr_core::DEFAULT_BLOCK_REWARD)]
    block_reward: u64,
    /// How far ahead of a node's clock a block's time may be, in seconds.
    #[arg(long, default_value_t = emr_core::chain::DEFAULT_MAX_FUTURE)]
    max_future: u64,
    /// The chain's salt (32 hex digits), which with the parameters gives
    /// the chain its id; random when not given.
    #[arg(long)]
    salt: Option<String>,
}

#[derive(Copy, Clone, ValueEnum)]
pub enum EngineArg {
    Scalar,
    Avx2,
    #[value(name = "sha-ni")]
    ShaNi,
    Avx512,
}

#[derive(Subcommand)]
pub enum ChainCommand {
    /// Create a chain in DIR (made if missing) with its parameters.
    Init {
        /// The chain directory to create (it may exist, without a chain).
        dir: PathBuf,
        #[command(flatten)]
        params: ParamArgs,
        /// An authority's public key (SPKI DER, from `emr authority new`) or
        /// key file; repeat for several. With authorities, only doctors they
        /// grant may write. Fixed for the chain's life.
        #[arg(long)]
        authority: Vec<PathBuf>,
    },
    /// Length, tip, difficulty, pending records and entries.
    Status {
        #[arg(help = DIR_HELP)]
        dir: PathBuf,
    },
    /// Records the chain dropped because another record of their doctor
    /// took their nonce (signed at two sites before they synced): each with
    /// the record and block that took its place. The doctor re-signs the
    /// prescription with a new nonce; then --dismiss TXID. Also the
    /// dispensings (and cancellations) dropped because another pharmacy's
    /// dispensing of the same prescription stayed, naming both pharmacies.
    Conflicts {
        #[arg(help = DIR_HELP)]
        dir: PathBuf,
        /// Stop listing the conflict of this record (its txid) or entry
        /// (its id), 64 hex digits.
        #[arg(long)]
        dismiss: Option<String>,
    },
    /// Add record and entry files to the chain's pool of pending records.
    Submit {
        #[arg(help = DIR_HELP)]
        dir: PathBuf,
        /// Record files (`emr record sign`) and entry files (`emr grant`,
        /// `emr revoke`), added in this order.
        #[arg(required = true, value_name = "FILES")]
        records: Vec<PathBuf>,
    },
    /// Mine blocks of pending records onto the chain.
    Mine {
        #[arg(help = DIR_HELP)]
        dir: PathBuf,
        /// The miner's address (emrm1...), credited with each block's reward.
        #[arg(long)]
        miner: String,
        /// How many blocks to mine.
        #[arg(long, default_value_t = 1)]
        blocks: u64,
        /// Mining threads, 1 to 1024 (default: every core).
        #[arg(long, allow_negative_numbers = true, value_parser = threads)]
        threads: Option<usize>,
        /// The SHA-256 engine (default: the fastest this CPU has).
        #[arg(long, value_enum)]
        engine: Option<EngineArg>,
        /// The first block's time (Unix seconds or ISO 8601, as
        /// 2026-01-01T08:00:00Z); each next one is the previous + the
        /// chain's block time. Default: the clock, per block.
        #[arg(long, value_name = "TIME", allow_negative_numbers = true, value_parser = times::parse)]
        timestamp: Option<u64>,
    },
    /// A patient's records on the chain, in order.
    History {
        #[arg(help = DIR_HELP)]
        dir: PathBuf,
        /// The patient's address (emrp1...).
        #[arg(long)]
        patient: String,
        #[arg(long, help = KEY_HELP)]
        key: Option<PathBuf>,
        /// `text`, or `fhir`: an HL7 FHIR R4 Bundle (JSON) that a consumer
        /// can verify on its own (docs/FHIR.md).
        #[arg(long, value_enum, default_value_t = HistoryFormat::Text)]
        format: HistoryFormat,
    },
    /// A doctor's records on the chain and their record counter.
    Doctor {
        #[arg(help = DIR_HELP)]
        dir: PathBuf,
        /// The doctor's address (emrd1...).
        #[arg(long)]
        doctor: String,
        #[arg(long, help = KEY_HELP)]
        key: Option<PathBuf>,
    },
    /// The record with this txid, or the one txid that starts with these
    /// digits.
    Find {
        #[arg(help = DIR_HELP)]
        dir: PathBuf,
        /// The record's txid: its 64 hex digits, or its first 4 or more
        /// if no other txid on the chain starts with them.
        txid: String,
        /// Also write the record to this file (as `emr record sign` does).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace an existing record file (a regular file only, never a link or device).
        #[arg(long, requires = "out")]
        force: bool,
        #[arg(long, help = KEY_HELP)]
        key: Option<PathBuf>,
    },
    /// Re-verify every block from genesis and the stored state.
    Check {
        #[arg(help = DIR_HELP)]
        dir: PathBuf,
    },
    /// Write the active chain's blocks to a block file.
    Export {
        #[arg(help = DIR_HELP)]
        dir: PathBuf,
        /// The block file to write, or - for stdout.
        file: PathBuf,
        /// The first height to write.
        #[arg(long, default_value_t = 0)]
        from: u64,
        /// Replace an existing block file (a regular file only, never a link or device).
        #[arg(long)]
        force: bool,
    },
    /// Add the blocks of a block file (or of one block's encoding).
    Import {
        #[arg(help = DIR_HELP)]
        dir: PathBuf,
        /// The block file (`emr chain export`), or one block's encoding.
        file: PathBuf,
    },
    /// Copy the chain's database to the new file DEST, consistent while a
    /// writer or a node holds the chain, checked on the way; restore by
    /// copying DEST back to DIR/chain.db (docs/OPERATIONS.md, "Backups").
    Backup {
        #[arg(help = DIR_HELP)]
        dir: PathBuf,
        /// The backup file to create (never overwritten).
        dest: PathBuf,
    },
    /// Take the tip block off; its records go back to the pending pool.
    Undo {
        #[arg(help = DIR_HELP)]
        dir: PathBuf,
    },
}

/// How `chain history` prints: lines for people (or `--json`), or an HL7
/// FHIR R4 collection Bundle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum HistoryFormat {
    Text,
    Fhir,
}

const DIR_HELP: &str = "The chain's directory (`emr chain init` makes one)";
const KEY_HELP: &str = "A reader's private key file: the sealed prescriptions it may read are shown opened";

/// `--threads`: refused before anything starts when the core's search
/// would refuse it.
fn threads(text: &str) -> Result<usize, String> {
    let max = emr_core::parallel::MAX_THREADS;
    match text.parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(format!("the number of mining threads is a whole number from 1 to {max}")),
    }
}

impl ChainCommand {
    pub fn name(&self) -> &'static str {
        match self {
            ChainCommand::Init { .. } => "chain init",
            ChainCommand::Status { .. } => "chain status",
            ChainCommand::Conflicts { .. } => "chain conflicts",
            ChainCommand::Submit { .. } => "chain submit",
            ChainCommand::Mine { .. } => "chain mine",
            ChainCommand::History { .. } => "chain history",
            ChainCommand::Doctor { .. } => "chain doctor",
            ChainCommand::Find { .. } => "chain find",
            ChainCommand::Check { .. } => "chain check",
            ChainCommand::Export { .. } => "chain export",
            ChainCommand::Import { .. } => "chain import",
            ChainCommand::Backup { .. } => "chain backup",
            ChainCommand::Undo { .. } => "chain undo",
        }
    }

    pub fn run(self, ui: Ui) -> Result<Output, CliError> {
        match self {
            ChainCommand::Init {
                dir,
                params,
                authority,
            } => chain_init(&dir, &params, &authority),
            ChainCommand::Status { dir } => chain_status(&dir),
            ChainCommand::Conflicts { dir, dismiss } => {
                query::chain_conflicts(&dir, dismiss.as_deref())
            }
            ChainCommand::Submit { dir, records } => pool::chain_submit(&dir, &records),
            ChainCommand::Mine {
                dir,
                miner,
                blocks,
                threads,
                engine,
                timestamp,
            } => pool::chain_mine(&dir, &miner, blocks, threads, engine, timestamp, ui),
            ChainCommand::History { dir, patient, key, format } => match format {
                HistoryFormat::Text => query::chain_history(&dir, &patient, key.as_deref()),
                HistoryFormat::Fhir => query::chain_history_fhir(&dir, &patient, key.as_deref()),
            },
            ChainCommand::Doctor { dir, doctor, key } => {
                query::chain_doctor(&dir, &doctor, key.as_deref())
            }
            ChainCommand::Find {
                dir,
                txid,
                out,
                force,
                key,
            } => query::chain_find(&dir, &txid, out, force, key.as_deref()),
            ChainCommand::Check { dir } => query::chain_check(&dir, ui.progress),
            ChainCommand::Export {
                dir,
                file,
                from,
                force,
            } => exchange::chain_export(&dir, file, from, force, ui),
            ChainCommand::Import { dir, file } => exchange::chain_import(&dir, &file, ui.progress),
            ChainCommand::Backup { dir, dest } => exchange::chain_backup(&dir, &dest),
            ChainCommand::Undo { dir } => pool::chain_undo(&dir),
        }
    }
}

fn params_json(p: &ChainParams) -> Value {
    json!({
        "initial_difficulty": p.initial_difficulty.get().to_string(),
        "window": p.window,
        "block_time": p.block_time,
        "max_adjust": p.max_adjust,
        "block_reward": p.block_reward,
        "max_future": p.max_future,
        "salt": p.salt.map(hex::encode),
        "authorities": p.authorities.iter().map(|k| hex::encode(k.to_spki_der())).collect::<Vec<_>>(),
        "chain_id": p.chain_id().map(|id| id.to_string()),
    })
}

fn chain_init(dir: &Path, args: &ParamArgs, authorities: &[PathBuf]) -> Result<Output, CliError> {
    let authorities = authorities
        .iter()
        .map(|p| read_public_key(p))
        .collect::<Result<Vec<_>, _>>()?;
    let initial_difficulty = Difficulty::new(args.initial_difficulty)
        .ok_or_else(|| CliError::invalid_argument("--initial-difficulty must be at least 1"))?;
    let params = ChainParams {
        initial_difficulty,
        window: args.window,
        block_time: args.block_time,
        max_adjust: args.max_adjust,
        block_reward: args.block_reward,
        authorities,
        max_future: args.max_future,
        salt: args
            .salt
            .as_deref()
            .map(|text| {
                hex::decode(text).ok().and_then(|b| b.try_into().ok()).ok_or_else(|| {
                    CliError::invalid_argument(format!("--salt must be 32 hex digits (16 bytes), not {text:?}"))
                })
            })
            .transpose()?,
    };
    params.validate()?;
    let node = Node::init(dir, params)?;
    let p = node.chain().params();
    Ok(Output::new(
        format!(
            "created a chain in {} (initial difficulty {}, window {}, block time {} s, {})",
            dir.display(),
            p.initial_difficulty,
            p.window,
            p.block_time,
            match p.authorities.len() {
                0 => "open: anyone may write".to_owned(),
                1 => "1 authority: only granted doctors may write".to_owned(),
                n => format!("{n} authorities: only granted doctors may write"),
            }
        ),
        json!({"dir": dir.display().to_string(), "params": params_json(p)}),
    ))
}

fn chain_status(dir: &Path) -> Result<Output, CliError> {
    let node = Node::open(dir, false)?;
    let chain = node.chain();
    let tip = chain.tip()?;
    let pending = node.pending()?.len();
    // Entries are listed apart: a revocation held until its effective time
    // would otherwise sit in the pool unseen.
    let pending_entries = chain.pending_entries()?.len();
    let total = chain.total_difficulty()?;
    let next = chain.next_difficulty()?;
    let tip_text = match &tip {
        Some(t) => format!("height {}, block {}", t.height, t.block_id),
        None => "no blocks yet".to_owned(),
    };
    Ok(Output::new(
        format!(
            "chain {}: {} ({tip_text})\ntotal difficulty {total}, next block's difficulty {next}\n{} and {} pending\nchain id {}",
            dir.display(),
            count(chain.len()?, "block", "blocks"),
            count(pending, "record", "records"),
            count(pending_entries, "entry", "entries"),
            chain.chain_id()
        ),
        json!({
            "dir": dir.display().to_string(),
            "blocks": chain.len()?,
            "height": tip.map(|t| t.height),
            "tip": tip.map(|t| t.block_id.to_string()),
            "total_difficulty": total.to_string(),
            "next_difficulty": next.get().to_string(),
            "pending": pending,
            "pending_entries": pending_entries,
            "params": params_json(chain.params()),
        }),
    ))
}


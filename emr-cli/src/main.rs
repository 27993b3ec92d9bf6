//! `emr`: the cryptoemr command line (`docs/CLI.md`).
//!
//! Keys are PKCS#8 PEM files, records and blocks move between commands as
//! files in their canonical encoding, and a chain lives in a directory
//! (`DIR/chain.db`, with the pool of pending records beside it). Every
//! command prints a human summary, or one JSON object with `--json`; errors
//! are one line `error: <kind>: <message>` with a stable exit code.

mod access;
mod certs;
mod container;
mod error;
mod node;
mod outfile;
mod progress;
mod times;

use std::ffi::OsString;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::LazyLock;

use clap::{Args, Parser, Subcommand, ValueEnum};
use emr_core::address::{self, Address, Role};
use emr_core::chain::{AddOutcome, BatchOptions, ChainParams, RecordEntry};
use emr_core::mining::{CancelHandle, HashEngine, MineOutcome, SearchOptions};
use emr_core::{Curve, Difficulty, Entry, Hash160, Hash256, Record, SealOptions, SigningKey};
use serde_json::{json, Map, Value};
use zeroize::Zeroizing;

use error::{exit, file_error, CliError};
use node::{Mined, Node, SubmitOutcome};
use outfile::{Access, NamedLater, OutFile};
use progress::{BatchBar, MineProgress, Mode};

/// Cancelled by Ctrl-C while a cancellable command runs.
static CANCEL: LazyLock<CancelHandle> = LazyLock::new(CancelHandle::new);
/// Whether the running command stops cleanly on `CANCEL`; if not, Ctrl-C exits at once.
static CANCELLABLE: AtomicBool = AtomicBool::new(false);

#[derive(Parser)]
#[command(name = "emr", version, about = "Signed medical records on a proof-of-work chain", long_about = None)]
struct Cli {
    /// Print the result (or the error) as one JSON object on stdout.
    #[arg(long, global = true)]
    json: bool,
    /// No progress bars or progress lines on stderr.
    #[arg(long, short, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Private keys: make one, show its curve and address.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Addresses: a 20-byte hash as checksummed text, and back.
    #[command(subcommand)]
    Address(AddressCommand),
    /// Signed records: sign a prescription, verify record files.
    #[command(subcommand)]
    Record(RecordCommand),
    /// A chain in a directory: submit records, mine, query, exchange blocks.
    #[command(subcommand)]
    Chain(ChainCommand),
    /// Authorities: the keys whose grants decide which doctors may write.
    #[command(subcommand)]
    Authority(AuthorityCommand),
    /// Nodes: the consortium's certificate authority and its nodes'
    /// certificates, for mutual TLS between sites.
    #[command(subcommand)]
    Node(NodeCommand),
    /// An authority admits a doctor: sign a grant (an entry file), and
    /// offer it to a chain's pool with --chain.
    Grant {
        /// The authority's private key file.
        #[arg(long)]
        key: PathBuf,
        /// The doctor's public key (SPKI DER) or key file.
        #[arg(long)]
        doctor: PathBuf,
        /// Registration number and name (at most 100 bytes of UTF-8).
        #[arg(long)]
        licence: String,
        /// The first second the grant authorizes (a time: Unix seconds or
        /// ISO 8601, as 2026-01-01 or 2026-01-01T08:00:00Z).
        // Negative numbers (on every time flag) reach times::parse, which
        // says "before 1970", rather than clap, which would take them for a flag.
        #[arg(long, value_name = "TIME", allow_negative_numbers = true, default_value = "0", value_parser = times::parse)]
        not_before: u64,
        /// The last second the grant authorizes (a time, as --not-before),
        /// or never.
        #[arg(long, value_name = "TIME", allow_negative_numbers = true, default_value = "never", value_parser = times::parse_end)]
        not_after: u64,
        /// The entry file to write (default: grant-<id>.entry).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace an existing entry file (a regular file only, never a link or device).
        #[arg(long)]
        force: bool,
        /// Also add the grant to this chain directory's pool (the grant is
        /// made for that chain).
        #[arg(long)]
        chain: Option<PathBuf>,
        /// The id of the chain the grant is made for (64 hex digits; `emr
        /// chain status` shows it); needed without --chain.
        #[arg(long)]
        chain_id: Option<String>,
    },
    /// An authority withdraws a grant from a time on: sign a revocation (an
    /// entry file), and offer it to a chain's pool with --chain.
    Revoke {
        /// The authority's private key file (any authority of the chain).
        #[arg(long)]
        key: PathBuf,
        /// The grant: its id (64 hex digits) or its entry file.
        #[arg(long)]
        grant: String,
        /// From this second on the grant no longer authorizes (a time: Unix
        /// seconds or ISO 8601, as 2026-01-01 or 2026-01-01T08:00:00Z).
        #[arg(long, value_name = "TIME", allow_negative_numbers = true, value_parser = times::parse)]
        effective: u64,
        /// The entry file to write (default: revoke-<id>.entry).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace an existing entry file (a regular file only, never a link or device).
        #[arg(long)]
        force: bool,
        /// Also add the revocation to this chain directory's pool (it is
        /// made for that chain).
        #[arg(long)]
        chain: Option<PathBuf>,
        /// The id of the chain the revocation is made for (64 hex digits);
        /// needed without --chain.
        #[arg(long)]
        chain_id: Option<String>,
    },
}

#[derive(Subcommand)]
enum AuthorityCommand {
    /// Generate an authority key (PKCS#8 PEM, mode 0600) and its public key
    /// (SPKI DER), the file `emr chain init --authority` takes.
    New {
        #[arg(long, value_enum, default_value = "p256")]
        curve: CurveArg,
        /// The private key file to write.
        #[arg(long)]
        out: PathBuf,
        /// The public key file to write (default: OUT with extension .pub).
        #[arg(long)]
        public: Option<PathBuf>,
        /// Replace existing files (regular files only, never a link or device).
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
enum NodeCommand {
    /// The consortium's certificate authority.
    #[command(subcommand)]
    Ca(CaCommand),
    /// Node certificates, signed by the consortium's authority.
    #[command(subcommand)]
    Cert(CertCommand),
}

#[derive(Subcommand)]
enum CaCommand {
    /// Create the consortium's certificate authority: a P-256 key (PKCS#8
    /// PEM, mode 0600), kept offline by whoever admits sites, and its
    /// self-signed certificate (PEM), which every node is given.
    New {
        /// The authority's name (its certificate's common name).
        #[arg(long)]
        name: String,
        /// The private key file to write.
        #[arg(long)]
        out_key: PathBuf,
        /// The certificate file to write.
        #[arg(long)]
        out_cert: PathBuf,
        /// Days the authority is valid.
        #[arg(long, default_value_t = emr_node::pki::DEFAULT_CA_DAYS)]
        days: u32,
        /// Replace existing files (regular files only, never a link or device).
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
enum CertCommand {
    /// Issue a node's certificate, for TLS as a server and as a client,
    /// with a new P-256 key (PKCS#8 PEM, mode 0600).
    New {
        /// The authority's certificate file.
        #[arg(long, value_name = "CA_CERT")]
        ca: PathBuf,
        /// The authority's private key file.
        #[arg(long)]
        ca_key: PathBuf,
        /// The DNS names and IP addresses the node is reached at (the first
        /// is also the common name); repeat or list several.
        #[arg(long = "name", value_name = "NAME", required = true, num_args = 1..)]
        names: Vec<String>,
        /// The node's private key file to write.
        #[arg(long)]
        out_key: PathBuf,
        /// The node's certificate file to write.
        #[arg(long)]
        out_cert: PathBuf,
        /// Days the certificate is valid (at most until the authority expires).
        #[arg(long, default_value_t = emr_node::pki::DEFAULT_NODE_DAYS)]
        days: u32,
        /// Replace existing files (regular files only, never a link or device).
        #[arg(long)]
        force: bool,
    },
}

#[derive(Copy, Clone, ValueEnum)]
enum CurveArg {
    Secp256k1,
    P256,
}

impl CurveArg {
    fn curve(self) -> Curve {
        match self {
            CurveArg::Secp256k1 => Curve::Secp256k1,
            CurveArg::P256 => Curve::P256,
        }
    }
}

#[derive(Copy, Clone, ValueEnum)]
enum RoleArg {
    Doctor,
    Patient,
    Miner,
}

impl RoleArg {
    fn role(self) -> Role {
        match self {
            RoleArg::Doctor => Role::Doctor,
            RoleArg::Patient => Role::Patient,
            RoleArg::Miner => Role::Miner,
        }
    }
}

#[derive(Copy, Clone, ValueEnum)]
enum EngineArg {
    Scalar,
    Avx2,
    #[value(name = "sha-ni")]
    ShaNi,
    Avx512,
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Generate a private key and write it as PKCS#8 PEM (mode 0600).
    New {
        #[arg(long, value_enum, default_value = "secp256k1")]
        curve: CurveArg,
        /// The key file to write.
        #[arg(long)]
        out: PathBuf,
        /// Replace an existing key file (a regular file only, never a link or device).
        #[arg(long)]
        force: bool,
        /// Whose address to print: a doctor's key signs records; a patient
        /// or a miner is known by its public key hash.
        #[arg(long, value_enum, default_value = "doctor")]
        role: RoleArg,
    },
    /// Show a key file's curve and address (never the private key).
    Show {
        /// A PEM or DER private key (PKCS#8 or SEC1).
        key: PathBuf,
        /// Whose address to show: a doctor signs with the key, a patient or
        /// a miner is known by its public key hash.
        #[arg(long, value_enum, default_value = "doctor")]
        role: RoleArg,
        /// Print only the address (for scripts: `ALICE=$(emr key show alice.pem --role patient --address)`).
        #[arg(long)]
        address: bool,
    },
}

#[derive(Subcommand)]
enum AddressCommand {
    /// The address of a 20-byte hash (40 hex digits) in a role.
    Encode {
        #[arg(long, value_enum)]
        role: RoleArg,
        /// 40 hex digits.
        hash: String,
    },
    /// The hash an address holds; a typo is pointed at with a caret.
    Decode {
        address: String,
        /// The role expected (default: the one the prefix names).
        #[arg(long, value_enum)]
        role: Option<RoleArg>,
    },
}

#[derive(Subcommand)]
enum RecordCommand {
    /// Sign a prescription for a patient and write the record file.
    Sign {
        /// The doctor's private key file.
        #[arg(long)]
        key: PathBuf,
        /// The patient's address (emrp1...).
        #[arg(long)]
        patient: String,
        /// The prescription (at most 200 bytes of UTF-8).
        #[arg(long)]
        text: String,
        /// Take the nonce from this chain directory: the one after the
        /// doctor's last record on the chain or pending there.
        #[arg(long, conflicts_with = "nonce")]
        chain: Option<PathBuf>,
        /// The doctor's record counter (1 for a first record).
        #[arg(long)]
        nonce: Option<u64>,
        /// The record file to write (default: record-<nonce>-<txid>.rec).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace an existing record file (a regular file only, never a link or device).
        #[arg(long)]
        force: bool,
        /// Seal the prescription to these readers (public key or key files;
        /// the patient's must be among them): only they can read it.
        #[arg(long, num_args = 1..)]
        seal_to: Vec<PathBuf>,
        /// Do not add the doctor's own key to the readers of a sealed record.
        #[arg(long, requires = "seal_to")]
        no_seal_self: bool,
    },
    /// Read a sealed record's prescription with a recipient's key.
    Open {
        /// The record file.
        file: PathBuf,
        /// A recipient's private key file (the patient's, the doctor's, ...).
        #[arg(long)]
        key: PathBuf,
    },
    /// Verify record files: every check, the nonce sequence too with --chain.
    Verify {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Check each record against this chain: in it, or its doctor's next.
        #[arg(long)]
        chain: Option<PathBuf>,
    },
}

#[derive(Args)]
struct ParamArgs {
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

#[derive(Subcommand)]
enum ChainCommand {
    /// Create a chain in DIR (made if missing) with its parameters.
    Init {
        dir: PathBuf,
        #[command(flatten)]
        params: ParamArgs,
        /// An authority's public key (SPKI DER, from `emr authority new`) or
        /// key file; repeat for several. With authorities, only doctors they
        /// grant may write. Fixed for the chain's life.
        #[arg(long)]
        authority: Vec<PathBuf>,
    },
    /// Length, tip, difficulty, pending records.
    Status { dir: PathBuf },
    /// Records the chain dropped because another record of their doctor
    /// took their nonce (signed at two sites before they synced): each with
    /// the record and block that took its place. The doctor re-signs the
    /// prescription with a new nonce; then --dismiss TXID.
    Conflicts {
        dir: PathBuf,
        /// Stop listing the conflict of this record (its txid, 64 hex digits).
        #[arg(long)]
        dismiss: Option<String>,
    },
    /// Add record and entry files to the chain's pool of pending records.
    Submit {
        dir: PathBuf,
        #[arg(required = true)]
        records: Vec<PathBuf>,
    },
    /// Mine blocks of pending records onto the chain.
    Mine {
        dir: PathBuf,
        /// The miner's address (emrm1...), credited with each block's reward.
        #[arg(long)]
        miner: String,
        /// How many blocks to mine.
        #[arg(long, default_value_t = 1)]
        blocks: u64,
        /// Mining threads (default: every core).
        #[arg(long)]
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
        dir: PathBuf,
        /// The patient's address (emrp1...).
        #[arg(long)]
        patient: String,
    },
    /// A doctor's records on the chain and their record counter.
    Doctor {
        dir: PathBuf,
        /// The doctor's address (emrd1...).
        #[arg(long)]
        doctor: String,
    },
    /// The record with this txid (64 hex digits).
    Find { dir: PathBuf, txid: String },
    /// Re-verify every block from genesis and the stored state.
    Check { dir: PathBuf },
    /// Write the active chain's blocks to a block file.
    Export {
        dir: PathBuf,
        file: PathBuf,
        /// The first height to write.
        #[arg(long, default_value_t = 0)]
        from: u64,
        /// Replace an existing block file (a regular file only, never a link or device).
        #[arg(long)]
        force: bool,
    },
    /// Add the blocks of a block file (or of one block's encoding).
    Import { dir: PathBuf, file: PathBuf },
    /// Take the tip block off; its records go back to the pending pool.
    Undo { dir: PathBuf },
}

impl Command {
    fn name(&self) -> &'static str {
        match self {
            Command::Key(KeyCommand::New { .. }) => "key new",
            Command::Key(KeyCommand::Show { .. }) => "key show",
            Command::Address(AddressCommand::Encode { .. }) => "address encode",
            Command::Address(AddressCommand::Decode { .. }) => "address decode",
            Command::Record(RecordCommand::Sign { .. }) => "record sign",
            Command::Record(RecordCommand::Verify { .. }) => "record verify",
            Command::Record(RecordCommand::Open { .. }) => "record open",
            Command::Authority(AuthorityCommand::New { .. }) => "authority new",
            Command::Node(NodeCommand::Ca(CaCommand::New { .. })) => "node ca new",
            Command::Node(NodeCommand::Cert(CertCommand::New { .. })) => "node cert new",
            Command::Grant { .. } => "grant",
            Command::Revoke { .. } => "revoke",
            Command::Chain(c) => match c {
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
                ChainCommand::Undo { .. } => "chain undo",
            },
        }
    }
}

/// A command's result: lines for a person, fields for `--json`.
struct Output {
    text: String,
    json: Map<String, Value>,
}

impl Output {
    fn new(text: impl Into<String>, json: Value) -> Output {
        let json = match json {
            Value::Object(map) => map,
            other => Map::from_iter([("result".to_owned(), other)]),
        };
        Output {
            text: text.into(),
            json,
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let json_flag = args.iter().any(|a| a == "--json");
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind as K;
            if matches!(e.kind(), K::DisplayHelp | K::DisplayVersion) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            if e.kind() == K::DisplayHelpOnMissingArgumentOrSubcommand {
                if json_flag {
                    return report(
                        Err(CliError::usage("a command is missing (see emr --help)")),
                        true,
                        "",
                    );
                }
                let _ = e.print();
                return ExitCode::from(exit::USAGE as u8);
            }
            let rendered = e.render().to_string();
            let mut lines = rendered.lines();
            let first = lines.next().unwrap_or("bad command line");
            // clap names the missing arguments on indented lines under the
            // first; without them the one-line error would not say which.
            let named: Vec<&str> = lines
                .take_while(|l| l.starts_with("  "))
                .map(str::trim)
                .collect();
            let message = format!(
                "{}{}{} (see emr --help)",
                first.strip_prefix("error: ").unwrap_or(first),
                if named.is_empty() { "" } else { " " },
                named.join(", ")
            );
            return report(Err(CliError::usage(message)), json_flag, "");
        }
    };
    let _ = ctrlc::set_handler(|| {
        if CANCELLABLE.load(Ordering::SeqCst) && !CANCEL.is_cancelled() {
            CANCEL.cancel();
        } else {
            std::process::exit(exit::INTERRUPTED);
        }
    });
    let name = cli.command.name();
    let mode = Mode::detect(cli.quiet);
    let result = run(cli.command, mode);
    report(result, cli.json, name)
}

fn report(result: Result<Output, CliError>, json: bool, name: &str) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    match result {
        Ok(output) => {
            if json {
                let mut map = Map::new();
                map.insert("ok".into(), Value::Bool(true));
                map.insert("command".into(), Value::String(name.into()));
                map.extend(output.json);
                let _ = writeln!(stdout, "{}", Value::Object(map));
            } else if !output.text.is_empty() {
                let _ = writeln!(stdout, "{}", output.text.trim_end());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            let code = e.exit_code();
            if json {
                let mut value = json!({
                    "ok": false,
                    "command": name,
                    "error": {"kind": e.kind, "message": e.message, "exit_code": code, "positions": e.positions},
                });
                if let (Some(partial), Value::Object(map)) = (&e.partial, &mut value) {
                    for (k, v) in &partial.1 {
                        map.entry(k.clone()).or_insert_with(|| v.clone());
                    }
                }
                let _ = writeln!(stdout, "{value}");
            } else if let Some(partial) = &e.partial {
                let _ = writeln!(stdout, "{}", partial.0.trim_end());
            }
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(stderr, "{}", e.line());
            if let Some(detail) = &e.detail {
                let _ = writeln!(stderr, "{detail}");
            }
            ExitCode::from(code as u8)
        }
    }
}

fn run(command: Command, mode: Mode) -> Result<Output, CliError> {
    match command {
        Command::Key(KeyCommand::New {
            curve,
            out,
            force,
            role,
        }) => key_new(curve, &out, force, role.role()),
        Command::Key(KeyCommand::Show { key, role, address }) => {
            key_show(&key, role.role(), address)
        }
        Command::Address(AddressCommand::Encode { role, hash }) => {
            address_encode(role.role(), &hash)
        }
        Command::Address(AddressCommand::Decode { address, role }) => {
            address_decode(&address, role.map(RoleArg::role))
        }
        Command::Record(RecordCommand::Sign {
            key,
            patient,
            text,
            chain,
            nonce,
            out,
            force,
            seal_to,
            no_seal_self,
        }) => record_sign(
            &key,
            &patient,
            &text,
            chain.as_deref(),
            nonce,
            NamedLater::new(out, force)?,
            Seal {
                to: &seal_to,
                include_self: !no_seal_self,
            },
        ),
        Command::Record(RecordCommand::Open { file, key }) => access::record_open(&file, &key),
        Command::Authority(AuthorityCommand::New {
            curve,
            out,
            public,
            force,
        }) => access::authority_new(curve.curve(), &out, public, force),
        Command::Node(NodeCommand::Ca(CaCommand::New {
            name,
            out_key,
            out_cert,
            days,
            force,
        })) => certs::ca_new(&name, out_key, out_cert, days, force),
        Command::Node(NodeCommand::Cert(CertCommand::New {
            ca,
            ca_key,
            names,
            out_key,
            out_cert,
            days,
            force,
        })) => certs::cert_new(&ca, &ca_key, &names, out_key, out_cert, days, force),
        Command::Grant {
            key,
            doctor,
            licence,
            not_before,
            not_after,
            out,
            force,
            chain,
            chain_id,
        } => access::grant(
            &key,
            &doctor,
            &licence,
            not_before,
            not_after,
            NamedLater::new(out, force)?,
            chain.as_deref(),
            chain_id.as_deref(),
        ),
        Command::Revoke {
            key,
            grant,
            effective,
            out,
            force,
            chain,
            chain_id,
        } => access::revoke(
            &key,
            &grant,
            effective,
            NamedLater::new(out, force)?,
            chain.as_deref(),
            chain_id.as_deref(),
        ),
        Command::Record(RecordCommand::Verify { files, chain }) => {
            record_verify(&files, chain.as_deref())
        }
        Command::Chain(c) => match c {
            ChainCommand::Init {
                dir,
                params,
                authority,
            } => chain_init(&dir, &params, &authority),
            ChainCommand::Status { dir } => chain_status(&dir),
            ChainCommand::Conflicts { dir, dismiss } => chain_conflicts(&dir, dismiss.as_deref()),
            ChainCommand::Submit { dir, records } => chain_submit(&dir, &records),
            ChainCommand::Mine {
                dir,
                miner,
                blocks,
                threads,
                engine,
                timestamp,
            } => chain_mine(&dir, &miner, blocks, threads, engine, timestamp, mode),
            ChainCommand::History { dir, patient } => chain_history(&dir, &patient),
            ChainCommand::Doctor { dir, doctor } => chain_doctor(&dir, &doctor),
            ChainCommand::Find { dir, txid } => chain_find(&dir, &txid),
            ChainCommand::Check { dir } => chain_check(&dir, mode),
            ChainCommand::Export {
                dir,
                file,
                from,
                force,
            } => chain_export(&dir, file, from, force),
            ChainCommand::Import { dir, file } => chain_import(&dir, &file, mode),
            ChainCommand::Undo { dir } => chain_undo(&dir),
        },
    }
}

// --- helpers ---------------------------------------------------------------

/// The most a key file or a record file may hold: a PEM key is about 250
/// bytes and the longest record that can verify about 470, so anything past
/// 1 MiB is refused unread rather than loaded whole.
pub(crate) const MAX_SMALL_FILE_BYTES: u64 = 1 << 20;

/// Reads a file of at most `limit` bytes; a longer one is `kind` with a
/// message that says so, after reading no more than `limit + 1` bytes.
fn read_file(path: &Path, limit: u64, kind: &'static str) -> Result<Vec<u8>, CliError> {
    let mut bytes = Vec::new();
    read_file_into(path, limit, kind, &mut bytes)?;
    Ok(bytes)
}

/// [`read_file`] into `bytes`, sized from the file's length first so that a
/// key file is read without reallocating: no copy of it is left behind in
/// freed memory, and the caller's `Zeroizing` buffer wipes the one there is.
fn read_file_into(path: &Path, limit: u64, kind: &'static str, bytes: &mut Vec<u8>) -> Result<(), CliError> {
    use std::io::Read as _;
    let file = fs::File::open(path).map_err(|e| file_error(path, e))?;
    let expected = file.metadata().map(|m| m.len()).unwrap_or(0).min(limit);
    bytes.reserve_exact(usize::try_from(expected).unwrap_or(0) + 1);
    file.take(limit + 1)
        .read_to_end(bytes)
        .map_err(|e| file_error(path, e))?;
    if bytes.len() as u64 > limit {
        return Err(CliError::new(
            kind,
            format!("{}: longer than {limit} bytes, too long to be one", path.display()),
        ));
    }
    Ok(())
}

fn read_key(path: &Path) -> Result<SigningKey, CliError> {
    let mut bytes = Zeroizing::new(Vec::new());
    read_file_into(path, MAX_SMALL_FILE_BYTES, emr_core::ErrorKind::InvalidKey.as_str(), &mut bytes)?;
    SigningKey::from_pem_or_der(&bytes).map_err(|e| CliError::from(e).context(path.display()))
}

fn read_record(path: &Path) -> Result<Record, CliError> {
    let bytes = read_file(path, MAX_SMALL_FILE_BYTES, emr_core::ErrorKind::Decode.as_str())?;
    Record::from_bytes(&bytes).map_err(|e| CliError::from(e).context(path.display()))
}

/// Decodes an address a person typed, in the role expected there.
fn parse_address(text: &str, role: Role) -> Result<Hash160, CliError> {
    address::decode(text, role).map_err(|e| CliError::address(text, &e))
}

fn parse_hash160(text: &str) -> Result<Hash160, CliError> {
    hex::decode(text)
        .ok()
        .and_then(|b| Hash160::from_slice(&b))
        .ok_or_else(|| CliError::invalid_argument(format!("'{text}' is not 40 hex digits")))
}

fn parse_txid(text: &str) -> Result<Hash256, CliError> {
    hex::decode(text)
        .ok()
        .and_then(|b| Hash256::from_slice(&b))
        .ok_or_else(|| {
            CliError::invalid_argument(format!("'{text}' is not a txid (64 hex digits)"))
        })
}

fn addr(role: Role, hash: &Hash160) -> String {
    address::encode(role, hash)
}

fn entry_kind(entry: &Entry) -> &'static str {
    match entry {
        Entry::Grant(_) => "grant",
        Entry::Revocation(_) => "revocation",
    }
}

fn record_json(record: &Record) -> Value {
    json!({
        "txid": record.txid.to_string(),
        "doctor": addr(Role::Doctor, &record.dr_hash),
        "patient": addr(Role::Patient, &record.patient_hash),
        "nonce": record.nonce,
        "prescription": record.prescription,
    })
}

fn chain_conflicts(dir: &Path, dismiss: Option<&str>) -> Result<Output, CliError> {
    if let Some(text) = dismiss {
        let txid = hex::decode(text)
            .ok()
            .and_then(|b| emr_core::Hash256::from_slice(&b))
            .ok_or_else(|| CliError::invalid_argument(format!("--dismiss takes a txid (64 hex digits), not {text:?}")))?;
        let mut node = Node::open(dir, true)?;
        if !node.chain_mut().dismiss_conflict(&txid)? {
            return Err(CliError::not_found(format!("no conflict of record {txid} in {}", dir.display())));
        }
        return Ok(Output::new(format!("dismissed the conflict of record {txid}"), json!({"dismissed": txid.to_string()})));
    }
    let node = Node::open(dir, false)?;
    let conflicts = node.chain().conflicts()?;
    let mut lines = vec![match conflicts.len() {
        0 => "no conflicts".to_owned(),
        1 => "1 record dropped for another (its doctor must re-sign it with a new nonce):".to_owned(),
        n => format!("{n} records dropped for others (their doctors must re-sign them with new nonces):"),
    }];
    let mut values = Vec::new();
    for c in &conflicts {
        lines.push(format!(
            "  {} nonce {} txid {}: {:?}\n    replaced by txid {} in block {} at height {}",
            addr(Role::Doctor, &c.record.dr_hash),
            c.record.nonce,
            c.record.txid,
            c.record.prescription,
            c.replaced_by,
            c.block_id,
            c.height
        ));
        let mut value = record_json(&c.record);
        value["replaced_by"] = json!(c.replaced_by.to_string());
        value["block_id"] = json!(c.block_id.to_string());
        value["height"] = json!(c.height);
        values.push(value);
    }
    Ok(Output::new(lines.join("\n"), json!({"conflicts": values})))
}

fn entry_json(entry: &RecordEntry) -> Value {
    let mut value = record_json(&entry.record);
    value["height"] = json!(entry.height);
    value["block_id"] = json!(entry.block_id.to_string());
    value["timestamp"] = json!(entry.timestamp);
    value["timestamp_iso"] = times::iso_json(entry.timestamp);
    value
}

fn entry_line(entry: &RecordEntry) -> String {
    format!(
        "height {:>4}  {}  nonce {:>3}  {}  {}  txid {}",
        entry.height,
        times::show(entry.timestamp),
        entry.record.nonce,
        addr(Role::Doctor, &entry.record.dr_hash),
        entry.record.prescription,
        entry.record.txid
    )
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

/// Runs `f` with Ctrl-C cancelling `CANCEL` instead of exiting.
fn cancellable<T>(f: impl FnOnce() -> T) -> T {
    CANCELLABLE.store(true, Ordering::SeqCst);
    let result = f();
    CANCELLABLE.store(false, Ordering::SeqCst);
    result
}

// --- key, address, record -------------------------------------------------------

fn key_new(curve: CurveArg, out: &Path, force: bool, role: Role) -> Result<Output, CliError> {
    let curve = match curve {
        CurveArg::Secp256k1 => Curve::Secp256k1,
        CurveArg::P256 => Curve::P256,
    };
    let out = OutFile::new(out.to_owned(), Access::Private, force)?;
    let key = SigningKey::generate(curve)?;
    out.write(key.to_pkcs8_pem().as_bytes(), None)?;
    let out = out.path();
    let address = addr(role, &key.public_key_hash());
    Ok(Output::new(
        format!(
            "wrote {} ({} key, mode 0600)\n{} address {address}",
            out.display(),
            curve.name(),
            role.name()
        ),
        json!({"file": out.display().to_string(), "curve": curve.name(), "role": role.name(), "address": address}),
    ))
}

fn key_show(path: &Path, role: Role, only_address: bool) -> Result<Output, CliError> {
    let key = read_key(path)?;
    let hash = key.public_key_hash();
    let address = addr(role, &hash);
    let text = if only_address {
        address.clone()
    } else {
        format!(
            "curve    {}\nrole     {}\naddress  {address}",
            key.curve().name(),
            role.name()
        )
    };
    Ok(Output::new(
        text,
        json!({
            "file": path.display().to_string(),
            "curve": key.curve().name(),
            "role": role.name(),
            "address": address,
            "public_key_hash": hash.to_string(),
            "public_key": hex::encode(key.public_key_der()),
        }),
    ))
}

fn address_encode(role: Role, hash: &str) -> Result<Output, CliError> {
    let hash = parse_hash160(hash)?;
    let address = addr(role, &hash);
    Ok(Output::new(
        address.clone(),
        json!({"role": role.name(), "hash": hash.to_string(), "address": address}),
    ))
}

fn address_decode(text: &str, role: Option<Role>) -> Result<Output, CliError> {
    let role = role.unwrap_or_else(|| {
        let lower = text.to_ascii_lowercase();
        Role::ALL
            .into_iter()
            .find(|r| lower.starts_with(&format!("{}1", r.prefix())))
            .unwrap_or(Role::Doctor)
    });
    let hash = parse_address(text, role)?;
    Ok(Output::new(
        format!("{} {hash}", role.name()),
        json!({"role": role.name(), "hash": hash.to_string(), "address": addr(role, &hash)}),
    ))
}

/// The readers of a sealed record (`--seal-to`; none: a plain record).
struct Seal<'a> {
    to: &'a [PathBuf],
    include_self: bool,
}

fn record_sign(
    key_path: &Path,
    patient: &str,
    text: &str,
    chain: Option<&Path>,
    nonce: Option<u64>,
    out: NamedLater,
    seal: Seal<'_>,
) -> Result<Output, CliError> {
    let patient = parse_address(patient, Role::Patient)?;
    let key = read_key(key_path)?;
    let dr_hash = key.public_key_hash();
    let nonce =
        match (nonce, chain) {
            (Some(n), _) => n,
            (None, Some(dir)) => {
                let node = Node::open(dir, false)?;
                let on_chain = node.chain().user_state(&dr_hash)?.nonce;
                let pending = node
                    .pending()?
                    .iter()
                    .filter(|r| r.dr_hash == dr_hash)
                    .map(|r| r.nonce)
                    .max()
                    .unwrap_or(0);
                on_chain.max(pending) + 1
            }
            (None, None) => return Err(CliError::usage(
                "give --chain DIR (the nonce follows the doctor's last record there) or --nonce N",
            )),
        };
    let record = if seal.to.is_empty() {
        Record::sign(&key, patient.as_bytes(), text, nonce)?
    } else {
        let readers = access::seal_recipients(seal.to)?;
        Record::sign_sealed(
            &key,
            patient.as_bytes(),
            text,
            nonce,
            &readers,
            SealOptions {
                include_self: seal.include_self,
            },
        )?
    };
    let out = out.or_default(|| {
        PathBuf::from(format!(
            "record-{nonce}-{}.rec",
            &record.txid.to_string()[..12]
        ))
    })?;
    out.write(&record.to_bytes(), None)?;
    let out = out.path();
    let mut value = record_json(&record);
    value["file"] = json!(out.display().to_string());
    let sealed = if record.is_sealed() {
        let readers = record.sealed_recipients().map(|r| r.len()).unwrap_or(0);
        value["sealed_to"] = json!(readers);
        format!(", sealed to {readers} readers")
    } else {
        String::new()
    };
    Ok(Output::new(
        format!(
            "signed record {} (nonce {nonce}) for {}{sealed}\nwrote {}",
            record.txid,
            addr(Role::Patient, &patient),
            out.display()
        ),
        value,
    ))
}

fn record_verify(files: &[PathBuf], chain: Option<&Path>) -> Result<Output, CliError> {
    let node = chain.map(|dir| Node::open(dir, false)).transpose()?;
    let mut results = Vec::new();
    let mut lines = Vec::new();
    let mut first_error: Option<CliError> = None;
    for path in files {
        let checked = (|| -> Result<(Record, Option<RecordEntry>), CliError> {
            let record = read_record(path)?;
            let mut place = None;
            match &node {
                Some(node) => {
                    if let Some(entry) = node.chain().find_record(&record.txid)? {
                        place = Some(entry);
                    } else {
                        let last = node.chain().user_state(&record.dr_hash)?.nonce;
                        record.verify(last)?;
                    }
                }
                None if record.nonce == 0 => return Err(emr_core::RecordError::InvalidNonce.into()),
                None => record.verify(record.nonce - 1)?,
            }
            Ok((record, place))
        })();
        match checked {
            Ok((record, place)) => {
                let mut value = record_json(&record);
                value["file"] = json!(path.display().to_string());
                value["valid"] = json!(true);
                let status = match &place {
                    Some(e) => {
                        value["height"] = json!(e.height);
                        value["block_id"] = json!(e.block_id.to_string());
                        format!("valid, on the chain at height {}", e.height)
                    }
                    None if node.is_some() => "valid, the doctor's next record".to_owned(),
                    None => format!(
                        "valid as the doctor's record {} (nonce order not checked without --chain)",
                        record.nonce
                    ),
                };
                lines.push(format!(
                    "{}: {status}: {}",
                    path.display(),
                    record.prescription
                ));
                results.push(value);
            }
            Err(e) => {
                lines.push(format!(
                    "{}: INVALID: {}: {}",
                    path.display(),
                    e.kind,
                    e.message
                ));
                results.push(json!({"file": path.display().to_string(), "valid": false, "error": {"kind": e.kind, "message": e.message}}));
                first_error.get_or_insert(e.context(path.display()));
            }
        }
    }
    match first_error {
        None => Ok(Output::new(lines.join("\n"), json!({"records": results}))),
        Some(mut e) => {
            e.partial = Some(Box::new((
                lines.join("\n"),
                Map::from_iter([("records".to_owned(), Value::Array(results))]),
            )));
            Err(e)
        }
    }
}

// --- chain ------------------------------------------------------------------------

fn chain_init(dir: &Path, args: &ParamArgs, authorities: &[PathBuf]) -> Result<Output, CliError> {
    let authorities = authorities
        .iter()
        .map(|p| access::read_public_key(p))
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
            "chain {}: {} blocks ({tip_text})\ntotal difficulty {total}, next block's difficulty {next}\n{pending} records and {pending_entries} entries pending\nchain id {}",
            dir.display(),
            chain.len()?,
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

fn chain_submit(dir: &Path, files: &[PathBuf]) -> Result<Output, CliError> {
    let mut node = Node::open(dir, true)?;
    let mut results = Vec::new();
    let mut lines = Vec::new();
    let mut entries = Vec::new();
    for path in files {
        let bytes = read_file(path, MAX_SMALL_FILE_BYTES, emr_core::ErrorKind::Decode.as_str())?;
        if Record::from_bytes(&bytes).is_err() {
            if let Ok(entry) = Entry::from_bytes(&bytes) {
                let outcome = node
                    .submit_entry(&entry)
                    .map_err(|e| e.context(path.display()))?;
                lines.push(format!(
                    "{}: {} ({})",
                    path.display(),
                    outcome.as_str(),
                    entry_kind(&entry)
                ));
                entries.push(json!({
                    "file": path.display().to_string(),
                    "entry_id": entry.entry_id().to_string(),
                    "type": entry_kind(&entry),
                    "outcome": outcome.as_str(),
                }));
                continue;
            }
        }
        let record = read_record(path)?;
        let outcome = node
            .submit(&record)
            .map_err(|e| e.context(path.display()))?;
        if let SubmitOutcome::ConflictsWithPending { pending_txid } = outcome {
            // Two records of one doctor with one nonce: the doctor must
            // re-sign one with a new nonce; keeping either silently would
            // lose the other.
            return Err(CliError::new(
                "conflicts_with_pending",
                format!(
                    "{}: another record of {} with nonce {} is pending (txid {pending_txid}); this one was not added",
                    path.display(),
                    addr(Role::Doctor, &record.dr_hash),
                    record.nonce
                ),
            ));
        }
        lines.push(format!(
            "{}: {} (nonce {} of {})",
            path.display(),
            outcome.as_str(),
            record.nonce,
            addr(Role::Doctor, &record.dr_hash)
        ));
        let mut value = record_json(&record);
        value["file"] = json!(path.display().to_string());
        value["outcome"] = json!(outcome.as_str());
        results.push(value);
    }
    Ok(Output::new(
        lines.join("\n"),
        json!({"records": results, "entries": entries}),
    ))
}

fn chain_mine(
    dir: &Path,
    miner: &str,
    blocks: u64,
    threads: Option<usize>,
    engine: Option<EngineArg>,
    timestamp: Option<u64>,
    mode: Mode,
) -> Result<Output, CliError> {
    let miner = parse_address(miner, Role::Miner)?;
    let engine = engine.map(|e| match e {
        EngineArg::Scalar => HashEngine::Scalar,
        EngineArg::Avx2 => HashEngine::Avx2,
        EngineArg::ShaNi => HashEngine::ShaNi,
        EngineArg::Avx512 => HashEngine::Avx512,
    });
    let mut node = Node::open(dir, true)?;
    let block_time = node.chain().params().block_time;
    let bar = MineProgress::new(mode, blocks);
    let mut mined = Vec::new();
    let mut lines = Vec::new();
    let mut engine_used = None;
    let result = cancellable(|| -> Result<(), CliError> {
        for i in 0..blocks {
            if CANCEL.is_cancelled() {
                return Err(CliError::cancelled("interrupted"));
            }
            let height = node.chain().len()?;
            bar.block_started(i, height, node.chain().next_difficulty()?.get());
            let options = SearchOptions {
                threads,
                engine,
                cancel: Some(CANCEL.clone()),
                progress: bar.callback(),
                ..SearchOptions::default()
            };
            let time = match timestamp {
                Some(t) => t.saturating_add(i.saturating_mul(block_time)),
                None => node::now(),
            };
            match node.mine_next(&miner, time, &options, node::now())? {
                Mined::Added {
                    block,
                    outcome,
                    stats,
                } => {
                    engine_used = Some(stats.engine);
                    bar.block_done(block.height, block.records.len(), &stats);
                    lines.push(format!(
                        "block {} {} at {} ({} records, difficulty {}, {} hashes in {})",
                        block.height,
                        block.block_id,
                        times::show(block.timestamp),
                        block.records.len(),
                        block.difficulty,
                        stats.hashes,
                        progress::duration(stats.elapsed.as_secs_f64())
                    ));
                    mined.push(json!({
                        "height": block.height,
                        "block_id": block.block_id.to_string(),
                        "records": block.records.len(),
                        "entries": block.entries.len(),
                        "timestamp": block.timestamp,
                        "timestamp_iso": times::iso_json(block.timestamp),
                        "difficulty": block.difficulty.get().to_string(),
                        "nonce": block.nonce,
                        "outcome": AddOutcome::as_str(outcome),
                        "hashes": stats.hashes,
                        "seconds": stats.elapsed.as_secs_f64(),
                        "hash_rate": stats.hashes_per_second,
                    }));
                }
                Mined::Stopped {
                    outcome: MineOutcome::Cancelled,
                    ..
                } => return Err(CliError::cancelled("interrupted")),
                Mined::Stopped { outcome, .. } => {
                    return Err(CliError::new(
                        "cancelled",
                        format!("the search ended without a block ({outcome:?})"),
                    ))
                }
            }
        }
        Ok(())
    });
    bar.finish();
    if let Err(e) = result {
        let done = mined.len();
        return Err(e.context(format!(
            "after mining {done} of {blocks} blocks (those are kept)"
        )));
    }
    let tip = node.chain().tip()?;
    Ok(Output::new(
        lines.join("\n"),
        json!({
            "blocks": mined,
            "miner": addr(Role::Miner, &miner),
            "engine": engine_used.map(|e| e.name()),
            "height": tip.map(|t| t.height),
            "tip": tip.map(|t| t.block_id.to_string()),
        }),
    ))
}

fn chain_history(dir: &Path, patient: &str) -> Result<Output, CliError> {
    let patient = parse_address(patient, Role::Patient)?;
    let node = Node::open(dir, false)?;
    let entries = node.chain().patient_history(&patient)?;
    let mut text = format!(
        "{} records for {}",
        entries.len(),
        addr(Role::Patient, &patient)
    );
    for e in &entries {
        text.push('\n');
        text.push_str(&entry_line(e));
    }
    Ok(Output::new(
        text,
        json!({"patient": addr(Role::Patient, &patient), "records": entries.iter().map(entry_json).collect::<Vec<_>>()}),
    ))
}

fn chain_doctor(dir: &Path, doctor: &str) -> Result<Output, CliError> {
    let doctor = parse_address(doctor, Role::Doctor)?;
    let node = Node::open(dir, false)?;
    let entries = node.chain().doctor_records(&doctor)?;
    let nonce = node.chain().user_state(&doctor)?.nonce;
    let mut text = format!(
        "{} records by {} (record counter {nonce})",
        entries.len(),
        addr(Role::Doctor, &doctor)
    );
    let chain = node.chain();
    let grants = chain.grants(&doctor)?;
    let authorized = if chain.authorities().is_empty() {
        None
    } else {
        let now = node::now();
        let authorized = chain.is_authorized(&doctor, now)?;
        text.push_str(&format!(
            "\n{} now; {} grants",
            if authorized {
                "authorized"
            } else {
                "not authorized"
            },
            grants.len()
        ));
        for g in &grants {
            text.push_str(&format!(
                "\ngrant {} at height {}: {} from {} to {}{}",
                g.grant.grant_id(),
                g.height,
                g.grant.licence,
                times::show(g.grant.not_before),
                times::show_end(g.grant.not_after),
                g.revoked_effective
                    .map_or(String::new(), |t| format!(", revoked from {}", times::show(t)))
            ));
        }
        Some(authorized)
    };
    for e in &entries {
        text.push('\n');
        text.push_str(&entry_line(e));
    }
    Ok(Output::new(
        text,
        json!({
            "doctor": addr(Role::Doctor, &doctor),
            "nonce": nonce,
            "records": entries.iter().map(entry_json).collect::<Vec<_>>(),
            "authorized": authorized,
            "grants": grants.iter().map(|g| json!({
                "grant_id": g.grant.grant_id().to_string(),
                "height": g.height,
                "licence": g.grant.licence,
                "not_before": g.grant.not_before,
                "not_before_iso": times::iso_json(g.grant.not_before),
                "not_after": g.grant.not_after,
                "not_after_iso": times::iso_json(g.grant.not_after),
                "revoked_effective": g.revoked_effective,
                "revoked_effective_iso": g.revoked_effective.map_or(Value::Null, times::iso_json),
            })).collect::<Vec<_>>(),
        }),
    ))
}

fn chain_find(dir: &Path, txid: &str) -> Result<Output, CliError> {
    let txid = parse_txid(txid)?;
    let node = Node::open(dir, false)?;
    let entry = node
        .chain()
        .find_record(&txid)?
        .ok_or_else(|| CliError::not_found(format!("no record with txid {txid} on the chain")))?;
    Ok(Output::new(
        format!(
            "txid         {}\nblock        {} at height {}, {}\ndoctor       {} (record {})\npatient      {}\nprescription {}",
            entry.record.txid,
            entry.block_id,
            entry.height,
            times::show(entry.timestamp),
            addr(Role::Doctor, &entry.record.dr_hash),
            entry.record.nonce,
            addr(Role::Patient, &entry.record.patient_hash),
            entry.record.prescription
        ),
        json!({"record": entry_json(&entry)}),
    ))
}

fn chain_check(dir: &Path, mode: Mode) -> Result<Output, CliError> {
    let node = Node::open(dir, false)?;
    let chain = node.chain();
    // Records per block, for the records-per-second figure.
    let counts: Vec<u64> = if mode == Mode::Off {
        Vec::new()
    } else {
        chain
            .blocks(0, chain.len()?)
            .map(|b| b.map(|b| b.records.len() as u64))
            .collect::<Result<_, _>>()?
    };
    let bar = BatchBar::new(mode, "checking", counts);
    let update = |p| bar.update(p);
    let report = cancellable(|| {
        let options = BatchOptions {
            progress: Some(&update),
            cancel: Some(&CANCEL),
            ..BatchOptions::default()
        };
        chain.check(&options)
    });
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            bar.finish(0);
            return Err(e.into());
        }
    };
    bar.finish(report.blocks_ok);
    if let Some(bad) = report.first_bad {
        return Err(CliError::from(bad.error).context(format!(
            "block at height {} is bad ({} blocks before it are good)",
            bad.height, report.blocks_ok
        )));
    }
    Ok(Output::new(
        format!(
            "checked {} blocks: every block, signature and stored state agrees",
            report.blocks_ok
        ),
        json!({"blocks_ok": report.blocks_ok}),
    ))
}

fn chain_export(dir: &Path, file: PathBuf, from: u64, force: bool) -> Result<Output, CliError> {
    let out = OutFile::new(file, Access::Public, force)?;
    let node = Node::open(dir, false)?;
    let len = node.chain().len()?;
    let blocks: Vec<_> = node.chain().blocks(from, len).collect::<Result<_, _>>()?;
    out.write(&container::encode(&blocks), None)?;
    let file = out.path();
    Ok(Output::new(
        format!(
            "wrote {} blocks (heights {from}..{len}) to {}",
            blocks.len(),
            file.display()
        ),
        json!({"file": file.display().to_string(), "blocks": blocks.len(), "from": from, "height": len.checked_sub(1)}),
    ))
}

fn chain_import(dir: &Path, file: &Path, mode: Mode) -> Result<Output, CliError> {
    let reader = std::io::BufReader::new(fs::File::open(file).map_err(|e| file_error(file, e))?);
    let blocks = container::read(reader).map_err(|e| e.context(file.display()))?;
    let mut node = Node::open(dir, true)?;
    let conflicts_before = node.chain().conflicts()?.len();
    let bar = BatchBar::new(
        mode,
        "importing",
        blocks.iter().map(|b| b.records.len() as u64),
    );
    let update = |p| bar.update(p);
    let result = cancellable(|| {
        let options = BatchOptions {
            progress: Some(&update),
            cancel: Some(&CANCEL),
            ..BatchOptions::default()
        };
        node.chain_mut()
            .add_blocks(&blocks, Some(node::now()), &options)
    });
    let outcomes = match result {
        Ok(outcomes) => outcomes,
        Err(e) => {
            bar.finish(e.index as u64);
            let kept = e.index;
            return Err(CliError::from(e).context(format!(
                "{} ({kept} blocks before it were added)",
                file.display()
            )));
        }
    };
    bar.finish(blocks.len() as u64);
    let count = |o: AddOutcome| outcomes.iter().filter(|x| **x == o).count();
    let tip = node.chain().tip()?;
    // Records this import dropped for others (SPEC 9.3): said, never silent.
    let new_conflicts = node.chain().conflicts()?.len().saturating_sub(conflicts_before);
    let conflicts_note = match new_conflicts {
        0 => String::new(),
        n => format!("\n{n} record(s) dropped for others with their nonces: see `emr chain conflicts {}`", dir.display()),
    };
    Ok(Output::new(
        format!(
            "imported {} blocks: {} extended, {} reorganized, {} side branch, {} already known, {} stale\ntip: {}{conflicts_note}",
            blocks.len(),
            count(AddOutcome::Extended),
            count(AddOutcome::Reorganized),
            count(AddOutcome::SideBranch),
            count(AddOutcome::AlreadyKnown),
            count(AddOutcome::Stale),
            tip.map_or("none".to_owned(), |t| format!("height {}, block {}", t.height, t.block_id)),
        ),
        json!({
            "file": file.display().to_string(),
            "blocks": blocks.len(),
            "extended": count(AddOutcome::Extended),
            "reorganized": count(AddOutcome::Reorganized),
            "side_branch": count(AddOutcome::SideBranch),
            "stale": count(AddOutcome::Stale),
            "already_known": count(AddOutcome::AlreadyKnown),
            "conflicts": new_conflicts,
            "height": tip.map(|t| t.height),
            "tip": tip.map(|t| t.block_id.to_string()),
        }),
    ))
}

fn chain_undo(dir: &Path) -> Result<Output, CliError> {
    let mut node = Node::open(dir, true)?;
    let block = node.chain_mut().undo_last_block()?;
    // The core returns an undone block's records to the pool itself.
    let returned = block.records.len();
    let miner = Address::new(Role::Miner, block.miner).to_string();
    Ok(Output::new(
        format!(
            "took block {} {} off the chain; {returned} of its {} records are pending again",
            block.height,
            block.block_id,
            block.records.len()
        ),
        json!({
            "height": block.height,
            "block_id": block.block_id.to_string(),
            "miner": miner,
            "records": block.records.len(),
            "returned_to_pool": returned,
        }),
    ))
}

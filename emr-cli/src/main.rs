//! `emr`: the cryptoemr command line (`docs/CLI.md`).
//!
//! Keys are PKCS#8 PEM files, records and blocks move between commands as
//! files in their canonical encoding, and a chain lives in a directory
//! (`DIR/chain.db`, with the pool of pending records beside it). Every
//! command prints a human summary, or one JSON object with `--json`; errors
//! are one line `error: <kind>: <message>` with a stable exit code.
//!
//! This file holds the top of the command line and hands each command to
//! its group's module under `cmd/`.

mod cancel;
mod cmd;
mod container;
mod error;
mod infile;
mod node;
mod outfile;
mod output;
mod password;
mod progress;
mod times;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{CommandFactory as _, Parser, Subcommand};
use serde_json::json;

use cmd::{address, authority, chain, keys, record, rx};
use error::{exit, CliError};
use output::{report, Output, Ui};
use progress::Mode;

#[derive(Parser)]
#[command(name = "emr", version, about = "Signed medical records on a proof-of-work chain", long_about = None)]
struct Cli {
    /// Print the result (or the error) as one JSON object on stdout.
    #[arg(long, global = true, help_heading = GLOBAL)]
    json: bool,
    /// No progress bars or progress lines on stderr.
    #[arg(long, short, global = true, help_heading = GLOBAL, conflicts_with = "progress")]
    quiet: bool,
    /// Progress lines on stderr when it is not a terminal (on a terminal a
    /// bar is drawn without asking).
    #[arg(long, global = true, help_heading = GLOBAL)]
    progress: bool,
    /// Read the password of encrypted key files from the first line of
    /// FILE (else from EMR_KEY_PASSWORD, else a prompt on a terminal).
    #[arg(long, global = true, value_name = "FILE", help_heading = GLOBAL)]
    password_file: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Private keys: make one, show its curve and address.
    #[command(subcommand)]
    Key(keys::KeyCommand),
    /// Addresses: a 20-byte hash as checksummed text, and back.
    #[command(subcommand)]
    Address(address::AddressCommand),
    /// Signed records: sign a prescription, verify record files.
    #[command(subcommand)]
    Record(record::RecordCommand),
    /// A chain in a directory: submit records, mine, query, exchange blocks.
    #[command(subcommand)]
    Chain(chain::ChainCommand),
    /// Authorities: the keys whose grants decide which doctors may write.
    #[command(subcommand)]
    Authority(authority::AuthorityCommand),
    /// Nodes: the consortium's certificate authority and its nodes'
    /// certificates, for mutual TLS between sites.
    #[command(subcommand)]
    Node(cmd::node::NodeCommand),
    /// An authority admits a doctor: sign a grant (an entry file), and
    /// offer it to a chain's pool with --chain.
    Grant(authority::GrantArgs),
    /// An authority withdraws a grant from a time on: sign a revocation (an
    /// entry file), and offer it to a chain's pool with --chain.
    Revoke(authority::RevokeArgs),
    /// Pharmacies: an authority admits one to dispense.
    #[command(subcommand)]
    Pharmacy(rx::PharmacyCommand),
    /// A pharmacy hands over a prescription, countersigned by the patient:
    /// at the counter in one step (--key and --patient-key), or in three
    /// when the patient signs on their own device (--prepare, --countersign,
    /// --submit). The dispensing goes to --chain's pool (or the node on it).
    Dispense(rx::DispenseArgs),
    /// The prescriber (or an authority) withdraws a prescription not yet
    /// dispensed; the cancellation goes to --chain's pool.
    Cancel(rx::CancelArgs),
    /// Prescriptions: what became of one, what a pharmacy dispensed.
    #[command(subcommand)]
    Rx(rx::RxCommand),
    /// Print a shell's completion script (bash: `source <(emr completions
    /// bash)`, or save it where the shell loads completions from).
    Completions {
        /// The shell to complete in.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) of emr or of one of its commands
    /// (`emr man chain mine | man -l -`).
    Man {
        /// The command whose page to print, as typed after emr (default:
        /// emr itself).
        command: Vec<String>,
    },
}

/// The heading the options every command takes are listed under, apart
/// from the command's own.
const GLOBAL: &str = "Global options";

impl Command {
    fn name(&self) -> &'static str {
        match self {
            Command::Key(c) => c.name(),
            Command::Address(c) => c.name(),
            Command::Record(c) => c.name(),
            Command::Chain(c) => c.name(),
            Command::Authority(c) => c.name(),
            Command::Node(c) => c.name(),
            Command::Grant(_) => "grant",
            Command::Revoke(_) => "revoke",
            Command::Pharmacy(c) => c.name(),
            Command::Dispense(_) => "dispense",
            Command::Cancel(_) => "cancel",
            Command::Rx(c) => c.name(),
            Command::Completions { .. } => "completions",
            Command::Man { .. } => "man",
        }
    }

    fn run(self, ui: Ui) -> Result<Output, CliError> {
        match self {
            Command::Key(c) => c.run(),
            Command::Address(c) => c.run(),
            Command::Record(c) => c.run(),
            Command::Chain(c) => c.run(ui),
            Command::Authority(c) => c.run(),
            Command::Node(c) => c.run(ui.progress),
            Command::Grant(args) => authority::grant(args),
            Command::Revoke(args) => authority::revoke(args),
            Command::Pharmacy(c) => c.run(),
            Command::Dispense(args) => rx::dispense(args),
            Command::Cancel(args) => rx::cancel(args),
            Command::Rx(c) => c.run(),
            Command::Completions { shell } => Ok(completions(shell)),
            Command::Man { command } => man(&command),
        }
    }
}

fn completions(shell: clap_complete::Shell) -> Output {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "emr", &mut script);
    let script = String::from_utf8_lossy(&script).into_owned();
    Output::new(
        script.clone(),
        json!({"shell": shell.to_string(), "script": script}),
    )
}

fn man(path: &[String]) -> Result<Output, CliError> {
    let mut command = Cli::command();
    // Built, each subcommand knows its full name (`emr chain mine`) and
    // its page's (`emr-chain-mine`).
    command.build();
    let mut typed = "emr".to_owned();
    for word in path {
        typed = format!("{typed} {word}");
        command = command
            .find_subcommand(word)
            .cloned()
            .ok_or_else(|| CliError::usage(format!("there is no command `{typed}` (emr --help lists them)")))?;
    }
    let mut page = Vec::new();
    clap_mangen::Man::new(command)
        .render(&mut page)
        .map_err(|e| CliError::io(format!("writing the manual page: {e}")))?;
    let page = String::from_utf8_lossy(&page).into_owned();
    Ok(Output::new(
        page.clone(),
        json!({"page_of": typed, "page": page}),
    ))
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let json_flag = args.iter().any(|a| a == "--json");
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => return clap_error(e, &args, json_flag),
    };
    cancel::install_handler();
    password::set_file(cli.password_file);
    let name = cli.command.name();
    let ui = Ui {
        progress: Mode::detect(cli.quiet, cli.progress),
        json: cli.json,
    };
    let result = cli.command.run(ui);
    report(result, cli.json, name)
}

/// A command line clap did not take: help and version are printed as they
/// are; anything else is a `usage` error like every other error.
fn clap_error(e: clap::Error, args: &[OsString], json_flag: bool) -> ExitCode {
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
    let mut message = first.strip_prefix("error: ").unwrap_or(first).to_owned();
    if !named.is_empty() {
        message = format!("{message} {}", named.join(", "));
    }
    if let Some(suggestion) = suggestion(&e) {
        message = format!("{message}; did you mean {suggestion}?");
    }
    let message = format!("{message} (see {} --help)", typed_command(args));
    report(Err(CliError::usage(message)), json_flag, "")
}

/// The deepest command named on the command line (`emr key new`), whose
/// help lists the arguments it takes.
fn typed_command(args: &[OsString]) -> String {
    let mut command = Cli::command();
    let mut typed = "emr".to_owned();
    for word in args.iter().skip(1).filter_map(|a| a.to_str()) {
        let Some(sub) = command.find_subcommand(word).cloned() else {
            continue;
        };
        typed = format!("{typed} {word}");
        command = sub;
    }
    typed
}

/// What clap found close to a mistyped command, flag or value, quoted.
fn suggestion(e: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue};
    [
        ContextKind::SuggestedSubcommand,
        ContextKind::SuggestedArg,
        ContextKind::SuggestedValue,
    ]
    .into_iter()
    .find_map(|kind| match e.get(kind)? {
        ContextValue::String(s) => Some(format!("'{s}'")),
        ContextValue::Strings(v) if !v.is_empty() => Some(
            v.iter()
                .map(|s| format!("'{s}'"))
                .collect::<Vec<_>>()
                .join(" or "),
        ),
        _ => None,
    })
}

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

use clap::{Parser, Subcommand};

use cmd::{address, authority, chain, keys, record};
use error::{exit, CliError};
use output::{report, Output};
use progress::Mode;

#[derive(Parser)]
#[command(name = "emr", version, about = "Signed medical records on a proof-of-work chain", long_about = None)]
struct Cli {
    /// Print the result (or the error) as one JSON object on stdout.
    #[arg(long, global = true)]
    json: bool,
    /// No progress bars or progress lines on stderr.
    #[arg(long, short, global = true)]
    quiet: bool,
    /// Read the password of encrypted key files from the first line of
    /// FILE (else from EMR_KEY_PASSWORD, else a prompt on a terminal).
    #[arg(long, global = true, value_name = "FILE")]
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
}

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
        }
    }

    fn run(self, mode: Mode) -> Result<Output, CliError> {
        match self {
            Command::Key(c) => c.run(),
            Command::Address(c) => c.run(),
            Command::Record(c) => c.run(),
            Command::Chain(c) => c.run(mode),
            Command::Authority(c) => c.run(),
            Command::Node(c) => c.run(),
            Command::Grant(args) => authority::grant(args),
            Command::Revoke(args) => authority::revoke(args),
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let json_flag = args.iter().any(|a| a == "--json");
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => return clap_error(e, json_flag),
    };
    cancel::install_handler();
    password::set_file(cli.password_file);
    let name = cli.command.name();
    let mode = Mode::detect(cli.quiet);
    let result = cli.command.run(mode);
    report(result, cli.json, name)
}

/// A command line clap did not take: help and version are printed as they
/// are; anything else is a `usage` error like every other error.
fn clap_error(e: clap::Error, json_flag: bool) -> ExitCode {
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
    report(Err(CliError::usage(message)), json_flag, "")
}

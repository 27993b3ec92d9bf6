//! `emr node`: what sites need to run nodes together. Each subcommand
//! group is a variant of [`NodeCommand`] with its code in a file of its
//! own beside this one (`certs.rs`: the consortium's certificates).

mod ask;
mod certs;
mod run;

use std::path::PathBuf;

use clap::Subcommand;

use crate::error::CliError;
use crate::output::Output;
use crate::progress::Mode;
use run::TlsFiles;

#[derive(Subcommand)]
pub enum NodeCommand {
    /// The consortium's certificate authority.
    #[command(subcommand)]
    Ca(CaCommand),
    /// Node certificates, signed by the consortium's authority.
    #[command(subcommand)]
    Cert(CertCommand),
    /// Run this site's node on a chain directory: serve the chain to the
    /// site's programs and the consortium's nodes, keep it in step with
    /// the peers, mine when told to. Stops cleanly on Ctrl-C or SIGTERM.
    Serve {
        /// The chain directory (from `emr chain init` or `emr node join`).
        dir: PathBuf,
        /// Where to listen: HTTPS with mutual TLS when --ca/--cert/--key
        /// are given, otherwise plain HTTP on a loopback address only.
        #[arg(long, value_name = "HOST:PORT")]
        listen: String,
        /// A second, plain-HTTP listener on a loopback address for this
        /// machine's programs (the `emr` commands write through it).
        #[arg(long, value_name = "HOST:PORT")]
        local: Option<String>,
        /// A peer's URL (https://HOST:PORT, or http:// on loopback); repeat
        /// for each.
        #[arg(long = "peer", value_name = "URL")]
        peers: Vec<String>,
        /// Mine whenever records or entries are pending.
        #[arg(long)]
        mine: bool,
        /// The miner address that receives the rewards (with --mine).
        #[arg(long, value_name = "ADDRESS")]
        miner: Option<String>,
        /// Mining threads (default: one per core).
        #[arg(long)]
        threads: Option<usize>,
        #[command(flatten)]
        tls: TlsFiles,
        /// Milliseconds between two polls of each peer.
        #[arg(long, default_value_t = 2000)]
        poll_ms: u64,
        /// Requests per second each TLS client may make (429 beyond).
        #[arg(long, default_value_t = emr_node::node::DEFAULT_RATE)]
        rate: u32,
        /// Log filter: error, warn, info, debug, trace (EMR_LOG overrides).
        #[arg(long, default_value = "info")]
        log: String,
    },
    /// Create a chain in a new directory from a consortium's peer: its
    /// parameters are checked against the chain id the consortium gave
    /// out of band, then the chain is synced.
    Join {
        /// The new chain directory.
        dir: PathBuf,
        /// The peer's URL.
        #[arg(long, value_name = "URL")]
        peer: String,
        /// The consortium's chain id (64 hex digits), given out of band.
        #[arg(long, value_name = "HEX")]
        chain_id: String,
        #[command(flatten)]
        tls: TlsFiles,
    },
    /// What the node on DIR reports: height, pending, conflicts, sync lag,
    /// peers; with --seen, how sure a block or record is.
    Status {
        /// The chain directory a node runs on.
        dir: PathBuf,
        /// A block id or a record's txid: its depth and how many sites hold it.
        #[arg(long, value_name = "HASH")]
        seen: Option<String>,
        /// Ask the node at this URL instead of the one found beside DIR.
        #[arg(long)]
        url: Option<String>,
        #[command(flatten)]
        tls: TlsFiles,
    },
    /// The node's peers: up, down, suspended (and why), incompatible.
    Peers {
        /// The chain directory a node runs on.
        dir: PathBuf,
        /// Ask the node at this URL instead of the one found beside DIR.
        #[arg(long)]
        url: Option<String>,
        #[command(flatten)]
        tls: TlsFiles,
    },
    /// Records the node's chain dropped for others (SPEC 9.3); dismiss one
    /// with `emr chain conflicts DIR --dismiss TXID`.
    Conflicts {
        /// The chain directory a node runs on.
        dir: PathBuf,
        /// Ask the node at this URL instead of the one found beside DIR.
        #[arg(long)]
        url: Option<String>,
        #[command(flatten)]
        tls: TlsFiles,
    },
}

impl NodeCommand {
    pub fn name(&self) -> &'static str {
        match self {
            NodeCommand::Ca(CaCommand::New { .. }) => "node ca new",
            NodeCommand::Cert(CertCommand::New { .. }) => "node cert new",
            NodeCommand::Serve { .. } => "node serve",
            NodeCommand::Join { .. } => "node join",
            NodeCommand::Status { .. } => "node status",
            NodeCommand::Peers { .. } => "node peers",
            NodeCommand::Conflicts { .. } => "node conflicts",
        }
    }

    pub fn run(self, mode: Mode) -> Result<Output, CliError> {
        match self {
            NodeCommand::Serve { dir, listen, local, peers, mine, miner, threads, tls, poll_ms, rate, log } => {
                run::serve(run::ServeArgs { dir, listen, local, peers, mine, miner, threads, tls, poll_ms, rate, log })
            }
            NodeCommand::Join { dir, peer, chain_id, tls } => run::join(&dir, &peer, &chain_id, &tls, mode),
            NodeCommand::Status { dir, seen, url, tls } => ask::status(&dir, url.as_deref(), &tls, seen.as_deref()),
            NodeCommand::Peers { dir, url, tls } => ask::peers(&dir, url.as_deref(), &tls),
            NodeCommand::Conflicts { dir, url, tls } => ask::conflicts(&dir, url.as_deref(), &tls),
            NodeCommand::Ca(CaCommand::New {
                name,
                out_key,
                out_cert,
                days,
                force,
            }) => certs::ca_new(&name, out_key, out_cert, days, force),
            NodeCommand::Cert(CertCommand::New {
                ca,
                ca_key,
                names,
                out_key,
                out_cert,
                days,
                force,
            }) => certs::cert_new(&ca, &ca_key, &names, out_key, out_cert, days, force),
        }
    }
}

#[derive(Subcommand)]
pub enum CaCommand {
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
pub enum CertCommand {
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

//! `emr node serve` and `emr node join`: running a site's node, and
//! making a new site's chain from a consortium's peer (SPEC 9.2).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use emr_core::address::Role;
use emr_core::chain::BatchProgress;
use emr_node::client::Client;
use emr_node::node::{self as server, Listen, NodeConfig};
use emr_node::pki::Credentials;
use emr_node::sync::{self, SyncError, SyncOptions};
use serde_json::json;

use crate::cancel::{cancellable, CANCEL};
use crate::cmd::parse_address;
use crate::error::CliError;
use crate::infile::{read_file, MAX_SMALL_FILE_BYTES};
use crate::node::{Node, CHAIN_FILE};
use crate::output::Output;
use crate::progress::Mode;

/// The consortium's authority, this node's certificate and its key.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct TlsFiles {
    /// The consortium authority's certificate (PEM): the only issuer
    /// whose certificates this node accepts and trusts.
    #[arg(long, value_name = "CA_CERT", requires_all = ["cert", "key"])]
    pub ca: Option<PathBuf>,
    /// This node's certificate (PEM), from `emr node cert new`.
    #[arg(long, value_name = "CERT", requires_all = ["ca", "key"])]
    pub cert: Option<PathBuf>,
    /// This node's private key (PEM).
    #[arg(long, value_name = "KEY", requires_all = ["ca", "cert"])]
    pub key: Option<PathBuf>,
}

impl TlsFiles {
    pub fn credentials(&self) -> Result<Option<Credentials>, CliError> {
        let (Some(ca), Some(cert), Some(key)) = (&self.ca, &self.cert, &self.key) else {
            return Ok(None);
        };
        let read = |p: &Path| read_file(p, MAX_SMALL_FILE_BYTES, "invalid_certificate");
        let key_pem = zeroize::Zeroizing::new(read(key)?);
        Ok(Some(Credentials::from_pem(&read(ca)?, &read(cert)?, &key_pem)?))
    }

    pub fn client_config(&self) -> Result<Option<Arc<emr_node::client::ClientConfig>>, CliError> {
        match self.credentials()? {
            Some(c) => Ok(Some(Arc::new(c.client_config()?))),
            None => Ok(None),
        }
    }
}

fn address(text: &str, flag: &str) -> Result<SocketAddr, CliError> {
    use std::net::ToSocketAddrs;
    text.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| CliError::invalid_argument(format!("{flag} {text:?} is not HOST:PORT")))
}

/// Logs to stderr: `--log` (or `EMR_LOG`), as tracing's filter directives
/// (`info`, `debug`, `emr_node=debug,warn`).
fn init_logs(level: &str) -> Result<(), CliError> {
    let filter = std::env::var("EMR_LOG").unwrap_or_else(|_| level.to_owned());
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .map_err(|e| CliError::invalid_argument(format!("--log {filter:?}: {e}")))?;
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
    Ok(())
}

pub struct ServeArgs {
    pub dir: PathBuf,
    pub listen: String,
    pub local: Option<String>,
    pub peers: Vec<String>,
    pub mine: bool,
    pub miner: Option<String>,
    pub threads: Option<usize>,
    pub tls: TlsFiles,
    pub poll_ms: u64,
    pub rate: u32,
    pub log: String,
}

pub fn serve(args: ServeArgs) -> Result<Output, CliError> {
    let chain = args.dir.join(CHAIN_FILE);
    if !chain.is_file() {
        return Err(CliError::not_found(format!(
            "no chain in {} (create one with `emr chain init` or `emr node join`)",
            args.dir.display()
        )));
    }
    let miner = match (args.mine, &args.miner) {
        (true, Some(m)) => Some(parse_address(m, Role::Miner)?),
        (true, None) => return Err(CliError::usage("--mine needs --miner ADDRESS (who gets the rewards)")),
        (false, Some(_)) => return Err(CliError::usage("--miner is for --mine")),
        (false, None) => None,
    };
    if args.threads == Some(0) {
        return Err(CliError::invalid_argument("--threads must be at least 1"));
    }
    if args.poll_ms == 0 {
        return Err(CliError::invalid_argument("--poll-ms must be at least 1"));
    }
    let credentials = args.tls.credentials()?;
    let mut listen = vec![Listen { addr: address(&args.listen, "--listen")?, tls: credentials.is_some() }];
    if let Some(local) = &args.local {
        listen.push(Listen { addr: address(local, "--local")?, tls: false });
    }
    init_logs(&args.log)?;
    let mut config = NodeConfig::new(chain, listen);
    config.credentials = credentials;
    config.peers = args.peers;
    config.miner = miner;
    config.threads = args.threads;
    config.poll = Duration::from_millis(args.poll_ms);
    config.rate = args.rate;
    let node = server::start(config).map_err(|e| match e {
        server::NodeError::Chain(e) => CliError::from(e),
        server::NodeError::InvalidArgument(m) => CliError::invalid_argument(m),
        server::NodeError::Io(m) => CliError::io(m),
    })?;
    let addresses: Vec<String> = node.addresses().iter().map(ToString::to_string).collect();
    eprintln!("node serving {} on {}", args.dir.display(), addresses.join(", "));
    cancellable(|| node.run_until(&CANCEL)).map_err(|e| CliError::io(e.to_string()))?;
    Ok(Output::new(format!("node on {} stopped", args.dir.display()), json!({"stopped": true, "listen": addresses})))
}

pub fn join(dir: &Path, peer: &str, chain_id: &str, tls: &TlsFiles, mode: Mode) -> Result<Output, CliError> {
    let expected = hex::decode(chain_id)
        .ok()
        .and_then(|b| emr_core::Hash256::from_slice(&b))
        .ok_or_else(|| CliError::invalid_argument(format!("--chain-id takes 64 hex digits, not {chain_id:?}")))?;
    if dir.join(CHAIN_FILE).exists() {
        return Err(CliError::invalid_argument(format!(
            "{} already holds a chain: join makes a new one (to sync an existing chain, run `emr node serve` with --peer)",
            dir.display()
        )));
    }
    let client = Client::new(peer, tls.client_config()?).map_err(|e| CliError::invalid_argument(e.to_string()))?;
    let info = client.info().map_err(|e| CliError::io(format!("{peer}: {e}")))?;
    let params = info
        .params
        .to_chain()
        .map_err(|e| CliError::new("invalid_argument", format!("{peer} gave parameters that do not read: {e}")))?;
    match params.chain_id() {
        Some(id) if id == expected => {}
        Some(id) => {
            return Err(CliError::new(
                "wrong_chain",
                format!("{peer} keeps chain {id}, not the consortium's {expected}: nothing was created"),
            ))
        }
        None => return Err(CliError::new("wrong_chain", format!("{peer} gave parameters without a salt: no chain id"))),
    }
    let mut node = Node::init(dir, params)?;
    let last = Mutex::new(Instant::now());
    let show = |p: BatchProgress| {
        if mode == Mode::Off {
            return;
        }
        let Ok(mut last) = last.lock() else { return };
        if last.elapsed() >= Duration::from_secs(1) || p.done == p.total {
            *last = Instant::now();
            eprintln!("syncing from {peer}: {}/{} blocks", p.done, p.total);
        }
    };
    let options = SyncOptions { progress: Some(&show), cancel: Some(&CANCEL) };
    let result = cancellable(|| sync::sync_once(node.chain_mut(), &client, &options));
    let report = result.map_err(|e| match e {
        SyncError::Cancelled => CliError::new("cancelled", "the sync was cancelled; what it added is kept: `emr node serve` goes on"),
        SyncError::Chain(e) => CliError::from(e),
        other => CliError::io(format!("{peer}: {other} (the chain was created; `emr node serve` with --peer syncs it)")),
    })?;
    Ok(Output::new(
        format!(
            "joined chain {expected} from {peer}: {} blocks, height {}, work {}",
            report.received, report.height, report.work
        ),
        json!({
            "chain_id": expected.to_string(),
            "peer": peer,
            "received": report.received,
            "height": report.height,
            "work": report.work,
        }),
    ))
}

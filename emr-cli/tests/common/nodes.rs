//! Node processes for the tests of `emr node serve`: each is a real
//! process on a loopback port, stopped with SIGTERM or killed with SIGKILL,
//! killed when dropped; every wait is bounded.

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use emr_core::chain::{Chain, ChainParams};
use emr_core::{Block, Difficulty, Hash160, Hash256};
use emr_node::client::Client;
use serde_json::Value;

use super::{emr_in, now, EMR};

/// A free loopback port (bound, then released for the node to take).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn wait_for(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    f()
}

/// One `emr node serve` process; killed when dropped.
pub struct NodeProc {
    child: Option<Child>,
    dir: PathBuf,
    args: Vec<String>,
    log: PathBuf,
    local: String,
}

impl NodeProc {
    /// Starts a node on `dir` with a plain loopback listener for this
    /// test (`--local`, or `--listen` itself without TLS) and `extra`.
    pub fn start(dir: &Path, extra: &[String]) -> NodeProc {
        let mut args = vec!["node".to_string(), "serve".to_string(), dir.display().to_string()];
        args.extend_from_slice(extra);
        let local = if extra.iter().any(|a| a == "--ca") {
            let port = free_port();
            args.extend(["--local".to_string(), format!("127.0.0.1:{port}")]);
            format!("http://127.0.0.1:{port}")
        } else {
            let at = extra.iter().position(|a| a == "--listen").expect("--listen");
            format!("http://{}", extra[at + 1])
        };
        let mut node = NodeProc { child: None, dir: dir.to_owned(), args, log: dir.with_extension("log"), local };
        node.spawn();
        node
    }

    pub fn spawn(&mut self) {
        let log = File::options().create(true).append(true).open(&self.log).unwrap();
        let child = Command::new(EMR)
            .args(&self.args)
            .env("EMR_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start emr node serve");
        self.child = Some(child);
        let client = self.client();
        assert!(
            wait_for(Duration::from_secs(30), || client.info().is_ok()),
            "the node on {} did not answer: {}",
            self.dir.display(),
            self.log()
        );
    }

    /// The process id of the running node.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    pub fn client(&self) -> Client {
        Client::new(&self.local, None).unwrap()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn tip(&self) -> Option<String> {
        self.client().info().ok().and_then(|i| i.tip)
    }

    pub fn json(&self, path: &str) -> Value {
        self.client().json("GET", path, None).unwrap()
    }

    /// SIGTERM, and waits for a clean exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill(2) with the pid of a child this test started
            // and has not reaped, so the pid names that process.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let start = Instant::now();
            loop {
                if let Some(status) = child.try_wait().unwrap() {
                    assert!(status.success(), "the node exited with {status}: {}", self.log());
                    break;
                }
                if start.elapsed() > Duration::from_secs(20) {
                    let _ = child.kill();
                    panic!("the node did not stop on SIGTERM: {}", self.log());
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn check(dir: &Path) {
    let run = emr_in(dir.parent().unwrap(), &["chain", "check", &dir.display().to_string(), "--json"]);
    assert_eq!(run.code, 0, "check {}: {run:?}", dir.display());
}

pub const MINER: Hash160 = Hash160::from_bytes([7; 20]);
pub const PATIENT: Hash160 = Hash160::from_bytes([9; 20]);

pub fn params() -> ChainParams {
    ChainParams { initial_difficulty: Difficulty::MIN, max_adjust: 1, salt: Some([5; 16]), ..ChainParams::default() }
}

/// Adds `n` blocks to the chain, each with the records then pending (an
/// id meets difficulty 1 whatever it is).
pub fn grow(chain: &mut Chain, n: usize) {
    for _ in 0..n {
        let template = chain.template(&MINER, now()).unwrap();
        let mut block = Block {
            previous: template.previous,
            height: template.height,
            miner: template.miner,
            records: template.records,
            entries: template.entries,
            timestamp: template.timestamp,
            difficulty: template.difficulty,
            block_id: Hash256::from_bytes([0; 32]),
            nonce: 0,
        };
        block.block_id = block.calculate_block_id();
        chain.add_block(&block, None).unwrap();
    }
}

/// Copies a closed chain directory.
pub fn copy_chain(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name.to_string_lossy().starts_with("chain.db") {
            std::fs::copy(entry.path(), to.join(name)).unwrap();
        }
    }
}

pub fn serve_plain(dir: &Path, port: u16, peers: &[u16], mine: Option<&str>) -> NodeProc {
    let mut args = vec!["--listen".to_string(), format!("127.0.0.1:{port}"), "--poll-ms".into(), "300".into()];
    for p in peers {
        args.extend(["--peer".to_string(), format!("http://127.0.0.1:{p}")]);
    }
    if let Some(miner) = mine {
        args.extend(["--mine".to_string(), "--miner".into(), miner.to_owned(), "--threads".into(), "1".into()]);
    }
    NodeProc::start(dir, &args)
}


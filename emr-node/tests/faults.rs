//! A node whose disk fills (docs/OPERATIONS.md, "A full or failing disk"):
//! it keeps serving reads, says why it cannot write in `/v1/status` and
//! `/metrics`, answers submits and posted blocks with the `io` error
//! naming its chain file, loses nothing it acknowledged, and takes writes
//! again once space is back. The node runs in a child process (this test
//! binary again) with the `faultfs` shim LD_PRELOAD'ed.

mod common;
#[path = "../../faultfs/faultfs.rs"]
mod faultfs;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

use common::*;
use emr_core::blockfile;
use emr_core::chain::{BatchOptions, Chain};
use emr_node::client::Client;
use emr_node::node::{self, Listen, NodeConfig};
use faultfs::Faults;
use serde_json::Value;

const ROLE: &str = "EMR_FAULT_NODE";

/// The child: a node on the chain `EMR_FAULT_NODE` names, its address on
/// stdout, until stdin closes.
fn serve(chain: &str) {
    let node = node::start(NodeConfig::new(chain, vec![Listen { addr: "127.0.0.1:0".parse().unwrap(), tls: false }])).unwrap();
    println!("listening http://{}", node.addresses()[0]);
    let mut rest = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut rest);
    node.shutdown();
}

fn storage(client: &Client) -> Value {
    client.json("GET", "/v1/status", None).unwrap()["storage"].clone()
}

fn metrics(client: &Client) -> String {
    String::from_utf8(client.request("GET", "/metrics", None, 1 << 20).unwrap().1).unwrap()
}

#[test]
fn a_node_on_a_full_disk_serves_reads_says_why_and_recovers() {
    if let Ok(chain) = std::env::var(ROLE) {
        return serve(&chain);
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let path = chain_file(&data, 1, 3);
    let mut faults = Faults::new(&data);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "a_node_on_a_full_disk_serves_reads_says_why_and_recovers", "--nocapture", "--test-threads=1"])
        .envs(faults.env())
        .env(ROLE, &path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| l.split_once("listening ").map(|(_, url)| url.to_owned()))
        .expect("the node never said where it listens");
    let client = Client::new(&url, None).unwrap();
    assert_eq!(storage(&client)["writable"], true);
    assert!(metrics(&client).contains("emr_storage_writable 1"));

    // The disk fills: every write that needs new space fails. Records are
    // submitted until one meets it (a write that fits in space the files
    // already hold still succeeds, as on a real disk); each one the node
    // acknowledged must survive.
    let key = doctor();
    faults.arm("enospc", 0, 0);
    let mut acknowledged = Vec::new();
    let failed = (1..=20).find_map(|nonce| {
        let r = record(&key, nonce, "metformin 500 mg");
        let (status, body) = client.request("POST", "/v1/submit", Some(r.to_bytes()), 1 << 20).unwrap();
        let answer: Value = serde_json::from_slice(&body).unwrap();
        if status == 200 {
            assert_eq!(answer["outcome"], "ready", "{answer}");
            acknowledged.push(r);
            None
        } else {
            Some((status, answer, r))
        }
    });
    let (status, answer, refused) = failed.expect("20 submits on a full disk all succeeded");
    assert_eq!(status, 500, "{answer}");
    assert_eq!(answer["error"], "io", "{answer}");
    let message = answer["message"].as_str().unwrap();
    assert!(message.contains(&path.display().to_string()) && message.contains("disk full"), "{message}");
    println!("after {} acknowledged submits on a full disk: {status} {message}", acknowledged.len());

    // Reads are served, and the node says why it cannot write.
    let info = client.info().unwrap();
    assert_eq!(info.height, 3);
    assert_eq!(client.blocks(0, 10).unwrap().len(), 3);
    assert_eq!(client.json("GET", "/v1/pending", None).unwrap().as_array().unwrap().len(), acknowledged.len());
    let status = storage(&client);
    assert_eq!(status["writable"], false, "{status}");
    assert!(status["error"].as_str().unwrap().contains("disk full"), "{status}");
    assert!(status["write_errors"].as_u64().unwrap() >= 1, "{status}");
    let text = metrics(&client);
    assert!(text.contains("emr_storage_writable 0"), "{text}");
    assert!(text.contains("emr_storage_error_age_seconds{message=") && text.contains("disk full"), "{text}");
    // A posted block meets the full disk too: its outcome is the io error.
    let mut copy = Chain::open(dir.path().join("copy.db"), Some(params(1))).unwrap();
    let mut local = Chain::open_readonly(&path).unwrap();
    copy.add_blocks(&local.blocks(0, 3).collect::<Result<Vec<_>, _>>().unwrap(), None, &BatchOptions::default()).unwrap();
    drop(local);
    let blocks = grow(&mut copy, 40, &MINER);
    let answers = client.post_blocks(blockfile::encode_blocks(&blocks)).unwrap();
    assert_eq!(answers.last().map(|a| a.name()), Some("io"), "{answers:?}");
    assert_eq!(storage(&client)["writable"], false);

    // Space is back: the same submit succeeds, and the node says so.
    faults.off();
    let (status, body) = client.request("POST", "/v1/submit", Some(refused.to_bytes()), 1 << 20).unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    acknowledged.push(refused);
    assert_eq!(storage(&client)["writable"], true);
    assert!(metrics(&client).contains("emr_storage_writable 1"));
    let answers = client.post_blocks(blockfile::encode_blocks(&blocks)).unwrap();
    assert!(answers.iter().all(|a| a.name() != "io"), "{answers:?}");

    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    assert!(faults.injected() > 0);
    local = Chain::open(&path, None).unwrap();
    assert!(local.check(&BatchOptions::default()).unwrap().first_bad.is_none());
    let pending: Vec<_> = local.pending().unwrap().iter().map(|r| r.txid).collect();
    let mined: Vec<_> = local.blocks(0, local.len().unwrap()).flat_map(|b| b.unwrap().records).map(|r| r.txid).collect();
    for r in &acknowledged {
        assert!(pending.contains(&r.txid) || mined.contains(&r.txid), "an acknowledged record was lost");
    }
}

//! A hostile peer (SPEC 9.2): small servers of this test's own, each
//! breaking the protocol one way, all configured as peers of one honest
//! `emr node serve` process. The honest node stays on its chain, suspends
//! those that misbehave and says why, retries the one that is only slow,
//! never syncs the incompatible ones, and its memory stays bounded.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use common::nodes::*;
use common::*;
use emr_core::chain::Chain;
use emr_core::{blockfile, Block, Hash256};
use emr_node::api::{Info, Params};
use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Trick {
    /// Serves a block that fails its checks, claiming more work.
    FailingBlock,
    /// Serves a valid but lighter branch, claiming far more work.
    LightChain,
    /// Answers `info` with a body that never ends.
    EndlessBody,
    /// Answers `info` one byte per second.
    SlowBody,
    /// Claims more work and answers `ids` with bytes that are not ids.
    GarbageIds,
    /// Same chain id, another genesis.
    OtherGenesis,
    /// Another chain.
    OtherChain,
}

/// What a hostile server has to serve: its claims and a branch.
struct Script {
    trick: Trick,
    info: Info,
    ids: Vec<Hash256>,
    encodings: Vec<Vec<u8>>,
}

fn respond(stream: &mut TcpStream, status: &str, body: &[u8]) {
    let head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
}

fn serve_one(mut stream: TcpStream, script: &Script, stop: &AtomicBool) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    loop {
        let mut header = String::new();
        match reader.read_line(&mut header) {
            Ok(0) | Err(_) => return,
            Ok(_) if header == "\r\n" => break,
            Ok(_) => {}
        }
    }
    let target = line.split_whitespace().nth(1).unwrap_or("").to_owned();
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let number = |key: &str| {
        query.split('&').find_map(|p| p.strip_prefix(&format!("{key}="))).and_then(|v| v.parse::<usize>().ok()).unwrap_or(0)
    };
    match (script.trick, path) {
        (Trick::EndlessBody, "/v1/info") => {
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
            let chunk = [b' '; 65536];
            let framed = [format!("{:x}\r\n", chunk.len()).into_bytes(), chunk.to_vec(), b"\r\n".to_vec()].concat();
            // At most 64 MiB, far past the client's limit: a test's loop ends.
            for _ in 0..1024 {
                if stop.load(Ordering::SeqCst) || stream.write_all(&framed).is_err() {
                    return;
                }
            }
        }
        (Trick::SlowBody, "/v1/info") => {
            let body = serde_json::to_vec(&script.info).unwrap();
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
            let _ = stream.write_all(head.as_bytes());
            for byte in body.iter().take(60) {
                if stop.load(Ordering::SeqCst) || stream.write_all(&[*byte]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        (_, "/v1/info") => respond(&mut stream, "200 OK", &serde_json::to_vec(&script.info).unwrap()),
        (Trick::GarbageIds, "/v1/ids") => respond(&mut stream, "200 OK", &[0xab; 31]),
        (_, "/v1/ids") => {
            let (from, count) = (number("from"), number("count"));
            let ids: Vec<u8> = script.ids.iter().skip(from).take(count).flat_map(|id| id.to_bytes()).collect();
            respond(&mut stream, "200 OK", &ids);
        }
        (_, "/v1/blocks") => {
            let (from, count) = (number("from"), number("count"));
            let page: Vec<&[u8]> = script.encodings.iter().skip(from).take(count).map(Vec::as_slice).collect();
            respond(&mut stream, "200 OK", &blockfile::encode(page.into_iter()));
        }
        _ => respond(&mut stream, "404 Not Found", b"{}"),
    }
}

struct Hostile {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Hostile {
    fn start(script: Script) -> Hostile {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let script = Arc::new(script);
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let _ = stream.set_nonblocking(false);
                        let (script, flag) = (script.clone(), flag.clone());
                        std::thread::spawn(move || serve_one(stream, &script, &flag));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Hostile { port, stop, thread: Some(thread) }
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn info_of(chain: &Chain, work: &str, height: u64) -> Info {
    let ids = chain.active_ids().unwrap();
    Info {
        version: "0".into(),
        chain_id: chain.chain_id().to_string(),
        genesis: ids.first().map(ToString::to_string),
        params: Params::from_chain(chain.params()),
        height,
        tip: ids.last().map(ToString::to_string),
        work: work.into(),
        pending: 0,
    }
}

fn encodings(chain: &Chain) -> Vec<Vec<u8>> {
    (0..chain.len().unwrap()).map(|h| chain.block_at(h).unwrap().unwrap().to_bytes()).collect()
}

/// The honest node's peak resident memory (VmHWM), in KiB.
fn peak_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn build(d: &Path) -> Vec<Script> {
    // The honest chain: 30 blocks. Branches fork from its height 2.
    std::fs::create_dir_all(d.join("honest")).unwrap();
    let mut honest = Chain::open(d.join("honest").join("chain.db"), Some(params())).unwrap();
    grow(&mut honest, 3);
    drop(honest);
    copy_chain(&d.join("honest"), &d.join("branch"));
    let mut honest = Chain::open(d.join("honest").join("chain.db"), None).unwrap();
    grow(&mut honest, 27);
    let honest_info = info_of(&honest, "30", 30);
    let honest_ids = honest.active_ids().unwrap();

    // A valid branch of 10 blocks from height 2: 13 in all, lighter.
    let mut branch = Chain::open(d.join("branch").join("chain.db"), None).unwrap();
    let key = emr_core::SigningKey::generate(emr_core::Curve::Secp256k1).unwrap();
    branch.submit(&emr_core::Record::sign(&key, PATIENT.as_bytes(), "on the branch", 1).unwrap()).unwrap();
    grow(&mut branch, 10);
    let light = Script {
        trick: Trick::LightChain,
        info: info_of(&branch, "1000000", 13),
        ids: branch.active_ids().unwrap(),
        encodings: encodings(&branch),
    };
    // The branch's first block with its record's text changed: its txid
    // no longer matches.
    let mut bad: Block = branch.block_at(3).unwrap().unwrap();
    bad.records[0].prescription = "changed on the way".into();
    bad.block_id = bad.calculate_block_id();
    let mut failing_encodings = encodings(&branch)[..3].to_vec();
    failing_encodings.push(bad.to_bytes());
    let failing = Script {
        trick: Trick::FailingBlock,
        info: Info { height: 4, work: "1000000".into(), ..light.info.clone() },
        ids: [&light.ids[..3], &[bad.block_id]].concat(),
        encodings: failing_encodings,
    };
    let garbage = Script {
        trick: Trick::GarbageIds,
        info: Info { height: 31, work: "1000000".into(), ..honest_info.clone() },
        ids: honest_ids.clone(),
        encodings: Vec::new(),
    };
    let other_genesis = Script {
        trick: Trick::OtherGenesis,
        info: Info { genesis: Some("11".repeat(32)), work: "1000000".into(), ..honest_info.clone() },
        ids: Vec::new(),
        encodings: Vec::new(),
    };
    let other_chain = Script {
        trick: Trick::OtherChain,
        info: Info { chain_id: "22".repeat(32), work: "1000000".into(), ..honest_info.clone() },
        ids: Vec::new(),
        encodings: Vec::new(),
    };
    let plain = |trick| Script { trick, info: Info { work: "1000000".into(), ..honest_info.clone() }, ids: honest_ids.clone(), encodings: Vec::new() };
    vec![failing, light, plain(Trick::EndlessBody), plain(Trick::SlowBody), garbage, other_genesis, other_chain]
}

#[test]
fn an_honest_node_suspends_hostile_peers_says_why_and_stays_correct() {
    let t = TempDir::new("hostile");
    let d = t.path();
    let scripts = build(d);
    let expected: Vec<(Trick, &str, &str)> = vec![
        (Trick::FailingBlock, "suspended", "fails"),
        (Trick::LightChain, "suspended", "advertised work"),
        (Trick::EndlessBody, "suspended", "longer than"),
        (Trick::SlowBody, "down", "no answer"),
        (Trick::GarbageIds, "suspended", "not a list of ids"),
        (Trick::OtherGenesis, "incompatible", "genesis"),
        (Trick::OtherChain, "incompatible", "chain id"),
    ];
    let hostiles: Vec<Hostile> = scripts.into_iter().map(Hostile::start).collect();
    let before = Chain::open_readonly(d.join("honest").join("chain.db")).unwrap().tip().unwrap();
    let port = free_port();
    let peers: Vec<u16> = hostiles.iter().map(|h| h.port).collect();
    let mut node = serve_plain(&d.join("honest"), port, &peers, None);
    let state_of = |status: &Value, i: usize| -> (String, String) {
        let peer = &status["peers"][i];
        (peer["state"].as_str().unwrap_or("").to_owned(), peer["reason"].as_str().unwrap_or("").to_owned())
    };
    let settled = wait_for(Duration::from_secs(90), || {
        let status = node.json("/v1/status");
        expected.iter().enumerate().all(|(i, (_, state, why))| {
            let (s, r) = state_of(&status, i);
            s == *state && r.contains(why)
        })
    });
    let status = node.json("/v1/status");
    assert!(settled, "{status:#}\n{}", node.log());
    // Still on its own chain, and answering.
    let info = node.client().info().unwrap();
    assert_eq!(info.height, 30);
    assert_eq!(info.tip, Some(before.unwrap().block_id.to_string()));
    let peak = peak_kib(node.pid());
    eprintln!("honest node's peak resident memory: {} MiB", peak / 1024);
    assert!(peak < 200 * 1024, "peak {peak} KiB");
    let shown = json_in(d, &["node", "peers", "honest"], 0);
    assert_eq!(shown["peers"].as_array().unwrap().len(), 7);
    node.stop();
    drop(hostiles);
    check(&d.join("honest"));
}

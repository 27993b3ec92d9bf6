//! The one-shot sync (SPEC 9.2) of a chain a program holds itself, from a
//! node on loopback: progress, cancel, what it reports, and refusals.

mod common;

use std::sync::Mutex;

use common::*;
use emr_core::chain::{BatchProgress, Chain};
use emr_core::mining::CancelHandle;
use emr_node::client::Client;
use emr_node::node::{self, Listen, NodeConfig};
use emr_node::sync::{sync_once, SyncError, SyncOptions};

fn serve(dir: &std::path::Path, salt: u8, blocks: usize) -> (node::NodeHandle, Client) {
    let path = chain_file(dir, salt, blocks);
    let node = node::start(NodeConfig::new(path, vec![Listen { addr: "127.0.0.1:0".parse().unwrap(), tls: false }])).unwrap();
    let client = Client::new(&format!("http://{}", node.addresses()[0]), None).unwrap();
    (node, client)
}

#[test]
fn a_chain_held_in_process_syncs_with_progress_and_reports_what_it_added() {
    let dir = tempfile::tempdir().unwrap();
    let (node, client) = serve(dir.path(), 1, 40);
    let mut mine = Chain::in_memory(params(1)).unwrap();
    let seen = Mutex::new(Vec::new());
    let progress = |p: BatchProgress| seen.lock().unwrap().push(p);
    let report = sync_once(&mut mine, &client, &SyncOptions { progress: Some(&progress), cancel: None }).unwrap();
    assert_eq!((report.received, report.extended, report.added()), (40, 40, 40));
    assert_eq!(report.fork_height, None);
    assert_eq!(report.height, 40);
    assert_eq!(report.work, "40");
    assert_eq!(mine.active_ids().unwrap(), client.ids(0, 2000).unwrap());
    let last = *seen.lock().unwrap().last().expect("progress was reported");
    assert_eq!((last.done, last.total), (40, 40));

    // Nothing new: nothing fetched. Two more blocks: only they, after the fork search.
    let again = sync_once(&mut mine, &client, &SyncOptions::default()).unwrap();
    assert_eq!(again.received, 0);
    drop(node);
    let path = dir.path().join("chain.db");
    let mut served = Chain::open(&path, None).unwrap();
    grow(&mut served, 2, &MINER);
    drop(served);
    let node = node::start(NodeConfig::new(path, vec![Listen { addr: "127.0.0.1:0".parse().unwrap(), tls: false }])).unwrap();
    let client = Client::new(&format!("http://{}", node.addresses()[0]), None).unwrap();
    let more = sync_once(&mut mine, &client, &SyncOptions::default()).unwrap();
    assert_eq!((more.fork_height, more.received, more.extended), (Some(39), 2, 2));
    node.shutdown();
}

#[test]
fn a_cancelled_sync_adds_nothing_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (node, client) = serve(dir.path(), 1, 10);
    let mut mine = Chain::in_memory(params(1)).unwrap();
    let cancel = CancelHandle::new();
    cancel.cancel();
    let result = sync_once(&mut mine, &client, &SyncOptions { progress: None, cancel: Some(&cancel) });
    assert!(matches!(result, Err(SyncError::Cancelled)), "{result:?}");
    assert_eq!(mine.len().unwrap(), 0);
    node.shutdown();
}

#[test]
fn another_chain_or_an_absent_peer_is_refused_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (node, client) = serve(dir.path(), 1, 3);
    let mut other = Chain::in_memory(params(2)).unwrap();
    match sync_once(&mut other, &client, &SyncOptions::default()) {
        Err(SyncError::Incompatible(why)) => assert!(why.contains("chain id"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(other.len().unwrap(), 0);
    let port = node.addresses()[0].port();
    node.shutdown();
    let gone = Client::new(&format!("http://127.0.0.1:{port}"), None).unwrap();
    assert!(matches!(sync_once(&mut other, &gone, &SyncOptions::default()), Err(SyncError::Peer(_))));
    // Plain HTTP to anything but loopback is refused before any connection.
    assert!(Client::new("http://192.0.2.1:80", None).is_err());
    assert!(Client::new("https://127.0.0.1:1", None).is_err(), "https needs the consortium's settings");
    assert!(Client::new("ftp://127.0.0.1:1", None).is_err());
}

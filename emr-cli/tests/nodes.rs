//! Nodes as a consortium runs them (SPEC 9): real `emr node serve`
//! processes on loopback ports, mutual TLS between sites, partitions that
//! heal, a node killed during a sync. Every loop is bounded.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::nodes::*;
use common::*;
use emr_core::chain::Chain;
use emr_core::Hash256;
use serde_json::Value;

fn pending_txids(node: &NodeProc) -> Vec<String> {
    node.json("/v1/pending").as_array().unwrap().iter().filter_map(|p| p["txid"].as_str().map(str::to_owned)).collect()
}

/// Whether the node's chain or pool holds the record `txid`.
fn holds(node: &NodeProc, txid: &str) -> bool {
    pending_txids(node).iter().any(|t| t == txid) || node.client().request("GET", &format!("/v1/seen/{txid}"), None, 1 << 20).is_ok_and(|(s, _)| s == 200)
}

fn init_args(dir: &str) -> Vec<String> {
    ["chain", "init", dir, "--initial-difficulty", "1", "--max-adjust", "1"].iter().map(|s| s.to_string()).collect()
}

#[test]
fn three_sites_over_mutual_tls_share_records_and_blocks_within_two_seconds() {
    let t = TempDir::new("three-sites");
    let d = t.path();
    let run = |args: &[&str]| json_in(d, args, 0);
    run(&["node", "ca", "new", "--name", "Consortium", "--out-key", "ca.key", "--out-cert", "ca.pem"]);
    for site in ["a", "b", "c"] {
        run(&["node", "cert", "new", "--ca", "ca.pem", "--ca-key", "ca.key", "--name", "127.0.0.1", "--out-key", &format!("{site}.key"), "--out-cert", &format!("{site}.pem")]);
    }
    let tls = |site: &str| -> Vec<String> {
        ["--ca", "ca.pem", "--cert", &format!("{site}.pem"), "--key", &format!("{site}.key")]
            .iter()
            .map(|s| d.join(s).display().to_string().replace(&format!("{}/--", d.display()), "--"))
            .collect()
    };
    let init: Vec<String> = init_args(&t.join("a"));
    let init: Vec<&str> = init.iter().map(String::as_str).collect();
    let chain_id = run(&init)["params"]["chain_id"].as_str().unwrap().to_owned();
    let miner = new_key(d, "miner.pem", "secp256k1", "miner");
    let doctor = new_key(d, "doctor.pem", "secp256k1", "doctor");
    let patient = new_key(d, "patient.pem", "secp256k1", "patient");
    let ports = [free_port(), free_port(), free_port()];
    let url = |i: usize| format!("https://127.0.0.1:{}", ports[i]);
    let serve_args = |i: usize, site: &str, mine: bool| -> Vec<String> {
        let mut args = vec!["--listen".to_string(), format!("127.0.0.1:{}", ports[i]), "--poll-ms".into(), "500".into()];
        args.extend(tls(site));
        for j in 0..3 {
            if j != i {
                args.extend(["--peer".to_string(), url(j)]);
            }
        }
        if mine {
            args.extend(["--mine".to_string(), "--miner".into(), miner.clone(), "--threads".into(), "1".into()]);
        }
        args
    };
    let a = NodeProc::start(&d.join("a"), &serve_args(0, "a", false));
    // B and C are created from A, checked against the consortium's chain id.
    for site in ["b", "c"] {
        let mut args = vec!["node", "join", site, "--peer"];
        let peer = url(0);
        args.push(&peer);
        args.extend(["--chain-id", &chain_id]);
        let files = tls(site);
        args.extend(files.iter().map(String::as_str));
        let joined = run(&args);
        assert_eq!(joined["chain_id"], chain_id.as_str());
    }
    // A wrong chain id creates nothing.
    let mut wrong = vec!["node", "join", "x", "--peer"];
    let peer = url(0);
    wrong.push(&peer);
    let bad_id = "00".repeat(32);
    wrong.extend(["--chain-id", &bad_id]);
    let files = tls("c");
    wrong.extend(files.iter().map(String::as_str));
    let refused = json_in(d, &wrong, 1);
    assert_eq!(refused["error"]["kind"], "wrong_chain", "{refused}");
    assert!(!d.join("x").join("chain.db").exists());

    let b = NodeProc::start(&d.join("b"), &serve_args(1, "b", true));
    let c = NodeProc::start(&d.join("c"), &serve_args(2, "c", false));

    // A prescription written at A (through A's node: `chain submit` does
    // not fail with `locked`) reaches B and C within 2 s.
    let record = sign(d, "doctor.pem", &patient, "amoxicillin 500 mg, 3 times a day", 1, "r1.rec");
    let txid = record["txid"].as_str().unwrap().to_owned();
    let submitted = run(&["chain", "submit", "a", "r1.rec"]);
    assert_eq!(submitted["records"][0]["outcome"], "ready", "{submitted}");
    let sent = Instant::now();
    assert!(wait_for(Duration::from_secs(2), || holds(&b, &txid) && holds(&c, &txid)), "not at B and C within 2 s");
    eprintln!("record at B and C after {:?}", sent.elapsed());

    // B mines it; the block is at A and C within 2 s of B having it.
    assert!(wait_for(Duration::from_secs(20), || b.tip().is_some()), "B did not mine: {}", b.log());
    let mined = Instant::now();
    let tip = b.tip().unwrap();
    assert!(wait_for(Duration::from_secs(2), || a.tip().as_ref() == Some(&tip) && c.tip().as_ref() == Some(&tip)), "block not at A and C within 2 s");
    eprintln!("block at A and C after {:?}", mined.elapsed());

    // What needs the chain itself says which node holds it.
    let refused = json_in(d, &["chain", "mine", "a", "--miner", &miner], 5);
    assert_eq!(refused["error"]["kind"], "locked");
    assert!(refused["error"]["message"].as_str().unwrap().contains("a node (http://127.0.0.1:"), "{refused}");

    // Read at C, written at A.
    let history = history(d, "c", &patient);
    assert!(history.iter().any(|line| line.contains("amoxicillin 500 mg")), "{history:?}");
    // How sure: every site holds the block.
    let seen = run(&["node", "status", "a", "--seen", &txid]);
    assert_eq!(seen["seen_by"], "seen by 3 of 3 sites", "{seen}");
    let status = run(&["node", "status", "c"]);
    assert_eq!(status["height"], 1);
    assert!(status["peers"].as_array().unwrap().iter().all(|p| p["state"] == "up"), "{status}");
    let metrics = String::from_utf8(a.client().request("GET", "/metrics", None, 1 << 20).unwrap().1).unwrap();
    assert!(metrics.contains("emr_height 1"), "{metrics}");
    assert!(metrics.contains(r#"emr_peers{state="up"} 2"#), "{metrics}");
    assert_eq!(status["storage"]["writable"], true, "{status}");
    let shown = emr_in(d, &["node", "status", "c"]);
    assert!(shown.stdout.contains("storage: writable (0 writes failed since start)"), "{shown:?}");
    assert!(metrics.contains("emr_storage_writable 1"), "{metrics}");
    let _ = doctor;
    for mut node in [a, b, c] {
        node.stop();
    }
    for site in ["a", "b", "c"] {
        check(&d.join(site));
    }
}

fn submit_at(d: &Path, node_dir: &str, file: &str) -> String {
    let value = json_in(d, &["chain", "submit", node_dir, file], 0);
    assert_eq!(value["records"][0]["outcome"], "ready", "{value}");
    value["records"][0]["txid"].as_str().unwrap().to_owned()
}

fn in_chain(node: &NodeProc, txid: &str) -> bool {
    node.client().request("GET", &format!("/v1/seen/{txid}"), None, 1 << 20).is_ok_and(|(s, _)| s == 200)
}

fn conflicts(node: &NodeProc) -> Vec<Value> {
    node.json("/v1/conflicts").as_array().unwrap().clone()
}

#[test]
fn a_partition_where_both_sides_mine_heals_and_loses_no_record() {
    let t = TempDir::new("partition");
    let d = t.path();
    let init = init_args("a");
    json_in(d, &init.iter().map(String::as_str).collect::<Vec<_>>(), 0);
    let miner = new_key(d, "miner.pem", "secp256k1", "miner");
    // The sites share a genesis before they part (SPEC 9.2: a peer with
    // another genesis is incompatible, never synced).
    mine(d, "a", &miner, 1, now());
    copy_chain(&d.join("a"), &d.join("b"));
    copy_chain(&d.join("a"), &d.join("c"));
    let patient = new_key(d, "patient.pem", "secp256k1", "patient");
    for who in ["x", "y", "z"] {
        new_key(d, &format!("{who}.pem"), "secp256k1", "doctor");
    }
    let [pa, pb, pc] = [free_port(), free_port(), free_port()];
    // The partition: A alone | B and C together; A and B mine.
    let mut a = serve_plain(&d.join("a"), pa, &[], Some(&miner));
    let b = serve_plain(&d.join("b"), pb, &[pc], Some(&miner));
    let c = serve_plain(&d.join("c"), pc, &[pb], None);

    // Doctor X signs nonce 1 at A and, before the sites meet, at B.
    sign(d, "x.pem", &patient, "written at site A", 1, "xa.rec");
    sign(d, "y.pem", &patient, "only at site A", 1, "ya.rec");
    sign(d, "x.pem", &patient, "written at site B", 1, "xb.rec");
    let xa = submit_at(d, "a", "xa.rec");
    let ya = submit_at(d, "a", "ya.rec");
    assert!(wait_for(Duration::from_secs(20), || in_chain(&a, &xa) && in_chain(&a, &ya)), "A did not mine: {}", a.log());
    let xb = submit_at(d, "b", "xb.rec");
    let mut b_side = vec![xb.clone()];
    // B's side mines more blocks than A's: one record at a time.
    for nonce in 1..=4 {
        sign(d, "z.pem", &patient, &format!("site B, visit {nonce}"), nonce, &format!("z{nonce}.rec"));
        let txid = submit_at(d, "b", &format!("z{nonce}.rec"));
        assert!(wait_for(Duration::from_secs(20), || in_chain(&b, &txid) && in_chain(&c, &txid)), "B's side did not mine: {}", b.log());
        b_side.push(txid);
    }
    assert!(a.client().info().unwrap().height < b.client().info().unwrap().height);

    // Healing: A is told of its peers again.
    a.stop();
    let a = serve_plain(&d.join("a"), pa, &[pb, pc], Some(&miner));
    let nodes = [&a, &b, &c];
    // A reorganizes to B's heavier chain, mines Y's record back from its
    // pool, and pushes that block to B and C.
    assert!(
        wait_for(Duration::from_secs(30), || {
            let tips: Vec<_> = nodes.iter().map(|n| n.tip()).collect();
            tips.iter().all(|t| t.is_some() && *t == tips[0]) && nodes.iter().all(|n| in_chain(n, &ya))
        }),
        "the sites did not converge: A {}\nB {}",
        a.log(),
        b.log()
    );
    for node in nodes {
        for txid in &b_side {
            assert!(in_chain(node, txid), "{txid} lost");
        }
    }
    // X's record from A could not come back (B's took its nonce): listed,
    // with what replaced it, not lost.
    let listed = conflicts(&a);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["txid"], xa.as_str());
    assert_eq!(listed[0]["replaced_by"], xb.as_str());
    assert!(!in_chain(&a, &xa));
    let shown = json_in(d, &["node", "conflicts", "a"], 0);
    assert_eq!(shown["conflicts"][0]["txid"], xa.as_str());
    assert!(a.log().contains("kept as conflicts"), "{}", a.log());
    for mut node in [a, b, c] {
        node.stop();
    }
    for site in ["a", "b", "c"] {
        check(&d.join(site));
    }
}

/// Two chains that share `common` blocks: `a` adds `a_blocks` more with a
/// record of a doctor `b` never saw; `b` adds `b_blocks` empty ones.
fn forked(d: &Path, common: usize, a_blocks: usize, b_blocks: usize) -> Hash256 {
    let mut chain = Chain::open(d.join("a").join("chain.db"), Some(params())).unwrap();
    grow(&mut chain, common);
    drop(chain);
    copy_chain(&d.join("a"), &d.join("b"));
    copy_chain(&d.join("a"), &d.join("c"));
    let mut a = Chain::open(d.join("a").join("chain.db"), None).unwrap();
    let key = emr_core::SigningKey::generate(emr_core::Curve::Secp256k1).unwrap();
    let record = emr_core::Record::sign(&key, PATIENT.as_bytes(), "written during the partition", 1).unwrap();
    a.submit(&record).unwrap();
    grow(&mut a, a_blocks);
    let mut b = Chain::open(d.join("b").join("chain.db"), None).unwrap();
    grow(&mut b, b_blocks);
    record.txid
}

#[test]
fn a_long_partition_heals_across_many_pages_in_one_add_call() {
    let t = TempDir::new("long-partition");
    let d = t.path();
    std::fs::create_dir_all(d.join("a")).unwrap();
    let lost = forked(d, 2, 3, 1200).to_string();
    let [pa, pb] = [free_port(), free_port()];
    let b = serve_plain(&d.join("b"), pb, &[], None);
    let a = serve_plain(&d.join("a"), pa, &[pb], None);
    let tip = b.tip();
    assert!(wait_for(Duration::from_secs(120), || a.tip() == tip), "A did not take B's branch: {}", a.log());
    assert_eq!(a.client().info().unwrap().height, 1202);
    // 1,200 blocks are three pages of /v1/blocks, all judged in one call.
    assert!(a.log().contains("blocks=1200"), "{}", a.log());
    // The record of A's side is back in A's pool (its nonce is free on B's branch).
    assert!(pending_txids(&a).contains(&lost), "{:?}", pending_txids(&a));
    assert!(conflicts(&a).is_empty());
    for mut node in [a, b] {
        node.stop();
    }
    check(&d.join("a"));
}

#[test]
fn a_node_killed_during_a_sync_restarts_and_catches_up() {
    let t = TempDir::new("kill-sync");
    let d = t.path();
    std::fs::create_dir_all(d.join("a")).unwrap();
    forked(d, 2, 0, 3000);
    let [pb, pc] = [free_port(), free_port()];
    let b = serve_plain(&d.join("b"), pb, &[], None);
    let tip = b.tip();
    let mut c = serve_plain(&d.join("c"), pc, &[pb], None);
    assert!(wait_for(Duration::from_secs(30), || c.log().contains("syncing from a heavier peer")), "{}", c.log());
    c.kill9();
    // The sync is one transaction: killed inside it, the chain is as before.
    let after_kill = Chain::open_readonly(d.join("c").join("chain.db")).unwrap().len().unwrap();
    assert_eq!(after_kill, 2, "the kill did not land during the sync");
    c.spawn();
    assert!(wait_for(Duration::from_secs(120), || c.tip() == tip), "C did not catch up: {}", c.log());
    c.stop();
    drop(b);
    check(&d.join("c"));
}

/// The state of a prescription as `emr rx status` at `site` tells it.
fn rx_state(d: &Path, site: &str, prescription: &str) -> Value {
    json_in(d, &["rx", "status", site, prescription], 0)
}

#[test]
fn two_pharmacies_cut_off_dispense_one_prescription_and_one_dispensing_stays() {
    let t = TempDir::new("rx-partition");
    let d = t.path();
    json_in(d, &["authority", "new", "--out", "auth.pem"], 0);
    let mut init = init_args("a");
    init.extend(["--authority".to_string(), "auth.pub".to_string()]);
    json_in(d, &init.iter().map(String::as_str).collect::<Vec<_>>(), 0);
    let miner = new_key(d, "miner.pem", "secp256k1", "miner");
    let doctor = new_key(d, "dr.pem", "secp256k1", "doctor");
    let patient = new_key(d, "patient.pem", "p256", "patient");
    new_key(d, "north.pem", "secp256k1", "doctor");
    new_key(d, "south.pem", "p256", "doctor");
    // Before the sites part: the doctor and both pharmacies admitted, the
    // prescriptions (one to fill, more to give B's side blocks) in block 0.
    json_in(d, &["grant", "--key", "auth.pem", "--doctor", "dr.pem", "--licence", "GMC 1", "--chain", "a", "--out", "g.entry"], 0);
    let mut pharmacy = Vec::new();
    for (key, licence) in [("north.pem", "GPhC 1, North"), ("south.pem", "GPhC 2, South")] {
        let granted = json_in(d, &["pharmacy", "grant", "--key", "auth.pem", "--pharmacy", key, "--licence", licence, "--chain", "a"], 0);
        pharmacy.push(granted["pharmacy"].as_str().unwrap().to_owned());
    }
    for nonce in 1..=4 {
        sign(d, "dr.pem", &patient, &format!("Oxycodone 5mg, course {nonce}"), nonce, &format!("{nonce}.rec"));
    }
    json_in(d, &["chain", "submit", "a", "1.rec", "2.rec", "3.rec", "4.rec"], 0);
    mine(d, "a", &miner, 1, now());
    copy_chain(&d.join("a"), &d.join("b"));
    copy_chain(&d.join("a"), &d.join("c"));
    let [pa, pb, pc] = [free_port(), free_port(), free_port()];
    // The partition: A alone | B and C together; A and B mine.
    let mut a = serve_plain(&d.join("a"), pa, &[], Some(&miner));
    let b = serve_plain(&d.join("b"), pb, &[pc], Some(&miner));
    let c = serve_plain(&d.join("c"), pc, &[pb], None);

    // The patient takes the prescription to North at site A and to South
    // at site B: each site's pool and chain accept the dispensing.
    let rx = format!("{doctor}:1");
    let dispense = |site: &str, key: &str| {
        let args = ["dispense", "--chain", site, "--key", key, "--patient-key", "patient.pem", "--prescription", &rx];
        let done = json_in(d, &args, 0);
        assert_eq!(done["outcome"], "ready", "{done}");
        done["entry_id"].as_str().unwrap().to_owned()
    };
    let at_a = dispense("a", "north.pem");
    let at_b = dispense("b", "south.pem");
    let dispensed_by = |site: &str| rx_state(d, site, &rx)["pharmacy"].as_str().map(str::to_owned);
    assert!(wait_for(Duration::from_secs(20), || dispensed_by("a").as_deref() == Some(&pharmacy[0])), "A did not mine: {}", a.log());
    assert!(
        wait_for(Duration::from_secs(20), || dispensed_by("b").as_deref() == Some(&pharmacy[1]) && dispensed_by("c").as_deref() == Some(&pharmacy[1])),
        "B's side did not mine: {}",
        b.log()
    );
    // A pharmacist at A sees "dispensed" but only by 1 of 1 site it can reach.
    let cut_off = rx_state(d, "a", &rx);
    assert_eq!(cut_off["seen"]["seen_by"], "seen by 1 of 1 sites", "{cut_off}");
    // B's side mines more blocks than A's: one prescription at a time.
    for nonce in 2..=3 {
        let p = format!("{doctor}:{nonce}");
        json_in(d, &["dispense", "--chain", "b", "--key", "south.pem", "--patient-key", "patient.pem", "--prescription", &p], 0);
        assert!(
            wait_for(Duration::from_secs(20), || rx_state(d, "c", &p)["state"] == "dispensed"),
            "B's side did not mine: {}",
            b.log()
        );
    }

    // Healing: A is told of its peers again, and takes B's heavier branch.
    a.stop();
    let a = serve_plain(&d.join("a"), pa, &[pb, pc], Some(&miner));
    let nodes = [&a, &b, &c];
    assert!(
        wait_for(Duration::from_secs(30), || {
            let tips: Vec<_> = nodes.iter().map(|n| n.tip()).collect();
            tips.iter().all(|t| t.is_some() && *t == tips[0])
        }),
        "the sites did not converge: A {}\nB {}",
        a.log(),
        b.log()
    );
    // One dispensing stays everywhere: South's.
    for site in ["a", "b", "c"] {
        let state = rx_state(d, site, &rx);
        assert_eq!((state["state"].as_str(), state["pharmacy"].as_str()), (Some("dispensed"), Some(pharmacy[1].as_str())), "{site}: {state}");
        assert_eq!(state["entry_id"], at_b.as_str());
    }
    let sure = rx_state(d, "a", &rx);
    assert_eq!(sure["seen"]["seen_by"], "seen by 3 of 3 sites", "{sure}");
    // North's falls out as a conflict naming both pharmacies.
    let listed = conflicts(&a);
    assert_eq!(listed.len(), 1, "{listed:?}");
    let conflict = &listed[0];
    assert_eq!((conflict["kind"].as_str(), conflict["id"].as_str()), (Some("dispense"), Some(at_a.as_str())));
    assert_eq!((conflict["pharmacy"].as_str(), conflict["replaced_by_pharmacy"].as_str()), (Some(pharmacy[0].as_str()), Some(pharmacy[1].as_str())));
    assert_eq!(conflict["replaced_by"], at_b.as_str());
    assert_eq!((conflict["doctor"].as_str(), conflict["nonce"].as_u64()), (Some(doctor.as_str()), Some(1)));
    let shown = emr_in(d, &["node", "conflicts", "a"]);
    assert!(shown.stdout.contains(&format!("by pharmacy {}", pharmacy[0])) && shown.stdout.contains(&format!("by pharmacy {}", pharmacy[1])), "{shown:?}");
    assert!(a.log().contains("kept as conflicts"), "{}", a.log());
    assert!(conflicts(&b).is_empty() && conflicts(&c).is_empty());
    // The chain itself says the same beside the running node.
    let listed = json_in(d, &["chain", "conflicts", "a"], 0);
    assert_eq!(listed["conflicts"][0]["replaced_by_pharmacy"], pharmacy[1].as_str(), "{listed}");
    let text = emr_in(d, &["chain", "conflicts", "a"]).stdout;
    assert!(text.contains(&format!("by pharmacy {}", pharmacy[0])) && text.contains(&format!("by pharmacy {}", pharmacy[1])), "{text}");
    // The pharmacies settle; the site's own programs dismiss the conflict.
    json_in(d, &["chain", "conflicts", "a", "--dismiss", &at_a], 0);
    assert!(conflicts(&a).is_empty());
    for mut node in [a, b, c] {
        node.stop();
    }
    for site in ["a", "b", "c"] {
        check(&d.join(site));
    }
}

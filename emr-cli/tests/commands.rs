//! Every command through its exit code and its `--json` output, and the
//! bad inputs a person gives it: typed addresses with typos, missing and
//! damaged files, a locked chain, Ctrl-C.

mod common;

use std::io::{BufRead as _, BufReader, Read as _};
use std::os::unix::fs::PermissionsExt as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const T0: &str = "1700000000";

#[test]
fn keys() {
    let dir = TempDir::new("keys");
    let d = dir.path();
    let made = json_in(d, &["key", "new", "--curve", "p256", "--out", "dr.pem", "--no-encrypt"], 0);
    assert_eq!(s(&made, "curve"), "P-256");
    let mode = std::fs::metadata(dir.0.join("dr.pem"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "a key file is private");
    let pem = std::fs::read_to_string(dir.0.join("dr.pem")).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));

    // Never overwritten by accident; --force replaces it.
    let again = json_in(d, &["key", "new", "--out", "dr.pem"], 2);
    assert_eq!(kind(&again), "invalid_argument");
    assert_eq!(std::fs::read_to_string(dir.0.join("dr.pem")).unwrap(), pem);
    json_in(
        d,
        &[
            "key", "new", "--curve", "p256", "--out", "dr.pem", "--force", "--no-encrypt",
        ],
        0,
    );
    assert_ne!(std::fs::read_to_string(dir.0.join("dr.pem")).unwrap(), pem);

    let shown = json_in(d, &["key", "show", "dr.pem"], 0);
    assert_eq!(s(&shown, "role"), "doctor");
    assert!(s(&shown, "address").starts_with("emrd1"));
    let hash = s(&shown, "public_key_hash").to_owned();
    let as_patient = json_in(d, &["key", "show", "dr.pem", "--role", "patient"], 0);
    assert!(s(&as_patient, "address").starts_with("emrp1"));
    assert_eq!(s(&as_patient, "public_key_hash"), hash);
    let only = emr_in(
        d,
        &["key", "show", "dr.pem", "--role", "patient", "--address"],
    );
    assert_eq!(
        (only.code, only.stdout.trim()),
        (0, s(&as_patient, "address"))
    );
    // The private key is never printed.
    let text = emr_in(d, &["key", "show", "dr.pem"]);
    assert_eq!(text.code, 0);
    assert!(text.stdout.contains("P-256") && !text.stdout.contains("PRIVATE"));

    assert_eq!(
        kind(&json_in(d, &["key", "show", "missing.pem"], 4)),
        "not_found"
    );
    std::fs::write(dir.0.join("junk.pem"), "not a key").unwrap();
    assert_eq!(
        kind(&json_in(d, &["key", "show", "junk.pem"], 1)),
        "invalid_key"
    );
    // A usage error is exit 2, as one line, and JSON when asked.
    let usage = json_in(
        d,
        &["key", "new", "--curve", "ed25519", "--out", "x.pem"],
        2,
    );
    assert_eq!(kind(&usage), "usage");
    assert_eq!(kind(&json_in(d, &["chain"], 2)), "usage");
    let help = emr_in(d, &["chain"]);
    assert_eq!(help.code, 2);
    assert!(help.stderr.contains("Usage: emr chain"), "{help:?}");
    assert_eq!(emr_in(d, &["--help"]).code, 0);
}

#[test]
fn addresses() {
    let dir = TempDir::new("addresses");
    let d = dir.path();
    let hash = "00112233445566778899aabbccddeeff00112233";
    let encoded = json_in(d, &["address", "encode", "--role", "patient", hash], 0);
    let address = s(&encoded, "address").to_owned();
    assert!(address.starts_with("emrp1") && address.len() == 43);
    let decoded = json_in(d, &["address", "decode", &address], 0);
    assert_eq!(
        (s(&decoded, "role"), s(&decoded, "hash")),
        ("patient", hash)
    );
    let upper = json_in(d, &["address", "decode", &address.to_uppercase()], 0);
    assert_eq!(s(&upper, "hash"), hash);

    // One mistyped character: exit 3, its position, and a caret under it.
    let mut typo = address.clone().into_bytes();
    typo[20] = if typo[20] == b'q' { b'p' } else { b'q' };
    let typo = String::from_utf8(typo).unwrap();
    let e = json_in(d, &["address", "decode", &typo], 3);
    assert_eq!(kind(&e), "invalid_checksum");
    assert_eq!(e["error"]["positions"], serde_json::json!([20]));
    let run = emr_in(d, &["address", "decode", &typo]);
    assert_eq!(run.code, 3);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert!(
        lines[0].starts_with("error: invalid_checksum: "),
        "{lines:?}"
    );
    assert_eq!(lines[1], format!("  {typo}"));
    assert_eq!(
        lines[2].find('^'),
        Some(2 + 20),
        "the caret stands under the typo: {lines:?}"
    );

    assert_eq!(
        kind(&json_in(
            d,
            &["address", "decode", &address, "--role", "doctor"],
            3
        )),
        "wrong_role"
    );
    assert_eq!(
        kind(&json_in(d, &["address", "decode", &address[..42]], 3)),
        "invalid_length"
    );
    assert_eq!(
        kind(&json_in(
            d,
            &["address", "decode", &address.replacen('q', "b", 1)],
            3
        )),
        "invalid_character"
    );
    let mixed = format!("{}{}", &address[..10], address[10..].to_uppercase());
    assert_eq!(
        kind(&json_in(d, &["address", "decode", &mixed], 3)),
        "mixed_case"
    );
    assert_eq!(
        kind(&json_in(
            d,
            &["address", "encode", "--role", "miner", "abc"],
            2
        )),
        "invalid_argument"
    );
}

#[test]
fn records() {
    let dir = TempDir::new("records");
    let d = dir.path();
    let patient = new_key(d, "patient.pem", "p256", "patient");
    new_key(d, "dr.pem", "secp256k1", "doctor");
    let signed = json_in(
        d,
        &[
            "record",
            "sign",
            "--key",
            "dr.pem",
            "--patient",
            &patient,
            "--text",
            "Amoxicillin 500mg",
            "--nonce",
            "1",
            "--out",
            "r1.rec",
        ],
        0,
    );
    assert_eq!(signed["nonce"], 1);
    assert_eq!(s(&signed, "patient"), patient);
    assert_eq!(s(&signed, "file"), "r1.rec");
    let verified = json_in(d, &["record", "verify", "r1.rec"], 0);
    assert_eq!(verified["records"][0]["valid"], true);
    assert_eq!(verified["records"][0]["txid"], signed["txid"]);

    // A default file name, from the nonce and the txid.
    let named = json_in(
        d,
        &[
            "record",
            "sign",
            "--key",
            "dr.pem",
            "--patient",
            &patient,
            "--text",
            "x",
            "--nonce",
            "2",
        ],
        0,
    );
    assert!(dir.0.join(s(&named, "file")).is_file());

    // Neither --chain nor --nonce: the command cannot know the nonce.
    let e = json_in(
        d,
        &[
            "record",
            "sign",
            "--key",
            "dr.pem",
            "--patient",
            &patient,
            "--text",
            "x",
        ],
        2,
    );
    assert_eq!(kind(&e), "usage");
    let e = json_in(
        d,
        &[
            "record",
            "sign",
            "--key",
            "dr.pem",
            "--patient",
            &patient,
            "--text",
            &"x".repeat(201),
            "--nonce",
            "1",
        ],
        1,
    );
    assert_eq!(kind(&e), "invalid_prescription");
    let mut typo = patient.clone().into_bytes();
    typo[30] = if typo[30] == b'x' { b'y' } else { b'x' };
    let e = json_in(
        d,
        &[
            "record",
            "sign",
            "--key",
            "dr.pem",
            "--patient",
            std::str::from_utf8(&typo).unwrap(),
            "--text",
            "x",
            "--nonce",
            "1",
        ],
        3,
    );
    assert_eq!(
        (kind(&e), e["error"]["positions"][0].as_u64()),
        ("invalid_checksum", Some(30))
    );
    let e = json_in(
        d,
        &[
            "record",
            "sign",
            "--key",
            "missing.pem",
            "--patient",
            &patient,
            "--text",
            "x",
            "--nonce",
            "1",
        ],
        4,
    );
    assert_eq!(kind(&e), "not_found");

    // Tampered, truncated, missing record files.
    let bytes = std::fs::read(dir.0.join("r1.rec")).unwrap();
    let text_at = bytes.windows(11).position(|w| w == b"Amoxicillin").unwrap();
    let mut tampered = bytes.clone();
    tampered[text_at] = b'B';
    std::fs::write(dir.0.join("tampered.rec"), &tampered).unwrap();
    std::fs::write(dir.0.join("short.rec"), &bytes[..50]).unwrap();
    let e = json_in(d, &["record", "verify", "r1.rec", "tampered.rec"], 1);
    assert_eq!(kind(&e), "invalid_txid");
    assert_eq!(
        kind(&json_in(d, &["record", "verify", "short.rec"], 1)),
        "decode"
    );
    assert_eq!(
        kind(&json_in(d, &["record", "verify", "nothing.rec"], 4)),
        "not_found"
    );
    let run = emr_in(d, &["record", "verify", "r1.rec", "tampered.rec"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout.contains("r1.rec: valid")
            && run.stdout.contains("tampered.rec: INVALID: invalid_txid"),
        "{run:?}"
    );
}

#[test]
fn chain_commands() {
    let dir = TempDir::new("chain");
    let d = dir.path();
    let patient = new_key(d, "patient.pem", "p256", "patient");
    let doctor = new_key(d, "dr.pem", "secp256k1", "doctor");

    let init = json_in(
        d,
        &[
            "chain",
            "init",
            "clinic",
            "--initial-difficulty",
            "50",
            "--window",
            "5",
        ],
        0,
    );
    assert_eq!(init["params"]["initial_difficulty"], "50");
    assert_eq!(init["params"]["window"], 5);
    assert_eq!(
        kind(&json_in(d, &["chain", "init", "clinic"], 2)),
        "invalid_argument"
    );
    assert_eq!(
        kind(&json_in(d, &["chain", "init", "bad", "--window", "0"], 2)),
        "invalid_argument"
    );
    let status = json_in(d, &["chain", "status", "clinic"], 0);
    assert_eq!(
        (status["blocks"].as_u64(), status["pending"].as_u64()),
        (Some(0), Some(0))
    );
    assert!(status["tip"].is_null());
    assert_eq!(
        kind(&json_in(d, &["chain", "status", "nowhere"], 4)),
        "not_found"
    );

    // Nonces come from the chain and its pending records.
    let sign = |text: &str, out: &str| sign_next(d, "dr.pem", &patient, text, "clinic", out);
    assert_eq!(sign("Metformin 500mg", "r1.rec")["nonce"], 1);
    assert_eq!(
        sign("Metformin 1000mg", "r1-again.rec")["nonce"],
        1,
        "nothing pending yet: still 1"
    );
    let submitted = json_in(d, &["chain", "submit", "clinic", "r1.rec"], 0);
    assert_eq!(submitted["records"][0]["outcome"], "ready");
    let r2 = sign("Lisinopril 10mg", "r2.rec");
    assert_eq!(r2["nonce"], 2);
    // Signed before r2 is submitted, so the chain cannot know r2: give the nonce.
    let r3 = json_in(
        d,
        &[
            "record",
            "sign",
            "--key",
            "dr.pem",
            "--patient",
            &patient,
            "--text",
            "Atorvastatin 20mg",
            "--nonce",
            "3",
            "--out",
            "r3.rec",
        ],
        0,
    );
    assert_eq!(r3["nonce"], 3);
    let submitted = json_in(
        d,
        &["chain", "submit", "clinic", "r3.rec", "r2.rec", "r1.rec"],
        0,
    );
    let outcomes: Vec<&str> = submitted["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["held", "ready", "already_pending"]);
    // The same doctor and nonce with another text is not the same record:
    // refused, naming the one kept.
    let conflict = json_in(d, &["chain", "submit", "clinic", "r1-again.rec"], 1);
    assert_eq!(kind(&conflict), "conflicts_with_pending");
    assert!(
        s(&conflict["error"], "message").contains(s(&submitted["records"][2], "txid")),
        "{conflict}"
    );
    assert_eq!(json_in(d, &["chain", "status", "clinic"], 0)["pending"], 3);
    assert_eq!(
        kind(&json_in(
            d,
            &["chain", "submit", "clinic", "missing.rec"],
            4
        )),
        "not_found"
    );

    // Mining: the miner as an address; blocks of the pending records.
    assert_eq!(
        kind(&json_in(
            d,
            &["chain", "mine", "clinic", "--miner", &doctor],
            3
        )),
        "wrong_role"
    );
    let mined = json_in(
        d,
        &[
            "chain",
            "mine",
            "clinic",
            "--miner",
            MINER,
            "--blocks",
            "2",
            "--threads",
            "1",
            "--timestamp",
            T0,
        ],
        0,
    );
    let blocks = mined["blocks"].as_array().unwrap();
    assert_eq!(blocks.len(), 2);
    assert_eq!(
        (blocks[0]["height"].as_u64(), blocks[0]["records"].as_u64()),
        (Some(0), Some(3))
    );
    assert_eq!(
        (blocks[1]["height"].as_u64(), blocks[1]["records"].as_u64()),
        (Some(1), Some(0))
    );
    assert_eq!(blocks[0]["outcome"], "extended");
    assert_eq!(
        blocks[1]["timestamp"], 1_700_000_012u64,
        "the next block is one block time later"
    );
    assert_eq!(mined["height"], 1);
    let status = json_in(d, &["chain", "status", "clinic"], 0);
    assert_eq!(
        (status["blocks"].as_u64(), status["pending"].as_u64()),
        (Some(2), Some(0))
    );
    assert_eq!(status["tip"], mined["tip"]);
    assert_eq!(status["total_difficulty"], "100");

    // A record already on the chain is not pending again.
    let e = json_in(d, &["chain", "submit", "clinic", "r1-again.rec"], 1);
    assert_eq!(kind(&e), "invalid_nonce");
    let verified = json_in(d, &["record", "verify", "r2.rec", "--chain", "clinic"], 0);
    assert_eq!(verified["records"][0]["height"], 0);
    assert_eq!(
        kind(&json_in(
            d,
            &["record", "verify", "r1-again.rec", "--chain", "clinic"],
            1
        )),
        "invalid_nonce"
    );

    // Queries.
    let history = json_in(d, &["chain", "history", "clinic", "--patient", &patient], 0);
    let texts: Vec<&str> = history["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["prescription"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        ["Metformin 500mg", "Lisinopril 10mg", "Atorvastatin 20mg"]
    );
    assert_eq!(
        kind(&json_in(
            d,
            &["chain", "history", "clinic", "--patient", &doctor],
            3
        )),
        "wrong_role"
    );
    let records = json_in(d, &["chain", "doctor", "clinic", "--doctor", &doctor], 0);
    assert_eq!(
        (
            records["nonce"].as_u64(),
            records["records"].as_array().unwrap().len()
        ),
        (Some(3), 3)
    );
    let found = json_in(d, &["chain", "find", "clinic", s(&r2, "txid")], 0);
    assert_eq!(
        (
            found["record"]["nonce"].as_u64(),
            found["record"]["height"].as_u64()
        ),
        (Some(2), Some(0))
    );
    assert_eq!(
        kind(&json_in(
            d,
            &["chain", "find", "clinic", &"ab".repeat(32)],
            4
        )),
        "not_found"
    );
    assert_eq!(
        kind(&json_in(d, &["chain", "find", "clinic", "xyz"], 2)),
        "invalid_argument"
    );
    assert_eq!(json_in(d, &["chain", "check", "clinic"], 0)["blocks_ok"], 2);

    // A prescription edited inside the database file: `check` finds it.
    std::fs::create_dir_all(dir.0.join("tampered")).unwrap();
    let mut db = std::fs::read(dir.0.join("clinic/chain.db")).unwrap();
    let wal = std::fs::metadata(dir.0.join("clinic/chain.db-wal")).map_or(0, |m| m.len());
    assert_eq!(
        wal, 0,
        "the last writer checkpointed: every block is in chain.db"
    );
    let at = db
        .windows(10)
        .position(|w| w == b"Lisinopril")
        .expect("the text is in the file");
    db[at] = b'X';
    std::fs::write(dir.0.join("tampered/chain.db"), &db).unwrap();
    // Every page of the file carries a checksum: the edited page is
    // reported as damage, with the table and the height whose read met it.
    let e = json_in(d, &["chain", "check", "tampered"], 6);
    assert_eq!(kind(&e), "corrupt");
    let message = e["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("blocks at height") && message.contains("checksum"),
        "{e}"
    );

    // Mining options out of range are usage errors.
    let e = json_in(
        d,
        &[
            "chain",
            "mine",
            "clinic",
            "--miner",
            MINER,
            "--threads",
            "0",
        ],
        2,
    );
    assert_eq!(kind(&e), "usage");
    let e = json_in(
        d,
        &[
            "chain", "mine", "clinic", "--miner", MINER, "--engine", "warp",
        ],
        2,
    );
    assert_eq!(kind(&e), "usage");

    // Export, import into a second chain, undo.
    let exported = json_in(d, &["chain", "export", "clinic", "blocks.emr"], 0);
    assert_eq!(exported["blocks"], 2);
    json_in(
        d,
        &[
            "chain",
            "init",
            "copy",
            "--initial-difficulty",
            "50",
            "--window",
            "5",
        ],
        0,
    );
    let imported = json_in(d, &["chain", "import", "copy", "blocks.emr"], 0);
    assert_eq!(
        (imported["extended"].as_u64(), imported["tip"].clone()),
        (Some(2), mined["tip"].clone())
    );
    let again = json_in(d, &["chain", "import", "copy", "blocks.emr"], 0);
    assert_eq!(again["already_known"], 2);
    let tail = json_in(
        d,
        &["chain", "export", "clinic", "tail.emr", "--from", "1"],
        0,
    );
    assert_eq!(tail["blocks"], 1);

    let undone = json_in(d, &["chain", "undo", "copy"], 0);
    assert_eq!(
        (undone["height"].as_u64(), undone["records"].as_u64()),
        (Some(1), Some(0))
    );
    let undone = json_in(d, &["chain", "undo", "copy"], 0);
    assert_eq!(
        (
            undone["records"].as_u64(),
            undone["returned_to_pool"].as_u64()
        ),
        (Some(3), Some(3))
    );
    assert_eq!(
        json_in(d, &["chain", "status", "copy"], 0)["pending"],
        3,
        "an undone block's records are pending again"
    );
    assert_eq!(
        kind(&json_in(d, &["chain", "undo", "copy"], 4)),
        "not_found"
    );
    // The tail alone has no parent here.
    assert_eq!(
        kind(&json_in(d, &["chain", "import", "copy", "tail.emr"], 1)),
        "unknown_parent"
    );

    // Damaged block files.
    let file = std::fs::read(dir.0.join("blocks.emr")).unwrap();
    std::fs::write(dir.0.join("cut.emr"), &file[..file.len() - 3]).unwrap();
    assert_eq!(
        kind(&json_in(d, &["chain", "import", "copy", "cut.emr"], 1)),
        "decode"
    );
    std::fs::write(dir.0.join("junk.emr"), b"hello").unwrap();
    assert_eq!(
        kind(&json_in(d, &["chain", "import", "copy", "junk.emr"], 1)),
        "decode"
    );
    assert_eq!(
        kind(&json_in(d, &["chain", "import", "copy", "none.emr"], 4)),
        "not_found"
    );
    let mut forged = file.clone();
    let at = forged.windows(6).position(|w| w == b"Lisino").unwrap();
    forged[at] = b'X';
    std::fs::write(dir.0.join("forged.emr"), &forged).unwrap();
    let e = json_in(d, &["chain", "import", "copy", "forged.emr"], 1);
    // The block id covers the txids, not the text: the record is what fails.
    assert_eq!(kind(&e), "record");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("invalid_txid"),
        "{e}"
    );

    // A damaged database: corrupt (exit 6).
    std::fs::create_dir_all(dir.0.join("broken")).unwrap();
    std::fs::write(dir.0.join("broken/chain.db"), vec![0x5a; 8192]).unwrap();
    assert_eq!(
        kind(&json_in(d, &["chain", "status", "broken"], 6)),
        "corrupt"
    );
}

/// One mining process holds the chain: writers get `locked` (exit 5),
/// readers still answer; Ctrl-C stops the miner with exit 130 and the chain
/// checks clean.
#[test]
fn locked_chain_and_ctrl_c() {
    let dir = TempDir::new("locked");
    let d = dir.path();
    json_in(
        d,
        &[
            "chain",
            "init",
            "clinic",
            "--initial-difficulty",
            "1000000000000000",
        ],
        0,
    );
    let mut miner = Command::new(EMR)
        .args([
            "chain",
            "mine",
            "clinic",
            "--miner",
            MINER,
            "--threads",
            "1",
            "--json",
            "--progress",
        ])
        .current_dir(d)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Its first progress line comes once it holds the chain (stderr is a
    // pipe here, so --progress gives plain lines).
    let mut stderr = BufReader::new(miner.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    assert!(
        first.starts_with("mining 1 block from height 0"),
        "{first}"
    );

    // `undo` needs the writer's lock: `locked`, at once.
    let started = Instant::now();
    let locked = json_in(d, &["chain", "undo", "clinic"], 5);
    assert_eq!(kind(&locked), "locked");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "a writer does not wait for the lock"
    );
    // Readers are not blocked.
    assert_eq!(json_in(d, &["chain", "status", "clinic"], 0)["blocks"], 0);

    unsafe { libc::kill(miner.id() as libc::pid_t, libc::SIGINT) };
    let out = miner.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let value: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(kind(&value), "cancelled");
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert!(
        rest.lines().any(|l| l.starts_with("error: cancelled: ")),
        "{rest}"
    );

    // The lock went with the process; the chain is as it was.
    assert_eq!(json_in(d, &["chain", "check", "clinic"], 0)["blocks_ok"], 0);
    assert_eq!(
        kind(&json_in(d, &["chain", "undo", "clinic"], 4)),
        "not_found"
    );
}

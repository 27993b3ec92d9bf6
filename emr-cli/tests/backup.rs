//! `emr chain backup`: a checked copy, taken while a miner holds the chain;
//! the restore (the copy put back as DIR/chain.db); what `emr` says of a
//! chain file another program (the stock `sqlite3` shell) wrote.

mod common;

use std::fs;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::*;

/// A chain `clinic` with two blocks holding a patient's two records.
fn clinic(d: &std::path::Path) -> String {
    json_in(d, &["chain", "init", "clinic", "--initial-difficulty", "20"], 0);
    new_key(d, "dr.pem", "p256", "doctor");
    let patient = new_key(d, "alice.pem", "secp256k1", "patient");
    for (i, text) in ["Amoxicillin 500mg", "Ibuprofen 400mg"].iter().enumerate() {
        let file = format!("rx{i}.rec");
        sign_next(d, "dr.pem", &patient, text, "clinic", &file);
        json_in(d, &["chain", "submit", "clinic", &file], 0);
        mine(d, "clinic", MINER, 1, now());
    }
    patient
}

#[test]
fn backup_then_restore() {
    let dir = TempDir::new("backup");
    let d = dir.path();
    let patient = clinic(d);
    let made = json_in(d, &["chain", "backup", "clinic", "clinic.bak"], 0);
    assert_eq!(made["height"], 1);
    assert_eq!(s(&made, "file"), "clinic.bak");
    assert!(made["bytes"].as_u64().unwrap() > 0);
    assert_eq!(mode(&d.join("clinic.bak")), mode(&d.join("clinic/chain.db")));
    // Human output says how to restore.
    let run = emr_in(d, &["chain", "backup", "clinic", "second.bak"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("restore: stop the chain's writer, copy second.bak to clinic/chain.db"), "{}", run.stdout);

    // Never over an existing file (io, 7); no chain (not_found, 4).
    let again = json_in(d, &["chain", "backup", "clinic", "clinic.bak"], 7);
    assert!(s(&again["error"], "message").contains("already exists"), "{again}");
    json_in(d, &["chain", "backup", "nowhere", "x.bak"], 4);

    // Restore into a new directory: the file as DIR/chain.db, then check.
    fs::create_dir(d.join("restored")).unwrap();
    fs::copy(d.join("clinic.bak"), d.join("restored/chain.db")).unwrap();
    assert_eq!(json_in(d, &["chain", "check", "restored"], 0)["blocks_ok"], 2);
    assert_eq!(history(d, "restored", &patient), ["Amoxicillin 500mg", "Ibuprofen 400mg"]);
    assert_eq!(status(d, "restored")["tip"], status(d, "clinic")["tip"]);
}

#[test]
fn backups_while_a_miner_holds_the_chain() {
    let dir = TempDir::new("backup-live");
    let d = dir.path();
    json_in(d, &["chain", "init", "clinic", "--initial-difficulty", "2000"], 0);
    let mut miner = Command::new(EMR)
        .args(["--progress", "chain", "mine", "clinic", "--miner", MINER, "--threads", "1", "--blocks", "1000000"])
        .current_dir(d)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Its first progress line (on a pipe only with --progress) comes once
    // it holds the chain.
    let mut stderr = BufReader::new(miner.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    assert!(first.starts_with("mining"), "{first}");
    let drain = std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    let mut heights = Vec::new();
    for round in 0..3 {
        // Wait until the miner has added another block since the last copy.
        let floor = heights.last().map_or(0, |h| h + 1);
        let mut polls = 0;
        while status(d, "clinic")["blocks"].as_u64().unwrap() <= floor {
            polls += 1;
            assert!(polls < 100_000, "the miner adds no block");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(kind(&json_in(d, &["chain", "undo", "clinic"], 5)), "locked", "the miner holds the chain");
        let name = format!("copy{round}.bak");
        let made = json_in(d, &["chain", "backup", "clinic", &name], 0);
        let height = made["height"].as_u64().unwrap();
        assert!(height >= floor, "copy {round} at {height}, before {floor}");
        fs::create_dir(d.join(format!("r{round}"))).unwrap();
        fs::copy(d.join(&name), d.join(format!("r{round}/chain.db"))).unwrap();
        let checked = json_in(d, &["chain", "check", &format!("r{round}")], 0);
        assert_eq!(checked["blocks_ok"].as_u64().unwrap(), height + 1);
        heights.push(height);
    }
    // SAFETY: kill(2) on the child's pid, which has not been waited for.
    unsafe { libc::kill(miner.id() as libc::pid_t, libc::SIGINT) };
    assert_eq!(miner.wait().unwrap().code(), Some(130));
    drain.join().unwrap().unwrap();
    assert!(heights.windows(2).all(|w| w[0] < w[1]), "{heights:?}");
    json_in(d, &["chain", "check", "clinic"], 0);
}

/// The stock `sqlite3` shell writing the chain file (here: a view): `emr`
/// calls the file corrupt and says who likely wrote it and what to do;
/// reading with `sqlite3 -readonly` changes nothing.
#[test]
fn a_chain_file_written_by_sqlite3_is_named_so() {
    let dir = TempDir::new("backup-sqlite3");
    let d = dir.path();
    clinic(d);
    let sqlite3 = |args: &[&str]| {
        let out = Command::new("sqlite3").args(args).current_dir(d).output().expect("the sqlite3 shell (make test installs it)");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let read = sqlite3(&["-readonly", "clinic/chain.db", "SELECT prescription FROM prescriptions ORDER BY height"]);
    assert_eq!(read, "Amoxicillin 500mg\nIbuprofen 400mg\n");
    json_in(d, &["chain", "check", "clinic"], 0);
    json_in(d, &["chain", "backup", "clinic", "good.bak"], 0);

    sqlite3(&["clinic/chain.db", "CREATE VIEW mine AS SELECT * FROM prescriptions"]);
    let damaged = json_in(d, &["chain", "check", "clinic"], 6);
    let message = s(&damaged["error"], "message");
    assert!(message.contains("written by another program (sqlite3?)"), "{message}");
    assert!(message.contains("emr chain backup"), "{message}");

    // The restore: the backup over the damaged file.
    for extra in ["chain.db-wal", "chain.db-shm"] {
        let _ = fs::remove_file(d.join("clinic").join(extra));
    }
    fs::copy(d.join("good.bak"), d.join("clinic/chain.db")).unwrap();
    assert_eq!(json_in(d, &["chain", "check", "clinic"], 0)["blocks_ok"], 2);
}

//! The command line on a full or failing disk (docs/DURABILITY.md, "Full
//! and failing disks"): `emr` runs with the `faultfs` shim LD_PRELOAD'ed,
//! the chain's files failing at a random point of each write command. A
//! command that fails exits 7 with kind `io` naming the chain file ("disk
//! full" for ENOSPC); what a command acknowledged stays; the same command
//! succeeds once the disk works; `chain check` passes at the end.

mod common;
#[path = "../../faultfs/faultfs.rs"]
mod faultfs;

use std::process::{Command, Stdio};

use common::*;
use faultfs::{Faults, Rng};

/// `emr ARGS --json` in `d` with the shim's environment.
fn emr_faulty(d: &std::path::Path, faults: &Faults, args: &[&str]) -> Run {
    let mut all = args.to_vec();
    all.push("--json");
    let out = Command::new(EMR).args(&all).current_dir(d).envs(faults.env()).stdin(Stdio::null()).output().unwrap();
    Run::from(out)
}

#[test]
fn write_commands_on_a_failing_disk_fail_as_io_and_lose_nothing() {
    let dir = TempDir::new("faults");
    let d = dir.path();
    new_key(d, "dr.pem", "p256", "doctor");
    let patient = new_key(d, "patient.pem", "p256", "patient");
    json_in(d, &["chain", "init", "clinic", "--initial-difficulty", "1"], 0);
    // The file as the command line was given it.
    let chain_file = "clinic/chain.db";
    let mut faults = Faults::new(&d.join("clinic"));
    let seed = faultfs::seed();
    println!("CLI fault campaign: seed {seed} (EMR_FAULT_SEED={seed} replays it)");
    let mut rng = Rng(seed);
    let (mut submitted, mut mined, mut failures) = (0u64, 0u64, 0u64);
    let t0 = now() - 3600;
    for round in 0..12u64 {
        let mine = rng.below(3) == 0;
        let file = format!("r{}.rec", submitted + 1);
        if !mine {
            sign(d, "dr.pem", &patient, "amoxicillin 500 mg", submitted + 1, &file);
        }
        let timestamp = (t0 + 60 * (mined + 1)).to_string();
        let args: Vec<&str> = if mine {
            vec!["-q", "chain", "mine", "clinic", "--miner", MINER, "--blocks", "1", "--threads", "1", "--timestamp", &timestamp]
        } else {
            vec!["chain", "submit", "clinic", &file]
        };
        let mode = ["enospc", "eio-write", "eio-sync", "enospc-sync"][rng.below(4) as usize];
        let after = if mode.ends_with("sync") { rng.below(3) } else { rng.below(24 * 1024) };
        let when = format!("round {round}: {args:?} under {mode} after {after}");
        faults.arm(mode, after, 0);
        let run = emr_faulty(d, &faults, &args);
        faults.off();
        if run.code != 0 {
            failures += 1;
            assert_eq!(run.code, 7, "{when}: {run:?}");
            let value = run.json();
            assert_eq!(kind(&value), "io", "{when}: {value}");
            let message = value["error"]["message"].as_str().unwrap();
            assert!(message.contains(chain_file), "{when}: the message does not name the file: {message}");
            if mode == "enospc" && message.contains("SQLite could not write") {
                assert!(message.contains("disk full"), "{when}: {message}");
            }
            let line = run.stderr.lines().find(|l| l.starts_with("error:")).unwrap_or_default();
            assert!(line.starts_with("error: io: ") && line.contains(chain_file), "{when}: {line}");
            // Nothing acknowledged is lost, the failed command left nothing half-done.
            let st = status(d, "clinic");
            assert_eq!(st["blocks"], mined, "{when}: {st}");
            // The same command, the disk working again.
            let again = emr_faulty(d, &faults, &args);
            assert_eq!(again.code, 0, "{when}: the retry failed: {again:?}");
        }
        if mine {
            mined += 1;
        } else {
            submitted += 1;
        }
        let st = status(d, "clinic");
        assert_eq!(st["blocks"], mined, "{when}: {st}");
    }
    assert_eq!(json_in(d, &["chain", "check", "clinic"], 0)["blocks_ok"], mined);
    let in_pool = status(d, "clinic")["pending"].as_u64().unwrap();
    let in_blocks = history(d, "clinic", &patient).len() as u64;
    assert_eq!(in_pool + in_blocks, submitted, "every acknowledged submit is pending or mined");
    println!("{failures} of 12 commands failed as io; {} faults injected", faults.injected());
    assert!(faults.injected() > 0);
}

//! Progress as a person sees it: a bar drawn on a real (pseudo-)terminal,
//! read back from the screen a terminal emulator shows; plain lines and no
//! escape codes when stderr is not a terminal.
//!
//! The pseudo-terminal comes from `script` (util-linux, in every Debian
//! install); the screen is rebuilt from its output with the `vt100` crate.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::*;


fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Runs `emr ARGS` on a 40x160 pseudo-terminal; returns its exit code, the
/// raw bytes the terminal received and the screen they leave.
fn on_terminal(dir: &Path, args: &[&str]) -> Option<(i32, Vec<u8>, String)> {
    let mut line = format!("stty rows 40 cols 160; exec {}", shell_quote(EMR));
    for a in args {
        line.push(' ');
        line.push_str(&shell_quote(a));
    }
    let out = match Command::new("script")
        .args(["-q", "-e", "-c", &line, "/dev/null"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
    {
        Ok(out) => out,
        Err(e) => {
            eprintln!("SKIPPED: `script` (util-linux) cannot run here: {e}");
            return None;
        }
    };
    let mut parser = vt100::Parser::new(40, 160, 0);
    parser.process(&out.stdout);
    let screen = parser.screen().contents();
    Some((out.status.code().unwrap_or(-1), out.stdout, screen))
}

#[test]
fn progress_bars_on_a_terminal() {
    let dir = TempDir::new("terminal");
    let d = dir.path();
    let patient = new_key(d, "patient.pem", "p256", "patient");
    new_key(d, "dr.pem", "secp256k1", "doctor");
    json_in(
        d,
        &["chain", "init", "clinic", "--initial-difficulty", "20000"],
        0,
    );
    for (i, text) in ["Amoxicillin 500mg", "Ibuprofen 400mg", "Lisinopril 10mg"]
        .iter()
        .enumerate()
    {
        let out = format!("r{i}.rec");
        sign_next(d, "dr.pem", &patient, text, "clinic", &out);
        json_in(d, &["chain", "submit", "clinic", &out], 0);
    }

    let Some((code, raw, screen)) = on_terminal(
        d,
        &[
            "chain",
            "mine",
            "clinic",
            "--miner",
            MINER,
            "--blocks",
            "3",
            "--threads",
            "1",
            "--timestamp",
            "1700000000",
        ],
    ) else {
        return;
    };
    assert_eq!(code, 0, "{screen}");
    let raw = String::from_utf8_lossy(&raw);
    assert!(
        raw.contains("\x1b["),
        "a bar is redrawn with escape codes on a terminal: {raw:?}"
    );
    // What stays on the screen: the finished bar with the rate and the
    // expected time per block, then the command's summary.
    let bar = screen
        .lines()
        .find(|l| l.contains("mining ["))
        .unwrap_or_else(|| panic!("no bar on the screen:\n{screen}"));
    assert!(bar.contains("3/3 blocks"), "{bar}");
    assert!(
        bar.contains("H/s") && bar.contains("per block expected"),
        "{bar}"
    );
    assert!(bar.contains("[===================="), "a full bar: {bar}");
    assert!(
        screen.lines().any(|l| l.starts_with("block 2 ")),
        "the summary starts on a line of its own:\n{screen}"
    );
    assert_eq!(
        screen.lines().filter(|l| l.contains("mining [")).count(),
        1,
        "one bar, redrawn in place:\n{screen}"
    );

    // Import and check: blocks and records per second.
    json_in(d, &["chain", "export", "clinic", "blocks.emr"], 0);
    json_in(
        d,
        &["chain", "init", "copy", "--initial-difficulty", "20000"],
        0,
    );
    let (code, _, screen) = on_terminal(d, &["chain", "import", "copy", "blocks.emr"]).unwrap();
    assert_eq!(code, 0, "{screen}");
    let bar = screen
        .lines()
        .find(|l| l.contains("importing ["))
        .unwrap_or_else(|| panic!("{screen}"));
    assert!(
        bar.contains("3/3 blocks") && bar.contains("blocks/s") && bar.contains("records/s"),
        "{bar}"
    );
    let (code, _, screen) = on_terminal(d, &["chain", "check", "copy"]).unwrap();
    assert_eq!(code, 0, "{screen}");
    let bar = screen
        .lines()
        .find(|l| l.contains("checking ["))
        .unwrap_or_else(|| panic!("{screen}"));
    assert!(
        bar.contains("3/3 blocks") && bar.contains("records/s"),
        "{bar}"
    );
    assert!(screen.contains("checked 3 blocks"), "{screen}");

    // --quiet: no bar even on a terminal.
    let (code, _, screen) = on_terminal(d, &["chain", "check", "copy", "--quiet"]).unwrap();
    assert_eq!(code, 0);
    assert!(!screen.contains("checking ["), "{screen}");
}

#[test]
fn plain_lines_when_not_a_terminal() {
    let dir = TempDir::new("plain");
    let d = dir.path();
    json_in(
        d,
        &["chain", "init", "clinic", "--initial-difficulty", "1000"],
        0,
    );
    let run = emr_in(
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
            "1700000000",
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        !run.stderr.contains('\x1b') && !run.stdout.contains('\x1b'),
        "no escape codes in a pipe: {run:?}"
    );
    assert!(
        run.stderr.contains("mined block 0") && run.stderr.contains("mined block 1"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.lines().count() == 2 && run.stdout.starts_with("block 0 "),
        "{}",
        run.stdout
    );
    json_in(d, &["chain", "export", "clinic", "b.emr"], 0);
    json_in(
        d,
        &["chain", "init", "copy", "--initial-difficulty", "1000"],
        0,
    );
    let run = emr_in(d, &["chain", "import", "copy", "b.emr"]);
    assert_eq!(run.code, 0);
    assert!(
        run.stderr.contains("importing: 2/2 blocks") && run.stderr.contains("records/s"),
        "{}",
        run.stderr
    );
    let run = emr_in(d, &["chain", "check", "copy", "-q"]);
    assert_eq!(
        (run.code, run.stderr.as_str()),
        (0, ""),
        "--quiet: nothing on stderr"
    );
}

//! The command line's manners: errors that say what was meant, help on
//! every argument, completions and a manual page, counts in the number
//! they take, stdout as a file, and output that says each thing once.

mod common;

use std::collections::BTreeSet;

use common::*;

/// The one `error:` line of a failed run.
fn error_line(run: &Run) -> &str {
    run.stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error line: {run:?}"))
}

#[test]
fn clap_errors_say_what_is_missing_and_what_was_meant() {
    let dir = TempDir::new("manners-clap");
    let d = dir.path();
    let cases: [(&[&str], &[&str]); 6] = [
        (
            &["chain", "mine"],
            &["--miner <MINER>", "<DIR>", "(see emr chain mine --help)"],
        ),
        (&["key", "neww"], &["'neww'", "did you mean 'new'?", "(see emr key --help)"]),
        (&["chian", "status"], &["did you mean ", "'chain'?"]),
        (&["key", "new", "--outt", "k.pem"], &["'--outt'", "did you mean '--out'?", "(see emr key new --help)"]),
        (
            &["key", "new", "--curve", "p255", "--out", "k.pem"],
            &["possible values: secp256k1, p256", "did you mean 'p256'?"],
        ),
        (
            &["address", "encode", "--role", "doctr", "00"],
            &["possible values: doctor, patient, miner", "did you mean 'doctor'?"],
        ),
    ];
    for (args, says) in cases {
        let run = emr_in(d, args);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        let line = error_line(&run);
        assert!(line.starts_with("error: usage: "), "{line}");
        for part in says {
            assert!(line.contains(part), "{args:?}: {part:?} not in {line}");
        }
        let json = json_in(d, args, 2);
        assert_eq!(kind(&json), "usage");
        assert_eq!(format!("error: usage: {}", s(&json["error"], "message")), line);
    }
    assert!(listing(d).is_empty(), "nothing written: {:?}", listing(d));
}

/// The entries of a `--help` section: each line that starts an argument
/// (`  <DIR>  The ...`, `      --out <OUT>  The ...`), as (name, help).
fn section(help: &str, title: &str) -> Vec<(String, String)> {
    let mut lines = help.lines().skip_while(|l| *l != title).skip(1);
    let mut entries = Vec::new();
    for line in lines.by_ref() {
        if line.is_empty() {
            break;
        }
        let spec = line.trim_start();
        if line.len() - spec.len() > 6 {
            // The help under a long name, or its continuation.
            if let Some((_, help)) = entries.last_mut().filter(|(_, h): &&mut (String, String)| h.is_empty()) {
                *help = spec.to_owned();
            }
            continue;
        }
        let (name, help) = spec.split_once("  ").unwrap_or((spec, ""));
        entries.push((name.to_owned(), help.trim().to_owned()));
    }
    entries
}

/// Every command's path, from the "Commands:" sections of the help.
fn commands(d: &std::path::Path, path: Vec<String>, all: &mut Vec<Vec<String>>) {
    let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
    args.push("--help");
    let run = emr_in(d, &args);
    assert_eq!(run.code, 0, "{run:?}");
    for (name, _) in section(&run.stdout, "Commands:") {
        if name != "help" {
            let mut sub = path.clone();
            sub.push(name);
            commands(d, sub, all);
        }
    }
    all.push(path);
}

#[test]
fn every_argument_has_help_and_global_options_stand_apart() {
    let dir = TempDir::new("manners-help");
    let d = dir.path();
    let mut all = Vec::new();
    commands(d, Vec::new(), &mut all);
    assert!(all.len() > 30, "{all:?}");
    let global: BTreeSet<&str> = ["--json", "--quiet", "--progress", "--password-file"].into();
    for path in &all {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let help = emr_in(d, &args).stdout;
        for title in ["Arguments:", "Options:", "Global options:"] {
            for (name, text) in section(&help, title) {
                assert!(
                    !text.is_empty() && !text.starts_with('['),
                    "emr {}: {name} has no help:\n{help}",
                    path.join(" ")
                );
                let flag = name.trim_start_matches("-q, ").split(' ').next().unwrap_or("");
                assert_eq!(
                    global.contains(flag),
                    title == "Global options:",
                    "emr {}: {name} under {title}",
                    path.join(" ")
                );
            }
        }
        assert_eq!(section(&help, "Global options:").len(), 4, "emr {}:\n{help}", path.join(" "));
    }
}

#[test]
fn completions_and_manual_pages() {
    let dir = TempDir::new("manners-completions");
    let d = dir.path();
    for (shell, says) in [
        ("bash", "complete -F _emr"),
        ("zsh", "#compdef emr"),
        ("fish", "complete -c emr"),
        ("elvish", "edit:completion:arg-completer[emr]"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let run = emr_in(d, &["completions", shell]);
        assert_eq!(run.code, 0, "{run:?}");
        assert!(run.stdout.contains(says), "{shell}: {}", &run.stdout[..200.min(run.stdout.len())]);
        assert!(run.stdout.contains("history"), "{shell}: the subcommands are completed");
    }
    let run = emr_in(d, &["completions", "tcsh"]);
    assert_eq!(run.code, 2);
    assert!(error_line(&run).contains("possible values: bash"), "{run:?}");
    let json = json_in(d, &["completions", "bash"], 0);
    assert!(s(&json, "script").contains("_emr"));

    let page = emr_in(d, &["man"]);
    assert_eq!(page.code, 0, "{page:?}");
    assert!(page.stdout.contains(".TH emr 1"), "{}", page.stdout);
    assert!(page.stdout.contains(".SH SUBCOMMANDS") && page.stdout.contains("emr\\-chain(1)"), "{}", page.stdout);
    let page = emr_in(d, &["man", "chain", "mine"]);
    assert_eq!(page.code, 0, "{page:?}");
    assert!(page.stdout.contains(".TH emr-chain-mine 1"), "{}", page.stdout);
    assert!(page.stdout.contains("\\-\\-threads"), "{}", page.stdout);
    let run = emr_in(d, &["man", "chain", "nope"]);
    assert_eq!(run.code, 2);
    assert!(error_line(&run).contains("no command `emr chain nope`"), "{run:?}");
    assert!(listing(d).is_empty(), "{:?}", listing(d));
}

/// One salt for `hosp` and its copies: the grant in its blocks is made for
/// one chain id.
const SALT: &str = "000102030405060708090a0b0c0d0e0f";

/// A chain `hosp` with an authority that granted `dr.pem`, a patient, and
/// `r1.rec` signed by the doctor; the grant waits in the pool.
fn clinic(name: &str) -> (TempDir, String) {
    let dir = TempDir::new(name);
    let d = dir.path();
    json_in(d, &["authority", "new", "--out", "auth.pem"], 0);
    new_key(d, "dr.pem", "secp256k1", "doctor");
    let patient = new_key(d, "patient.pem", "p256", "patient");
    json_in(d, &["chain", "init", "hosp", "--initial-difficulty", "1", "--authority", "auth.pub", "--salt", SALT], 0);
    json_in(d, &["grant", "--key", "auth.pem", "--doctor", "dr.pem", "--licence", "GMC 1", "--chain", "hosp"], 0);
    sign_next(d, "dr.pem", &patient, "Metformin 500mg", "hosp", "r1.rec");
    (dir, patient)
}

#[test]
fn counts_take_their_number_and_status_counts_pending_entries() {
    let (dir, patient) = clinic("manners-counts");
    let d = dir.path();
    let text = |args: &[&str]| {
        let run = emr_in(d, args);
        assert_eq!(run.code, 0, "{args:?}: {run:?}");
        run.stdout
    };
    let status = text(&["chain", "status", "hosp"]);
    assert!(status.contains(": 0 blocks (no blocks yet)"), "{status}");
    assert!(status.contains("\n0 records and 1 entry pending\n"), "{status}");
    assert_eq!(json_in(d, &["chain", "status", "hosp"], 0)["pending_entries"], 1);
    json_in(d, &["chain", "submit", "hosp", "r1.rec"], 0);
    let status = text(&["chain", "status", "hosp"]);
    assert!(status.contains("\n1 record and 1 entry pending\n"), "{status}");

    let mined = text(&["chain", "mine", "hosp", "--miner", MINER, "--threads", "1"]);
    assert!(mined.contains(" (1 record, difficulty 1, "), "{mined}");
    let status = text(&["chain", "status", "hosp"]);
    assert!(status.contains(": 1 block (height 0, block "), "{status}");
    assert!(status.contains("\n0 records and 0 entries pending\n"), "{status}");
    assert!(text(&["chain", "history", "hosp", "--patient", &patient]).starts_with("1 record for "));
    let doctor = json_in(d, &["key", "show", "dr.pem"], 0);
    let by = text(&["chain", "doctor", "hosp", "--doctor", s(&doctor, "address")]);
    assert!(by.starts_with("1 record by ") && by.contains("authorized now; 1 grant\n"), "{by}");
    assert!(text(&["chain", "check", "hosp"]).starts_with("checked 1 block: "));
    assert!(text(&["chain", "export", "hosp", "b.emr"]).starts_with("wrote 1 block (height 0) to "));
    json_in(d, &["chain", "init", "copy", "--initial-difficulty", "1", "--authority", "auth.pub", "--salt", SALT], 0);
    assert!(text(&["chain", "import", "copy", "b.emr"]).starts_with("imported 1 block: 1 extended"));
    let undone = text(&["chain", "undo", "copy"]);
    assert!(undone.contains("; 1 of its 1 record is pending again"), "{undone}");
}

#[test]
fn export_to_stdout_and_from_past_the_tip() {
    let (dir, _) = clinic("manners-export");
    let d = dir.path();
    json_in(d, &["chain", "submit", "hosp", "r1.rec"], 0);
    mine(d, "hosp", MINER, 2, 1_700_000_000);

    let out = std::process::Command::new(EMR)
        .args(["chain", "export", "hosp", "-"])
        .current_dir(d)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.starts_with(b"EMRBLKS"), "the block file on stdout");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        "wrote 2 blocks (heights 0 to 1) to stdout"
    );
    assert!(!d.join("-").exists(), "no file named -");
    std::fs::write(d.join("piped.emr"), &out.stdout).unwrap();
    json_in(d, &["chain", "export", "hosp", "file.emr"], 0);
    assert_eq!(std::fs::read(d.join("file.emr")).unwrap(), out.stdout);
    json_in(d, &["chain", "init", "copy", "--initial-difficulty", "1", "--authority", "auth.pub", "--salt", SALT], 0);
    assert_eq!(json_in(d, &["chain", "import", "copy", "piped.emr"], 0)["extended"], 2);
    let e = json_in(d, &["chain", "export", "hosp", "-"], 2);
    assert_eq!(kind(&e), "usage");

    for from in ["2", "5"] {
        let e = json_in(d, &["chain", "export", "hosp", "late.emr", "--from", from], 2);
        assert_eq!(kind(&e), "invalid_argument");
        let message = s(&e["error"], "message");
        assert!(
            message.contains(&format!("--from {from} is past the tip")) && message.contains("(heights 0 to 1)"),
            "{message}"
        );
    }
    assert!(!d.join("late.emr").exists());
    let run = emr_in(d, &["chain", "export", "hosp", "tail.emr", "--from", "1"]);
    assert!(run.stdout.starts_with("wrote 1 block (height 1) to "), "{run:?}");
    json_in(d, &["chain", "init", "empty", "--initial-difficulty", "1"], 0);
    let e = json_in(d, &["chain", "export", "empty", "none.emr", "--from", "1"], 2);
    assert!(s(&e["error"], "message").contains("has no blocks yet"), "{e}");
    let run = emr_in(d, &["chain", "export", "empty", "none.emr"]);
    assert!(run.stdout.starts_with("wrote 0 blocks (the chain is empty) to "), "{run:?}");
}

#[test]
fn each_mined_block_once_and_progress_only_when_asked() {
    let dir = TempDir::new("manners-mine");
    let d = dir.path();
    json_in(d, &["chain", "init", "hosp", "--initial-difficulty", "1000"], 0);
    let mine_args = |blocks: &'static str, time: &'static str| {
        ["chain", "mine", "hosp", "--miner", MINER, "--blocks", blocks, "--threads", "1", "--timestamp", time]
    };
    // A pipe: the results alone, each block once.
    let run = emr_in(d, &mine_args("3", "1700000000"));
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stderr, "", "no progress on a pipe");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", run.stdout);
    for (i, line) in lines.iter().enumerate() {
        assert!(line.starts_with(&format!("block {i} ")), "{line}");
    }
    // --progress: plain lines on stderr, which never repeat a block's line.
    let mut args = mine_args("2", "1700000036").to_vec();
    args.push("--progress");
    let run = emr_in(d, &args);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.starts_with("mining 2 blocks from height 3, difficulty 1000\n"), "{}", run.stderr);
    assert!(!run.stderr.contains("block 3") && !run.stderr.contains('\x1b'), "{}", run.stderr);
    assert_eq!(run.stdout.lines().count(), 2, "{}", run.stdout);
    assert!(run.stdout.starts_with("block 3 ") && run.stdout.contains("\nblock 4 "), "{}", run.stdout);
    let mut args = mine_args("1", "1700000060").to_vec();
    args.push("--progress");
    let run = emr_in(d, &args);
    assert!(run.stderr.starts_with("mining 1 block from height 5"), "{}", run.stderr);
    args.push("--quiet");
    let run = emr_in(d, &args);
    assert_eq!(run.code, 2, "--quiet and --progress contradict: {run:?}");

    let run = emr_in(d, &["chain", "export", "hosp", "b.emr", "--progress"]);
    assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{run:?}");
    json_in(d, &["chain", "init", "copy", "--initial-difficulty", "1000"], 0);
    let run = emr_in(d, &["chain", "import", "copy", "b.emr"]);
    assert_eq!((run.code, run.stderr.as_str()), (0, ""), "no progress on a pipe: {run:?}");
    let run = emr_in(d, &["chain", "check", "copy", "--progress"]);
    assert!(run.stderr.contains("checking: 6/6 blocks"), "{run:?}");
}

#[test]
fn threads_0_is_refused_before_anything_starts() {
    let dir = TempDir::new("manners-threads");
    let d = dir.path();
    json_in(d, &["chain", "init", "hosp", "--initial-difficulty", "1"], 0);
    for threads in ["0", "1025", "-1", "many"] {
        let run = emr_in(d, &["chain", "mine", "hosp", "--miner", MINER, "--threads", threads, "--progress"]);
        assert_eq!(run.code, 2, "{run:?}");
        assert!(!run.stderr.contains("mining 1 block"), "refused before mining starts: {run:?}");
        assert!(error_line(&run).contains("a whole number from 1 to 1024"), "{run:?}");
    }
    assert_eq!(status(d, "hosp")["blocks"], 0);
}

#[test]
fn a_key_where_a_record_belongs_and_each_name_once() {
    let (dir, _) = clinic("manners-pem");
    let d = dir.path();
    let e = json_in(d, &["chain", "submit", "hosp", "dr.pem"], 1);
    assert_eq!(kind(&e), "decode");
    assert_eq!(
        s(&e["error"], "message"),
        "dr.pem: this is a PEM key (PRIVATE KEY), not a record or entry file"
    );
    assert_eq!(status(d, "hosp")["pending"], 0);

    let run = emr_in(d, &["record", "verify", "dr.pem", "r1.rec", "missing.rec"]);
    assert_eq!(run.code, 1, "{run:?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines[0], "dr.pem: INVALID: decode: this is a PEM key (PRIVATE KEY), not a record");
    assert!(lines[1].starts_with("r1.rec: valid"), "{}", lines[1]);
    assert_eq!(lines[2].matches("missing.rec").count(), 1, "{}", lines[2]);
    assert_eq!(error_line(&run), "error: decode: dr.pem: this is a PEM key (PRIVATE KEY), not a record");
    let run = emr_in(d, &["record", "verify", "missing.rec"]);
    assert_eq!(run.code, 4);
    assert_eq!(error_line(&run).matches("missing.rec").count(), 1, "{run:?}");
    let e = json_in(d, &["record", "open", "auth.pem", "--key", "dr.pem"], 1);
    assert!(s(&e["error"], "message").contains("this is a PEM key"), "{e}");
}

#[test]
fn a_hash_where_an_address_belongs_gets_a_hint() {
    let (dir, patient) = clinic("manners-hex");
    let d = dir.path();
    let hash = s(&json_in(d, &["address", "decode", &patient], 0), "hash").to_owned();
    let run = emr_in(d, &["chain", "history", "hosp", "--patient", &hash]);
    assert_eq!(run.code, 3, "{run:?}");
    let hint = format!("`emr address encode --role patient {hash}` gives its address");
    assert!(error_line(&run).contains(&hint), "{run:?}");
    assert!(!run.stderr.contains('^'), "no caret under a typo there is not: {run:?}");
    let encoded = json_in(d, &["address", "encode", "--role", "patient", &hash], 0);
    assert_eq!(s(&encoded, "address"), patient);
    let e = json_in(d, &["record", "sign", "--key", "dr.pem", "--patient", &hash, "--text", "x", "--nonce", "1"], 3);
    assert!(s(&e["error"], "message").contains(&hint), "{e}");
    let e = json_in(d, &["chain", "mine", "hosp", "--miner", &hash], 3);
    assert!(s(&e["error"], "message").contains("--role miner"), "{e}");
}

//! Resource limits of the command line: a 1 GiB file (sparse) offered to
//! `chain import` as a block file, as one block, with a header claiming a
//! 2^40-byte block, and as a key and a record file. Each run must fail with
//! a clear error (exit 1, its kind, the file named) and a peak resident set
//! far below the file's size, measured by wait4(2) on the child.

mod common;

use std::os::unix::process::ExitStatusExt as _;
use std::process::{Command, Stdio};

use common::{json_in, TempDir, EMR};

const GIB: u64 = 1 << 30;

/// File name, its first bytes (the rest up to 1 GiB is a hole), the
/// command, the error kind and a phrase of the message.
type Case<'a> = (&'a str, &'a [u8], &'a [&'a str], &'a str, &'a str);

/// Runs `emr ARGS --json` in `dir`; returns exit code, stdout and the
/// child's peak RSS in KiB (ru_maxrss). The child is reaped by wait4(2)
/// itself, which std's `Child::wait` cannot do while returning the rusage.
#[allow(clippy::zombie_processes)]
fn run_measured(dir: &std::path::Path, args: &[&str]) -> (i32, String, i64) {
    let child = Command::new(EMR)
        .args(args)
        .arg("--json")
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut stdout = child.stdout.unwrap();
    let mut out = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut out).unwrap();
    let mut status = 0;
    // SAFETY: rusage is plain data, zeroed is a valid value; pid is our
    // child, not yet waited for (Child::wait was never called).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointers to locals for the duration of the call.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid);
    let code = std::process::ExitStatus::from_raw(status).code().unwrap_or(-1);
    (code, out, usage.ru_maxrss)
}

fn sparse(path: &std::path::Path, head: &[u8]) {
    std::fs::write(path, head).unwrap();
    std::fs::OpenOptions::new().write(true).open(path).unwrap().set_len(GIB).unwrap();
}

#[test]
fn a_1_gib_file_is_refused_in_bounded_memory() {
    let dir = TempDir::new("limits");
    let d = dir.path();
    json_in(d, &["chain", "init", "c", "--initial-difficulty", "1"], 0);
    let mut claim = b"EMRBLKS\x01".to_vec();
    claim.extend_from_slice(&1u64.to_le_bytes());
    claim.extend_from_slice(&(1u64 << 40).to_le_bytes());
    let cases: [Case<'_>; 5] = [
        ("zeros.emr", b"", &["chain", "import", "c"], "decode", "not a block file"),
        ("block.emr", b"B\x01", &["chain", "import", "c"], "decode", "longer than 16777216 bytes"),
        ("claim.emr", &claim, &["chain", "import", "c"], "decode", "claims 1099511627776 bytes"),
        ("key.pem", b"-----BEGIN PRIVATE KEY-----\n", &["key", "show"], "invalid_key", "longer than 1048576 bytes"),
        ("big.rec", b"R\x01", &["record", "verify"], "decode", "longer than 1048576 bytes"),
    ];
    for (file, head, command, kind, message) in cases {
        sparse(&d.join(file), head);
        let mut args = command.to_vec();
        args.push(file);
        let (code, out, peak_kib) = run_measured(d, &args);
        let value: serde_json::Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{file}: {e}: {out}"));
        println!("emr {args:?} on a 1 GiB file: exit {code}, peak RSS {peak_kib} KiB: {}", value["error"]["message"]);
        assert_eq!(code, 1, "{file}: {out}");
        assert_eq!(value["error"]["kind"], kind, "{file}: {out}");
        let text = value["error"]["message"].as_str().unwrap();
        assert!(text.contains(message) && text.contains(file), "{file}: {text}");
        // The binary itself takes a few MiB; the file is 1 GiB. One block
        // (16 MiB at most) may be read, nothing more.
        assert!(peak_kib < 64 * 1024, "{file}: peak RSS {peak_kib} KiB");
        std::fs::remove_file(d.join(file)).unwrap();
    }
}

//! The CLI tests' one fixture: running the built `emr` binary in a
//! temporary directory, and the set-up steps several tests share (keys, a
//! signed record, mined blocks, a chain's status), each through the
//! command line itself.
// Each test file compiles this module and uses part of it.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

pub mod nodes;

pub const EMR: &str = env!("CARGO_BIN_EXE_emr");

/// A fresh directory, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("emr-cli-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What a run of `emr` gave.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Run {
    /// stdout as the one JSON object `--json` promises.
    pub fn json(&self) -> Value {
        let lines: Vec<&str> = self
            .stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        assert_eq!(
            lines.len(),
            1,
            "--json must print exactly one line, got {:?}",
            self.stdout
        );
        serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("not JSON ({e}): {}", lines[0]))
    }
}

pub fn emr_in(cwd: &Path, args: &[&str]) -> Run {
    let out = Command::new(EMR)
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .expect("run emr");
    Run::from(out)
}

/// Runs `emr ARGS --json` and checks the exit code, the `ok` field and the
/// one-line error on stderr; returns the JSON object.
pub fn json_in(cwd: &Path, args: &[&str], code: i32) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let run = emr_in(cwd, &all);
    assert_eq!(run.code, code, "emr {args:?}: {run:?}");
    let value = run.json();
    assert_eq!(value["ok"], Value::Bool(code == 0), "{value}");
    if code == 0 {
        assert!(
            run.stderr.lines().all(|l| !l.starts_with("error:")),
            "{run:?}"
        );
    } else {
        let kind = value["error"]["kind"].as_str().expect("error kind");
        assert_eq!(value["error"]["exit_code"], code);
        let first = run
            .stderr
            .lines()
            .find(|l| l.starts_with("error:"))
            .expect("an error line");
        assert!(first.starts_with(&format!("error: {kind}: ")), "{first}");
    }
    value
}

/// The error kind of a failed `--json` run.
pub fn kind(value: &Value) -> &str {
    value["error"]["kind"].as_str().unwrap_or("")
}

pub fn s<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("no string {key} in {value}"))
}

/// A key file and its address in `role`.
pub fn new_key(dir: &Path, file: &str, curve: &str, role: &str) -> String {
    let made = json_in(dir, &["key", "new", "--curve", curve, "--out", file, "--no-encrypt"], 0);
    assert!(s(&made, "address").starts_with("emrd1"));
    let shown = json_in(dir, &["key", "show", file, "--role", role], 0);
    s(&shown, "address").to_owned()
}

/// An address no key of the tests holds, to mine to.
pub const MINER: &str = "emrm1r3qty3tw2dq3ju5je8fp56vchpq7n99eyksm3p";

/// `emr record sign` with `key` for `patient` as the doctor's record
/// `nonce`, written to `out`.
pub fn sign(d: &Path, key: &str, patient: &str, text: &str, nonce: u64, out: &str) -> Value {
    let nonce = nonce.to_string();
    let args = ["record", "sign", "--key", key, "--patient", patient, "--text", text, "--nonce", &nonce, "--out", out];
    json_in(d, &args, 0)
}

/// `emr record sign` with the nonce that follows the doctor's last record
/// on `chain` or pending there.
pub fn sign_next(d: &Path, key: &str, patient: &str, text: &str, chain: &str, out: &str) -> Value {
    let args = ["record", "sign", "--key", key, "--patient", patient, "--text", text, "--chain", chain, "--out", out];
    json_in(d, &args, 0)
}

/// Mines `blocks` blocks on one thread, the first at `timestamp`, quietly.
pub fn mine(d: &Path, chain: &str, miner: &str, blocks: u64, timestamp: u64) -> Value {
    let (blocks, timestamp) = (blocks.to_string(), timestamp.to_string());
    let args = ["-q", "chain", "mine", chain, "--miner", miner, "--blocks", &blocks, "--threads", "1", "--timestamp", &timestamp];
    json_in(d, &args, 0)
}

pub fn status(d: &Path, chain: &str) -> Value {
    json_in(d, &["chain", "status", chain], 0)
}

/// The prescriptions of a patient's history, in chain order.
pub fn history(d: &Path, chain: &str, patient: &str) -> Vec<String> {
    let h = json_in(d, &["chain", "history", chain, "--patient", patient], 0);
    h["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["prescription"].as_str().unwrap().to_owned())
        .collect()
}

/// A file's permission bits.
pub fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The names in a directory.
pub fn listing(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// The clock, in Unix seconds.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

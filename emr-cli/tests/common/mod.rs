//! Running the built `emr` binary from the tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

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
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
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
    let made = json_in(dir, &["key", "new", "--curve", curve, "--out", file], 0);
    assert!(s(&made, "address").starts_with("emrd1"));
    let shown = json_in(dir, &["key", "show", file, "--role", role], 0);
    s(&shown, "address").to_owned()
}

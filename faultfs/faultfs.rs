//! The Rust side of the fault-injection shim (`faultfs.c`, whose header
//! says what it does): builds it when missing, and arms it through its
//! control file. Included by the fault tests of emr-core, emr-cli and
//! emr-node with `#[path = "../../faultfs/faultfs.rs"] mod faultfs;`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace's root (this file is in `<root>/faultfs`).
fn root() -> PathBuf {
    Path::new(file!()).parent().and_then(Path::parent).map_or_else(
        || PathBuf::from("."),
        |p| if p.is_absolute() { p.to_path_buf() } else { Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(p) },
    )
}

/// `target/faultfs/libfaultfs.so`, compiled from `faultfs/faultfs.c` when
/// missing or older than its source (`make faultfs` builds the same file;
/// `cargo test` alone works too). Written under a temporary name and
/// renamed, so test binaries building it at once never load half a file.
pub fn shim() -> PathBuf {
    let root = root();
    let source = root.join("faultfs").join("faultfs.c");
    let out_dir = root.join("target").join("faultfs");
    let out = out_dir.join("libfaultfs.so");
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if modified(&out).is_some() && modified(&out) >= modified(&source) {
        return out;
    }
    std::fs::create_dir_all(&out_dir).unwrap();
    let partial = out_dir.join(format!(".libfaultfs.so.{}", std::process::id()));
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(&cc)
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-O2", "-fPIC", "-shared", "-o"])
        .arg(&partial)
        .arg(&source)
        .args(["-ldl", "-lpthread"])
        .status()
        .unwrap_or_else(|e| panic!("cannot run {cc} to build the fault shim: {e}"));
    assert!(status.success(), "building {} failed", source.display());
    std::fs::rename(&partial, &out).unwrap();
    out
}

/// Fixed-seed generator (SplitMix64).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// The seed of a campaign: `EMR_FAULT_SEED` when set (to replay a run),
/// else the clock's nanoseconds. Printed by the caller.
pub fn seed() -> u64 {
    std::env::var("EMR_FAULT_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64)
    })
}

/// The shim's modes (faultfs.c).
pub const MODES: [&str; 6] = ["enospc", "eio-write", "eio-sync", "enospc-sync", "eio-read", "short-read"];

/// A directory of files that fail, and the control file that says how.
pub struct Faults {
    pub dir: PathBuf,
    pub control: PathBuf,
    pub log: PathBuf,
    generation: u64,
}

impl Faults {
    /// Faults for files under `dir`; the control file and log go beside it
    /// (`<dir>.faultfs-control`, `<dir>.faultfs-log`), never under it.
    /// Starts off.
    pub fn new(dir: &Path) -> Faults {
        let mut faults = Faults {
            dir: dir.to_path_buf(),
            control: PathBuf::from(format!("{}.faultfs-control", dir.display())),
            log: PathBuf::from(format!("{}.faultfs-log", dir.display())),
            generation: 0,
        };
        faults.off();
        faults
    }

    /// The control and log variables set in this process (a child of a
    /// process that was started with [`Faults::env`]).
    pub fn from_env() -> Faults {
        let var = |name| PathBuf::from(std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set")));
        Faults { dir: var("EMR_FAULTFS_DIR"), control: var("EMR_FAULTFS_CONTROL"), log: var("EMR_FAULTFS_LOG"), generation: 1 }
    }

    /// Environment for a process whose files under `dir` fail.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("LD_PRELOAD".into(), shim().display().to_string()),
            ("EMR_FAULTFS_DIR".into(), self.dir.display().to_string()),
            ("EMR_FAULTFS_CONTROL".into(), self.control.display().to_string()),
            ("EMR_FAULTFS_LOG".into(), self.log.display().to_string()),
        ]
    }

    /// Arms `mode` after `after` bytes (calls for syncs), for `count`
    /// faults (0: until the next arming). Rewritten in place: a process
    /// keeps the file it opened.
    pub fn arm(&mut self, mode: &str, after: u64, count: u64) {
        self.generation += 1;
        std::fs::write(&self.control, format!("{} {mode} {after} {count}\n", self.generation)).unwrap();
    }

    /// Space is back, the disk works.
    pub fn off(&mut self) {
        self.arm("off", 0, 0);
    }

    /// Faults injected so far (the log's lines), by any process.
    pub fn injected(&self) -> usize {
        std::fs::read_to_string(&self.log).map_or(0, |t| t.lines().count())
    }

    /// The log's lines.
    pub fn log_lines(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log).map_or_else(|_| Vec::new(), |t| t.lines().map(str::to_owned).collect())
    }
}

impl Drop for Faults {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.control);
        let _ = std::fs::remove_file(&self.log);
    }
}

//! The files the command line writes (docs/SECURITY.md, "Files the command
//! line writes"): nothing planted beside a target receives a key or lends
//! it its mode, only a regular file is ever replaced and only with
//! `--force`, and `authority new` never writes its public key over its
//! private key.

mod common;

use std::fs;
use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
use std::path::Path;
use std::process::{Command, Stdio};

use common::*;

/// Runs `emr ARGS --json` from a shell that first runs `setup` with `$$`
/// its own pid, which `exec` hands on to `emr`: the way to plant a file at
/// a name derived from the pid of the `emr` process to come.
fn emr_after(cwd: &Path, setup: &str, args: &[&str]) -> Run {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("{setup} && exec \"$0\" \"$@\" --json"))
        .arg(EMR)
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .expect("run sh");
    Run::from(out)
}

fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// A directory with an authority key, a doctor's key, a patient and an
/// empty chain: what every command that writes a file needs.
struct Clinic {
    dir: TempDir,
    patient: String,
    grant_id: String,
    /// The clinic chain's id: entries name the chain they are made for.
    chain_id: String,
}

impl Clinic {
    fn new(name: &str) -> Clinic {
        let dir = TempDir::new(name);
        let d = dir.path();
        json_in(d, &["authority", "new", "--out", "auth.pem"], 0);
        new_key(d, "dr.pem", "secp256k1", "doctor");
        let patient = new_key(d, "patient.pem", "p256", "patient");
        let init = json_in(d, &["chain", "init", "clinic"], 0);
        let chain_id = s(&init["params"], "chain_id").to_owned();
        let grant = json_in(
            d,
            &[
                "grant",
                "--key",
                "auth.pem",
                "--doctor",
                "dr.pem",
                "--licence",
                "GMC 1",
                "--out",
                "first.entry",
                "--chain-id",
                &chain_id,
            ],
            0,
        );
        let grant_id = s(&grant, "entry_id").to_owned();
        Clinic {
            dir,
            patient,
            grant_id,
            chain_id,
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Every command that writes a file, writing `out`, with whether the
    /// file is a private key.
    fn writers(&self, out: &str) -> Vec<(Vec<String>, bool)> {
        let v = |args: &[&str]| args.iter().map(|a| a.to_string()).collect::<Vec<_>>();
        // grant first: the command the issue reproduced the defect with.
        vec![
            (
                v(&[
                    "grant",
                    "--key",
                    "auth.pem",
                    "--doctor",
                    "dr.pem",
                    "--licence",
                    "GMC 1",
                    "--out",
                    out,
                    "--chain-id",
                    &self.chain_id,
                ]),
                false,
            ),
            (v(&["key", "new", "--out", out, "--no-encrypt"]), true),
            (
                v(&["authority", "new", "--out", out, "--public", "other.pub"]),
                true,
            ),
            (
                v(&["authority", "new", "--out", "other.pem", "--public", out]),
                false,
            ),
            (
                v(&[
                    "record",
                    "sign",
                    "--key",
                    "dr.pem",
                    "--patient",
                    &self.patient,
                    "--text",
                    "Warfarin 5mg",
                    "--nonce",
                    "1",
                    "--out",
                    out,
                ]),
                false,
            ),
            (
                v(&[
                    "revoke",
                    "--key",
                    "auth.pem",
                    "--grant",
                    &self.grant_id,
                    "--effective",
                    "1700000000",
                    "--out",
                    out,
                    "--chain-id",
                    &self.chain_id,
                ]),
                false,
            ),
            (v(&["chain", "export", "clinic", out]), false),
        ]
    }
}

fn with_force(args: &[String], force: bool) -> Vec<&str> {
    let mut all: Vec<&str> = args.iter().map(String::as_str).collect();
    if force {
        all.push("--force");
    }
    all
}

/// The old temporary name was `.<name>.tmp-<pid>`, opened without O_EXCL:
/// a symlink planted there received the private key.
#[test]
fn a_symlink_planted_at_the_old_temporary_name_receives_nothing() {
    let clinic = Clinic::new("planted-link");
    let d = clinic.path();
    let run = emr_after(
        d,
        "ln -s \"$PWD/stolen.pem\" \".dr2.pem.tmp-$$\"",
        &["key", "new", "--out", "dr2.pem", "--no-encrypt"],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        !d.join("stolen.pem").exists(),
        "the key went through the symlink"
    );
    let written = fs::symlink_metadata(d.join("dr2.pem")).unwrap();
    assert!(written.file_type().is_file(), "the key file is a symlink");
    assert_eq!(mode(&d.join("dr2.pem")), 0o600);
    assert!(fs::read_to_string(d.join("dr2.pem"))
        .unwrap()
        .starts_with("-----BEGIN PRIVATE KEY-----"));

    // A public output through a symlink to an existing file: that file
    // would have been overwritten.
    fs::write(d.join("victim"), "keep").unwrap();
    let run = emr_after(
        d,
        "ln -s \"$PWD/victim\" \".g.entry.tmp-$$\"",
        &[
            "grant",
            "--key",
            "auth.pem",
            "--doctor",
            "dr.pem",
            "--licence",
            "GMC 1",
            "--out",
            "g.entry",
            "--chain-id",
            &clinic.chain_id,
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(fs::read_to_string(d.join("victim")).unwrap(), "keep");
    assert!(fs::symlink_metadata(d.join("g.entry"))
        .unwrap()
        .file_type()
        .is_file());
}

/// A world-writable file planted at the old temporary name kept its mode:
/// the private key ended up 0666.
#[test]
fn a_file_planted_at_the_old_temporary_name_lends_no_mode() {
    let dir = TempDir::new("planted-file");
    let d = dir.path();
    let run = emr_after(
        d,
        ": > \".dr.pem.tmp-$$\" && chmod 666 \".dr.pem.tmp-$$\"",
        &["key", "new", "--out", "dr.pem", "--no-encrypt"],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(mode(&d.join("dr.pem")), 0o600, "a key file is private");
}

/// A symlink at the target itself is never followed or replaced, with or
/// without --force, whether its pointee exists or not.
#[test]
fn a_symlink_at_the_target_is_refused_and_its_pointee_untouched() {
    let clinic = Clinic::new("target-link");
    let d = clinic.path();
    fs::write(d.join("victim"), "keep").unwrap();
    std::os::unix::fs::symlink(d.join("victim"), d.join("link")).unwrap();
    std::os::unix::fs::symlink(d.join("nowhere"), d.join("dangling")).unwrap();
    let before = listing(d);
    for target in ["link", "dangling"] {
        for (args, _) in clinic.writers(target) {
            for force in [false, true] {
                let args = with_force(&args, force);
                let refused = json_in(d, &args, 2);
                assert_eq!(kind(&refused), "invalid_argument", "{args:?}");
                let message = s(&refused["error"], "message");
                assert!(
                    message.contains("is a symbolic link"),
                    "{args:?}: {message}"
                );
                assert_eq!(listing(d), before, "{args:?} wrote a file");
                assert_eq!(fs::read_to_string(d.join("victim")).unwrap(), "keep");
                assert!(fs::symlink_metadata(d.join(target))
                    .unwrap()
                    .file_type()
                    .is_symlink());
            }
        }
    }
}

/// `--out` named a FIFO or a directory: the FIFO was replaced by a regular
/// file, the directory gave an I/O error after the work was done.
#[test]
fn a_fifo_or_a_directory_at_the_target_is_refused() {
    let clinic = Clinic::new("target-fifo");
    let d = clinic.path();
    let made = Command::new("mkfifo")
        .arg(d.join("fifo"))
        .status()
        .expect("run mkfifo");
    assert!(made.success());
    fs::create_dir(d.join("folder")).unwrap();
    let before = listing(d);
    for (target, what) in [("fifo", "is a FIFO"), ("folder", "is a directory")] {
        for (args, _) in clinic.writers(target) {
            for force in [false, true] {
                let args = with_force(&args, force);
                let refused = json_in(d, &args, 2);
                assert_eq!(kind(&refused), "invalid_argument", "{args:?}");
                let message = s(&refused["error"], "message");
                assert!(message.contains(what), "{args:?}: {message}");
                assert_eq!(listing(d), before, "{args:?} wrote a file");
            }
        }
        assert!(fs::read_dir(d.join("folder")).unwrap().next().is_none());
    }
    let kind_of = |name: &str| fs::symlink_metadata(d.join(name)).unwrap().file_type();
    assert!(kind_of("fifo").is_fifo());
    assert!(kind_of("folder").is_dir());
}

/// `emr grant ... --out /dev/null` as root turned the host's /dev/null
/// into a regular file. Only commands that the code before the fix would
/// also have stopped before writing (a missing key or chain) are run here,
/// so this test can never harm /dev/null; the refusal comes first now.
#[test]
fn dev_null_is_refused_before_anything_is_done() {
    let dir = TempDir::new("dev-null");
    let d = dir.path();
    let encoded = json_in(
        d,
        &["address", "encode", "--role", "patient", &"00".repeat(20)],
        0,
    );
    let patient = s(&encoded, "address");
    for args in [
        &["chain", "export", "nochain", "/dev/null"][..],
        &["chain", "export", "nochain", "/dev/null", "--force"],
        &[
            "grant",
            "--key",
            "missing.pem",
            "--doctor",
            "missing.pem",
            "--licence",
            "x",
            "--out",
            "/dev/null",
            "--chain-id",
            &"00".repeat(32),
        ],
        &[
            "record",
            "sign",
            "--key",
            "missing.pem",
            "--patient",
            patient,
            "--text",
            "x",
            "--nonce",
            "1",
            "--out",
            "/dev/null",
        ],
    ] {
        let refused = json_in(d, args, 2);
        assert_eq!(kind(&refused), "invalid_argument", "{args:?}");
        let message = s(&refused["error"], "message");
        assert!(
            message.contains("/dev/null is a character device"),
            "{args:?}: {message}"
        );
    }
    assert!(fs::symlink_metadata("/dev/null")
        .unwrap()
        .file_type()
        .is_char_device());
    assert!(listing(d).is_empty());
}

/// Only `key new` and `authority new` refused to overwrite; every other
/// command replaced a file silently. Now all refuse without --force, with
/// `key new`'s message and exit code, and with --force the new file has
/// its own mode, not the replaced file's.
#[test]
fn an_existing_file_is_replaced_only_with_force_and_gets_the_promised_mode() {
    let clinic = Clinic::new("target-file");
    let d = clinic.path();
    for (args, private) in clinic.writers("out.file") {
        fs::write(d.join("out.file"), "keep").unwrap();
        set_mode(&d.join("out.file"), 0o666);
        let before = listing(d);
        let refused = json_in(d, &with_force(&args, false), 2);
        assert_eq!(kind(&refused), "invalid_argument", "{args:?}");
        assert_eq!(
            s(&refused["error"], "message"),
            "out.file exists (use --force to replace it)"
        );
        assert_eq!(listing(d), before, "{args:?} wrote a file");
        assert_eq!(fs::read_to_string(d.join("out.file")).unwrap(), "keep");
        assert_eq!(mode(&d.join("out.file")), 0o666);

        let _ = fs::remove_file(d.join("other.pem"));
        let _ = fs::remove_file(d.join("other.pub"));
        let run = emr_after(d, "umask 022", &with_force(&args, true));
        assert_eq!(run.code, 0, "{args:?}: {run:?}");
        assert_ne!(fs::read(d.join("out.file")).unwrap(), b"keep");
        let expected = if private { 0o600 } else { 0o644 };
        assert_eq!(mode(&d.join("out.file")), expected, "{args:?}");
    }

    // The umask narrows a public file's mode, never a key's.
    let run = emr_after(d, "umask 077", &["authority", "new", "--out", "narrow.pem"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(mode(&d.join("narrow.pub")), 0o600);
    let run = emr_after(d, "umask 0", &["key", "new", "--out", "open.pem", "--no-encrypt"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(mode(&d.join("open.pem")), 0o600);

    // A default name is no different: signing the same record again (the
    // same txid, so the same name) does not replace its file by accident.
    let sign = [
        "record",
        "sign",
        "--key",
        "dr.pem",
        "--patient",
        clinic.patient.as_str(),
        "--text",
        "Again",
        "--nonce",
        "2",
    ];
    let first = json_in(d, &sign, 0);
    let again = json_in(d, &sign, 2);
    assert_eq!(
        s(&again["error"], "message"),
        format!("{} exists (use --force to replace it)", s(&first, "file"))
    );
    json_in(d, &with_force(&sign.map(str::to_owned), true), 0);
}

/// `authority new --out board.pub` wrote the private key, then the public
/// key over it (exit 0, private key gone); so did `--public` naming the
/// `--out` file. Now refused before anything is written.
#[test]
fn authority_new_refuses_two_names_of_one_file() {
    let dir = TempDir::new("collide");
    let d = dir.path();
    fs::create_dir(d.join("sub")).unwrap();
    std::os::unix::fs::symlink(".", d.join("here")).unwrap();
    let before = listing(d);
    for args in [
        &["authority", "new", "--out", "board.pub"][..],
        &["authority", "new", "--out", "board.pub", "--force"],
        &["authority", "new", "--out", "k.pem", "--public", "k.pem"],
        &["authority", "new", "--out", "k.pem", "--public", "./k.pem"],
        &[
            "authority",
            "new",
            "--out",
            "k.pem",
            "--public",
            "sub/../k.pem",
        ],
        &[
            "authority",
            "new",
            "--out",
            "k.pem",
            "--public",
            "here/k.pem",
        ],
    ] {
        let refused = json_in(d, args, 2);
        assert_eq!(kind(&refused), "invalid_argument", "{args:?}");
        assert!(
            s(&refused["error"], "message").contains("are the same file"),
            "{refused}"
        );
        assert_eq!(listing(d), before, "{args:?} wrote a file");
    }

    // Two names of one existing file (a hard link), and one file named
    // twice, even with --force.
    fs::write(d.join("a.pem"), "keep").unwrap();
    fs::hard_link(d.join("a.pem"), d.join("b.pem")).unwrap();
    let before = listing(d);
    for args in [
        &[
            "authority",
            "new",
            "--out",
            "a.pem",
            "--public",
            "b.pem",
            "--force",
        ][..],
        &[
            "authority",
            "new",
            "--out",
            "a.pem",
            "--public",
            "here/a.pem",
            "--force",
        ],
    ] {
        let refused = json_in(d, args, 2);
        assert!(
            s(&refused["error"], "message").contains("are the same file"),
            "{refused}"
        );
        assert_eq!(listing(d), before, "{args:?} wrote a file");
        assert_eq!(fs::read_to_string(d.join("a.pem")).unwrap(), "keep");
    }
}

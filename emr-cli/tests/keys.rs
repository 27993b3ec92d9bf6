//! Keys as hospitals keep them: `key new` encrypts (password from
//! `--password-file`, `EMR_KEY_PASSWORD`, or a prompt on a terminal; never
//! a hang without one), every command reads encrypted keys, `key public`
//! hands out the public key, `grant --doctor` takes it, and OpenSSL reads
//! and writes the same files.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::*;
use serde_json::Value;

const PASSWORD: &str = "Gr3y's long passphrase";

/// `emr ARGS --json` with `EMR_KEY_PASSWORD` set (or removed for `None`);
/// checks the exit code and returns the JSON and stderr.
fn with_env(d: &Path, password: Option<&str>, args: &[&str], code: i32) -> (Value, String) {
    let mut command = Command::new(EMR);
    command.args(args).arg("--json").current_dir(d).stdin(Stdio::null());
    match password {
        Some(p) => command.env("EMR_KEY_PASSWORD", p),
        None => command.env_remove("EMR_KEY_PASSWORD"),
    };
    let run = Run::from(command.output().unwrap());
    assert_eq!(run.code, code, "emr {args:?}: {run:?}");
    assert!(!run.stdout.contains(PASSWORD) && !run.stderr.contains(PASSWORD), "a password was printed: {run:?}");
    (run.json(), run.stderr)
}

#[test]
fn key_new_encrypts_and_every_reader_decrypts() {
    let dir = TempDir::new("keys-encrypted");
    let d = dir.path();
    // No password, no terminal: a usage error that says what to do, at once.
    let (refused, _) = with_env(d, None, &["key", "new", "--out", "dr.pem"], 2);
    let message = s(&refused["error"], "message");
    assert!(message.contains("--password-file") && message.contains("EMR_KEY_PASSWORD") && message.contains("--no-encrypt"), "{message}");
    assert!(!d.join("dr.pem").exists());

    let (made, _) = with_env(d, Some(PASSWORD), &["key", "new", "--curve", "p256", "--out", "dr.pem"], 0);
    assert_eq!(made["encrypted"], true);
    let pem = std::fs::read_to_string(d.join("dr.pem")).unwrap();
    assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"), "{pem}");
    assert_eq!(mode(&d.join("dr.pem")), 0o600);

    let (shown, _) = with_env(d, Some(PASSWORD), &["key", "show", "dr.pem"], 0);
    assert_eq!(shown["address"], made["address"]);
    // Without the password: said, with how to give it.
    let (missing, _) = with_env(d, None, &["key", "show", "dr.pem"], 1);
    assert_eq!(kind(&missing), "invalid_key");
    assert!(s(&missing["error"], "message").contains("--password-file"), "{missing}");
    // A wrong one: its own kind.
    let (wrong, _) = with_env(d, Some("not it"), &["key", "show", "dr.pem"], 1);
    assert_eq!(kind(&wrong), "wrong_password");
    assert!(s(&wrong["error"], "message").contains("dr.pem"), "{wrong}");

    // --password-file: its first line (a trailing newline is not part of it).
    std::fs::write(d.join("pw.txt"), format!("{PASSWORD}\n")).unwrap();
    let (by_file, _) = with_env(d, None, &["key", "show", "dr.pem", "--password-file", "pw.txt"], 0);
    assert_eq!(by_file["address"], made["address"]);
    std::fs::write(d.join("empty.txt"), "\n").unwrap();
    let (empty, _) = with_env(d, None, &["key", "show", "dr.pem", "--password-file", "empty.txt"], 2);
    assert_eq!(kind(&empty), "invalid_argument");
    let (absent, _) = with_env(d, None, &["key", "show", "dr.pem", "--password-file", "nope.txt"], 4);
    assert_eq!(kind(&absent), "not_found");

    // Signing with the encrypted key, and sealing to an encrypted patient key.
    with_env(d, Some(PASSWORD), &["key", "new", "--out", "alice.pem", "--role", "patient"], 0);
    let (alice, _) = with_env(d, Some(PASSWORD), &["key", "show", "alice.pem", "--role", "patient", "--address"], 0);
    let alice = s(&alice, "address").to_owned();
    let args = ["record", "sign", "--key", "dr.pem", "--patient", &alice, "--text", "Sertraline 50mg", "--nonce", "1", "--seal-to", "alice.pem", "--out", "rx.rec"];
    with_env(d, Some(PASSWORD), &args, 0);
    let (opened, _) = with_env(d, Some(PASSWORD), &["record", "open", "rx.rec", "--key", "alice.pem"], 0);
    assert_eq!(s(&opened, "prescription"), "Sertraline 50mg");

    // --no-encrypt: plain PKCS#8, no password asked.
    let (plain, _) = with_env(d, None, &["key", "new", "--out", "plain.pem", "--no-encrypt"], 0);
    assert_eq!(plain["encrypted"], false);
    assert!(std::fs::read_to_string(d.join("plain.pem")).unwrap().starts_with("-----BEGIN PRIVATE KEY-----"));
}

#[test]
fn key_new_prints_the_role_asked_for() {
    let dir = TempDir::new("keys-role");
    let d = dir.path();
    for (role, prefix) in [("patient", "emrp1"), ("miner", "emrm1"), ("doctor", "emrd1")] {
        let file = format!("{role}.pem");
        let run = emr_in(d, &["key", "new", "--out", &file, "--role", role, "--no-encrypt"]);
        assert_eq!(run.code, 0, "{run:?}");
        assert!(run.stdout.contains(&format!("{role} address {prefix}")), "{}", run.stdout);
    }
}

#[test]
fn key_public_feeds_grant() {
    let dir = TempDir::new("keys-public");
    let d = dir.path();
    with_env(d, Some(PASSWORD), &["key", "new", "--curve", "secp256k1", "--out", "dr.pem"], 0);
    let (made, _) = with_env(d, Some(PASSWORD), &["key", "public", "dr.pem", "--out", "dr.pub"], 0);
    let (shown, _) = with_env(d, Some(PASSWORD), &["key", "show", "dr.pem"], 0);
    assert_eq!(made["address"], shown["address"]);
    assert_eq!(made["public_key"], shown["public_key"]);
    let text = std::fs::read_to_string(d.join("dr.pub")).unwrap();
    assert!(text.starts_with("-----BEGIN PUBLIC KEY-----\n") && !text.contains("PRIVATE"), "{text}");
    assert_eq!(mode(&d.join("dr.pub")), 0o644);
    // Never over an existing file without --force; a public key file is
    // read as one (no password needed).
    with_env(d, None, &["key", "public", "dr.pem", "--out", "dr.pub"], 2);
    let (again, _) = with_env(d, None, &["key", "public", "dr.pub", "--out", "copy.pub"], 0);
    assert_eq!(again["public_key"], made["public_key"]);

    // The board grants the doctor from the public key file alone.
    json_in(d, &["authority", "new", "--out", "board.pem"], 0);
    let chain_id = "11".repeat(32);
    let (grant, _) = with_env(
        d,
        None,
        &["grant", "--key", "board.pem", "--doctor", "dr.pub", "--licence", "GMC 7012345", "--chain-id", &chain_id, "--out", "g.entry"],
        0,
    );
    assert_eq!(grant["doctor"], shown["address"]);
    // An address is not a key, and the message says so.
    let address = s(&shown, "address").to_owned();
    let (refused, _) = with_env(
        d,
        None,
        &["grant", "--key", "board.pem", "--doctor", &address, "--licence", "x", "--chain-id", &chain_id],
        1,
    );
    assert_eq!(kind(&refused), "invalid_public_key");
    assert!(s(&refused["error"], "message").contains("cannot become one"), "{refused}");
}

/// OpenSSL reads what `emr` writes and the other way round (pyca/cryptography
/// too: python-tests/test_encrypted_keys.py).
#[test]
fn openssl_reads_and_writes_the_same_files() {
    let Ok(version) = Command::new("openssl").arg("version").output() else {
        // No openssl binary: pyca/cryptography is the reference (Python suite).
        return;
    };
    assert!(version.status.success());
    let dir = TempDir::new("keys-openssl");
    let d = dir.path();
    let pass = format!("pass:{PASSWORD}");
    with_env(d, Some(PASSWORD), &["key", "new", "--curve", "p256", "--out", "ours.pem"], 0);
    with_env(d, None, &["key", "public", "ours.pem", "--out", "ours.pub", "--password-file", "/dev/null"], 2);
    std::fs::write(d.join("pw"), PASSWORD).unwrap();
    with_env(d, None, &["key", "public", "ours.pem", "--out", "ours.pub", "--password-file", "pw"], 0);
    let theirs = Command::new("openssl")
        .args(["pkey", "-in", "ours.pem", "-passin", &pass, "-pubout"])
        .current_dir(d)
        .output()
        .unwrap();
    assert!(theirs.status.success(), "{}", String::from_utf8_lossy(&theirs.stderr));
    assert_eq!(String::from_utf8(theirs.stdout).unwrap(), std::fs::read_to_string(d.join("ours.pub")).unwrap());

    for curve in ["prime256v1", "secp256k1"] {
        let file = format!("openssl-{curve}.pem");
        let made = Command::new("openssl")
            .args(["genpkey", "-algorithm", "EC", "-pkeyopt", &format!("ec_paramgen_curve:{curve}"), "-aes-256-cbc", "-pass", &pass, "-out", &file])
            .current_dir(d)
            .output()
            .unwrap();
        assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
        let (shown, _) = with_env(d, Some(PASSWORD), &["key", "show", &file], 0);
        let public = Command::new("openssl")
            .args(["pkey", "-in", &file, "-passin", &pass, "-pubout", "-outform", "DER"])
            .current_dir(d)
            .output()
            .unwrap();
        assert_eq!(s(&shown, "public_key"), hex::encode(public.stdout));
        let (wrong, _) = with_env(d, Some("nope"), &["key", "show", &file], 1);
        assert_eq!(kind(&wrong), "wrong_password");
    }
}

//! `emr node ca new` and `emr node cert new` (docs/NODES.md,
//! "Certificates"): the files they write, that what they write is what a
//! node's TLS accepts, and how they refuse bad input.

mod common;

use std::fs;

use common::*;
use emr_node::pki::Credentials;

fn read(dir: &TempDir, name: &str) -> Vec<u8> {
    fs::read(dir.path().join(name)).unwrap()
}

/// A directory holding a consortium authority, `ca.key` and `ca.crt`.
fn consortium(name: &str) -> TempDir {
    let dir = TempDir::new(name);
    json_in(
        dir.path(),
        &[
            "node",
            "ca",
            "new",
            "--name",
            "Test consortium",
            "--out-key",
            "ca.key",
            "--out-cert",
            "ca.crt",
        ],
        0,
    );
    dir
}

fn cert_new(dir: &TempDir, extra: &[&str], code: i32) -> serde_json::Value {
    let mut args = vec![
        "node", "cert", "new", "--ca", "ca.crt", "--ca-key", "ca.key",
    ];
    args.extend_from_slice(extra);
    json_in(dir.path(), &args, code)
}

#[test]
fn an_authority_and_a_node_certificate_that_a_node_accepts() {
    let dir = TempDir::new("certs-ok");
    let d = dir.path();
    let ca = json_in(
        d,
        &[
            "node",
            "ca",
            "new",
            "--name",
            "St Mary's consortium",
            "--out-key",
            "ca.key",
            "--out-cert",
            "ca.crt",
        ],
        0,
    );
    assert_eq!(s(&ca, "command"), "node ca new");
    assert_eq!(s(&ca, "key_file"), "ca.key");
    assert_eq!(s(&ca, "cert_file"), "ca.crt");
    assert_eq!(s(&ca, "subject"), "CN=St Mary's consortium");
    assert_eq!(s(&ca, "issuer"), "CN=St Mary's consortium");
    assert_eq!(ca["names"], serde_json::json!([]));
    let ten_years = ca["not_after"].as_i64().unwrap() - now() as i64;
    assert!((3649 * 86_400..=3650 * 86_400).contains(&ten_years), "{ca}");

    let node = json_in(
        d,
        &[
            "node",
            "cert",
            "new",
            "--ca",
            "ca.crt",
            "--ca-key",
            "ca.key",
            "--name",
            "node-a.example",
            "127.0.0.1",
            "--name",
            "::1",
            "--out-key",
            "a.key",
            "--out-cert",
            "a.crt",
        ],
        0,
    );
    assert_eq!(s(&node, "subject"), "CN=node-a.example");
    assert_eq!(s(&node, "issuer"), "CN=St Mary's consortium");
    assert_eq!(
        node["names"],
        serde_json::json!(["node-a.example", "127.0.0.1", "::1"])
    );
    let two_years = node["not_after"].as_i64().unwrap() - now() as i64;
    assert!((729 * 86_400..=730 * 86_400).contains(&two_years), "{node}");
    let sha256 = s(&node, "sha256");
    assert!(
        sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_hexdigit()),
        "{sha256}"
    );
    assert_ne!(sha256, s(&ca, "sha256"));

    // Keys as keys are written, certificates as public files.
    for key in ["ca.key", "a.key"] {
        assert_eq!(mode(&d.join(key)), 0o600, "{key}");
        assert!(String::from_utf8(read(&dir, key))
            .unwrap()
            .starts_with("-----BEGIN PRIVATE KEY-----"));
    }
    for cert in ["ca.crt", "a.crt"] {
        let m = mode(&d.join(cert));
        assert!(m & 0o400 != 0 && m & 0o133 == 0, "{cert}: {m:o}");
        assert!(String::from_utf8(read(&dir, cert))
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----"));
    }

    // What a node will load: the certificate verifies against the
    // authority, and the TLS settings build from the three files.
    let creds = Credentials::from_pem(
        &read(&dir, "ca.crt"),
        &read(&dir, "a.crt"),
        &read(&dir, "a.key"),
    )
    .unwrap();
    creds.server_config().unwrap();
    creds.client_config().unwrap();
    // Another consortium's authority does not vouch for it.
    let other = consortium("certs-other");
    let e = Credentials::from_pem(
        &read(&other, "ca.crt"),
        &read(&dir, "a.crt"),
        &read(&dir, "a.key"),
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("CN=node-a.example"), "{e}");
}

#[test]
fn the_text_output_names_the_files_and_never_shows_a_key() {
    let dir = consortium("certs-text");
    let run = emr_in(
        dir.path(),
        &[
            "node",
            "cert",
            "new",
            "--ca",
            "ca.crt",
            "--ca-key",
            "ca.key",
            "--name",
            "localhost",
            "--out-key",
            "n.key",
            "--out-cert",
            "n.crt",
            "--days",
            "30",
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("n.key")
            && run.stdout.contains("mode 0600")
            && run.stdout.contains("n.crt"),
        "{run:?}"
    );
    assert!(run.stdout.contains("names    localhost"), "{run:?}");
    for (file, what) in [("n.key", "node"), ("ca.key", "authority")] {
        let key = String::from_utf8(read(&dir, file)).unwrap();
        let body: Vec<&str> = key.lines().filter(|l| !l.starts_with("-----")).collect();
        for line in body {
            assert!(
                !run.stdout.contains(line) && !run.stderr.contains(line),
                "{what} key printed"
            );
        }
    }
    assert!(!run.stdout.contains("PRIVATE KEY"));
}

#[test]
fn files_are_written_by_the_rules_for_keys() {
    let dir = consortium("certs-files");
    let d = dir.path();
    let before = listing(d);
    // One file under two names would lose the key to the certificate.
    let e = cert_new(
        &dir,
        &[
            "--name",
            "a.example",
            "--out-key",
            "n.pem",
            "--out-cert",
            "./n.pem",
        ],
        2,
    );
    assert_eq!(kind(&e), "invalid_argument");
    assert!(s(&e["error"], "message").contains("same file"), "{e}");
    let e = json_in(
        d,
        &[
            "node",
            "ca",
            "new",
            "--name",
            "x",
            "--out-key",
            "c.pem",
            "--out-cert",
            "c.pem",
        ],
        2,
    );
    assert_eq!(kind(&e), "invalid_argument");
    assert_eq!(listing(d), before);

    // Never replaced without --force.
    let e = json_in(
        d,
        &[
            "node",
            "ca",
            "new",
            "--name",
            "x",
            "--out-key",
            "ca.key",
            "--out-cert",
            "new.crt",
        ],
        2,
    );
    assert!(
        s(&e["error"], "message").contains("exists (use --force"),
        "{e}"
    );
    let e = cert_new(
        &dir,
        &[
            "--name",
            "a.example",
            "--out-key",
            "n.key",
            "--out-cert",
            "ca.crt",
        ],
        2,
    );
    assert!(s(&e["error"], "message").contains("ca.crt exists"), "{e}");
    assert_eq!(listing(d), before);
    cert_new(
        &dir,
        &[
            "--name",
            "a.example",
            "--out-key",
            "n.key",
            "--out-cert",
            "n.crt",
        ],
        0,
    );
    let first = read(&dir, "n.crt");
    cert_new(
        &dir,
        &[
            "--name",
            "a.example",
            "--out-key",
            "n.key",
            "--out-cert",
            "n.crt",
            "--force",
        ],
        0,
    );
    assert_ne!(read(&dir, "n.crt"), first);
    assert_eq!(mode(&d.join("n.key")), 0o600);

    // Only a regular file, even with --force: a link's target is untouched.
    std::os::unix::fs::symlink("ca.key", d.join("link.key")).unwrap();
    let e = cert_new(
        &dir,
        &[
            "--name",
            "a.example",
            "--out-key",
            "link.key",
            "--out-cert",
            "l.crt",
            "--force",
        ],
        2,
    );
    assert!(s(&e["error"], "message").contains("symbolic link"), "{e}");
    assert!(!d.join("l.crt").exists());
    Credentials::from_pem(
        &read(&dir, "ca.crt"),
        &read(&dir, "n.crt"),
        &read(&dir, "n.key"),
    )
    .unwrap();
}

#[test]
fn bad_input_is_refused_with_its_kind_and_nothing_is_written() {
    let dir = consortium("certs-bad");
    let d = dir.path();
    json_in(
        d,
        &[
            "node",
            "ca",
            "new",
            "--name",
            "Other",
            "--out-key",
            "other.key",
            "--out-cert",
            "other.crt",
        ],
        0,
    );
    cert_new(
        &dir,
        &[
            "--name",
            "node.example",
            "--out-key",
            "node.key",
            "--out-cert",
            "node.crt",
        ],
        0,
    );
    fs::write(
        d.join("garbage.key"),
        "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let before = listing(d);
    let out = ["--out-key", "n.key", "--out-cert", "n.crt"];
    let cases: &[(&[&str], i32, &str, &str)] = &[
        // No name at all.
        (&[], 2, "usage", "--name"),
        (&["--name", "*.example"], 2, "invalid_argument", "wildcards"),
        (
            &["--name", "bad name"],
            2,
            "invalid_argument",
            "neither a DNS name",
        ),
        (
            &["--name", "a.example", "--days", "0"],
            2,
            "invalid_argument",
            "1 to",
        ),
        (
            &["--name", "a.example", "--days", "3651"],
            2,
            "invalid_argument",
            "outlive the authority",
        ),
        (
            &["--name", "a.example", "--ca-key", "garbage.key"],
            1,
            "invalid_key",
            "garbage.key",
        ),
        (
            &["--name", "a.example", "--ca-key", "missing.key"],
            4,
            "not_found",
            "missing.key",
        ),
        (
            &["--name", "a.example", "--ca-key", "other.key"],
            1,
            "invalid_key",
            "not the key of the authority",
        ),
        (
            &[
                "--name",
                "a.example",
                "--ca",
                "node.crt",
                "--ca-key",
                "node.key",
            ],
            1,
            "invalid_certificate",
            "not a certificate authority",
        ),
        (
            &["--name", "a.example", "--ca", "ca.key"],
            1,
            "invalid_certificate",
            "ca.key: not a PEM certificate",
        ),
        (
            &["--name", "a.example", "--ca", "missing.crt"],
            4,
            "not_found",
            "missing.crt",
        ),
    ];
    for (extra, code, want, says) in cases {
        let mut args = vec!["node", "cert", "new"];
        // A later --ca or --ca-key would be a second value: clap refuses
        // those, so the defaults come only when the case gives none.
        if !extra.contains(&"--ca") {
            args.extend(["--ca", "ca.crt"]);
        }
        if !extra.contains(&"--ca-key") {
            args.extend(["--ca-key", "ca.key"]);
        }
        args.extend_from_slice(extra);
        args.extend_from_slice(&out);
        let e = json_in(d, &args, *code);
        assert_eq!(kind(&e), *want, "{extra:?}: {e}");
        assert!(s(&e["error"], "message").contains(says), "{extra:?}: {e}");
        assert_eq!(listing(d), before, "{extra:?} left a file");
    }
    let e = json_in(
        d,
        &[
            "node",
            "ca",
            "new",
            "--out-key",
            "n.key",
            "--out-cert",
            "n.crt",
        ],
        2,
    );
    assert!(s(&e["error"], "message").contains("--name"), "{e}");
    let e = json_in(
        d,
        &[
            "node",
            "ca",
            "new",
            "--name",
            " ",
            "--out-key",
            "n.key",
            "--out-cert",
            "n.crt",
        ],
        2,
    );
    assert_eq!(kind(&e), "invalid_argument");
    assert_eq!(listing(d), before);
}

//! Times a person can read: every time argument takes Unix seconds or ISO
//! 8601 and stores the same integer; output shows ISO 8601 in UTC beside
//! the integers, and a grant without an end says so.

mod common;

use common::*;
use emr_core::Entry;
use serde_json::Value;

/// 2026-01-01T08:00:00Z.
const T: u64 = 1_767_254_400;
/// 2026-01-01T00:00:00Z.
const DAY: u64 = 1_767_225_600;

/// Each way of writing `DAY` or `T`, and the integer it must give; in the
/// order of time, as blocks are mined at them one after another.
const FORMS: [(&str, u64); 8] = [
    ("2026-01-01", DAY),
    ("1767225600", DAY),
    ("1767254400", T),
    ("2026-01-01T08:00:00Z", T),
    ("2026-01-01t08:00:00z", T),
    ("2026-01-01 08:00:00Z", T),
    ("2026-01-01T09:30:00+01:30", T),
    ("2026-01-01T03:00:00-05:00", T),
];

const BAD: [&str; 9] = [
    "2026-13-01",
    "2026-01-01T08:00",
    "2026-01-01T08:00:00",
    "2026-01-01X08:00:00Z",
    "2026-01-01T08:00:00.5Z",
    "1969-12-31",
    "-1",
    "tomorrow",
    "18446744073709551616",
];

fn iso(t: u64) -> &'static str {
    match t {
        T => "2026-01-01T08:00:00Z",
        DAY => "2026-01-01T00:00:00Z",
        _ => unreachable!(),
    }
}

struct Setup {
    dir: TempDir,
    chain_id: String,
    miner: String,
    doctor: String,
    patient: String,
}

/// An authority, a doctor, a patient and a miner; `clinic` has the
/// authority, `plain` has none.
fn setup(name: &str) -> Setup {
    let dir = TempDir::new(name);
    let d = dir.path();
    json_in(d, &["authority", "new", "--out", "auth.pem"], 0);
    let doctor = new_key(d, "dr.pem", "secp256k1", "doctor");
    let patient = new_key(d, "patient.pem", "p256", "patient");
    let miner = new_key(d, "miner.pem", "secp256k1", "miner");
    let init = json_in(
        d,
        &[
            "chain",
            "init",
            "clinic",
            "--initial-difficulty",
            "1",
            "--authority",
            "auth.pub",
        ],
        0,
    );
    let chain_id = s(&init["params"], "chain_id").to_owned();
    json_in(
        d,
        &["chain", "init", "plain", "--initial-difficulty", "1"],
        0,
    );
    Setup {
        dir,
        chain_id,
        miner,
        doctor,
        patient,
    }
}

fn grant_args<'a>(chain_id: &'a str, out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "grant",
        "--key",
        "auth.pem",
        "--doctor",
        "dr.pem",
        "--licence",
        "GMC 1",
        "--chain-id",
        chain_id,
        "--out",
        out,
    ];
    args.extend(extra);
    args
}

fn read_entry(dir: &TempDir, file: &str) -> Entry {
    Entry::from_bytes(&std::fs::read(dir.0.join(file)).unwrap()).unwrap()
}

#[test]
fn every_form_of_every_flag_stores_the_same_integer() {
    let setup = setup("times-forms");
    let (dir, d) = (&setup.dir, setup.dir.path());
    for (i, (text, t)) in FORMS.iter().enumerate() {
        let out = format!("g{i}.entry");
        let g = json_in(
            d,
            &grant_args(
                &setup.chain_id,
                &out,
                &["--not-before", text, "--not-after", text],
            ),
            0,
        );
        assert_eq!(
            (g["not_before"].as_u64(), g["not_after"].as_u64()),
            (Some(*t), Some(*t)),
            "{text}: {g}"
        );
        assert_eq!(
            (s(&g, "not_before_iso"), s(&g, "not_after_iso")),
            (iso(*t), iso(*t)),
            "{text}"
        );
        match read_entry(dir, &out) {
            Entry::Grant(grant) => {
                assert_eq!((grant.not_before, grant.not_after), (*t, *t), "{text}")
            }
            other => panic!("{other:?}"),
        }

        let out = format!("r{i}.entry");
        let grant_id = "11".repeat(32);
        let r = json_in(
            d,
            &[
                "revoke",
                "--key",
                "auth.pem",
                "--grant",
                &grant_id,
                "--effective",
                text,
                "--chain-id",
                &setup.chain_id,
                "--out",
                &out,
            ],
            0,
        );
        assert_eq!(
            (r["effective"].as_u64(), s(&r, "effective_iso")),
            (Some(*t), iso(*t)),
            "{text}: {r}"
        );
        match read_entry(dir, &out) {
            Entry::Revocation(revocation) => assert_eq!(revocation.effective, *t, "{text}"),
            other => panic!("{other:?}"),
        }

        // A block may have its parent's time, so one chain takes them all.
        let mined = json_in(
            d,
            &[
                "-q",
                "chain",
                "mine",
                "plain",
                "--miner",
                &setup.miner,
                "--threads",
                "1",
                "--timestamp",
                text,
            ],
            0,
        );
        let block = &mined["blocks"][0];
        assert_eq!(
            (block["timestamp"].as_u64(), s(block, "timestamp_iso")),
            (Some(*t), iso(*t)),
            "{text}: {mined}"
        );
    }
}

#[test]
fn bad_forms_are_usage_errors_naming_the_flag() {
    let setup = setup("times-bad");
    let d = setup.dir.path();
    let grant_id = "11".repeat(32);
    for bad in BAD {
        for (flag, args) in [
            (
                "--not-before",
                grant_args(&setup.chain_id, "x.entry", &["--not-before", bad]),
            ),
            (
                "--not-after",
                grant_args(&setup.chain_id, "x.entry", &["--not-after", bad]),
            ),
            (
                "--effective",
                vec![
                    "revoke",
                    "--key",
                    "auth.pem",
                    "--grant",
                    &grant_id,
                    "--effective",
                    bad,
                    "--chain-id",
                    &setup.chain_id,
                ],
            ),
            (
                "--timestamp",
                vec![
                    "chain",
                    "mine",
                    "plain",
                    "--miner",
                    &setup.miner,
                    "--timestamp",
                    bad,
                ],
            ),
        ] {
            let refused = json_in(d, &args, 2);
            assert_eq!(kind(&refused), "usage", "{flag} {bad}");
            let message = s(&refused["error"], "message");
            assert!(
                message.contains(&format!("'{flag} <TIME>'")),
                "{flag} {bad}: {message}"
            );
            let why = match bad {
                "1969-12-31" | "-1" => "before 1970",
                "18446744073709551616" => "largest time",
                // The accepted forms.
                _ => "2026-01-01T08:00:00Z",
            };
            assert!(message.contains(why), "{message}");
            let human = emr_in(d, &args);
            assert_eq!(human.code, 2);
            assert!(
                human.stderr.starts_with("error: usage: ") && human.stderr.contains(flag),
                "{}",
                human.stderr
            );
        }
    }
    assert!(!d.join("x.entry").exists());
    // `never` is the end's word only.
    let refused = json_in(
        d,
        &grant_args(&setup.chain_id, "x.entry", &["--not-before", "never"]),
        2,
    );
    assert!(s(&refused["error"], "message").contains("--not-before"));
}

#[test]
fn no_end_is_shown_as_such() {
    let setup = setup("times-no-end");
    let d = setup.dir.path();
    for extra in [
        &[][..],
        &["--not-after", "never"][..],
        &["--not-after", "18446744073709551615"][..],
    ] {
        let g = json_in(
            d,
            &grant_args(
                &setup.chain_id,
                "g.entry",
                &[&["--force"][..], extra].concat(),
            ),
            0,
        );
        assert_eq!(g["not_after"].as_u64(), Some(u64::MAX), "{extra:?}");
        assert_eq!(g["not_after_iso"], Value::Null);
        assert_eq!(
            (g["not_before"].as_u64(), s(&g, "not_before_iso")),
            (Some(0), "1970-01-01T00:00:00Z")
        );
    }
    let human = emr_in(
        d,
        &grant_args(
            &setup.chain_id,
            "h.entry",
            &["--not-before", "2026-01-01T08:00:00Z"],
        ),
    );
    assert_eq!(human.code, 0, "{human:?}");
    let first = human.stdout.lines().next().unwrap();
    assert!(
        first.ends_with(" (GMC 1) from 2026-01-01T08:00:00Z to no end"),
        "{first}"
    );
    assert!(!human.stdout.contains(&u64::MAX.to_string()));
}

#[test]
fn output_shows_utc_dates() {
    let setup = setup("times-output");
    let d = setup.dir.path();
    let (doctor, patient, miner) = (&setup.doctor, &setup.patient, &setup.miner);

    // The grant on the chain, then its revocation from a later time.
    let granted = emr_in(
        d,
        &[
            "grant",
            "--key",
            "auth.pem",
            "--doctor",
            "dr.pem",
            "--licence",
            "GMC 1",
            "--not-before",
            "2026-01-01",
            "--chain",
            "clinic",
        ],
    );
    assert_eq!(granted.code, 0, "{granted:?}");
    let mine = |chain: &str, at: &str| {
        let run = emr_in(
            d,
            &[
                "-q",
                "chain",
                "mine",
                chain,
                "--miner",
                miner,
                "--threads",
                "1",
                "--timestamp",
                at,
            ],
        );
        assert_eq!(run.code, 0, "{run:?}");
        run.stdout
    };
    let mined = mine("clinic", "2026-01-01T08:00:00Z");
    assert!(
        mined.starts_with("block 0 ") && mined.contains(" at 2026-01-01T08:00:00Z ("),
        "{mined}"
    );
    let revoked = emr_in(
        d,
        &[
            "revoke",
            "--key",
            "auth.pem",
            "--grant",
            s(
                &json_in(d, &["chain", "doctor", "clinic", "--doctor", doctor], 0)["grants"][0],
                "grant_id",
            ),
            "--effective",
            "2026-02-01T00:00:00+01:00",
            "--chain",
            "clinic",
        ],
    );
    assert_eq!(revoked.code, 0, "{revoked:?}");
    assert!(
        revoked
            .stdout
            .lines()
            .next()
            .unwrap()
            .ends_with(" from 2026-01-31T23:00:00Z"),
        "{}",
        revoked.stdout
    );
    mine("clinic", "2026-02-01T00:00:00Z");

    let listed = emr_in(d, &["chain", "doctor", "clinic", "--doctor", doctor]);
    assert!(
        listed.stdout.contains(
            ": GMC 1 from 2026-01-01T00:00:00Z to no end, revoked from 2026-01-31T23:00:00Z"
        ),
        "{}",
        listed.stdout
    );
    let grant = &json_in(d, &["chain", "doctor", "clinic", "--doctor", doctor], 0)["grants"][0];
    assert_eq!(
        (grant["not_before"].as_u64(), s(grant, "not_before_iso")),
        (Some(DAY), "2026-01-01T00:00:00Z")
    );
    assert_eq!(
        (grant["not_after"].as_u64(), &grant["not_after_iso"]),
        (Some(u64::MAX), &Value::Null)
    );
    assert_eq!(
        (
            grant["revoked_effective"].as_u64(),
            s(grant, "revoked_effective_iso")
        ),
        (Some(1_769_900_400), "2026-01-31T23:00:00Z")
    );

    // A record's block time in history, doctor and find.
    let signed = json_in(
        d,
        &[
            "record",
            "sign",
            "--key",
            "dr.pem",
            "--patient",
            patient,
            "--text",
            "Aspirin",
            "--nonce",
            "1",
            "--out",
            "r.rec",
        ],
        0,
    );
    let txid = s(&signed, "txid").to_owned();
    json_in(d, &["chain", "submit", "plain", "r.rec"], 0);
    mine("plain", "2026-01-01T09:00:00+01:00");

    let history = emr_in(d, &["chain", "history", "plain", "--patient", patient]);
    let line = history.stdout.lines().nth(1).unwrap();
    assert!(
        line.starts_with("height    0  2026-01-01T08:00:00Z  nonce   1  "),
        "{line}"
    );
    let history = json_in(d, &["chain", "history", "plain", "--patient", patient], 0);
    let record = &history["records"][0];
    assert_eq!(
        (record["timestamp"].as_u64(), s(record, "timestamp_iso")),
        (Some(T), "2026-01-01T08:00:00Z")
    );

    let by_doctor = emr_in(d, &["chain", "doctor", "plain", "--doctor", doctor]);
    assert!(
        by_doctor
            .stdout
            .lines()
            .any(|l| l.starts_with("height    0  2026-01-01T08:00:00Z  ")),
        "{}",
        by_doctor.stdout
    );
    assert_eq!(
        s(
            &json_in(d, &["chain", "doctor", "plain", "--doctor", doctor], 0)["records"][0],
            "timestamp_iso"
        ),
        iso(T)
    );

    let found = emr_in(d, &["chain", "find", "plain", &txid]);
    assert!(
        found
            .stdout
            .contains(" at height 0, 2026-01-01T08:00:00Z\n"),
        "{}",
        found.stdout
    );
    let found = json_in(d, &["chain", "find", "plain", &txid], 0);
    assert_eq!(
        (
            found["record"]["timestamp"].as_u64(),
            s(&found["record"], "timestamp_iso")
        ),
        (Some(T), iso(T))
    );
}

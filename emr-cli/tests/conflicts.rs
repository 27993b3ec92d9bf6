//! SPEC 9.3 through the `emr` binary: the two-site story. A doctor signs at
//! site C and, before the sites exchange blocks, at site D with the same
//! nonce; C imports D's heavier export. C's prescription is not lost
//! silently: the import says so and `chain conflicts` lists it, with the
//! record and block that took its place, until dismissed.

mod common;

use common::*;

#[test]
fn a_prescription_lost_in_a_reorganisation_is_listed_as_a_conflict() {
    const T0: u64 = 1_700_000_000;
    let dir = TempDir::new("conflicts-two-sites");
    let d = dir.path();
    new_key(d, "dr.pem", "secp256k1", "doctor");
    let patient = new_key(d, "patient.pem", "p256", "patient");
    let miner = new_key(d, "miner.pem", "secp256k1", "miner");
    let salt = "000102030405060708090a0b0c0d0e0f";
    for site in ["c", "d"] {
        json_in(d, &["chain", "init", site, "--initial-difficulty", "1", "--salt", salt], 0);
    }
    // One genesis for both sites.
    mine(d, "c", &miner, 1, T0);
    json_in(d, &["chain", "export", "c", "genesis.blocks"], 0);
    json_in(d, &["chain", "import", "d", "genesis.blocks"], 0);

    let at_c = sign(d, "dr.pem", &patient, "Insulin glargine 10 units", 1, "c.rec");
    json_in(d, &["chain", "submit", "c", "c.rec"], 0);
    mine(d, "c", &miner, 1, T0 + 12);
    let at_d = sign(d, "dr.pem", &patient, "Metformin 500mg", 1, "d.rec");
    json_in(d, &["chain", "submit", "d", "d.rec"], 0);
    mine(d, "d", &miner, 2, T0 + 12);
    let none = json_in(d, &["chain", "conflicts", "c"], 0);
    assert_eq!(none["conflicts"].as_array().unwrap().len(), 0);

    json_in(d, &["chain", "export", "d", "d.blocks", "--from", "1"], 0);
    let imported = json_in(d, &["chain", "import", "c", "d.blocks"], 0);
    assert_eq!((imported["reorganized"].as_u64(), imported["conflicts"].as_u64()), (Some(1), Some(1)));
    let text = emr_in(d, &["chain", "import", "c", "d.blocks"]);
    assert!(text.stdout.contains("already known"), "{}", text.stdout);

    let listed = json_in(d, &["chain", "conflicts", "c"], 0);
    let conflicts = listed["conflicts"].as_array().unwrap();
    assert_eq!(conflicts.len(), 1);
    assert_eq!(s(&conflicts[0], "txid"), s(&at_c, "txid"));
    assert_eq!(s(&conflicts[0], "prescription"), "Insulin glargine 10 units");
    assert_eq!(s(&conflicts[0], "replaced_by"), s(&at_d, "txid"));
    assert_eq!(conflicts[0]["height"], 1);
    // Not pending, not in the history, and its nonce is taken.
    assert_eq!(json_in(d, &["chain", "status", "c"], 0)["pending"], 0);
    let history = json_in(d, &["chain", "history", "c", "--patient", &patient], 0);
    let texts: Vec<&str> = history["records"].as_array().unwrap().iter().map(|r| s(r, "prescription")).collect();
    assert_eq!(texts, vec!["Metformin 500mg"]);
    assert_eq!(kind(&json_in(d, &["chain", "submit", "c", "c.rec"], 1)), "invalid_nonce");
    json_in(d, &["chain", "check", "c"], 0);

    // The doctor re-signs with a new nonce; the operator dismisses.
    let txid = s(&at_c, "txid").to_owned();
    json_in(d, &["chain", "conflicts", "c", "--dismiss", &txid], 0);
    assert_eq!(json_in(d, &["chain", "conflicts", "c"], 0)["conflicts"].as_array().unwrap().len(), 0);
    assert_eq!(kind(&json_in(d, &["chain", "conflicts", "c", "--dismiss", &txid], 4)), "not_found");
    assert_eq!(kind(&json_in(d, &["chain", "conflicts", "c", "--dismiss", "xyz"], 2)), "invalid_argument");
}

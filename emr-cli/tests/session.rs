//! A scripted session: two doctors and a patient, two miners on two chain
//! directories, blocks exchanged by `export` / `import` until both chains
//! agree on the same tip and the patient's whole history.

mod common;

use common::*;

#[test]
fn two_doctors_two_miners_two_chains() {
    let dir = TempDir::new("session");
    let d = dir.path();
    let grey = new_key(d, "grey.pem", "secp256k1", "doctor");
    let house = new_key(d, "house.pem", "p256", "doctor");
    let alice = new_key(d, "alice.pem", "p256", "patient");
    let miner_a = new_key(d, "miner-a.pem", "secp256k1", "miner");
    let miner_b = new_key(d, "miner-b.pem", "secp256k1", "miner");
    for chain in ["north", "south"] {
        json_in(
            d,
            &["chain", "init", chain, "--initial-difficulty", "20"],
            0,
        );
    }

    // Morning: Dr Grey works at the north site, Dr House at the south one.
    sign_next(
        d,
        "grey.pem",
        &alice,
        "Metformin 500mg",
        "north",
        "grey-1.rec",
    );
    json_in(d, &["chain", "submit", "north", "grey-1.rec"], 0);
    sign_next(
        d,
        "grey.pem",
        &alice,
        "Metformin 850mg",
        "north",
        "grey-2.rec",
    );
    json_in(d, &["chain", "submit", "north", "grey-2.rec"], 0);
    sign_next(
        d,
        "house.pem",
        &alice,
        "Vicodin 5mg",
        "south",
        "house-1.rec",
    );
    json_in(d, &["chain", "submit", "south", "house-1.rec"], 0);

    // Each site's miner mines: two blocks north, one south.
    mine(d, "north", &miner_a, 1, 1_700_000_000);
    mine(d, "north", &miner_a, 1, 1_700_000_012);
    mine(d, "south", &miner_b, 1, 1_700_000_005);
    assert_ne!(status(d, "north")["tip"], status(d, "south")["tip"]);

    // Exchange blocks until both agree; a site whose chain lost its records
    // to a heavier branch mines them again.
    let mut rounds = 0;
    let mut clock = 1_700_000_100u64;
    loop {
        rounds += 1;
        assert!(rounds <= 4, "the two chains never agreed");
        // Each round replaces the last round's block files.
        json_in(d, &["chain", "export", "north", "north.emr", "--force"], 0);
        json_in(d, &["chain", "import", "south", "north.emr"], 0);
        json_in(d, &["chain", "export", "south", "south.emr", "--force"], 0);
        json_in(d, &["chain", "import", "north", "south.emr"], 0);
        let (n, s) = (status(d, "north"), status(d, "south"));
        if n["tip"] == s["tip"] && n["pending"] == 0 && s["pending"] == 0 {
            break;
        }
        for (chain, miner) in [("north", &miner_a), ("south", &miner_b)] {
            if status(d, chain)["pending"] != 0 {
                mine(d, chain, miner, 1, clock);
                clock += 12;
            }
        }
    }
    assert!(
        rounds >= 2,
        "south's record had to be mined again on north's branch"
    );

    // Both chains hold the same blocks and the patient's whole history.
    let (n, s) = (status(d, "north"), status(d, "south"));
    assert_eq!(
        (n["blocks"].as_u64(), &n["total_difficulty"]),
        (s["blocks"].as_u64(), &s["total_difficulty"])
    );
    let mut expected = history(d, "north", &alice);
    assert_eq!(history(d, "south", &alice), expected);
    expected.sort();
    assert_eq!(
        expected,
        ["Metformin 500mg", "Metformin 850mg", "Vicodin 5mg"]
    );
    for chain in ["north", "south"] {
        assert_eq!(
            json_in(d, &["chain", "doctor", chain, "--doctor", &grey], 0)["nonce"],
            2
        );
        assert_eq!(
            json_in(d, &["chain", "doctor", chain, "--doctor", &house], 0)["nonce"],
            1
        );
        assert_eq!(
            json_in(d, &["chain", "check", chain], 0)["blocks_ok"],
            n["blocks"]
        );
    }
    // Every record file verifies against either chain, on it.
    for chain in ["north", "south"] {
        let v = json_in(
            d,
            &[
                "record",
                "verify",
                "grey-1.rec",
                "grey-2.rec",
                "house-1.rec",
                "--chain",
                chain,
            ],
            0,
        );
        assert!(
            v["records"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["height"].is_u64()),
            "{v}"
        );
    }
    // The next record of each doctor gets its nonce from either chain.
    assert_eq!(
        sign_next(
            d,
            "house.pem",
            &alice,
            "Ibuprofen 400mg",
            "north",
            "house-2.rec"
        )["nonce"],
        2
    );
}

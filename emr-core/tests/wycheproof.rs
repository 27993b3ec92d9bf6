//! Project Wycheproof (`shared/vectors/wycheproof`) through the library's own
//! paths: ECDSA signatures through [`PublicKey::verify`] (SHA-256 of the
//! message, strict DER, the check a record's signature gets), ECDH public
//! keys through [`PublicKey::from_spki_der`] (SPEC section 2: an uncompressed
//! point in a named-curve SPKI, nothing else).
//!
//! Every case is counted and the totals are asserted, so a file that fails to
//! load or a loop that skips cannot pass.

use std::collections::BTreeMap;
use std::path::PathBuf;

use emr_core::{Curve, PublicKey};
use serde_json::Value;

fn wycheproof(name: &str) -> Value {
    let dir = std::env::var_os("EMR_VECTORS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors"));
    let path = dir.join("wycheproof").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn hex_field(test: &Value, field: &str) -> Vec<u8> {
    hex::decode(test[field].as_str().unwrap_or_else(|| panic!("no {field} in {test}"))).unwrap()
}

fn tests(file: &Value) -> impl Iterator<Item = (&Value, &Value)> {
    file["testGroups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|group| group["tests"].as_array().unwrap().iter().map(move |t| (group, t)))
}

/// Outcomes of one ECDSA file: (valid verified, invalid refused, wrong ones).
fn run_ecdsa(name: &str, curve: Curve) -> (usize, usize, Vec<String>) {
    let file = wycheproof(name);
    let declared = file["numberOfTests"].as_u64().unwrap() as usize;
    let (mut valid, mut invalid, mut wrong, mut seen) = (0, 0, Vec::new(), 0);
    for (group, test) in tests(&file) {
        seen += 1;
        assert_eq!(group["sha"], "SHA-256");
        let spki = hex::decode(group["publicKeyDer"].as_str().unwrap()).unwrap();
        let key = PublicKey::from_spki_der(&spki).expect("every ECDSA group key is a valid uncompressed SPKI");
        assert_eq!(key.curve(), curve);
        let (msg, sig) = (hex_field(test, "msg"), hex_field(test, "sig"));
        let verified = key.verify(&msg, &sig).is_ok();
        let id = test["tcId"].as_u64().unwrap();
        match (test["result"].as_str().unwrap(), verified) {
            ("valid", true) => valid += 1,
            ("invalid", false) => invalid += 1,
            // There are no `acceptable` ECDSA cases in these files; one
            // appearing in an update must be decided, not passed silently.
            (result, verified) => wrong.push(format!("{name} tcId {id}: {result} but verified={verified} ({})", test["comment"])),
        }
    }
    assert_eq!(seen, declared, "{name}: numberOfTests");
    (valid, invalid, wrong)
}

#[test]
fn ecdsa_every_valid_signature_verifies_and_every_invalid_one_does_not() {
    let (k1_valid, k1_invalid, mut wrong) = run_ecdsa("ecdsa_secp256k1_sha256_test.json", Curve::Secp256k1);
    let (p256_valid, p256_invalid, wrong_p256) = run_ecdsa("ecdsa_secp256r1_sha256_test.json", Curve::P256);
    wrong.extend(wrong_p256);
    assert!(wrong.is_empty(), "{} wrong:\n{}", wrong.len(), wrong.join("\n"));
    // The files' own counts: 168 + 308 on secp256k1, 174 + 310 on P-256.
    assert_eq!((k1_valid, k1_invalid), (168, 308));
    assert_eq!((p256_valid, p256_invalid), (174, 310));
    assert_eq!(k1_valid + k1_invalid + p256_valid + p256_invalid, 960);
}

/// High-S: the files' valid cases include signatures with s > n/2 (the
/// protocol accepts both forms, SPEC section 2). Counted so that a change to
/// low-S-only verification would fail here as well as above.
#[test]
fn ecdsa_high_s_valid_signatures_are_accepted() {
    let mut high_s = 0;
    for (name, order_half) in [
        ("ecdsa_secp256k1_sha256_test.json", "7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0"),
        ("ecdsa_secp256r1_sha256_test.json", "7fffffff800000007fffffffffffffffde737d56d38bcf4279dce5617e3192a8"),
    ] {
        let file = wycheproof(name);
        for (group, test) in tests(&file) {
            if test["result"] != "valid" {
                continue;
            }
            let sig = hex_field(test, "sig");
            // SEQUENCE { INTEGER r, INTEGER s }, short lengths in these files.
            let r_len = usize::from(sig[3]);
            let s = &sig[4 + r_len + 2..];
            let s = &s[s.len().saturating_sub(32)..];
            if s.len() == 32 && hex::encode(s).as_str() > order_half {
                high_s += 1;
                let key = PublicKey::from_spki_der(&hex::decode(group["publicKeyDer"].as_str().unwrap()).unwrap()).unwrap();
                assert!(key.verify(&hex_field(test, "msg"), &sig).is_ok());
            }
        }
    }
    // 72 on secp256k1, 71 on P-256.
    assert_eq!(high_s, 143);
}

/// What SPEC section 2 makes of an ECDH file's `public` field when a key of
/// `curve` is expected: accepted only if it parses, is on `curve`, and is
/// the canonical uncompressed SPKI (the bytes it re-encodes to).
fn accepted(public: &[u8], curve: Curve) -> bool {
    match PublicKey::from_spki_der(public) {
        Ok(key) => {
            // A key that parses is always canonical: one key, one encoding.
            assert_eq!(key.to_spki_der(), public, "a parsed key re-encodes to other bytes");
            key.curve() == curve
        }
        Err(_) => false,
    }
}

/// Tallies (result, flag, accepted) over one ECDH file.
fn run_ecdh(name: &str, curve: Curve) -> BTreeMap<(String, bool), usize> {
    let file = wycheproof(name);
    let declared = file["numberOfTests"].as_u64().unwrap() as usize;
    let mut tally = BTreeMap::new();
    let mut seen = 0;
    for (group, test) in tests(&file) {
        assert_eq!(group["encoding"], "asn");
        seen += 1;
        let ok = accepted(&hex_field(test, "public"), curve);
        let result = test["result"].as_str().unwrap().to_owned();
        let flags: Vec<&str> = test["flags"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect();
        // Every invalid key is refused, whatever its flaw.
        if result == "invalid" {
            assert!(!ok, "{name} tcId {}: invalid key accepted ({flags:?}, {})", test["tcId"], test["comment"]);
        }
        // Every valid key is accepted: all of them are uncompressed
        // named-curve points.
        if result == "valid" {
            assert!(ok, "{name} tcId {}: valid key refused ({flags:?}, {})", test["tcId"], test["comment"]);
        }
        // `acceptable` is Wycheproof's word for "a policy choice": BER
        // lengths, unused parameters, explicit curve parameters, compressed
        // points. The protocol's choice is to refuse every one of them (one
        // key, one encoding, one dr_hash).
        if result == "acceptable" {
            assert!(!ok, "{name} tcId {}: acceptable key accepted ({flags:?}, {})", test["tcId"], test["comment"]);
        }
        *tally.entry((result, ok)).or_default() += 1;
    }
    assert_eq!(seen, declared, "{name}: numberOfTests");
    tally
}

#[test]
fn ecdh_public_keys_parse_as_spec_section_2_says() {
    let k1 = run_ecdh("ecdh_secp256k1_test.json", Curve::Secp256k1);
    let r1 = run_ecdh("ecdh_secp256r1_test.json", Curve::P256);
    let count = |t: &BTreeMap<(String, bool), usize>, result: &str, ok: bool| {
        t.get(&(result.to_owned(), ok)).copied().unwrap_or(0)
    };
    // (valid accepted, invalid refused, acceptable refused), and nothing else.
    assert_eq!((count(&k1, "valid", true), count(&k1, "invalid", false), count(&k1, "acceptable", false)), (473, 49, 230));
    assert_eq!((count(&r1, "valid", true), count(&r1, "invalid", false), count(&r1, "acceptable", false)), (330, 52, 230));
    assert_eq!(k1.values().sum::<usize>() + r1.values().sum::<usize>(), 752 + 612);
}

/// The compressed forms among the ECDH keys are refused, named by flag, so
/// that the policy is visible in the test list and not only in a total.
#[test]
fn ecdh_compressed_points_are_refused() {
    let mut compressed = 0;
    for (name, curve) in [("ecdh_secp256k1_test.json", Curve::Secp256k1), ("ecdh_secp256r1_test.json", Curve::P256)] {
        let file = wycheproof(name);
        for (_, test) in tests(&file) {
            let flags = test["flags"].as_array().unwrap();
            if flags.iter().any(|f| f == "CompressedPoint" || f == "CompressedPublic") {
                compressed += 1;
                assert!(!accepted(&hex_field(test, "public"), curve), "tcId {}", test["tcId"]);
            }
        }
    }
    // 4 on secp256k1, 8 on P-256 (invalid and acceptable ones).
    assert_eq!(compressed, 12);
}

//! The second outside review's reproductions (SPEC v1.2) replayed through
//! the `emr` binary exactly as the issue gives them: a revoked grant
//! flipped to `(r, n - s)` or signed again, entries made for another chain,
//! a revocation held until its effective time, two records with one nonce,
//! and a branch from genesis far below the tip.

mod common;

use std::path::Path;

use common::*;
use emr_core::{Curve, Entry, PublicKey};

const T0: u64 = 1_700_000_000;

/// A chain with one authority (`auth.pem`, P-256 as `authority new` makes
/// it) and difficulty 1, in `d/name`, with `extra` parameters; its id.
fn chain_with_authority(d: &Path, name: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "chain",
        "init",
        name,
        "--initial-difficulty",
        "1",
        "--authority",
        "auth.pub",
    ];
    args.extend(extra);
    json_in(d, &args, 0);
    let status = status(d, name);
    s(&status["params"], "chain_id").to_owned()
}

fn grant_args<'a>(out: &'a str, chain: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "grant",
        "--key",
        "auth.pem",
        "--doctor",
        "dr.pem",
        "--licence",
        "GMC 7012345, Dr A",
        "--out",
        out,
    ];
    args.extend(chain);
    args
}

/// A grant entry file's fields, as docs/FORMAT.md lays them out: tag `G`,
/// version 2, the 32-byte chain id, then LE64-length-prefixed fields and
/// the two LE64 times.
#[derive(Clone)]
struct GrantFile {
    chain_id: Vec<u8>,
    dr_public_key: Vec<u8>,
    licence: Vec<u8>,
    not_before: [u8; 8],
    not_after: [u8; 8],
    authority: Vec<u8>,
    signature: Vec<u8>,
}

/// Reads a file's fields in order.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Vec<u8> {
        let field = self.bytes[self.at..self.at + n].to_vec();
        self.at += n;
        field
    }

    fn prefixed(&mut self) -> Vec<u8> {
        let len = u64::from_le_bytes(self.take(8).try_into().unwrap());
        self.take(usize::try_from(len).unwrap())
    }
}

impl GrantFile {
    fn parse(bytes: &[u8]) -> GrantFile {
        assert_eq!(&bytes[..2], b"G\x02", "a version 2 grant");
        let mut reader = Reader { bytes, at: 2 };
        let grant = GrantFile {
            chain_id: reader.take(32),
            dr_public_key: reader.prefixed(),
            licence: reader.prefixed(),
            not_before: reader.take(8).try_into().unwrap(),
            not_after: reader.take(8).try_into().unwrap(),
            authority: reader.prefixed(),
            signature: reader.prefixed(),
        };
        assert_eq!(grant.encode(), bytes, "the whole file is the grant");
        grant
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = b"G\x02".to_vec();
        out.extend(&self.chain_id);
        for field in [&self.dr_public_key, &self.licence] {
            out.extend((field.len() as u64).to_le_bytes());
            out.extend(field);
        }
        out.extend(self.not_before);
        out.extend(self.not_after);
        for field in [&self.authority, &self.signature] {
            out.extend((field.len() as u64).to_le_bytes());
            out.extend(field);
        }
        out
    }

    /// SPEC 8.1's `grant_preimage`, which the signature is over.
    fn preimage(&self) -> Vec<u8> {
        let mut out = b"cryptoemr/grant/v2".to_vec();
        out.extend(&self.chain_id);
        for field in [&self.dr_public_key, &self.licence] {
            out.extend((field.len() as u16).to_le_bytes());
            out.extend(field);
        }
        out.extend(self.not_before);
        out.extend(self.not_after);
        out.extend((self.authority.len() as u16).to_le_bytes());
        out.extend(&self.authority);
        out
    }
}

/// The two INTEGERs of a DER ECDSA-Sig-Value, as 32-byte big-endian numbers.
fn der_r_s(signature: &[u8]) -> ([u8; 32], [u8; 32]) {
    assert_eq!(signature[0], 0x30);
    assert_eq!(usize::from(signature[1]), signature.len() - 2);
    let mut rest = &signature[2..];
    let mut numbers = [[0u8; 32]; 2];
    for number in &mut numbers {
        assert_eq!(rest[0], 0x02);
        let len = usize::from(rest[1]);
        let digits = &rest[2..2 + len];
        let digits = &digits[digits.iter().take_while(|b| **b == 0).count()..];
        number[32 - digits.len()..].copy_from_slice(digits);
        rest = &rest[2 + len..];
    }
    assert!(rest.is_empty());
    (numbers[0], numbers[1])
}

fn der_integer(number: &[u8; 32]) -> Vec<u8> {
    let digits = &number[number.iter().take_while(|b| **b == 0).count()..];
    let pad = digits.first().is_some_and(|b| b & 0x80 != 0);
    let mut out = vec![0x02, (digits.len() + usize::from(pad)) as u8];
    if pad {
        out.push(0);
    }
    out.extend(digits);
    out
}

/// `(r, n - s)` in strict DER, `n` the order of `curve`'s group: the same
/// signature to any ECDSA verifier, made without the key.
fn flip_s(signature: &[u8], curve: Curve) -> Vec<u8> {
    let order = hex::decode(match curve {
        Curve::P256 => "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551",
        Curve::Secp256k1 => "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
    })
    .unwrap();
    let (r, s) = der_r_s(signature);
    let mut flipped = [0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let digit = i16::from(order[i]) - i16::from(s[i]) - borrow;
        borrow = i16::from(digit < 0);
        flipped[i] = digit.rem_euclid(256) as u8;
    }
    assert_eq!(borrow, 0, "s is below the order");
    let body: Vec<u8> = [der_integer(&r), der_integer(&flipped)].concat();
    [vec![0x30, body.len() as u8], body].concat()
}

/// Finding 1: after a revocation, `(r, n - s)` of the revoked grant was a
/// new, unrevoked grant and the doctor wrote again; an authority's second
/// signature of the same grant did the same.
#[test]
fn a_revoked_grant_flipped_or_signed_again_never_readmits_its_doctor() {
    let dir = TempDir::new("review-flip");
    let d = dir.path();
    json_in(d, &["authority", "new", "--out", "auth.pem"], 0);
    let doctor = new_key(d, "dr.pem", "secp256k1", "doctor");
    let patient = new_key(d, "patient.pem", "p256", "patient");
    let miner = new_key(d, "miner.pem", "secp256k1", "miner");
    let chain_id = chain_with_authority(d, "clinic", &[]);

    let granted = json_in(d, &grant_args("grant.entry", &["--chain", "clinic"]), 0);
    assert_eq!(s(&granted, "outcome"), "ready");
    sign(d, "dr.pem", &patient, "Metformin 500mg", 1, "r1.rec");
    json_in(d, &["chain", "submit", "clinic", "r1.rec"], 0);
    let mined = mine(d, "clinic", &miner, 1, T0);
    assert_eq!(mined["blocks"][0]["entries"], 1);
    assert_eq!(mined["blocks"][0]["records"], 1);

    let revoked = json_in(
        d,
        &[
            "revoke",
            "--key",
            "auth.pem",
            "--grant",
            "grant.entry",
            "--effective",
            &(T0 + 12).to_string(),
            "--chain",
            "clinic",
        ],
        0,
    );
    assert_eq!(s(&revoked, "outcome"), "ready");
    assert_eq!(
        mine(d, "clinic", &miner, 1, T0 + 12)["blocks"][0]["entries"],
        1
    );

    // After the revocation a record is refused.
    sign(d, "dr.pem", &patient, "Oxycodone 80mg", 2, "r2.rec");
    let refused = json_in(d, &["chain", "submit", "clinic", "r2.rec"], 1);
    assert_eq!(kind(&refused), "unauthorized_doctor");

    // The flip, by editing the grant file's signature bytes: a valid ECDSA
    // signature of the same grant under another id, made without the key.
    let bytes = std::fs::read(d.join("grant.entry")).unwrap();
    let grant = GrantFile::parse(&bytes);
    let authority = PublicKey::from_spki_der(&grant.authority).unwrap();
    assert_eq!(authority.curve(), Curve::P256);
    let flipped = GrantFile {
        signature: flip_s(&grant.signature, authority.curve()),
        ..grant.clone()
    };
    assert!(
        authority
            .verify(&flipped.preimage(), &flipped.signature)
            .is_ok(),
        "a valid signature"
    );
    std::fs::write(d.join("flipped.entry"), flipped.encode()).unwrap();
    let flipped_id = Entry::from_bytes(&flipped.encode())
        .unwrap()
        .entry_id()
        .to_string();
    assert_ne!(flipped_id, s(&granted, "entry_id"), "another grant id");
    let refused = json_in(d, &["chain", "submit", "clinic", "flipped.entry"], 1);
    assert_eq!(kind(&refused), "invalid_entry_signature");

    // The authority signs the same grant again (P-256 signatures are
    // randomized, so this is another grant id): its content is in the chain.
    let again = json_in(
        d,
        &grant_args("again.entry", &["--chain-id", chain_id.as_str()]),
        0,
    );
    assert_ne!(s(&again, "entry_id"), s(&granted, "entry_id"));
    let refused = json_in(d, &["chain", "submit", "clinic", "again.entry"], 1);
    assert_eq!(kind(&refused), "duplicate_grant");
    // And with the very same arguments as the first grant.
    let refused = json_in(d, &grant_args("third.entry", &["--chain", "clinic"]), 1);
    assert_eq!(kind(&refused), "duplicate_grant");

    // The revoked doctor's next record stays refused, no grant was added,
    // and the chain checks.
    let refused = json_in(d, &["chain", "submit", "clinic", "r2.rec"], 1);
    assert_eq!(kind(&refused), "unauthorized_doctor");
    assert_eq!(status(d, "clinic")["pending_entries"], 0);
    let mined = mine(d, "clinic", &miner, 1, T0 + 24);
    assert_eq!(mined["blocks"][0]["entries"], 0);
    assert_eq!(mined["blocks"][0]["records"], 0);
    let shown = json_in(d, &["chain", "doctor", "clinic", "--doctor", &doctor], 0);
    assert_eq!(shown["authorized"], false);
    assert_eq!(shown["grants"].as_array().unwrap().len(), 1);
    assert_eq!(shown["nonce"], 1);
    assert_eq!(json_in(d, &["chain", "check", "clinic"], 0)["blocks_ok"], 3);
}

/// Entries name the chain they are made for: one made for another chain
/// (a test chain with the same authority) is refused, and the command line
/// will not guess which chain an entry is for.
#[test]
fn entries_name_their_chain() {
    let dir = TempDir::new("review-chain");
    let d = dir.path();
    json_in(d, &["authority", "new", "--out", "auth.pem"], 0);
    new_key(d, "dr.pem", "secp256k1", "doctor");
    let first = chain_with_authority(d, "first", &[]);
    let second = chain_with_authority(d, "second", &[]);
    assert_ne!(first, second, "random salts");
    // Where the messages send an authority for the id.
    let shown = emr_in(d, &["chain", "status", "first"]);
    assert!(
        shown.stdout.contains(&format!("chain id {first}")),
        "{shown:?}"
    );

    let made = json_in(
        d,
        &grant_args("other.entry", &["--chain-id", second.as_str()]),
        0,
    );
    assert!(
        made.get("outcome").is_none(),
        "not submitted without --chain"
    );
    let refused = json_in(d, &["chain", "submit", "first", "other.entry"], 1);
    assert_eq!(kind(&refused), "wrong_chain");
    assert_eq!(status(d, "first")["pending_entries"], 0);
    // The same file is good on the chain it was made for.
    let accepted = json_in(d, &["chain", "submit", "second", "other.entry"], 0);
    assert_eq!(s(&accepted["entries"][0], "outcome"), "ready");

    // --chain and a --chain-id that is not its id: refused before signing.
    for command in [
        grant_args(
            "mismatch.entry",
            &["--chain", "first", "--chain-id", second.as_str()],
        ),
        vec![
            "revoke",
            "--key",
            "auth.pem",
            "--grant",
            s(&made, "entry_id"),
            "--effective",
            "0",
            "--out",
            "mismatch.entry",
            "--chain",
            "first",
            "--chain-id",
            second.as_str(),
        ],
    ] {
        let refused = json_in(d, &command, 1);
        assert_eq!(kind(&refused), "wrong_chain", "{command:?}");
        let message = s(&refused["error"], "message");
        assert!(
            message.contains(&second) && message.contains(&first),
            "{message}"
        );
        assert!(!d.join("mismatch.entry").exists(), "{command:?}");
    }
    assert_eq!(status(d, "first")["pending_entries"], 0);

    // Neither: a usage error naming both flags.
    for command in [
        grant_args("none.entry", &[]),
        vec![
            "revoke",
            "--key",
            "auth.pem",
            "--grant",
            s(&made, "entry_id"),
            "--effective",
            "0",
            "--out",
            "none.entry",
        ],
    ] {
        let refused = json_in(d, &command, 2);
        assert_eq!(kind(&refused), "usage", "{command:?}");
        let message = s(&refused["error"], "message");
        assert!(
            message.contains("--chain DIR") && message.contains("--chain-id"),
            "{message}"
        );
        assert!(!d.join("none.entry").exists(), "{command:?}");
    }
}

/// Finding 2: a revocation is carried only in a block whose time has
/// reached its effective time; until then the pool holds it.
#[test]
fn a_revocation_waits_in_the_pool_for_its_effective_time() {
    let dir = TempDir::new("review-held");
    let d = dir.path();
    json_in(d, &["authority", "new", "--out", "auth.pem"], 0);
    let doctor = new_key(d, "dr.pem", "secp256k1", "doctor");
    let miner = new_key(d, "miner.pem", "secp256k1", "miner");
    // Ten days of max_future, so that blocks can be stamped at a revocation
    // time a day ahead of the clock without waiting for it.
    chain_with_authority(d, "clinic", &["--max-future", "864000"]);
    assert_eq!(status(d, "clinic")["params"]["max_future"], 864_000);
    json_in(d, &grant_args("grant.entry", &["--chain", "clinic"]), 0);
    mine(d, "clinic", &miner, 1, T0);

    let effective = now() + 86_400;
    let revoke = [
        "revoke",
        "--key",
        "auth.pem",
        "--grant",
        "grant.entry",
        "--effective",
        &effective.to_string(),
        "--out",
        "revoke.entry",
        "--chain",
        "clinic",
    ];
    let held = json_in(d, &revoke, 0);
    assert_eq!(s(&held, "outcome"), "held");
    assert_eq!(status(d, "clinic")["pending_entries"], 1);

    // A block before the effective time leaves it out; it stays pending.
    let early = mine(d, "clinic", &miner, 1, effective - 12);
    assert_eq!(early["blocks"][0]["entries"], 0, "{early}");
    assert_eq!(status(d, "clinic")["pending_entries"], 1);
    let again = json_in(d, &["chain", "submit", "clinic", "revoke.entry"], 0);
    assert_eq!(s(&again["entries"][0], "outcome"), "already_pending");
    let shown = json_in(d, &["chain", "doctor", "clinic", "--doctor", &doctor], 0);
    assert!(shown["grants"][0]["revoked_effective"].is_null(), "{shown}");

    // The first block at its time carries it.
    let carried = mine(d, "clinic", &miner, 1, effective);
    assert_eq!(carried["blocks"][0]["entries"], 1, "{carried}");
    assert_eq!(status(d, "clinic")["pending_entries"], 0);
    let shown = json_in(d, &["chain", "doctor", "clinic", "--doctor", &doctor], 0);
    assert_eq!(shown["grants"][0]["revoked_effective"], effective);
    json_in(d, &["chain", "check", "clinic"], 0);
}

/// Two records of one doctor with one nonce: the pool keeps the first and
/// refuses the second, naming the first, instead of dropping either
/// silently; the first again is already pending.
#[test]
fn a_second_record_with_the_same_nonce_conflicts_with_the_pending_one() {
    let dir = TempDir::new("review-conflict");
    let d = dir.path();
    new_key(d, "dr.pem", "secp256k1", "doctor");
    let patient = new_key(d, "patient.pem", "p256", "patient");
    let miner = new_key(d, "miner.pem", "secp256k1", "miner");
    json_in(
        d,
        &["chain", "init", "clinic", "--initial-difficulty", "1"],
        0,
    );
    let first = sign(d, "dr.pem", &patient, "Amoxicillin 500mg", 1, "first.rec");
    let second = sign(d, "dr.pem", &patient, "Amoxicillin 1g", 1, "second.rec");
    let (first_txid, second_txid) = (s(&first, "txid"), s(&second, "txid"));

    let submitted = json_in(d, &["chain", "submit", "clinic", "first.rec"], 0);
    assert_eq!(s(&submitted["records"][0], "outcome"), "ready");
    let refused = json_in(d, &["chain", "submit", "clinic", "second.rec"], 1);
    assert_eq!(kind(&refused), "conflicts_with_pending");
    let message = s(&refused["error"], "message");
    assert!(message.contains(first_txid), "{message}");
    assert_eq!(status(d, "clinic")["pending"], 1);
    let again = json_in(d, &["chain", "submit", "clinic", "first.rec"], 0);
    assert_eq!(s(&again["records"][0], "outcome"), "already_pending");
    assert_eq!(status(d, "clinic")["pending"], 1);

    // The one pending record is the first: it is the one mined.
    let mined = mine(d, "clinic", &miner, 1, T0);
    assert_eq!(mined["blocks"][0]["records"], 1);
    json_in(d, &["chain", "find", "clinic", first_txid], 0);
    assert_eq!(
        kind(&json_in(d, &["chain", "find", "clinic", second_txid], 4)),
        "not_found"
    );
}

/// The bytes of every file in `dir` (the database and its journal files).
fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum()
}

/// Finding 3: side branches forking from genesis were stored unchecked, a
/// cheap way to fill a node's disk. A branch forking far below the tip is
/// now stale: reported, and not stored, however many are sent.
#[test]
fn branches_from_genesis_far_below_the_tip_are_stale_and_not_stored() {
    const BRANCHES: u64 = 8;
    let dir = TempDir::new("review-stale");
    let d = dir.path();
    new_key(d, "dr.pem", "secp256k1", "doctor");
    let patient = new_key(d, "patient.pem", "p256", "patient");
    let ours = new_key(d, "ours.pem", "secp256k1", "miner");
    let theirs = new_key(d, "theirs.pem", "secp256k1", "miner");
    json_in(
        d,
        &["chain", "init", "ours", "--initial-difficulty", "1"],
        0,
    );
    mine(d, "ours", &ours, 1, T0);
    json_in(d, &["chain", "export", "ours", "genesis.blk"], 0);
    mine(d, "ours", &ours, 30, T0 + 12);
    let tip = status(d, "ours")["tip"].clone();

    // Their branches share our genesis and fork there, 30 blocks below our
    // tip: 5 blocks each, the first full of records.
    let text = "x".repeat(200);
    let mut submit = vec!["chain".to_owned(), "submit".to_owned(), String::new()];
    for nonce in 1..=25 {
        let file = format!("r{nonce}.rec");
        sign(d, "dr.pem", &patient, &text, nonce, &file);
        submit.push(file);
    }
    let mut sizes = Vec::new();
    let before = dir_size(&d.join("ours"));
    for branch in 0..BRANCHES {
        let name = format!("theirs{branch}");
        json_in(d, &["chain", "init", &name, "--initial-difficulty", "1"], 0);
        json_in(d, &["-q", "chain", "import", &name, "genesis.blk"], 0);
        submit[2] = name.clone();
        json_in(d, &submit.iter().map(String::as_str).collect::<Vec<_>>(), 0);
        // Another time for each branch, so other block ids.
        let mined = mine(d, &name, &theirs, 5, T0 + 12 + branch);
        assert_eq!(mined["blocks"][0]["records"], 25);
        let file = format!("{name}.blk");
        assert_eq!(
            json_in(d, &["chain", "export", &name, &file], 0)["blocks"],
            6
        );
        sizes.push(std::fs::metadata(d.join(&file)).unwrap().len());

        let imported = json_in(d, &["-q", "chain", "import", "ours", &file], 0);
        assert_eq!(imported["stale"], 5, "{imported}");
        assert_eq!(imported["already_known"], 1, "{imported}");
        assert_eq!(imported["side_branch"], 0, "{imported}");
    }
    // Stale again, not already known: nothing of it was stored.
    let again = json_in(d, &["-q", "chain", "import", "ours", "theirs0.blk"], 0);
    assert_eq!(again["stale"], 5, "{again}");

    let after = status(d, "ours");
    assert_eq!(after["tip"], tip);
    assert_eq!(after["blocks"], 31);
    // A batch's blocks are written and dropped in its own transaction, so
    // the file may keep one branch's worth of free pages; storing the
    // branches would take all of theirs.
    let grown = dir_size(&d.join("ours")).saturating_sub(before);
    let sent: u64 = sizes.iter().sum();
    assert!(
        grown < 2 * sizes[0],
        "the chain grew by {grown} bytes importing {BRANCHES} stale branches of {sent} bytes"
    );
    json_in(d, &["chain", "check", "ours"], 0);
}

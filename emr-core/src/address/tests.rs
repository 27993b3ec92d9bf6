//! The guarantees of `docs/ADDRESSES.md`, each tested, and BIP-350's vectors.

use super::*;

const CHARSET: &[u8; 32] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn hash(&mut self) -> Hash160 {
        let mut bytes = [0u8; 20];
        for b in &mut bytes {
            *b = self.next() as u8;
        }
        Hash160::from_bytes(bytes)
    }

    /// `count` distinct indexes in `range`, ascending.
    fn positions(&mut self, range: core::ops::Range<usize>, count: usize) -> Vec<usize> {
        let mut chosen = Vec::new();
        while chosen.len() < count {
            let p = range.start + self.below(range.len());
            if !chosen.contains(&p) {
                chosen.push(p);
            }
        }
        chosen.sort_unstable();
        chosen
    }
}

/// `text` with each of `positions` replaced by another character of the alphabet.
fn substitute(rng: &mut Rng, text: &str, positions: &[usize]) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for &p in positions {
        loop {
            let c = CHARSET[rng.below(32)];
            if c != bytes[p] {
                bytes[p] = c;
                break;
            }
        }
    }
    String::from_utf8(bytes).unwrap()
}

/// A few fixed addresses and some random ones.
fn sample_addresses() -> Vec<(Role, Hash160)> {
    let mut rng = Rng(0x5eed);
    let mut out = vec![
        (Role::Doctor, Hash160::from_bytes([0; 20])),
        (Role::Patient, Hash160::from_bytes([0xff; 20])),
    ];
    for role in Role::ALL {
        out.push((role, rng.hash()));
    }
    out
}

const DATA: core::ops::Range<usize> = 5..ADDRESS_LEN;

#[test]
fn round_trip_in_every_role_and_in_upper_case() {
    let mut rng = Rng(1);
    for _ in 0..200 {
        let hash = rng.hash();
        for role in Role::ALL {
            let text = encode(role, &hash);
            assert_eq!(text.len(), ADDRESS_LEN);
            assert!(text.starts_with(&format!("{}1", role.prefix())));
            assert_eq!(decode(&text, role), Ok(hash));
            assert_eq!(decode(&text.to_ascii_uppercase(), role), Ok(hash));
            assert_eq!(Address::new(role, hash).to_string(), text);
            assert_eq!(Address::parse(&text, role), Ok(Address::new(role, hash)));
        }
    }
    // Zero bits are `q`: the data part is the hash, five bits a character.
    let zero = encode(Role::Doctor, &Hash160::from_bytes([0; 20]));
    assert!(
        zero.starts_with(&format!("emrd1{}", "q".repeat(32))),
        "{zero}"
    );
}

#[test]
fn roles_have_names_and_prefixes() {
    for role in Role::ALL {
        assert_eq!(Role::from_name(role.name()), Some(role));
        assert_eq!(Role::from_prefix(role.prefix()), Some(role));
    }
    assert_eq!(Role::from_name("Doctor"), None);
}

/// BIP-350's valid Bech32m strings: the checksum passes, and as none has a
/// cryptoemr prefix each is `wrong_role`, never an address.
#[test]
fn bip350_valid_strings_pass_the_checksum_and_are_not_addresses() {
    let valid = [
        "A1LQFN3A",
        "a1lqfn3a",
        "an83characterlonghumanreadablepartthatcontainsthetheexcludedcharactersbioandnumber11sg7hg6",
        "abcdef1l7aum6echk45nj3s0wdvt2fg8x9yrzpqzd3ryx",
        "11llllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllludsr8",
        "split1checkupstagehandshakeupstreamerranterredcaperredlc445v",
        "?1v759aa",
        // BIP-350's Bech32m segwit addresses.
        "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
        "tb1pqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesf3hn0c",
        "BC1SW50QGDZ25J",
        "bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs",
    ];
    for text in valid {
        assert!(
            UncheckedHrpstring::new(text)
                .unwrap()
                .validate_checksum::<Bech32m>()
                .is_ok(),
            "{text}"
        );
        assert_eq!(
            decode(text, Role::Doctor),
            Err(AddressError::WrongRole {
                expected: Role::Doctor,
                found: None
            }),
            "{text}"
        );
    }
}

/// BIP-350's invalid Bech32m strings, each with the kind this module gives.
#[test]
fn bip350_invalid_strings_are_refused_with_their_kind() {
    use AddressError::*;
    let no_role = WrongRole {
        expected: Role::Patient,
        found: None,
    };
    let cases: &[(&str, AddressError)] = &[
        ("\u{20}1xj0phk", InvalidCharacter { position: 0 }),
        ("\u{7f}1g6xzxy", InvalidCharacter { position: 0 }),
        ("\u{80}1vctc34", InvalidCharacter { position: 0 }),
        (
            "an84characterslonghumanreadablepartthatcontainsthetheexcludedcharactersbioandnumber11d6pts4",
            InvalidLength { length: 91 },
        ),
        ("qyrz8wqd2c9m", no_role.clone()),
        ("1qyrz8wqd2c9m", no_role.clone()),
        ("y1b0jsk6g", InvalidCharacter { position: 2 }),
        ("lt1igcx5c0", InvalidCharacter { position: 3 }),
        ("in1muywd", InvalidLength { length: 8 }),
        ("mm1crxm3i", InvalidCharacter { position: 8 }),
        ("au1s5cgom", InvalidCharacter { position: 7 }),
        ("16plkw9", no_role.clone()),
        ("1p2gdwpf", no_role),
    ];
    for (text, error) in cases {
        assert_eq!(decode(text, Role::Patient).as_ref(), Err(error), "{text:?}");
    }
    // The checksum was made over the upper-case prefix.
    assert!(matches!(
        decode("M1VUXWEZ", Role::Patient),
        Err(InvalidChecksum { .. })
    ));
    // A Bech32 (BIP-173) checksum is not a Bech32m one.
    assert!(matches!(
        decode("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", Role::Patient),
        Err(InvalidChecksum { .. })
    ));
}

#[test]
fn every_single_substitution_is_detected_and_located() {
    for (role, hash) in sample_addresses() {
        let text = encode(role, &hash);
        for position in 0..text.len() {
            for &c in CHARSET
                .iter()
                .chain(b"abcdefghijklmnopqrstuvwxyz0123456789")
            {
                if c == text.as_bytes()[position] {
                    continue;
                }
                let mut typo = text.clone().into_bytes();
                typo[position] = c;
                let typo = String::from_utf8(typo).unwrap();
                let result = decode(&typo, role);
                if DATA.contains(&position) && CHARSET.contains(&c) {
                    assert_eq!(
                        result,
                        Err(AddressError::InvalidChecksum {
                            positions: vec![position]
                        }),
                        "{typo}"
                    );
                } else {
                    // The prefix, the separator, or a character outside the
                    // alphabet: refused, and a located position is this one.
                    let error = result.expect_err(&typo);
                    assert!(
                        error.positions().iter().all(|&p| p == position),
                        "{typo}: {error:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn random_double_substitutions_in_the_data_are_located_exactly() {
    let mut rng = Rng(2);
    for (role, hash) in sample_addresses() {
        let text = encode(role, &hash);
        for _ in 0..600 {
            let positions = rng.positions(DATA, 2);
            let typo = substitute(&mut rng, &text, &positions);
            assert_eq!(
                decode(&typo, role),
                Err(AddressError::InvalidChecksum { positions }),
                "{typo}"
            );
        }
    }
}

#[test]
fn random_three_and_four_substitutions_are_detected() {
    let mut rng = Rng(3);
    for (role, hash) in sample_addresses() {
        let text = encode(role, &hash);
        for count in [3, 4] {
            for _ in 0..600 {
                let positions = rng.positions(DATA, count);
                let typo = substitute(&mut rng, &text, &positions);
                match decode(&typo, role) {
                    Err(AddressError::InvalidChecksum { positions: located }) => {
                        // Too many errors to locate; what is located must be
                        // at most two places, which decoding never "fixes".
                        assert!(located.len() <= MAX_POSITIONS, "{typo}");
                    }
                    other => panic!("{typo}: {other:?}"),
                }
            }
        }
    }
}

/// Up to four substitutions anywhere, prefix and separator included, never
/// decode: not as the intended role, not as another one.
#[test]
fn substitutions_anywhere_never_decode() {
    let mut rng = Rng(4);
    let alphabet: Vec<u8> = CHARSET.iter().copied().chain(*b"dpm1").collect();
    for (role, hash) in sample_addresses() {
        let text = encode(role, &hash);
        for count in 1..=4 {
            for _ in 0..250 {
                let mut typo = text.clone().into_bytes();
                for p in rng.positions(0..ADDRESS_LEN, count) {
                    let c = alphabet[rng.below(alphabet.len())];
                    typo[p] = if c == typo[p] { b'q' ^ b'p' ^ c } else { c };
                }
                let typo = String::from_utf8(typo).unwrap();
                if typo == text {
                    continue;
                }
                for expected in Role::ALL {
                    assert!(
                        decode(&typo, expected).is_err(),
                        "{typo} decoded as {expected}"
                    );
                }
            }
        }
    }
}

#[test]
fn a_role_letter_edited_is_a_checksum_error_not_another_role() {
    let hash = Hash160::from_bytes([7; 20]);
    let doctor = encode(Role::Doctor, &hash);
    let as_patient = doctor.replacen("emrd", "emrp", 1);
    assert_eq!(
        decode(&as_patient, Role::Patient),
        Err(AddressError::InvalidChecksum { positions: vec![3] })
    );
}

#[test]
fn adjacent_swaps_are_detected_and_located() {
    for (role, hash) in sample_addresses() {
        let text = encode(role, &hash);
        for i in 0..text.len() - 1 {
            let mut swapped = text.clone().into_bytes();
            swapped.swap(i, i + 1);
            if swapped == text.as_bytes() {
                continue;
            }
            let swapped = String::from_utf8(swapped).unwrap();
            let error = decode(&swapped, role).expect_err(&swapped);
            if DATA.contains(&i) {
                assert_eq!(
                    error,
                    AddressError::InvalidChecksum {
                        positions: vec![i, i + 1]
                    },
                    "{swapped}"
                );
            }
        }
    }
}

#[test]
fn wrong_role_is_refused_with_both_roles_named() {
    let hash = Hash160::from_bytes([3; 20]);
    for given in Role::ALL {
        for expected in Role::ALL {
            let result = decode(&encode(given, &hash), expected);
            if given == expected {
                assert_eq!(result, Ok(hash));
            } else {
                let error = result.unwrap_err();
                assert_eq!(
                    error,
                    AddressError::WrongRole {
                        expected,
                        found: Some(given)
                    }
                );
                assert_eq!(error.kind(), ErrorKind::WrongRole);
                let message = error.to_string();
                assert!(
                    message.contains(given.prefix()) && message.contains(expected.prefix()),
                    "{message}"
                );
            }
        }
    }
}

#[test]
fn wrong_lengths_are_invalid_length() {
    let text = encode(Role::Miner, &Hash160::from_bytes([9; 20]));
    let mut dropped = text.clone();
    dropped.remove(20);
    let mut doubled = text.clone();
    doubled.insert(20, 'q');
    for bad in [
        dropped,
        doubled,
        text[..ADDRESS_LEN - 1].to_owned(),
        "emrm1".to_owned(),
    ] {
        assert_eq!(
            decode(&bad, Role::Miner),
            Err(AddressError::InvalidLength { length: bad.len() }),
            "{bad}"
        );
    }
    // Valid Bech32m under a role prefix, but not 20 bytes.
    for size in [0, 19, 21, 32] {
        let text =
            bech32::encode_lower::<Bech32m>(Hrp::parse("emrm").unwrap(), &vec![1u8; size]).unwrap();
        assert_eq!(
            decode(&text, Role::Miner),
            Err(AddressError::InvalidLength { length: text.len() }),
            "{text}"
        );
    }
    assert_eq!(
        decode("", Role::Miner),
        Err(AddressError::InvalidLength { length: 0 })
    );
    let long = "q".repeat(10_000);
    assert_eq!(
        decode(&long, Role::Miner),
        Err(AddressError::InvalidLength { length: 10_000 })
    );
    let long = format!("{text}{}", "q".repeat(10_000));
    assert_eq!(
        decode(&long, Role::Miner).unwrap_err().kind(),
        ErrorKind::InvalidLength
    );
}

#[test]
fn mixed_case_and_bad_characters() {
    let text = encode(Role::Patient, &Hash160::from_bytes([5; 20]));
    let mut mixed = text.clone().into_bytes();
    mixed[10] = mixed[10].to_ascii_uppercase();
    let mixed = String::from_utf8(mixed).unwrap();
    assert_eq!(decode(&mixed, Role::Patient), Err(AddressError::MixedCase));
    assert_eq!(
        decode(&text.replacen("emrp", "EMRP", 1), Role::Patient),
        Err(AddressError::MixedCase)
    );
    for (position, bad) in [
        (7, "b"),
        (12, "i"),
        (20, "o"),
        (30, "1"),
        (9, " "),
        (15, "\u{e9}"),
        (16, "\0"),
    ] {
        let mut typo = text.clone();
        typo.replace_range(position..position + 1, bad);
        let error = decode(&typo, Role::Patient).unwrap_err();
        assert_eq!(
            error,
            AddressError::InvalidCharacter { position },
            "{typo:?}"
        );
        assert_eq!(error.positions(), vec![position]);
    }
    assert_eq!(
        decode_bytes(b"emrp1\xff", Role::Patient),
        Err(AddressError::InvalidCharacter { position: 5 })
    );
}

#[test]
fn located_positions_are_reported_never_applied() {
    // One typo, located: still an error carrying positions only, so the
    // hash is never returned from a corrected string.
    let hash = Hash160::from_bytes([0x42; 20]);
    let text = encode(Role::Patient, &hash);
    let mut rng = Rng(5);
    for position in DATA {
        let typo = substitute(&mut rng, &text, &[position]);
        match decode(&typo, Role::Patient) {
            Err(AddressError::InvalidChecksum { positions }) => {
                assert_eq!(positions, vec![position])
            }
            other => panic!("{typo}: {other:?}"),
        }
    }
}

#[test]
fn messages_name_the_positions() {
    let error = AddressError::InvalidChecksum {
        positions: vec![7, 12],
    };
    assert_eq!(
        error.to_string(),
        "invalid_checksum: the address has a typo at positions 7 and 12"
    );
    assert_eq!(error.kind().as_str(), "invalid_checksum");
    let error = AddressError::InvalidChecksum { positions: vec![] };
    assert!(error.to_string().contains("cannot be located"));
    for (error, kind) in [
        (AddressError::MixedCase, "mixed_case"),
        (AddressError::InvalidLength { length: 3 }, "invalid_length"),
        (
            AddressError::InvalidCharacter { position: 3 },
            "invalid_character",
        ),
        (
            AddressError::WrongRole {
                expected: Role::Doctor,
                found: None,
            },
            "wrong_role",
        ),
    ] {
        assert_eq!(error.kind().as_str(), kind);
        assert!(error.to_string().starts_with(kind));
    }
}

#[test]
fn arbitrary_text_never_panics() {
    let mut rng = Rng(6);
    let base = encode(Role::Doctor, &Hash160::from_bytes([1; 20]));
    for _ in 0..20_000 {
        let len = rng.below(100);
        let mut bytes: Vec<u8> = if rng.below(2) == 0 {
            (0..len).map(|_| rng.next() as u8).collect()
        } else {
            let mut b = base.clone().into_bytes();
            for _ in 0..rng.below(8) {
                let p = rng.below(b.len());
                b[p] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l1bioQPZ ~\x7f"[rng.below(42)];
            }
            b
        };
        bytes.truncate(len.max(1));
        for role in Role::ALL {
            let _ = decode_bytes(&bytes, role);
        }
    }
}

#[test]
fn keys_records_and_blocks_show_addresses() {
    use crate::keys::{Curve, SigningKey};
    use crate::record::Record;
    let key = SigningKey::generate(Curve::Secp256k1).unwrap();
    assert_eq!(
        key.address(),
        Address::new(Role::Doctor, key.public_key_hash())
    );
    assert!(format!("{key:?}").contains(&key.address().to_string()));
    let patient = Hash160::from_bytes([4; 20]);
    let record = Record::sign(&key, patient.as_bytes(), "x", 1).unwrap();
    let shown = format!("{record:?}");
    assert!(shown.contains(&key.address().to_string()), "{shown}");
    assert!(shown.contains(&encode(Role::Patient, &patient)), "{shown}");
    let block = crate::block::Block {
        previous: crate::hash::Hash256::from_bytes([0; 32]),
        height: 0,
        miner: Hash160::from_bytes([8; 20]),
        records: vec![record],
        entries: Vec::new(),
        timestamp: 0,
        difficulty: crate::pow::Difficulty::new(1).unwrap(),
        block_id: crate::hash::Hash256::from_bytes([0; 32]),
        nonce: 0,
    };
    assert!(format!("{block:?}").contains(&encode(Role::Miner, &Hash160::from_bytes([8; 20]))));
}

#[test]
fn state_owners_are_doctors_or_miners() {
    let hash = Hash160::from_bytes([6; 20]);
    for role in [Role::Doctor, Role::Miner] {
        assert_eq!(
            decode_state_owner(&encode(role, &hash)),
            Ok(Address::new(role, hash))
        );
    }
    assert_eq!(
        decode_state_owner(&encode(Role::Patient, &hash)),
        Err(AddressError::WrongRole {
            expected: Role::Doctor,
            found: Some(Role::Patient)
        })
    );
    let mut typo = encode(Role::Miner, &hash).into_bytes();
    typo[9] = if typo[9] == b'q' { b'p' } else { b'q' };
    assert_eq!(
        decode_state_owner(core::str::from_utf8(&typo).unwrap()),
        Err(AddressError::InvalidChecksum { positions: vec![9] })
    );
}

//! `make demo`: two doctors on two curves sign prescriptions for patients
//! given by their addresses, a mistyped address is caught and its typo
//! pointed at, the records verify, a tampered record is rejected; the
//! records are mined into a block, which verifies and updates everyone's
//! state; a tampered block is rejected.

use std::io::{IsTerminal as _, Write as _};
use std::time::Duration;

use emr_core::address::{self, Address, AddressError, Role};
use emr_core::mining::{mine_block, BlockTemplate, MineOutcome, Progress, SearchOptions};
use emr_core::{Block, Curve, Difficulty, Hash160, Record, SigningKey, UserStates, DEFAULT_BLOCK_REWARD};

fn short(bytes: &[u8]) -> String {
    format!("{}…", hex::encode(&bytes[..6]))
}

/// An address cut to its prefix and first characters, for tables.
fn short_address(role: Role, hash: Hash160) -> String {
    format!("{}…", &Address::new(role, hash).to_string()[..14])
}

/// The address printed on a patient's card. A real EMR system would use the
/// patient's public key hash; the library treats it as opaque 20 bytes.
fn patient_card(name: &str) -> String {
    address::encode(Role::Patient, &emr_core::hash::sha1(&[name.as_bytes()]))
}

/// The text as typed, and under it a caret at each position the error points at.
fn show_typo(typed: &str, error: &AddressError) {
    println!("  typed   {typed}");
    let positions = error.positions();
    if !positions.is_empty() {
        let marks: String = (0..typed.len()).map(|i| if positions.contains(&i) { '^' } else { ' ' }).collect();
        println!("          {}", marks.trim_end());
    }
    println!("  -> {error}");
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("== 1. Two doctors, two curves ==");
    let dr_house = SigningKey::generate(Curve::Secp256k1)?;
    let dr_grey = SigningKey::generate(Curve::P256)?;
    for (name, key) in [("Dr House", &dr_house), ("Dr Grey", &dr_grey)] {
        println!(
            "{name:9} curve {:9}  address {}  public key {} bytes of DER",
            key.curve().name(),
            key.address(),
            key.public_key_der().len()
        );
    }

    println!("\n== 2. Patients are given by the address on their card ==");
    let (alice_card, bob_card) = (patient_card("alice"), patient_card("bob"));
    println!("alice     {alice_card}\nbob       {bob_card}");
    // A receptionist reads bob's card over the phone and one character is misheard.
    let mut misheard = bob_card.clone().into_bytes();
    misheard[17] = if misheard[17] == b'q' { b'p' } else { b'q' };
    let misheard = String::from_utf8(misheard)?;
    println!("one character misheard: refused, and the caret says where");
    show_typo(&misheard, &address::decode(&misheard, Role::Patient).unwrap_err());
    println!("a doctor's address given as the patient:");
    show_typo(&dr_grey.address().to_string(), &address::decode(&dr_grey.address().to_string(), Role::Patient).unwrap_err());
    let alice = address::decode(&alice_card, Role::Patient)?;
    let bob = address::decode(&bob_card, Role::Patient)?;

    println!("\n== 3. Signed prescriptions (each doctor's nonce counts 1, 2, ...) ==");
    let plan = [
        (&dr_house, alice, "Amoxicillin 500mg, 3x daily, 7 days", 1),
        (&dr_grey, bob, "Ibuprofen 400mg as needed, max 3/day", 1),
        (&dr_house, bob, "Vitamin D 1000 IU daily", 2),
        (&dr_house, alice, "Follow-up: stop Amoxicillin if rash", 3),
    ];
    let mut records = Vec::new();
    for (key, patient_hash, text, nonce) in plan {
        let record = Record::sign(key, patient_hash.as_bytes(), text, nonce)?;
        record.verify(nonce - 1)?;
        println!(
            "nonce {nonce}  by {}  for {}  txid {}  sig {} bytes  \"{text}\"  -> verified",
            short_address(Role::Doctor, record.dr_hash),
            short_address(Role::Patient, patient_hash),
            short(record.txid.as_bytes()),
            record.signature.len(),
        );
        records.push(record);
    }

    println!("\n== 4. Tampering is caught, with the kind of error ==");
    let mut forged = records[0].clone();
    forged.prescription = "Amoxicillin 5000mg, 3x daily, 7 days".into();
    println!("prescription changed, txid kept:    {}", forged.verify(0).unwrap_err());
    forged.txid = forged.calculate_txid();
    println!("txid recomputed too:                {}", forged.verify(0).unwrap_err());
    println!("replayed with the same nonce:       {}", records[0].verify(1).unwrap_err());
    let mut impostor = records[1].clone();
    impostor.dr_hash = dr_house.public_key_hash();
    println!("claimed by another doctor:          {}", impostor.verify(0).unwrap_err());

    println!("\n== 5. Mining the records into a block ==");
    let miner = emr_core::hash::sha1(&[b"clinic-node-1"]);
    println!("miner     {}", Address::new(Role::Miner, miner));
    let difficulty = Difficulty::new(200_000_000).expect("non-zero");
    let template = BlockTemplate {
        previous: emr_core::Hash256::from_bytes([0; 32]),
        height: 0,
        miner,
        records: records.clone(),
        timestamp: 1_700_000_000,
        difficulty,
    };
    let expected_hashes = difficulty.get() as f64;
    // On a terminal the progress line rewrites itself; in a log, one line each.
    let (start, end) = if std::io::stdout().is_terminal() { ("\r", "") } else { ("", "\n") };
    let options = SearchOptions {
        progress: Some(Box::new(move |p: Progress| {
            let expected_seconds = expected_hashes / p.hashes_per_second.max(1.0);
            print!(
                "{start}  {:7.2} MH/s  {:6.1} M hashes in {:5.2} s  (a block takes {:4.1} s on average at this rate){end}",
                p.hashes_per_second / 1e6,
                p.hashes as f64 / 1e6,
                p.elapsed.as_secs_f64(),
                expected_seconds
            );
            let _ = std::io::stdout().flush();
        })),
        time_limit: Some(Duration::from_secs(120)),
        ..SearchOptions::default()
    };
    println!(
        "difficulty {difficulty}: {:.0} M hashes expected on average, {} threads",
        difficulty.get() as f64 / 1e6,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let mined = mine_block(&template, &options)?;
    print!("{}", if start.is_empty() { "" } else { "\n" });
    let block: Block = match mined.outcome {
        MineOutcome::Found(block) => block,
        other => return Err(format!("mining ended without a block: {other:?}").into()),
    };
    println!(
        "found nonce {} after {:.1} M hashes in {:.2} s ({:.1} MH/s, {} engine)",
        block.nonce,
        mined.stats.hashes as f64 / 1e6,
        mined.stats.elapsed.as_secs_f64(),
        mined.stats.hashes_per_second / 1e6,
        mined.stats.engine
    );
    println!("block id {}", block.block_id);

    println!("\n== 6. Verifying the block and the state it changes ==");
    let states = UserStates::new();
    let changes = block.verify_and_get_changes(difficulty, &states, DEFAULT_BLOCK_REWARD)?;
    for (who, role, hash) in [
        ("Dr House", Role::Doctor, dr_house.public_key_hash()),
        ("Dr Grey", Role::Doctor, dr_grey.public_key_hash()),
        ("miner", Role::Miner, miner),
    ] {
        let state = changes[&hash];
        println!("{who:9} {}  nonce {}  balance {}", short_address(role, hash), state.nonce, state.balance);
    }
    let bytes = block.to_bytes();
    assert_eq!(Block::from_bytes(&bytes)?, block);
    println!("canonical encoding: {} bytes, decodes to the same block", bytes.len());

    println!("\n== 7. A tampered block is rejected ==");
    let mut tampered = block.clone();
    tampered.records.swap(0, 1);
    println!("records reordered:                  {}", tampered.verify_and_get_changes(difficulty, &states, DEFAULT_BLOCK_REWARD).unwrap_err());
    let mut tampered = block.clone();
    tampered.records[3].prescription.push_str(" (edited)");
    tampered.records[3].txid = tampered.records[3].calculate_txid();
    tampered.block_id = tampered.calculate_block_id();
    println!("record edited, ids redone, no work: {}", tampered.verify_and_get_changes(difficulty, &states, DEFAULT_BLOCK_REWARD).unwrap_err());
    let mut already = states.clone();
    already.extend(changes);
    println!("the same block applied twice:       {}", block.verify_and_get_changes(difficulty, &already, DEFAULT_BLOCK_REWARD).unwrap_err());
    println!("\nDone: every record and block above was checked by emr-core.");
    Ok(())
}

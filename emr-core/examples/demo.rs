//! `make demo`: a hospital's day, told in plain words. Two doctors on two
//! curves sign prescriptions for patients
//! given by their addresses, a mistyped address is caught and its typo
//! pointed at, the records verify, a tampered record is rejected; the
//! records are mined into a block, which verifies and updates everyone's
//! state; a tampered block is rejected. Then a chain on disk
//! (`target/demo-chain/`): about twenty blocks mined with the difficulty
//! retargeting, a patient's history, and a heavier competing branch that
//! the chain reorganises to. Last, who may write and who may read (SPEC
//! section 8): a chain whose medical board admits two doctors and refuses a
//! third, revokes one, and a sealed prescription read by its patient and
//! refused to a stranger. And the pharmacy (SPEC section 10): admitted by
//! the board, it dispenses a prescription once, countersigned by the
//! patient, and is refused it the second time; a doctor cancels a
//! prescription, which then cannot be dispensed.

use std::io::{IsTerminal as _, Write as _};
use std::time::Duration;

use std::path::{Path, PathBuf};

use emr_core::address::{self, Address, AddressError, Role};
use emr_core::chain::{BatchOptions, Chain, ChainParams, PrescriptionState};
use emr_core::mining::{mine_block, BlockTemplate, MineOutcome, Progress, SearchOptions};
use emr_core::{
    AddOutcome, Block, Cancellation, Curve, Difficulty, Dispense, DispenserGrant, Entry, Grant, Hash160, Hash256, Record,
    Revocation, SealOptions, SigningKey, UserStates, DEFAULT_BLOCK_REWARD,
};

fn short(bytes: &[u8]) -> String {
    format!("{}…", hex::encode(&bytes[..6]))
}

/// An address cut to its prefix and first characters, for tables.
fn short_address(role: Role, hash: Hash160) -> String {
    format!("{}…", &Address::new(role, hash).to_string()[..14])
}

/// The 20-byte hash behind a patient's or a miner's name. A real EMR system
/// would use their public key hash; the library treats it as opaque bytes.
fn hash_of(name: &str) -> Hash160 {
    emr_core::hash::sha1(&[name.as_bytes()])
}

/// The address printed on a patient's card.
fn patient_card(name: &str) -> String {
    address::encode(Role::Patient, &hash_of(name))
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
    println!("== 1. 8:00 at St Mary's: two doctors get their signing keys ==");
    println!("(each keeps a private key; colleagues and patients only ever see its address)");
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

    println!("\n== 2. Patients are known by the address on their card ==");
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

    println!("\n== 3. Morning rounds: prescriptions signed (each doctor counts them 1, 2, 3, ...) ==");
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

    println!("\n== 4. Tampering is caught, and the error says how ==");
    let mut forged = records[0].clone();
    forged.prescription = "Amoxicillin 5000mg, 3x daily, 7 days".into();
    println!("prescription changed, txid kept:    {}", forged.verify(0).unwrap_err());
    forged.txid = forged.calculate_txid();
    println!("txid recomputed too:                {}", forged.verify(0).unwrap_err());
    println!("replayed with the same nonce:       {}", records[0].verify(1).unwrap_err());
    let mut impostor = records[1].clone();
    impostor.dr_hash = dr_house.public_key_hash();
    println!("claimed by another doctor:          {}", impostor.verify(0).unwrap_err());

    println!("\n== 5. Noon: the hospital's miner seals the morning's prescriptions into a block ==");
    println!("(why mine: a block is sealed by work, so rewriting history means redoing all the work done since;");
    println!(" the difficulty sets how long a block takes: choose it so the site's miner takes about the block time)");
    let miner = emr_core::hash::sha1(&[b"clinic-node-1"]);
    println!("miner     {}", Address::new(Role::Miner, miner));
    let difficulty = Difficulty::new(200_000_000).expect("non-zero");
    let template = BlockTemplate {
        previous: emr_core::Hash256::from_bytes([0; 32]),
        height: 0,
        miner,
        records: records.clone(),
        entries: Vec::new(),
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

    println!("\n== 6. Anyone can check the block, and what it changed ==");
    let states = UserStates::new();
    let changes = block.verify_and_get_changes(difficulty, &states, DEFAULT_BLOCK_REWARD)?;
    for (who, role, hash) in [
        ("Dr House", Role::Doctor, dr_house.public_key_hash()),
        ("Dr Grey", Role::Doctor, dr_grey.public_key_hash()),
        ("miner", Role::Miner, miner),
    ] {
        let state = changes[&hash];
        println!("{who:9} {}  prescriptions signed so far {}  rewards {}", short_address(role, hash), state.nonce, state.balance);
    }
    let bytes = block.to_bytes();
    assert_eq!(Block::from_bytes(&bytes)?, block);
    println!("canonical encoding: {} bytes, decodes to the same block", bytes.len());

    println!("\n== 7. A tampered block is refused ==");
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

    chain_demo(&dr_house, &dr_grey)?;
    access_demo(&dr_house, &dr_grey)?;
    println!("\nDone: every record and block above was checked by emr-core.");
    Ok(())
}

// ---------------------------------------------------------------------------
// The chain (SPEC section 5): sections 7 to 9. Kept apart from the sections
// above, which show records and single blocks.
// ---------------------------------------------------------------------------

/// The demo chain's parameters: a retarget window of 4 blocks and an initial
/// difficulty well below the simulated network's rate, so that the
/// retarget (and its clamp) shows within the first blocks.
fn demo_params() -> ChainParams {
    ChainParams {
        initial_difficulty: Difficulty::new(20_000).expect("non-zero"),
        window: 4,
        block_time: 12,
        max_adjust: 4,
        block_reward: DEFAULT_BLOCK_REWARD,
        ..ChainParams::default()
    }
}

/// The simulated network mines this many hashes per second (see
/// `simulated_gap`); the difficulty settles where a block takes 12 s of
/// them, about 120,000. The blocks are really mined, at the machine's speed.
const SIMULATED_HASHES_PER_SECOND: u64 = 10_000;

fn demo_chain_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("target").join("demo-chain")
}

/// A simulated clock: starts an hour ago, moves by each block's simulated gap.
struct SimulatedClock {
    now: u64,
}

fn real_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1_700_000_000, |d| d.as_secs())
}

impl SimulatedClock {
    fn start() -> SimulatedClock {
        SimulatedClock { now: real_now() - 3600 }
    }
}

/// Seconds the simulated network takes to find a block of `difficulty`:
/// the expected time, `difficulty / rate`, times a factor in 0.5..1.5 drawn
/// from the parent id, so the retarget has some noise to follow and a run
/// is reproducible given its blocks. (A real search's time is exponential,
/// noisier than this; with a window of 4 blocks that would swamp the demo.)
fn simulated_gap(difficulty: Difficulty, parent: &Hash256) -> u64 {
    let seed = u64::from_le_bytes(parent.as_bytes()[24..].try_into().expect("8 bytes"));
    let factor = 0.5 + (seed >> 11) as f64 / (1u64 << 53) as f64;
    let expected = difficulty.get() as f64 / SIMULATED_HASHES_PER_SECOND as f64;
    (expected * factor).round().max(1.0) as u64
}

/// Mines the next block on `chain`'s tip with `records` at the difficulty
/// the chain expects there, its timestamp a simulated gap after the tip's
/// (`clock` moves with it); returns the block, the gap and the hashes the
/// real search took.
fn mine_next(chain: &Chain, miner: Hash160, records: Vec<Record>, clock: &mut SimulatedClock) -> Result<(Block, u64, u64), Box<dyn std::error::Error>> {
    let difficulty = chain.next_difficulty()?;
    let (previous, height, gap) = match chain.tip()? {
        Some(tip) => (tip.block_id, tip.height + 1, simulated_gap(difficulty, &tip.block_id)),
        None => (Hash256::from_bytes([0; 32]), 0, 0),
    };
    clock.now += gap;
    let template = BlockTemplate { previous, height, miner, records, entries: Vec::new(), timestamp: clock.now, difficulty };
    let mined = mine_block(&template, &SearchOptions { threads: Some(1), ..SearchOptions::default() })?;
    let MineOutcome::Found(block) = mined.outcome else {
        return Err(format!("no block found at height {height}").into());
    };
    Ok((block, gap, mined.stats.hashes))
}

/// A signed record by `doctor` for `patient`, with the doctor's next nonce on `chain`.
fn next_record(chain: &Chain, doctor: &SigningKey, patient_hash: Hash160, text: &str, pending: u64) -> Result<Record, Box<dyn std::error::Error>> {
    let nonce = chain.user_state(&doctor.public_key_hash())?.nonce + 1 + pending;
    Ok(Record::sign(doctor, patient_hash.as_bytes(), text, nonce)?)
}

fn chain_demo(dr_house: &SigningKey, dr_grey: &SigningKey) -> Result<(), Box<dyn std::error::Error>> {
    let dir = demo_chain_dir();
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let dir = dir.canonicalize()?;
    let path = dir.join("chain.db");
    let mut chain = Chain::open(&path, Some(demo_params()))?;
    let mut clock = SimulatedClock::start();

    mine_demo_chain(&mut chain, &path, dr_house, dr_grey, &mut clock)?;
    show_patient_history(&chain, "alice", "\n== 9. Evening: alice's history, straight from the chain ==")?;
    reorganise_demo(&mut chain, &path, dr_house)?;
    Ok(())
}

/// Section 8: 20 blocks, each printed with its difficulty and timestamp gap.
fn mine_demo_chain(chain: &mut Chain, chain_path: &Path, dr_house: &SigningKey, dr_grey: &SigningKey, clock: &mut SimulatedClock) -> Result<(), Box<dyn std::error::Error>> {
    let params = chain.params().clone();
    println!("\n== 8. A month of the hospital's chain on disk: 20 blocks, the difficulty follows the miner ==");
    println!(
        "chain in {}; first difficulty {}; every {} blocks it is adjusted toward one block per {} s, by at most {}x at a time",
        chain_path.display(),
        params.initial_difficulty,
        params.window,
        params.block_time,
        params.max_adjust
    );
    println!("simulated clock: a network of {SIMULATED_HASHES_PER_SECOND} hashes/s, so a block's timestamp gap is about difficulty / {SIMULATED_HASHES_PER_SECOND} s");
    println!("height  difficulty  hashes tried    gap  records  outcome");
    let miner = hash_of("clinic-node-A");
    let mut previous_difficulty: Option<u128> = None;
    let patients = ["alice", "bob", "carol"];
    for height in 0..20u64 {
        // A record or two in most blocks: Dr House every other block, Dr Grey every third.
        let mut records = Vec::new();
        if height % 2 == 0 {
            let who = patients[(height / 2) as usize % patients.len()];
            records.push(next_record(chain, dr_house, hash_of(who), &format!("{who}: Amoxicillin 500mg, refill {height}"), 0)?);
        }
        if height % 3 == 1 {
            let who = patients[(height / 3) as usize % patients.len()];
            records.push(next_record(chain, dr_grey, hash_of(who), &format!("{who}: Ibuprofen 400mg, visit {height}"), 0)?);
        }
        let (block, gap, hashes) = mine_next(chain, miner, records, clock)?;
        let outcome = chain.add_block(&block, Some(real_now()))?;
        let clamped = previous_difficulty.is_some_and(|p| {
            let d = block.difficulty.get();
            p != d && (d == p * u128::from(params.max_adjust) || d == (p / u128::from(params.max_adjust)).max(1))
        });
        let note = match (height == params.window + 1, clamped) {
            (true, true) => "   <- first adjustment, held to the most it may change",
            (true, false) => "   <- first adjustment",
            (false, true) => "   <- held to the most it may change",
            _ => "",
        };
        println!(
            "{:6}  {:>10}  {:>12}  {:>4} s  {:>7}  {outcome:?}{}",
            block.height,
            block.difficulty.to_string(),
            hashes,
            gap,
            block.records.len(),
            note
        );
        previous_difficulty = Some(block.difficulty.get());
    }
    let tip = chain.tip()?.expect("20 blocks");
    println!(
        "tip: height {}  id {}  total difficulty {}  next difficulty {}",
        tip.height,
        short(tip.block_id.as_bytes()),
        chain.total_difficulty()?,
        chain.next_difficulty()?
    );
    Ok(())
}

/// Section 8: every record for one patient, in chain order.
fn show_patient_history(chain: &Chain, who: &str, heading: &str) -> Result<(), Box<dyn std::error::Error>> {
    println!("{heading}");
    for entry in chain.patient_history(&hash_of(who))? {
        println!(
            "height {:2}  block {}  by {}  nonce {}  \"{}\"",
            entry.height,
            short(entry.block_id.as_bytes()),
            short_address(Role::Doctor, entry.record.dr_hash),
            entry.record.nonce,
            entry.record.prescription
        );
    }
    Ok(())
}

/// Section 9: node B was cut off after block 15 and kept mining; its branch
/// is longer and heavier, and the chain switches to it when it arrives.
fn reorganise_demo(chain: &mut Chain, path: &Path, dr_house: &SigningKey) -> Result<(), Box<dyn std::error::Error>> {
    const FORK_AFTER: u64 = 15;
    println!("\n== 10. Two sites disagreed while cut off: the history with more work wins ==");
    // Node B's own copy of the chain, as it was when it lost contact.
    let mut node_b = Chain::in_memory(chain.params().clone())?;
    let shared: Vec<Block> = chain.blocks(0, FORK_AFTER + 1).collect::<Result<_, _>>()?;
    node_b.add_blocks(&shared, None, &BatchOptions::default())?;
    let mut b_clock = SimulatedClock { now: shared.last().expect("16 blocks").timestamp };
    let miner_b = hash_of("clinic-node-B");
    let mut branch = Vec::new();
    // Mine until the branch is heavier than node A's chain, and one more.
    let target = chain.total_difficulty()?;
    let mut heavier_at = None;
    while heavier_at.is_none_or(|at| branch.len() <= at) && branch.len() < 40 {
        let records = if branch.len() == 1 {
            vec![next_record(&node_b, dr_house, hash_of("bob"), "bob: Vitamin D 1000 IU daily (node B)", 0)?]
        } else {
            Vec::new()
        };
        let (block, _, _) = mine_next(&node_b, miner_b, records, &mut b_clock)?;
        node_b.add_block(&block, None)?;
        branch.push(block);
        if heavier_at.is_none() && node_b.total_difficulty()? > target {
            heavier_at = Some(branch.len());
        }
    }
    let before = chain.tip()?.expect("a tip");
    let house_before = chain.user_state(&dr_house.public_key_hash())?.nonce;
    println!(
        "node A: tip height {}  id {}  total difficulty {}",
        before.height,
        short(before.block_id.as_bytes()),
        chain.total_difficulty()?
    );
    println!(
        "node B: branch of {} blocks after height {FORK_AFTER}, total difficulty {}",
        branch.len(),
        node_b.total_difficulty()?
    );
    println!("node A receives node B's blocks:");
    for block in &branch {
        let outcome = chain.add_block(block, Some(real_now()))?;
        let note = match outcome {
            AddOutcome::SideBranch => "stored; not heavier than the active chain (yet)",
            AddOutcome::Reorganized => "the branch is now heavier: blocks after the fork undone, the branch applied",
            AddOutcome::Extended => "extends the new tip",
            AddOutcome::AlreadyKnown => "already known",
            AddOutcome::Stale => "not stored: neither heavier nor a competitor near the tip",
        };
        println!("  height {:2}  difficulty {:>8}  {outcome:?}: {note}", block.height, block.difficulty.to_string());
    }
    let after = chain.tip()?.expect("a tip");
    println!(
        "tip before: height {} id {}   tip after: height {} id {}  total difficulty {}",
        before.height,
        short(before.block_id.as_bytes()),
        after.height,
        short(after.block_id.as_bytes()),
        chain.total_difficulty()?
    );
    println!(
        "Dr House's nonce: {house_before} before, {} after (his record in node A's block 18 is off the active chain; node B's block 17 has one)",
        chain.user_state(&dr_house.public_key_hash())?.nonce
    );
    show_patient_history(chain, "alice", "alice's history now (node A's blocks 18 and 19 are off the active chain):")?;
    show_patient_history(chain, "bob", "bob's history now (node B's block 17 carries a record node A never had):")?;

    // Reopen from disk and re-check everything.
    let params = chain.params().clone();
    let placeholder = Chain::in_memory(params)?;
    drop(std::mem::replace(chain, placeholder));
    let reopened = Chain::open(path, None)?;
    let report = reopened.check(&BatchOptions::default())?;
    println!(
        "\nreopened {}: tip height {}, same id: {}; check: {} blocks good, first bad: {:?}",
        path.display(),
        reopened.tip()?.map_or(0, |t| t.height),
        reopened.tip()?.map(|t| t.block_id) == Some(after.block_id),
        report.blocks_ok,
        report.first_bad
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// Section 10: who may write, who may read (SPEC section 8).
// ---------------------------------------------------------------------------

/// Mines `records` and `entries` onto `chain`'s tip at `timestamp` and adds
/// the block: the chain's verdict, as the block's outcome or its error.
fn add_access_block(
    chain: &mut Chain,
    records: Vec<Record>,
    entries: Vec<Entry>,
    timestamp: u64,
) -> Result<Result<AddOutcome, emr_core::ChainError>, Box<dyn std::error::Error>> {
    let (previous, height) = match chain.tip()? {
        Some(tip) => (tip.block_id, tip.height + 1),
        None => (Hash256::from_bytes([0; 32]), 0),
    };
    let template = BlockTemplate {
        previous,
        height,
        miner: hash_of("miner"),
        records,
        entries,
        timestamp,
        difficulty: chain.next_difficulty()?,
    };
    let mined = mine_block(&template, &SearchOptions { threads: Some(1), ..SearchOptions::default() })?;
    let MineOutcome::Found(block) = mined.outcome else {
        return Err("no block found".into());
    };
    Ok(chain.add_block(&block, None))
}

fn access_demo(dr_house: &SigningKey, dr_grey: &SigningKey) -> Result<(), Box<dyn std::error::Error>> {
    println!("\n== 11. Who may write, who may read: the medical board admits doctors ==");
    let board = SigningKey::generate(Curve::P256)?;
    let dr_quack = SigningKey::generate(Curve::Secp256k1)?;
    let params = ChainParams {
        initial_difficulty: Difficulty::new(1).expect("non-zero"),
        authorities: vec![*board.public_key()],
        ..ChainParams::default()
    };
    let mut chain = Chain::in_memory(params)?;
    println!("a chain whose medical board (key hash {}) decides who may write", board.public_key_hash());

    let t0 = 1_700_000_000;
    let grants = [
        Grant::sign(&board, chain.chain_id(), dr_house.public_key_der(), "GMC 7012345, Dr G. House", 0, u64::MAX)?,
        Grant::sign(&board, chain.chain_id(), dr_grey.public_key_der(), "GMC 7054321, Dr M. Grey", 0, u64::MAX)?,
    ];
    let house_grant = grants[0].grant_id();
    let added = add_access_block(&mut chain, Vec::new(), grants.into_iter().map(Entry::from).collect(), t0)?;
    println!("block 0 grants Dr House and Dr Grey:   {:?}", added?);

    let alice = SigningKey::generate(Curve::P256)?;
    let stranger = SigningKey::generate(Curve::Secp256k1)?;
    let alice_hash = alice.public_key_hash();
    let pharmacy = SigningKey::generate(Curve::P256)?;
    let sealed = Record::sign_sealed(
        dr_house,
        alice_hash.as_bytes(),
        "Warfarin 5 mg once daily; INR check in 1 week",
        1,
        &[*alice.public_key(), *pharmacy.public_key()],
        SealOptions::default(),
    )?;
    let grey = Record::sign(dr_grey, alice_hash.as_bytes(), "Amoxicillin 500 mg, 3x daily", 1)?;
    let quack = Record::sign(&dr_quack, alice_hash.as_bytes(), "Laudanum, as much as wanted", 1)?;
    match add_access_block(&mut chain, vec![quack], Vec::new(), t0 + 12)? {
        Ok(outcome) => return Err(format!("an unauthorized doctor's block was accepted: {outcome:?}").into()),
        Err(e) => println!("block 1 by Dr Quack (no grant):        refused: {e}"),
    }
    let added = add_access_block(&mut chain, vec![sealed.clone(), grey.clone()], Vec::new(), t0 + 12)?;
    println!("block 1 by Dr House and Dr Grey:       {:?}", added?);

    println!("Dr House's prescription on the ledger: {}…", &sealed.prescription[..48]);
    println!("  opened with alice's key:             {}", sealed.open(&alice)?);
    println!("  opened with the pharmacy's key:      {}", sealed.open(&pharmacy)?);
    println!("  opened with a stranger's key:        {}", sealed.open(&stranger).unwrap_err());

    let revocation = Revocation::sign(&board, chain.chain_id(), house_grant, t0 + 100)?;
    match add_access_block(&mut chain, Vec::new(), vec![revocation.clone().into()], t0 + 24)? {
        Ok(outcome) => return Err(format!("a revocation ahead of its block was accepted: {outcome:?}").into()),
        Err(e) => println!("block 2 at t0+24 revoking from t0+100:  refused: {e}"),
    }
    let added = add_access_block(&mut chain, Vec::new(), vec![revocation.into()], t0 + 100)?;
    println!("block 2 at t0+100 revokes Dr House:    {:?}", added?);
    for t in [t0 + 99, t0 + 100] {
        println!(
            "  at t0+{:<3} Dr House authorized: {:5}  Dr Grey authorized: {}",
            t - t0,
            chain.is_authorized(&dr_house.public_key_hash(), t)?,
            chain.is_authorized(&dr_grey.public_key_hash(), t)?
        );
    }
    let late = Record::sign(dr_house, alice_hash.as_bytes(), "Warfarin 3 mg", 2)?;
    match add_access_block(&mut chain, vec![late], Vec::new(), t0 + 100)? {
        Ok(outcome) => return Err(format!("a revoked doctor's block was accepted: {outcome:?}").into()),
        Err(e) => println!("block 3 by Dr House at t0+100:         refused: {e}"),
    }
    pharmacy_demo(&mut chain, &board, dr_grey, &alice, &grey, t0 + 112)
}

/// How a prescription stands, in a line.
fn show_state(chain: &Chain, what: &str, record: &Record) -> Result<(), Box<dyn std::error::Error>> {
    let state = chain.prescription_state(&record.dr_hash, record.nonce)?;
    let detail = match &state {
        PrescriptionState::Open => String::new(),
        PrescriptionState::Dispensed(d) => {
            format!(" by pharmacy {} in block {} ({:?})", d.dispense.pharmacy_hash(), d.height, d.dispense.note)
        }
        PrescriptionState::Cancelled(c) => format!(" in block {} ({:?})", c.height, c.cancellation.reason),
    };
    println!("  {what:36} {}{detail}", state.as_str());
    Ok(())
}

fn pharmacy_demo(
    chain: &mut Chain,
    board: &SigningKey,
    dr_grey: &SigningKey,
    alice: &SigningKey,
    amoxicillin: &Record,
    t: u64,
) -> Result<(), Box<dyn std::error::Error>> {
    println!("\n== 12. The pharmacy: each prescription handed over at most once (SPEC section 10) ==");
    let pharmacy = SigningKey::generate(Curve::P256)?;
    let id = chain.chain_id();
    let admitted = DispenserGrant::sign(board, id, pharmacy.public_key_der(), "GPhC 1234567, High Street Pharmacy", 0, u64::MAX)?;
    let codeine = Record::sign(dr_grey, alice.public_key_hash().as_bytes(), "Codeine 30 mg, 4x daily, 5 days", 2)?;
    let added = add_access_block(chain, vec![codeine.clone()], vec![admitted.into()], t)?;
    println!("block 3 admits the pharmacy (key hash {}), Dr Grey prescribes codeine: {:?}", pharmacy.public_key_hash(), added?);
    show_state(chain, "alice's amoxicillin:", amoxicillin)?;

    // At the counter alice countersigns on her card: no pharmacy can
    // dispense (and so block) a prescription she did not bring to it.
    let first = Dispense::sign(&pharmacy, alice, id, amoxicillin, "21 capsules, batch A7")?;
    println!("the pharmacy hands over the amoxicillin, alice countersigns: {:?}", chain.submit_entry(&first.clone().into())?);
    let added = add_access_block(chain, Vec::new(), vec![first.into()], t + 12)?;
    println!("block 4 carries the dispensing:        {:?}", added?);
    show_state(chain, "alice's amoxicillin:", amoxicillin)?;
    let again = Dispense::sign(&pharmacy, alice, id, amoxicillin, "21 capsules, batch B2")?;
    match chain.submit_entry(&again.into()) {
        Ok(outcome) => return Err(format!("a second dispensing was accepted: {outcome:?}").into()),
        Err(e) => println!("the same prescription brought back:    refused: {e}"),
    }

    // Dr Grey withdraws the codeine before it is handed over.
    let cancellation = Cancellation::sign(dr_grey, id, &codeine, "interacts with her warfarin")?;
    let added = add_access_block(chain, Vec::new(), vec![cancellation.into()], t + 24)?;
    println!("block 5: Dr Grey cancels the codeine:  {:?}", added?);
    show_state(chain, "alice's codeine:", &codeine)?;
    let late = Dispense::sign(&pharmacy, alice, id, &codeine, "")?;
    match chain.submit_entry(&late.into()) {
        Ok(outcome) => return Err(format!("a cancelled prescription was dispensed: {outcome:?}").into()),
        Err(e) => println!("the codeine brought to the pharmacy:   refused: {e}"),
    }
    Ok(())
}

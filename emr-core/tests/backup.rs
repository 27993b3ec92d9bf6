//! Backups (`Chain::backup`), a restore, what the chain says about a file
//! another program wrote (docs/OPERATIONS.md, "Backups"), and the readable
//! SQL tables and views (docs/SQL.md).

mod common;

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::{block_on, checksummed_sql, params, TempDb};
use emr_core::address::{encode, Role};
use emr_core::chain::{BatchOptions, Chain, ChainError};
use emr_core::seal::SealOptions;
use emr_core::{Block, Curve, Hash160, Record, SigningKey};

/// A chain of `n` blocks, one record each (a doctor's nonces 1..=n, patients
/// cycling over three), closed; returns the blocks.
fn write_chain(path: &Path, doctor: &SigningKey, n: u64) -> Vec<Block> {
    let mut chain = Chain::open(path, Some(params())).unwrap();
    let mut blocks: Vec<Block> = Vec::new();
    for nonce in 1..=n {
        let record = Record::sign(doctor, &[(nonce % 3) as u8 + 1; 20], &format!("Amoxicillin 500mg #{nonce}"), nonce).unwrap();
        let block = block_on(blocks.last(), 1, vec![record]);
        chain.add_block(&block, None).unwrap();
        blocks.push(block);
    }
    blocks
}

fn check_clean(chain: &Chain) {
    let report = chain.check(&BatchOptions::default()).unwrap();
    assert_eq!(report.first_bad, None);
}

#[test]
fn a_backup_opens_passes_check_and_restores() {
    let db = TempDb::new("backup-src");
    let copy = TempDb::new("backup-copy");
    let doctor = SigningKey::generate(Curve::P256).unwrap();
    let blocks = write_chain(&db.0, &doctor, 12);
    // A pending record travels with the backup: the pool is in the file.
    let pending = Record::sign(&doctor, &[9; 20], "pending", 13).unwrap();
    {
        let mut chain = Chain::open(&db.0, None).unwrap();
        chain.submit(&pending).unwrap();
        chain.backup(&copy.0).unwrap();
    }
    for suffix in ["-wal", "-shm", "-journal"] {
        assert!(!copy.with(suffix).exists(), "the backup left {suffix} beside it");
    }
    let partials = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains(".partial-") && e.file_name().to_string_lossy().contains("backup-copy"))
        .count();
    assert_eq!(partials, 0, "a temporary file of the backup stayed");
    {
        let chain = Chain::open(&copy.0, None).unwrap();
        assert_eq!(chain.page_checksums(), Ok(true));
        check_clean(&chain);
        assert_eq!(chain.tip().unwrap().unwrap().block_id, blocks.last().unwrap().block_id);
        assert_eq!(chain.pending().unwrap(), vec![pending.clone()]);
        assert_eq!(chain.doctor_records(&doctor.public_key_hash()).unwrap().len(), 12);
    }
    // Restore: the original is lost (here: damaged by a plain SQLite write);
    // the backup file is copied back in its place and opened.
    rusqlite::Connection::open(&db.0).unwrap().execute("DELETE FROM states", []).unwrap();
    assert!(matches!(Chain::open(&db.0, None).map(|c| c.check(&BatchOptions::default())), Err(ChainError::Corrupt { .. }) | Ok(Err(ChainError::Corrupt { .. }))));
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(db.with(suffix));
    }
    std::fs::copy(&copy.0, &db.0).unwrap();
    let mut chain = Chain::open(&db.0, None).unwrap();
    check_clean(&chain);
    assert_eq!(chain.len().unwrap(), 12);
    // It takes the next block.
    let next = block_on(blocks.last(), 1, vec![pending]);
    assert_eq!(chain.add_block(&next, None).unwrap(), emr_core::chain::AddOutcome::Extended);
}

#[test]
fn a_backup_never_overwrites_and_reports_damage() {
    let db = TempDb::new("backup-src");
    let copy = TempDb::new("backup-copy");
    let doctor = SigningKey::generate(Curve::Secp256k1).unwrap();
    write_chain(&db.0, &doctor, 6);
    std::fs::write(&copy.0, b"keep me").unwrap();
    let chain = Chain::open_readonly(&db.0).unwrap();
    let err = chain.backup(&copy.0).unwrap_err();
    assert!(matches!(err, ChainError::Io(_)), "{err}");
    assert!(err.to_string().contains("already exists"), "{err}");
    assert_eq!(std::fs::read(&copy.0).unwrap(), b"keep me");
    std::fs::remove_file(&copy.0).unwrap();
    let err = chain.backup(Path::new("/nonexistent-dir/emr/backup.db")).unwrap_err();
    assert!(matches!(err, ChainError::Io(_)), "{err}");
    drop(chain);

    // One damaged byte in the middle of a page: the backup is refused, and
    // nothing appears at the destination.
    let mut bytes = std::fs::read(&db.0).unwrap();
    let page = 4096;
    bytes[3 * page + 1000] ^= 0x40;
    std::fs::write(&db.0, &bytes).unwrap();
    let result = Chain::open_readonly(&db.0).and_then(|c| c.backup(&copy.0));
    let err = result.unwrap_err();
    assert!(matches!(err, ChainError::Corrupt { .. }), "{err}");
    assert!(!copy.0.exists());
}

/// The writer child: adds a block with a record at a time until
/// `<db>.stop` exists, saying `tip <height>` after each add has returned.
fn writer(path: &str) {
    let mut out = std::io::stdout();
    let doctor = SigningKey::generate(Curve::P256).unwrap();
    let mut chain = Chain::open(path, None).unwrap();
    let mut tip = chain.block_at(chain.len().unwrap() - 1).unwrap().unwrap();
    writeln!(out, "\nready").unwrap();
    let stop = PathBuf::from(format!("{path}.stop"));
    let mut nonce = 0;
    // A bound too, in case the parent died without saying stop.
    while !stop.exists() && nonce < 100_000 {
        nonce += 1;
        let record = Record::sign(&doctor, &[7; 20], "written beside a backup", nonce).unwrap();
        let block = block_on(Some(&tip), 2, vec![record]);
        chain.add_block(&block, None).unwrap();
        tip = block;
        writeln!(out, "tip {}", tip.height).unwrap();
    }
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Backups taken from a read-only handle while another process holds the
/// write lock and adds blocks: each copy opens, passes `check`, and holds
/// a state the writer had acknowledged or was committing; copies taken
/// one after another (waiting for the writer to add blocks in between)
/// hold later and later states.
#[test]
fn backups_while_another_process_writes() {
    if let Ok(path) = std::env::var("EMR_BACKUP_WRITER") {
        writer(&path);
        return;
    }
    let db = TempDb::new("backup-live");
    let doctor = SigningKey::generate(Curve::Secp256k1).unwrap();
    write_chain(&db.0, &doctor, 3);
    let mut child = Killed(
        Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "backups_while_another_process_writes", "--nocapture", "--test-threads=1"])
            .env("EMR_BACKUP_WRITER", &db.0)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = std::io::BufReader::new(child.0.stdout.take().unwrap()).lines().map_while(Result::ok);
    let next_tip = |lines: &mut dyn Iterator<Item = String>| -> u64 {
        loop {
            let line = lines.next().expect("the writer stopped talking");
            if let Some(h) = line.strip_prefix("tip ") {
                return h.parse().unwrap();
            }
        }
    };
    assert!(lines.by_ref().any(|l| l == "ready"));
    let reader = Chain::open_readonly(&db.0).unwrap();
    let mut heights = Vec::new();
    for round in 0..6 {
        // The writer has added two blocks since the last copy was made.
        let acknowledged = (0..2).map(|_| next_tip(&mut lines)).last().unwrap();
        assert!(matches!(Chain::open(&db.0, None), Err(ChainError::Locked { .. })), "the writer holds the chain");
        let copy = TempDb::new(&format!("backup-live-copy{round}"));
        reader.backup(&copy.0).unwrap();
        let chain = Chain::open(&copy.0, None).unwrap();
        check_clean(&chain);
        let height = chain.tip().unwrap().unwrap().height;
        assert!(height >= acknowledged, "copy {round} at {height}, before the acknowledged {acknowledged}");
        heights.push(height);
    }
    std::fs::write(format!("{}.stop", db.0.display()), b"").unwrap();
    let last = lines.filter_map(|l| l.strip_prefix("tip ").map(|h| h.parse::<u64>().unwrap())).last();
    let status = child.0.wait().unwrap();
    let _ = std::fs::remove_file(format!("{}.stop", db.0.display()));
    assert!(status.success(), "the writer failed: {status}");
    assert!(heights.windows(2).all(|w| w[0] < w[1]), "copies did not advance: {heights:?}");
    assert!(last.unwrap_or(0) >= *heights.last().unwrap());
}

/// The message a chain file gets when plain SQLite wrote it: what the
/// `sqlite3` shell's `.backup`, `VACUUM INTO` and `CREATE VIEW` do, here
/// through rusqlite's own (unchecked) SQLite.
#[test]
fn files_written_by_plain_sqlite_are_named_so() {
    let db = TempDb::new("foreign-src");
    let doctor = SigningKey::generate(Curve::P256).unwrap();
    write_chain(&db.0, &doctor, 20);
    let opened = |path: &Path| -> ChainError {
        match Chain::open(path, None) {
            Err(e) => e,
            Ok(chain) => chain.check(&BatchOptions::default()).unwrap_err(),
        }
    };
    let says_foreign = |e: &ChainError| {
        let text = e.to_string();
        assert!(matches!(e, ChainError::Corrupt { .. }), "{text}");
        assert!(text.contains("page checksum does not match"), "{text}");
        assert!(text.contains("written by another program (sqlite3?)"), "{text}");
        assert!(text.contains("emr chain backup"), "{text}");
    };

    // VACUUM INTO: a rebuilt file, every page unstamped.
    let vacuumed = TempDb::new("foreign-vacuum");
    rusqlite::Connection::open(&db.0)
        .unwrap()
        .execute("VACUUM INTO ?1", [vacuumed.0.display().to_string()])
        .unwrap();
    says_foreign(&opened(&vacuumed.0));

    // The backup API without the checksum VFS (`.backup`): page 1 changed.
    let copied = TempDb::new("foreign-backup");
    rusqlite::Connection::open(&db.0).unwrap().backup(rusqlite::MAIN_DB, &copied.0, None::<fn(rusqlite::backup::Progress)>).unwrap();
    says_foreign(&opened(&copied.0));

    // A view created in place.
    rusqlite::Connection::open(&db.0).unwrap().execute_batch("CREATE VIEW mine AS SELECT height FROM active").unwrap();
    says_foreign(&opened(&db.0));
}

/// Damage to one page that is not page 1 is not blamed on another program.
#[test]
fn damage_is_not_called_a_foreign_write() {
    let db = TempDb::new("foreign-flip");
    let doctor = SigningKey::generate(Curve::P256).unwrap();
    write_chain(&db.0, &doctor, 20);
    let mut bytes = std::fs::read(&db.0).unwrap();
    bytes[2 * 4096 + 300] ^= 0x01;
    std::fs::write(&db.0, &bytes).unwrap();
    let err = match Chain::open(&db.0, None) {
        Err(e) => e,
        Ok(chain) => chain.check(&BatchOptions::default()).unwrap_err(),
    };
    let text = err.to_string();
    assert!(text.contains("page checksum does not match"), "{text}");
    assert!(!text.contains("another program"), "{text}");
    assert!(text.contains("emr chain backup"), "{text}");
}

// ---------------------------------------------------------------------------
// Readable SQL (docs/SQL.md).

type Row = (i64, String, String, i64, String, String, bool);

fn prescriptions(path: &Path) -> Vec<Row> {
    let sql = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut stmt = sql
        .prepare("SELECT height, txid, doctor, nonce, patient, prescription, sealed FROM prescriptions ORDER BY height, idx")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn expected(blocks: &[Block]) -> Vec<Row> {
    blocks
        .iter()
        .flat_map(|b| {
            b.records.iter().map(move |r| {
                (
                    b.height as i64,
                    r.txid.to_string(),
                    encode(Role::Doctor, &r.dr_hash),
                    r.nonce as i64,
                    encode(Role::Patient, &r.patient_hash),
                    r.prescription.clone(),
                    r.prescription.starts_with("sealed1:"),
                )
            })
        })
        .collect()
}

#[test]
fn readable_tables_follow_adds_undo_and_reorganisations() {
    let db = TempDb::new("sql-views");
    let doctor = SigningKey::generate(Curve::P256).unwrap();
    let patient = SigningKey::generate(Curve::Secp256k1).unwrap();
    let patient_hash: Hash160 = patient.public_key_hash();
    let mut chain = Chain::open(&db.0, Some(params())).unwrap();
    let plain = Record::sign(&doctor, patient_hash.as_bytes(), "Ibuprofen 400mg", 1).unwrap();
    let sealed = Record::sign_sealed(
        &doctor,
        patient_hash.as_bytes(),
        "Sertraline 50mg",
        2,
        &[*patient.public_key()],
        SealOptions::default(),
    )
    .unwrap();
    let b0 = block_on(None, 1, vec![plain.clone(), sealed.clone()]);
    let b1 = block_on(Some(&b0), 1, vec![Record::sign(&doctor, &[5; 20], "Metformin 500mg", 3).unwrap()]);
    chain.add_blocks(&[b0.clone(), b1.clone()], None, &BatchOptions::default()).unwrap();
    let rows = prescriptions(&db.0);
    assert_eq!(rows, expected(&[b0.clone(), b1.clone()]));
    assert!(rows[1].5.starts_with("sealed1:") && rows[1].6);
    assert!(rows[0].4.starts_with("emrp1") && rows[0].2.starts_with("emrd1"));
    assert_eq!(rows[0].1.len(), 64);

    // Undo: the block's rows go, and come back with it.
    chain.undo_last_block().unwrap();
    assert_eq!(prescriptions(&db.0), expected(std::slice::from_ref(&b0)));
    // A heavier branch from b0 replaces b1 with two other blocks.
    let mut c1 = block_on(Some(&b0), 3, vec![]);
    c1.timestamp += 1;
    c1.block_id = c1.calculate_block_id();
    let c2 = block_on(Some(&c1), 3, vec![Record::sign(&doctor, &[6; 20], "Aspirin 100mg", 3).unwrap()]);
    chain.add_block(&b1, None).unwrap();
    chain.add_blocks(&[c1.clone(), c2.clone()], None, &BatchOptions::default()).unwrap();
    assert_eq!(chain.tip().unwrap().unwrap().block_id, c2.block_id);
    assert_eq!(prescriptions(&db.0), expected(&[b0.clone(), c1.clone(), c2.clone()]));
    check_clean(&chain);

    // The blocks view: one row per active block.
    let sql = rusqlite::Connection::open_with_flags(&db.0, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let blocks: Vec<(i64, String, i64, String)> = sql
        .prepare("SELECT height, block_id, records, block_date FROM chain_blocks ORDER BY height")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(blocks.len(), 3);
    assert_eq!(blocks[2], (2, c2.block_id.to_string(), 1, "2023-11-14T22:13:45Z".to_owned()));
    drop(sql);
    drop(chain);

    // A row edited consistently (through the checksum VFS) is caught by check.
    checksummed_sql(&db.0)
        .execute("UPDATE record_text SET prescription = 'Aspirin 500mg' WHERE prescription = 'Aspirin 100mg'", [])
        .unwrap();
    let err = Chain::open(&db.0, None).unwrap().check(&BatchOptions::default()).unwrap_err();
    assert!(matches!(err, ChainError::Corrupt { table: "record_text", .. }), "{err}");
}

/// A format 3 file (before the readable tables): refused read-only, as
/// older formats are; upgraded on a writable open, its rows filled from
/// the blocks.
#[test]
fn format_3_files_gain_the_readable_tables() {
    let db = TempDb::new("sql-format3");
    let doctor = SigningKey::generate(Curve::Secp256k1).unwrap();
    let blocks = write_chain(&db.0, &doctor, 5);
    checksummed_sql(&db.0)
        .execute_batch(
            "DROP VIEW prescriptions; DROP VIEW chain_blocks; DROP TABLE record_text;
             UPDATE meta SET value = 3 WHERE key = 'format';",
        )
        .unwrap();
    let err = Chain::open_readonly(&db.0).unwrap_err();
    assert!(matches!(err, ChainError::OldFormat { found: 3, current: 5 }), "{err}");
    let chain = Chain::open(&db.0, None).unwrap();
    check_clean(&chain);
    drop(chain);
    assert_eq!(prescriptions(&db.0), expected(&blocks));
    drop(Chain::open_readonly(&db.0).unwrap());
}

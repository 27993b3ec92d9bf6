use super::*;

use std::fs;
use std::path::PathBuf;

/// A scratch directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("emr-pagecheck-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Removes a database and its WAL and shared-memory files.
fn remove_db(path: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = fs::remove_file(PathBuf::from(p));
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

const ROWS: i64 = 3000;

fn key(i: i64) -> String {
    format!("key{:08}", (i * 7919) % 100_003)
}

fn fill(conn: &Connection, from: i64, to: i64) {
    let tx = conn.unchecked_transaction().unwrap();
    {
        let mut insert = tx.prepare("INSERT INTO t(id, k, v) VALUES (?1, ?2, ?3)").unwrap();
        for i in from..to {
            insert
                .execute(rusqlite::params![i, key(i), format!("value-{i}-{}", "x".repeat((i % 40) as usize))])
                .unwrap();
        }
    }
    tx.commit().unwrap();
}

/// The campaign's database: WAL, synchronous=FULL, a table of ROWS rows with
/// an index, and some free pages (a dropped scratch table).
fn build(conn: &Connection) {
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT NOT NULL, v TEXT NOT NULL);
         CREATE INDEX t_k ON t(k);
         CREATE TABLE scratch(x);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 60)
           INSERT INTO scratch SELECT printf('%.*c', 600, 'z') FROM n;",
    )
    .unwrap();
    fill(conn, 0, ROWS);
    conn.execute_batch("DROP TABLE scratch").unwrap();
}

/// What the campaign asks: a full table scan, a full index scan, and a few
/// index lookups, each folded into a digest.
#[derive(Debug, PartialEq, Eq)]
struct Answer {
    rows: i64,
    table: u64,
    index: u64,
    lookups: Vec<Option<(i64, String)>>,
}

fn answer(conn: &Connection) -> rusqlite::Result<Answer> {
    let mut table = CRC64.digest();
    let mut rows = 0;
    let mut scan = conn.prepare("SELECT id, k, v FROM t NOT INDEXED ORDER BY id")?;
    let mut it = scan.query([])?;
    while let Some(row) = it.next()? {
        rows += 1;
        table.update(&row.get::<_, i64>(0)?.to_le_bytes());
        table.update(row.get::<_, String>(1)?.as_bytes());
        table.update(row.get::<_, String>(2)?.as_bytes());
    }
    let mut index = CRC64.digest();
    let mut scan = conn.prepare("SELECT k, id FROM t INDEXED BY t_k ORDER BY k")?;
    let mut it = scan.query([])?;
    while let Some(row) = it.next()? {
        index.update(row.get::<_, String>(0)?.as_bytes());
        index.update(&row.get::<_, i64>(1)?.to_le_bytes());
    }
    let mut lookup = conn.prepare("SELECT id, v FROM t INDEXED BY t_k WHERE k = ?1")?;
    let lookups = [1, 777, 1500, 2999, ROWS + 5]
        .iter()
        .map(|&i| lookup.query_row([key(i)], |r| Ok((r.get(0)?, r.get(1)?))).optional())
        .collect::<rusqlite::Result<_>>()?;
    Ok(Answer { rows, table: table.finalize(), index: index.finalize(), lookups })
}

fn page_size(file: &[u8]) -> usize {
    match u16::from_be_bytes([file[16], file[17]]) {
        1 => 65536,
        n => usize::from(n),
    }
}

/// The free-list pages (trunks and leaves, 1-based) of a database file.
fn free_pages(file: &[u8]) -> std::collections::BTreeSet<usize> {
    let be32 = |at: usize| u32::from_be_bytes(file[at..at + 4].try_into().unwrap()) as usize;
    let page = page_size(file);
    let mut free = std::collections::BTreeSet::new();
    let mut trunk = be32(32);
    while trunk != 0 {
        free.insert(trunk);
        let at = (trunk - 1) * page;
        for i in 0..be32(at + 4) {
            free.insert(be32(at + 8 + 4 * i));
        }
        trunk = be32(at);
    }
    free
}

/// Fixed-seed generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[derive(Debug, Default)]
struct Tally {
    flips: usize,
    open_checksum: usize,
    open_other: usize,
    query_checksum: usize,
    query_other: usize,
    harmless: usize,
    /// Pages (1-based) whose flip changed nothing.
    harmless_pages: std::collections::BTreeSet<usize>,
    /// Errors other than checksum failures, by message.
    other_errors: std::collections::BTreeMap<String, usize>,
    wrong: Vec<(usize, usize, u8)>,
}

impl Tally {
    fn errored(&mut self, at_open: bool, e: &rusqlite::Error) {
        match (at_open, is_checksum_failure(e)) {
            (true, true) => self.open_checksum += 1,
            (true, false) => self.open_other += 1,
            (false, true) => self.query_checksum += 1,
            (false, false) => self.query_other += 1,
        }
        if !is_checksum_failure(e) {
            *self.other_errors.entry(e.to_string()).or_default() += 1;
        }
    }
}

/// Flips `flips` single bytes of a copy of `original` (page `i % pages`,
/// random offset; every 8th flip inside the 100-byte header), reopens each
/// copy with `opener` and asks [`answer`].
fn campaign(
    original: &[u8],
    expected: &Answer,
    flips: usize,
    seed: u64,
    dir: &Scratch,
    opener: &dyn Fn(&Path) -> rusqlite::Result<Connection>,
) -> Tally {
    let page = page_size(original);
    let pages = original.len() / page;
    let mut rng = Rng(seed);
    let mut tally = Tally { flips, ..Tally::default() };
    let path = dir.path("flipped.db");
    for i in 0..flips {
        let offset = if i % 8 == 0 { rng.below(100) } else { (i % pages) * page + rng.below(page) };
        let xor = 1 + rng.below(255) as u8;
        let mut damaged = original.to_vec();
        damaged[offset] ^= xor;
        remove_db(&path);
        fs::write(&path, &damaged).unwrap();
        let conn = match opener(&path) {
            Ok(conn) => conn,
            Err(e) => {
                tally.errored(true, &e);
                continue;
            }
        };
        match answer(&conn) {
            Err(e) => tally.errored(false, &e),
            Ok(a) if a == *expected => {
                tally.harmless += 1;
                tally.harmless_pages.insert(offset / page + 1);
            }
            Ok(_) => tally.wrong.push((offset / page, offset % page, xor)),
        }
    }
    remove_db(&path);
    tally
}

fn plain_open(path: &Path) -> rusqlite::Result<Connection> {
    Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE)
}

fn checked_open(path: &Path) -> rusqlite::Result<Connection> {
    open(path, OpenFlags::SQLITE_OPEN_READ_WRITE)
}

/// A checksummed database file, closed, and its answer.
fn checksummed_db(dir: &Scratch) -> (PathBuf, Answer) {
    let path = dir.path("chain.db");
    let conn = open(&path, OpenFlags::default()).unwrap();
    build(&conn);
    let expected = answer(&conn).unwrap();
    assert_eq!(expected.rows, ROWS);
    drop(conn);
    assert!(!with_suffix(&path, "-wal").exists(), "closing checkpoints and removes the WAL");
    (path, expected)
}

fn run_campaign(flips: usize) {
    let dir = Scratch::new(&format!("campaign-{flips}"));
    let (path, expected) = checksummed_db(&dir);
    let original = fs::read(&path).unwrap();
    let tally = campaign(&original, &expected, flips, 0x00e3_7c4e_c0de_5eed, &dir, &checked_open);
    eprintln!("with page checksums ({} pages): {tally:?}", original.len() / page_size(&original));
    assert!(tally.wrong.is_empty(), "a flipped byte changed an answer: {:?}", tally.wrong);
    assert_eq!(
        tally.open_checksum + tally.open_other + tally.query_checksum + tally.query_other + tally.harmless,
        tally.flips
    );
    // Errors other than checksum failures are SQLite refusing a damaged
    // header before it reads page 1 whole (e.g. the magic string).
    assert!(tally.other_errors.keys().all(|e| e == "file is not a database"), "{:?}", tally.other_errors);
    // Harmless flips are in pages that nothing reads: the free list.
    let free = free_pages(&original);
    assert!(tally.harmless_pages.is_subset(&free), "harmless {:?}, free {free:?}", tally.harmless_pages);

    // The same flips on the same data without checksums: the campaign does
    // reach answers (this is what the checksums are for).
    let plain_path = dir.path("plain.db");
    let conn = Connection::open(&plain_path).unwrap();
    build(&conn);
    drop(conn);
    let plain = fs::read(&plain_path).unwrap();
    let control = campaign(&plain, &expected, flips, 0x00e3_7c4e_c0de_5eed, &dir, &plain_open);
    eprintln!(
        "without checksums ({} pages): {} wrong answers, {} errors at open, {} on a query, {} harmless",
        plain.len() / page_size(&plain),
        control.wrong.len(),
        control.open_checksum + control.open_other,
        control.query_checksum + control.query_other,
        control.harmless
    );
    assert!(!control.wrong.is_empty(), "the campaign should be able to change answers of an unchecked file");
}

/// Flips per run of the quick campaign; `EMR_PAGECHECK_FLIPS` overrides.
fn quick_flips() -> usize {
    std::env::var("EMR_PAGECHECK_FLIPS").ok().and_then(|v| v.parse().ok()).unwrap_or(300)
}

#[test]
fn byte_flip_campaign() {
    run_campaign(quick_flips());
}

/// The long form: `cargo test -p emr-core pagecheck -- --ignored`.
#[test]
#[ignore = "long: thousands of flips"]
fn byte_flip_campaign_long() {
    run_campaign(5000);
}

#[test]
fn new_database_reserves_eight_bytes_and_seals_every_page() {
    let dir = Scratch::new("reserve");
    let (path, _) = checksummed_db(&dir);
    let file = fs::read(&path).unwrap();
    assert_eq!(&file[..16], DB_MAGIC);
    assert_eq!(file[RESERVE_OFFSET], RESERVE);
    let page = page_size(&file);
    assert_eq!(file.len() % page, 0);
    for (n, p) in file.chunks(page).enumerate() {
        assert!(trailer_ok(p, n as u32 + 1), "page {} has no valid checksum", n + 1);
    }
    let conn = checked_open(&path).unwrap();
    assert!(checksums_enabled(&conn).unwrap());
    let free: i64 = conn.query_row("PRAGMA freelist_count", [], |r| r.get(0)).unwrap();
    assert!(free > 0, "the campaign's database should have free pages");
}

#[test]
fn a_new_database_is_marked_even_if_nothing_is_created() {
    let dir = Scratch::new("empty");
    let path = dir.path("empty.db");
    drop(open(&path, OpenFlags::default()).unwrap());
    let file = fs::read(&path).unwrap();
    assert_eq!(file[RESERVE_OFFSET], RESERVE);
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch("CREATE TABLE later(x)").unwrap();
    drop(conn);
    assert_eq!(fs::read(&path).unwrap()[RESERVE_OFFSET], RESERVE, "a plain writer keeps the reserve");
}

#[test]
fn rollback_journal_and_vacuum_keep_pages_sealed() {
    let dir = Scratch::new("rollback");
    let path = dir.path("rollback.db");
    let conn = open(&path, OpenFlags::default()).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = DELETE;
         CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT NOT NULL, v TEXT NOT NULL);
         CREATE INDEX t_k ON t(k);",
    )
    .unwrap();
    fill(&conn, 0, 1000);
    // A transaction rolled back after spilling pages to the file.
    conn.execute_batch("PRAGMA cache_size = 2; BEGIN; DELETE FROM t WHERE id % 2 = 0; ROLLBACK;").unwrap();
    let expected = answer(&conn).unwrap();
    assert_eq!(expected.rows, 1000);
    conn.execute_batch("DELETE FROM t WHERE id >= 900; VACUUM").unwrap();
    drop(conn);
    let file = fs::read(&path).unwrap();
    assert_eq!(file[RESERVE_OFFSET], RESERVE, "VACUUM keeps the reserve");
    for (n, p) in file.chunks(page_size(&file)).enumerate() {
        assert!(trailer_ok(p, n as u32 + 1), "page {} has no valid checksum", n + 1);
    }
    let conn = checked_open(&path).unwrap();
    assert!(checksums_enabled(&conn).unwrap());
    assert_eq!(answer(&conn).unwrap().rows, 900);
}

#[test]
fn plain_sqlite_reads_a_checksummed_file() {
    let dir = Scratch::new("plain-reader");
    let (path, expected) = checksummed_db(&dir);
    let conn = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    assert_eq!(answer(&conn).unwrap(), expected);
    let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
    assert!(!checksums_enabled(&conn).unwrap(), "the default VFS does not check");
}

#[test]
fn a_plain_database_opens_through_the_vfs_unchecked() {
    let dir = Scratch::new("plain-db");
    let path = dir.path("plain.db");
    let conn = Connection::open(&path).unwrap();
    build(&conn);
    let expected = answer(&conn).unwrap();
    drop(conn);
    assert_eq!(fs::read(&path).unwrap()[RESERVE_OFFSET], 0);
    let conn = checked_open(&path).unwrap();
    assert!(!checksums_enabled(&conn).unwrap());
    assert_eq!(answer(&conn).unwrap(), expected);
    fill(&conn, ROWS, ROWS + 10);
    drop(conn);
    assert_eq!(fs::read(&path).unwrap()[RESERVE_OFFSET], 0);
}

#[test]
fn damage_is_reported_as_checksum_failure() {
    let dir = Scratch::new("damage");
    let (path, _) = checksummed_db(&dir);
    let original = fs::read(&path).unwrap();
    let page = page_size(&original);

    // A data byte in the last page: open succeeds, the query fails.
    let mut damaged = original.clone();
    damaged[original.len() - page + 200] ^= 0x04;
    fs::write(&path, &damaged).unwrap();
    let conn = checked_open(&path).unwrap();
    let err = answer(&conn).unwrap_err();
    assert!(is_checksum_failure(&err), "{err}");
    assert!(is_storage_damage(&err));
    drop(conn);

    // The reserve byte itself: still caught (it would switch checks off).
    for value in [0u8, 4, 9, 255] {
        let mut damaged = original.clone();
        damaged[RESERVE_OFFSET] = value;
        remove_db(&path);
        fs::write(&path, &damaged).unwrap();
        let err = checked_open(&path).and_then(|c| answer(&c)).unwrap_err();
        assert!(is_checksum_failure(&err), "reserve byte {value}: {err}");
    }
}

/// The page number in a WAL frame header.
fn frame_pgno(header: &[u8]) -> u32 {
    u32::from_be_bytes(header[..4].try_into().unwrap())
}

/// Frames of a WAL file: (frame header, page image).
fn wal_frames(wal: &[u8]) -> Vec<(&[u8], &[u8])> {
    let g = WalGeometry::parse(wal).unwrap();
    wal[WAL_HEADER as usize..]
        .chunks_exact(g.frame_size() as usize)
        .map(|f| f.split_at(FRAME_HEADER as usize))
        .collect()
}

#[test]
fn wal_frames_carry_checksums_and_stay_valid_wal() {
    let dir = Scratch::new("wal");
    let (path, _) = checksummed_db(&dir);

    // Writes that stay in the WAL: no automatic checkpoint.
    let writer = checked_open(&path).unwrap();
    writer.execute_batch("PRAGMA wal_autocheckpoint = 0; PRAGMA synchronous = FULL").unwrap();
    fill(&writer, ROWS, ROWS + 500);
    writer.execute("UPDATE t SET v = v || '!' WHERE id % 97 = 0", []).unwrap();
    let expected = answer(&writer).unwrap();
    assert_eq!(expected.rows, ROWS + 500);

    let wal = fs::read(with_suffix(&path, "-wal")).unwrap();
    let frames = wal_frames(&wal);
    assert!(frames.len() > 10, "{} frames", frames.len());
    for (n, (header, page)) in frames.iter().enumerate() {
        assert!(trailer_ok(page, frame_pgno(header)), "WAL frame {} page image has no valid checksum", n + 1);
    }

    // A copy of the live files, as after a crash: SQLite's WAL recovery must
    // accept every frame (the shim rewrote their WAL checksums), through the
    // shim and through plain SQLite.
    let copy = dir.path("copy.db");
    fs::write(&copy, fs::read(&path).unwrap()).unwrap();
    fs::write(with_suffix(&copy, "-wal"), &wal).unwrap();
    {
        let plain = Connection::open_with_flags(&copy, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        assert_eq!(answer(&plain).unwrap(), expected, "plain SQLite recovers the WAL");
    }
    remove_db(&copy);
    fs::write(&copy, fs::read(&path).unwrap()).unwrap();
    fs::write(with_suffix(&copy, "-wal"), &wal).unwrap();
    let recovered = checked_open(&copy).unwrap();
    assert_eq!(answer(&recovered).unwrap(), expected, "the shim recovers the WAL");

    // Damage a page image in the WAL while the WAL index is live: a new
    // reader reads that frame and must see a checksum failure.
    let last = frames.len() - 1;
    let at = WAL_HEADER as usize + last * (frames[0].0.len() + frames[0].1.len()) + FRAME_HEADER as usize + 100;
    let mut damaged = fs::read(with_suffix(&copy, "-wal")).unwrap();
    damaged[at] ^= 0x10;
    fs::write(with_suffix(&copy, "-wal"), &damaged).unwrap();
    let err = checked_open(&copy).and_then(|reader| answer(&reader)).unwrap_err();
    assert!(is_checksum_failure(&err), "{err}");
    // A checkpoint reads that frame too, and must not launder it into the
    // database file under a fresh checksum.
    let err = recovered.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get::<_, i64>(0)).unwrap_err();
    assert!(is_checksum_failure(&err), "{err}");
    drop(recovered);

    // Checkpoint the healthy WAL into the database, reopen: all verified.
    writer.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)").unwrap();
    drop(writer);
    let file = fs::read(&path).unwrap();
    for (n, p) in file.chunks(page_size(&file)).enumerate() {
        assert!(trailer_ok(p, n as u32 + 1), "page {} after checkpoint", n + 1);
    }
    let conn = checked_open(&path).unwrap();
    assert!(checksums_enabled(&conn).unwrap());
    assert_eq!(answer(&conn).unwrap(), expected);
    fill(&conn, ROWS + 500, ROWS + 600);
    drop(conn);
    let conn = checked_open(&path).unwrap();
    assert_eq!(answer(&conn).unwrap().rows, ROWS + 600);
    let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
}

#[test]
fn checksum_catches_every_single_byte_flip_in_a_page() {
    let mut page: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    seal(&mut page, 5);
    assert!(trailer_ok(&page, 5));
    for at in (0..page.len()).step_by(7) {
        for xor in [1u8, 0x80, 0xff] {
            page[at] ^= xor;
            assert!(!trailer_ok(&page, 5), "flip {xor:#x} at {at}");
            page[at] ^= xor;
        }
    }
    // The same intact page read as any other page fails.
    for pgno in [1, 4, 6, 5 + (1 << 16), u32::MAX] {
        assert!(!trailer_ok(&page, pgno), "page 5 accepted as page {pgno}");
    }
}

/// Without power-safe overwrite SQLite pads each commit to a sector boundary
/// with copies of the last frame and syncs at that boundary, splitting the
/// frame (header or page image) that straddles it into two writes.
#[test]
fn wal_commits_padded_to_sector_boundaries() {
    let dir = Scratch::new("psow");
    let path = dir.path("psow.db");
    let uri = PathBuf::from(format!("file:{}?psow=0", path.display()));
    let conn = open(&uri, OpenFlags::default()).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA wal_autocheckpoint = 0;
         CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT NOT NULL, v TEXT NOT NULL);
         CREATE INDEX t_k ON t(k);",
    )
    .unwrap();
    // Many small commits: sync points fall at many places within frames.
    for n in 0..40 {
        fill(&conn, n * 25, (n + 1) * 25);
    }
    let expected = answer(&conn).unwrap();
    let wal = fs::read(with_suffix(&path, "-wal")).unwrap();
    let frames = wal_frames(&wal);
    // Padding frames are copies, so there are more frames than pages written.
    assert!(frames.len() > 40, "{} frames", frames.len());
    for (n, (header, page)) in frames.iter().enumerate() {
        assert!(trailer_ok(page, frame_pgno(header)), "WAL frame {} page image has no valid checksum", n + 1);
    }
    let copy = dir.path("copy.db");
    fs::write(&copy, fs::read(&path).unwrap()).unwrap();
    fs::write(with_suffix(&copy, "-wal"), &wal).unwrap();
    let recovered = checked_open(&copy).unwrap();
    assert_eq!(answer(&recovered).unwrap(), expected, "recovery accepts every frame");
    drop(recovered);
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)").unwrap();
    assert_eq!(answer(&conn).unwrap(), expected);
}

/// A writer committing (with frequent checkpoints and WAL restarts) while a
/// reader on another connection and thread keeps reading: no false alarms.
#[test]
fn concurrent_reader_and_writer_see_no_false_alarms() {
    let dir = Scratch::new("concurrent");
    let (path, _) = checksummed_db(&dir);
    let reader_path = path.clone();
    let done = std::sync::Arc::new(AtomicBool::new(false));
    let stop = done.clone();
    let reader = std::thread::spawn(move || {
        let conn = checked_open(&reader_path).unwrap();
        conn.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
        let mut last = 0;
        let mut reads = 0;
        while !stop.load(Ordering::Acquire) || reads == 0 {
            let a = answer(&conn).unwrap();
            assert!(a.rows >= last, "rows went back from {last} to {}", a.rows);
            last = a.rows;
            reads += 1;
        }
        reads
    });
    let conn = checked_open(&path).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
    conn.execute_batch("PRAGMA wal_autocheckpoint = 8").unwrap();
    for n in 0..30 {
        fill(&conn, ROWS + n * 20, ROWS + (n + 1) * 20);
    }
    done.store(true, Ordering::Release);
    let reads = reader.join().unwrap();
    assert!(reads > 0);
    assert_eq!(answer(&conn).unwrap().rows, ROWS + 600);
    drop(conn);
    let file = fs::read(&path).unwrap();
    for (n, p) in file.chunks(page_size(&file)).enumerate() {
        assert!(trailer_ok(p, n as u32 + 1), "page {} has no valid checksum", n + 1);
    }
}

/// The checksum binds the page number: two intact pages swapped in a closed
/// file, or one page copied over another (a misdirected write), fail their
/// checks instead of answering from the wrong page.
#[test]
fn swapped_or_misplaced_pages_are_reported() {
    let dir = Scratch::new("swap");
    let (path, expected) = checksummed_db(&dir);
    let original = fs::read(&path).unwrap();
    let page = page_size(&original);
    let pages = original.len() / page;
    let free = free_pages(&original);
    let used: Vec<usize> = (1..=pages).filter(|p| !free.contains(p)).collect();
    let copy = dir.path("swapped.db");
    let mut rng = Rng(0x5eed_5a4b);
    let (mut swaps, mut copies) = (0, 0);
    for round in 0..60 {
        let a = used[rng.below(used.len())];
        let b = used[rng.below(used.len())];
        if a == b || original[(a - 1) * page..a * page] == original[(b - 1) * page..b * page] {
            continue;
        }
        let mut damaged = original.clone();
        let (pa, pb) = ((a - 1) * page..a * page, (b - 1) * page..b * page);
        if round % 2 == 0 {
            damaged[pa.clone()].copy_from_slice(&original[pb.clone()]);
            damaged[pb].copy_from_slice(&original[pa]);
            swaps += 1;
        } else {
            damaged[pb].copy_from_slice(&original[pa]);
            copies += 1;
        }
        remove_db(&copy);
        fs::write(&copy, &damaged).unwrap();
        // Every used page is read by the answer (both scans and the schema);
        // each of these must end in a checksum failure, at open or on a query.
        let result = checked_open(&copy).and_then(|conn| answer(&conn));
        match result {
            Err(e) => assert!(is_checksum_failure(&e), "pages {a} and {b}: {e}"),
            Ok(got) => panic!("pages {a} and {b} swapped/copied, yet answered (same answer: {})", got == expected),
        }
    }
    assert!(swaps > 10 && copies > 10, "{swaps} swaps, {copies} copies");
}

/// WAL recovery after a crash: a damaged frame of a transaction with a
/// later committed transaction after it is reported, not dropped with
/// everything after it; a damaged or torn last transaction is dropped, as
/// SQLite drops a torn write.
#[test]
fn recovery_reports_a_damaged_committed_frame_and_drops_a_torn_tail() {
    let dir = Scratch::new("recovery");
    let (path, _) = checksummed_db(&dir);
    let writer = checked_open(&path).unwrap();
    writer.execute_batch("PRAGMA wal_autocheckpoint = 0; PRAGMA synchronous = FULL").unwrap();
    // Three transactions in the WAL; answers after the second and third.
    fill(&writer, ROWS, ROWS + 200);
    fill(&writer, ROWS + 200, ROWS + 400);
    let after_second = answer(&writer).unwrap();
    let wal_after_second = fs::read(with_suffix(&path, "-wal")).unwrap().len();
    fill(&writer, ROWS + 400, ROWS + 600);
    let after_third = answer(&writer).unwrap();
    let wal = fs::read(with_suffix(&path, "-wal")).unwrap();
    let main = fs::read(&path).unwrap();
    let frame = wal_frames(&wal)[0].0.len() + wal_frames(&wal)[0].1.len();
    let copy = dir.path("crashed.db");
    let recover = |wal: &[u8]| {
        remove_db(&copy);
        fs::write(&copy, &main).unwrap();
        fs::write(with_suffix(&copy, "-wal"), wal).unwrap();
        checked_open(&copy).and_then(|conn| answer(&conn))
    };
    assert_eq!(recover(&wal).unwrap(), after_third, "undamaged");

    // A page image in the first transaction: two committed ones follow.
    let mut damaged = wal.clone();
    damaged[WAL_HEADER as usize + FRAME_HEADER as usize + 1000] ^= 0x04;
    let err = recover(&damaged).unwrap_err();
    assert!(is_checksum_failure(&err), "{err}");
    // A frame's salt: reported too.
    let mut damaged = wal.clone();
    damaged[WAL_HEADER as usize + 2 * frame + 9] ^= 0x80;
    assert!(is_checksum_failure(&recover(&damaged).unwrap_err()));
    // A frame header's WAL checksum, or its commit field: the content is
    // intact, but recovery would stop there; reported too.
    for at in [16, 21, 5] {
        let mut damaged = wal.clone();
        damaged[WAL_HEADER as usize + 3 * frame + at] ^= 0x20;
        assert!(is_checksum_failure(&recover(&damaged).unwrap_err()), "frame header byte {at}");
    }
    let mut damaged = wal.clone();
    damaged[WAL_HEADER as usize + 2 * frame + 9] ^= 0x80;
    // Plain SQLite, for comparison, silently drops everything from there.
    {
        remove_db(&copy);
        fs::write(&copy, &main).unwrap();
        fs::write(with_suffix(&copy, "-wal"), &damaged).unwrap();
        let plain = Connection::open_with_flags(&copy, OpenFlags::SQLITE_OPEN_READ_WRITE).unwrap();
        assert!(answer(&plain).unwrap().rows < ROWS + 200);
    }
    // The last transaction damaged, or torn: dropped, the second one stands.
    let mut damaged = wal.clone();
    let last_page = wal.len() - frame + FRAME_HEADER as usize;
    damaged[last_page + 7] ^= 0x01;
    assert_eq!(recover(&damaged).unwrap(), after_second, "damaged last transaction");
    let torn = &wal[..wal.len() - 1000];
    assert_eq!(recover(torn).unwrap(), after_second, "torn last transaction");
    assert!(torn.len() > wal_after_second);
}

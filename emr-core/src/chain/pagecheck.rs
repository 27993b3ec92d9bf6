//! Page checksums for the chain database: a VFS shim over SQLite's default VFS.
//!
//! Every page of a database that reserves 8 bytes per page (header byte 20 is
//! 8) carries, in those last 8 bytes, the CRC-64/XZ of the rest of the page,
//! little-endian. The shim writes that checksum whenever a whole page reaches
//! the main database file or the WAL, and checks it whenever a whole page is
//! read from either; a mismatch fails the read with `SQLITE_IOERR_DATA`, which
//! [`is_checksum_failure`] recognises. A database whose reserve is not 8 is
//! passed through untouched, so plain databases still open. The scheme, and
//! what a plain `sqlite3` sees, is in docs/FORMAT.md ("Page checksums").
//!
//! The design follows SQLite's `ext/misc/cksumvfs.c` (checksum in the
//! reserved bytes, enabled by the header's reserve count, whole-page reads
//! only, no memory mapping, no sub-page reads) and differs in five ways:
//!
//! * The checksum is a CRC-64 rather than a Fletcher-style sum: any single
//!   burst of up to 64 flipped bits, so any single damaged byte, is caught
//!   for certain.
//! * WAL page images carry the checksum too, and are checked when SQLite reads
//!   them (readers, checkpoints), so a page damaged in the WAL cannot be
//!   copied into the database file under a fresh, valid checksum. SQLite
//!   computes a frame's WAL checksum before the page reaches the VFS, so after
//!   adding the page checksum the shim recomputes that frame's WAL checksum,
//!   chained from the previous frame's as stored in the file (see
//!   [`WalGeometry`] and `wal_write`).
//! * The checksum covers the page number as well as the content (CRC-64 of
//!   `LE32(pgno) ‖ body`): the number is the page's place in the database
//!   file, or the page number in its WAL frame's header. An intact page read
//!   at another page's place (two pages swapped, a misdirected write) fails.
//! * Page 1 whose reserve byte (offset 20) is not 8 but whose trailer is the
//!   checksum of the page *with* byte 20 set to 8 is reported as damaged, and
//!   only an undamaged whole page 1 can switch checks off: a flip of that one
//!   byte would otherwise silently switch checking off.
//! * WAL recovery after a crash (whole-frame reads) stops at the first frame
//!   SQLite cannot accept and drops every frame after it. When that frame's
//!   salts, page number, page checksum or WAL checksum are wrong (the last
//!   looked at only while the connection holds the WAL recovery lock, which
//!   `x_shm_lock` tracks) and a later committed
//!   transaction follows it in the WAL, the frame had been synced, so the
//!   shim reports it damaged instead (`recovered_frame`): the database does
//!   not open rather than open with committed transactions missing.
//!
//! Partial reads (SQLite reads the first 100 bytes of the file, or 16 bytes of
//! it, to learn the page size and the change counter) are not checked: they
//! are not whole pages. From
//! the 100 bytes SQLite takes only the page size and the fields it validates
//! itself (damage there fails as "file is not a database" or as a checksum
//! failure of a page read at the wrong size); everything else in the header
//! it takes from page 1, which it reads whole, and so checked, first.
//!
//! API: [`vfs_name`] registers the shim (once, thread-safe) and names it;
//! [`open`] opens a connection through it and gives a new database its
//! reserve; [`checksums_enabled`] says whether an open database is checked;
//! [`is_checksum_failure`] / [`is_storage_damage`] classify errors.
//!
//! Every `extern "C"` callback runs its body under `catch_unwind`, so a panic
//! becomes an SQLite error code and never crosses into C.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::OnceLock;

use rusqlite::{ffi, Connection, OpenFlags, OptionalExtension};

/// The name the shim is registered under.
const VFS_NAME: &CStr = c"emr-cksum";

/// Bytes reserved at the end of every page for its checksum.
pub(crate) const RESERVE: u8 = 8;

/// The pragma, answered by the shim, that says whether checksums are on.
const STATUS_PRAGMA: &str = "emr_page_checksums";

/// The first 16 bytes of every SQLite database file.
const DB_MAGIC: &[u8; 16] = b"SQLite format 3\0";
/// Offset of the reserve count in the database header.
const RESERVE_OFFSET: usize = 20;

/// WAL file header and frame header sizes.
const WAL_HEADER: i64 = 32;
const FRAME_HEADER: i64 = 24;
/// WAL magic; the low bit says whether its checksums read words big-endian.
const WAL_MAGIC: u32 = 0x377f_0682;

/// CRC-64/XZ by table, the reference the fast implementation is tested
/// against (and a digest for the tests' answers).
#[cfg(test)]
static CRC64: crc::Crc<u64, crc::Table<16>> = crc::Crc::<u64, crc::Table<16>>::new(&crc::CRC_64_XZ);

/// The checksum of page `pgno`'s body (everything but its last 8 bytes):
/// CRC-64 over `LE32(pgno) ‖ body`, so that an intact page found at another
/// page's place (a misdirected write, two pages swapped) fails too.
///
/// `crc64fast` computes the same CRC-64/XZ by carry-less multiplication
/// (PCLMULQDQ, PMULL) where the CPU has it, else by table: 0.33 µs per
/// 4 KiB page on Zen 4 against 1.7 µs for the `crc` crate's 16-way table,
/// which made the checksum 44% of `integrity_check`'s CPU time
/// (docs/DECISIONS.md, "Page checksum speed").
fn checksum(pgno: u32, body: &[u8]) -> [u8; 8] {
    let mut digest = crc64fast::Digest::new();
    digest.write(&pgno.to_le_bytes());
    digest.write(body);
    digest.sum64().to_le_bytes()
}

#[cfg(test)]
mod checksum_tests {
    use super::{checksum, CRC64};

    /// The fast CRC is the format's CRC-64/XZ, bit for bit, at every
    /// length and alignment the folding treats differently (below, at and
    /// above its 128-byte blocks, from odd offsets), so files written
    /// before it read back unchanged.
    #[test]
    fn fast_crc_is_the_table_crc() {
        let bytes: Vec<u8> = (0..70_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        for len in (0..300).chain([4088, 4089, 8184, 65_528]) {
            for start in [0, 1, 7, 16] {
                let body = &bytes[start..start + len];
                let pgno = (len * 31 + start) as u32;
                let mut reference = CRC64.digest();
                reference.update(&pgno.to_le_bytes());
                reference.update(body);
                assert_eq!(checksum(pgno, body), reference.finalize().to_le_bytes(), "len {len} start {start}");
            }
        }
        // The check value of CRC-64/XZ.
        let mut digest = crc64fast::Digest::new();
        digest.write(b"123456789");
        assert_eq!(digest.sum64(), 0x995d_c9bb_df19_39fa);
    }
}

/// Whether `n` bytes can be a whole database page.
fn is_page_size(n: usize) -> bool {
    (512..=65536).contains(&n) && n.is_power_of_two()
}

/// Whether a whole page's trailer is the checksum of its body as page `pgno`.
fn trailer_ok(page: &[u8], pgno: u32) -> bool {
    let (body, trailer) = page.split_at(page.len() - usize::from(RESERVE));
    checksum(pgno, body) == trailer
}

/// Writes the checksum of a whole page's body, as page `pgno`, into its trailer.
fn seal(page: &mut [u8], pgno: u32) {
    let at = page.len() - usize::from(RESERVE);
    let sum = checksum(pgno, &page[..at]);
    page[at..].copy_from_slice(&sum);
}

/// Whether a header image (at least 100 bytes from offset 0) is a database header.
fn is_db_header(buf: &[u8]) -> bool {
    buf.len() >= 100 && buf[..16] == DB_MAGIC[..]
}

/// Page 1 whose reserve byte says "no checksums" but whose trailer is the
/// checksum the page would have with a reserve of 8: the reserve byte itself
/// was damaged. (For a genuinely plain page the chance is 2^-64.)
fn reserve_byte_damaged(page: &[u8]) -> bool {
    if !is_db_header(page) || page[RESERVE_OFFSET] == RESERVE || !is_page_size(page.len()) {
        return false;
    }
    let at = page.len() - usize::from(RESERVE);
    let mut digest = crc64fast::Digest::new();
    digest.write(&1u32.to_le_bytes());
    digest.write(&page[..RESERVE_OFFSET]);
    digest.write(&[RESERVE]);
    digest.write(&page[RESERVE_OFFSET + 1..at]);
    digest.sum64().to_le_bytes() == page[at..]
}

/// Runs a callback body, turning a panic into `on_panic`.
fn guard<T>(on_panic: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(on_panic)
}

// ---------------------------------------------------------------------------
// The file object.

/// Which file an open [`ShimFile`] stands for.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Kind {
    Main,
    Wal,
}

/// What the shim keeps per open main database or WAL file. SQLite allocates
/// `szOsFile` bytes for it: this struct, then the base VFS's file object at
/// [`BASE_OFFSET`]. It holds nothing that needs dropping.
#[repr(C)]
struct ShimFile {
    /// Must come first: SQLite sees this as the `sqlite3_file`.
    file: ffi::sqlite3_file,
    kind: Kind,
    /// Main file: whether the last database header seen had a reserve of 8.
    enabled: AtomicBool,
    /// WAL file: the main database's `ShimFile`, or null if that is not ours.
    /// SQLite's pager opens the WAL after the main file and closes it before,
    /// so it outlives this one.
    main: *const ShimFile,
    /// WAL file: the page size and checksum byte order from the WAL header,
    /// packed by [`WalGeometry::pack`]; 0 until known.
    wal_geometry: AtomicU32,
    /// Main file: whether this connection holds SQLite's WAL recovery lock
    /// exclusively, i.e. is rebuilding the WAL index from the WAL.
    recovering: AtomicBool,
}

/// Where the base file object starts: after ours, 8-aligned.
const BASE_OFFSET: usize = std::mem::size_of::<ShimFile>().next_multiple_of(8);

impl ShimFile {
    fn checksums_on(&self) -> bool {
        match self.kind {
            Kind::Main => self.enabled.load(Ordering::Acquire),
            // SAFETY: `main`, when not null, points to the open main file of
            // the same connection, which SQLite closes after this WAL file.
            Kind::Wal => unsafe { self.main.as_ref() }.is_some_and(|m| m.enabled.load(Ordering::Acquire)),
        }
    }

    /// Whether the connection is in WAL recovery (see [`ShimFile::recovering`]).
    fn in_recovery(&self) -> bool {
        match self.kind {
            Kind::Main => self.recovering.load(Ordering::Acquire),
            // SAFETY: as in `checksums_on`.
            Kind::Wal => unsafe { self.main.as_ref() }.is_some_and(|m| m.recovering.load(Ordering::Acquire)),
        }
    }

    fn set_checksums_on(&self, on: bool) {
        let owner = match self.kind {
            Kind::Main => Some(self),
            // SAFETY: as in `checksums_on`.
            Kind::Wal => unsafe { self.main.as_ref() },
        };
        if let Some(m) = owner {
            m.enabled.store(on, Ordering::Release);
        }
    }

    /// Checks what a read returned: a whole page must match its checksum
    /// when checks are on. `may_be_page_1` says the buffer starts where page 1
    /// would (offset 0 of the database file, or a WAL page image); a header
    /// there with a reserve of 8 switches checks on, and only an undamaged
    /// whole page 1 with another reserve switches them off, so that damage to
    /// the reserve byte is reported rather than obeyed.
    /// `pgno` is the page number the page was read as (its place in the
    /// database file, or its WAL frame's header), which its checksum binds.
    fn check_read(&self, buf: &[u8], may_be_page_1: bool, pgno: u32) -> c_int {
        let whole = is_page_size(buf.len());
        if may_be_page_1 && is_db_header(buf) {
            if buf[RESERVE_OFFSET] == RESERVE {
                self.set_checksums_on(true);
            } else if whole {
                if reserve_byte_damaged(buf) {
                    return ffi::SQLITE_IOERR_DATA;
                }
                self.set_checksums_on(false);
            }
        }
        if whole && self.checksums_on() && !trailer_ok(buf, pgno) {
            ffi::SQLITE_IOERR_DATA
        } else {
            ffi::SQLITE_OK
        }
    }

    /// Learns from a header image SQLite writes whether this database has
    /// checksums.
    fn note_header(&self, buf: &[u8]) {
        if is_db_header(buf) {
            self.set_checksums_on(buf[RESERVE_OFFSET] == RESERVE);
        }
    }
}

/// The base file behind a shim file, and its methods.
struct Base {
    file: *mut ffi::sqlite3_file,
    methods: &'static ffi::sqlite3_io_methods,
}

impl Base {
    fn read(&self, buf: &mut [u8], offset: i64) -> c_int {
        let Some(read) = self.methods.xRead else { return ffi::SQLITE_IOERR_READ };
        let Ok(amount) = c_int::try_from(buf.len()) else { return ffi::SQLITE_IOERR_READ };
        // SAFETY: the base file is open and `buf` is writable for `amount` bytes.
        unsafe { read(self.file, buf.as_mut_ptr().cast(), amount, offset) }
    }

    fn write(&self, buf: &[u8], offset: i64) -> c_int {
        let Some(write) = self.methods.xWrite else { return ffi::SQLITE_IOERR_WRITE };
        let Ok(amount) = c_int::try_from(buf.len()) else { return ffi::SQLITE_IOERR_WRITE };
        // SAFETY: the base file is open and `buf` is readable for `amount` bytes.
        unsafe { write(self.file, buf.as_ptr().cast(), amount, offset) }
    }
}

/// The shim state and base file of a file that `x_open` opened as ours.
///
/// # Safety
/// `file` must be a file that `x_open` opened successfully with
/// [`IO_METHODS`] and that is not yet closed.
unsafe fn parts<'a>(file: *mut ffi::sqlite3_file) -> (&'a ShimFile, Base) {
    // SAFETY: per the contract, `file` is the start of a live ShimFile, whose
    // allocation (szOsFile bytes) continues with the open base file object.
    unsafe {
        let shim = &*file.cast::<ShimFile>();
        let base = file.cast::<u8>().add(BASE_OFFSET).cast::<ffi::sqlite3_file>();
        let methods = &*(*base).pMethods;
        (shim, Base { file: base, methods })
    }
}

/// A WAL file's page size and checksum word order, from its header.
#[derive(Clone, Copy)]
struct WalGeometry {
    page_size: u32,
    big_endian: bool,
}

impl WalGeometry {
    fn parse(header: &[u8]) -> Option<Self> {
        let magic = u32::from_be_bytes(header.get(0..4)?.try_into().ok()?);
        let page_size = u32::from_be_bytes(header.get(8..12)?.try_into().ok()?);
        (magic & !1 == WAL_MAGIC && is_page_size(page_size as usize))
            .then_some(Self { page_size, big_endian: magic & 1 == 1 })
    }

    fn pack(self) -> u32 {
        self.page_size | u32::from(self.big_endian)
    }

    fn unpack(v: u32) -> Option<Self> {
        (v != 0).then_some(Self { page_size: v & !1, big_endian: v & 1 == 1 })
    }

    fn frame_size(self) -> i64 {
        i64::from(self.page_size) + FRAME_HEADER
    }

    /// For a byte range ending at `end`: the offset of the page image that
    /// ends exactly there, if any.
    fn page_ending_at(self, end: i64) -> Option<i64> {
        let rel = end - WAL_HEADER;
        (rel > 0 && rel % self.frame_size() == 0).then(|| end - i64::from(self.page_size))
    }

    /// Whether `offset` is where a frame (its header) starts.
    fn is_frame_start(self, offset: i64) -> bool {
        offset >= WAL_HEADER && (offset - WAL_HEADER) % self.frame_size() == 0
    }

    /// Whether a whole frame (header and page image), read at `offset`, is
    /// one SQLite's recovery accepts and one the shim sealed: its salts are
    /// the WAL header's, its page number is not 0, its page checksum holds,
    /// and its WAL checksum continues from the checksum stored in the frame
    /// before it (or in the WAL header, for frame 1).
    fn frame_ok(self, base: &Base, wal_header: &[u8; WAL_HEADER as usize], frame: &[u8], offset: i64) -> bool {
        let be32 = |b: &[u8], at: usize| u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        if !frame_content_ok(wal_header, frame) {
            return false;
        }
        let (header, page) = frame.split_at(FRAME_HEADER as usize);
        let mut previous = [0u8; 8];
        if offset == WAL_HEADER {
            previous.copy_from_slice(&wal_header[24..32]);
        } else if base.read(&mut previous, offset - self.frame_size() + 16) != ffi::SQLITE_OK {
            return false;
        }
        let sum = self.wal_checksum(self.wal_checksum([be32(&previous, 0), be32(&previous, 4)], &header[..8]), page);
        sum == [be32(header, 16), be32(header, 20)]
    }

    /// Whether the WAL holds, after `offset`, a transaction that SQLite
    /// committed after the one at `offset`: a commit frame followed by a
    /// non-commit frame that continues its WAL checksum (so the start of a
    /// later transaction, not a padding copy of the commit frame or a
    /// leftover of a rolled-back one). Frames are synced at every commit
    /// (`synchronous = FULL`), so the frame at `offset` was then durable:
    /// damage to it is damage, not a torn last write.
    fn committed_after(self, base: &Base, wal_header: &[u8; WAL_HEADER as usize], offset: i64) -> bool {
        let mut frame = vec![0u8; self.frame_size() as usize];
        let mut at = offset + self.frame_size();
        let mut commit_before = false;
        while base.read(&mut frame, at) == ffi::SQLITE_OK {
            let ok = self.frame_ok(base, wal_header, &frame, at);
            let commit = frame[4..8] != [0; 4];
            if ok && commit_before && !commit {
                return true;
            }
            commit_before = ok && commit;
            at += self.frame_size();
        }
        false
    }
    fn is_page_start(self, offset: i64) -> bool {
        offset >= WAL_HEADER + FRAME_HEADER && (offset - WAL_HEADER) % self.frame_size() == FRAME_HEADER
    }

    /// SQLite's WAL checksum (`walChecksumBytes`), continued from `sum`.
    fn wal_checksum(self, mut sum: [u32; 2], data: &[u8]) -> [u32; 2] {
        for pair in data.chunks_exact(8) {
            let word = |b: &[u8]| {
                let b: [u8; 4] = [b[0], b[1], b[2], b[3]];
                if self.big_endian {
                    u32::from_be_bytes(b)
                } else {
                    u32::from_le_bytes(b)
                }
            };
            sum[0] = sum[0].wrapping_add(word(&pair[0..4])).wrapping_add(sum[1]);
            sum[1] = sum[1].wrapping_add(word(&pair[4..8])).wrapping_add(sum[0]);
        }
        sum
    }
}

impl ShimFile {
    /// The WAL geometry, read from the file's header if not yet known.
    fn wal_geometry(&self, base: &Base) -> Option<WalGeometry> {
        if let Some(g) = WalGeometry::unpack(self.wal_geometry.load(Ordering::Acquire)) {
            return Some(g);
        }
        let mut header = [0u8; WAL_HEADER as usize];
        if base.read(&mut header, 0) != ffi::SQLITE_OK {
            return None;
        }
        let g = WalGeometry::parse(&header)?;
        self.wal_geometry.store(g.pack(), Ordering::Release);
        Some(g)
    }

    fn note_wal_header(&self, buf: &[u8]) {
        if let Some(g) = WalGeometry::parse(buf) {
            self.wal_geometry.store(g.pack(), Ordering::Release);
        }
    }
}

// ---------------------------------------------------------------------------
// I/O methods.

static IO_METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 3,
    xClose: Some(x_close),
    xRead: Some(x_read),
    xWrite: Some(x_write),
    xTruncate: Some(x_truncate),
    xSync: Some(x_sync),
    xFileSize: Some(x_file_size),
    xLock: Some(x_lock),
    xUnlock: Some(x_unlock),
    xCheckReservedLock: Some(x_check_reserved_lock),
    xFileControl: Some(x_file_control),
    xSectorSize: Some(x_sector_size),
    xDeviceCharacteristics: Some(x_device_characteristics),
    xShmMap: Some(x_shm_map),
    xShmLock: Some(x_shm_lock),
    xShmBarrier: Some(x_shm_barrier),
    xShmUnmap: Some(x_shm_unmap),
    xFetch: Some(x_fetch),
    xUnfetch: Some(x_unfetch),
};

/// Defines an I/O method that only forwards to the base file's.
macro_rules! forward {
    ($name:ident, $method:ident, $fail:expr, ($($arg:ident: $ty:ty),*)) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file $(, $arg: $ty)*) -> c_int {
            guard($fail, || {
                // SAFETY: SQLite calls I/O methods only on a file that x_open
                // opened successfully and that is not yet closed.
                let (_, base) = unsafe { parts(file) };
                match base.methods.$method {
                    // SAFETY: the base file's own method, on the base file,
                    // with the arguments SQLite passed to us.
                    Some(method) => unsafe { method(base.file $(, $arg)*) },
                    None => $fail,
                }
            })
        }
    };
}

forward!(x_truncate, xTruncate, ffi::SQLITE_IOERR_TRUNCATE, (size: ffi::sqlite3_int64));
forward!(x_sync, xSync, ffi::SQLITE_IOERR_FSYNC, (flags: c_int));
forward!(x_file_size, xFileSize, ffi::SQLITE_IOERR_FSTAT, (size: *mut ffi::sqlite3_int64));
forward!(x_lock, xLock, ffi::SQLITE_IOERR_LOCK, (level: c_int));
forward!(x_unlock, xUnlock, ffi::SQLITE_IOERR_UNLOCK, (level: c_int));
forward!(x_check_reserved_lock, xCheckReservedLock, ffi::SQLITE_IOERR_CHECKRESERVEDLOCK, (out: *mut c_int));
forward!(x_sector_size, xSectorSize, 4096, ());
forward!(x_shm_map, xShmMap, ffi::SQLITE_IOERR_SHMMAP, (page: c_int, size: c_int, extend: c_int, out: *mut *mut c_void));

/// SQLite's WAL recovery lock: slot 2 of the `-shm` locks, held exclusively
/// while the WAL index is rebuilt from the WAL (and at no other time).
const WAL_RECOVER_LOCK: c_int = 2;

/// Forwards, and notes when the connection takes or drops the WAL recovery
/// lock exclusively, so that whole-frame reads of the WAL can tell recovery
/// from SQLite re-checksumming frames it is writing.
unsafe extern "C" fn x_shm_lock(file: *mut ffi::sqlite3_file, offset: c_int, n: c_int, flags: c_int) -> c_int {
    guard(ffi::SQLITE_IOERR_SHMLOCK, || {
        // SAFETY: as for every I/O method, `file` is an open file of ours.
        let (shim, base) = unsafe { parts(file) };
        let Some(lock) = base.methods.xShmLock else { return ffi::SQLITE_IOERR_SHMLOCK };
        // SAFETY: the base file's own method, with SQLite's arguments.
        let rc = unsafe { lock(base.file, offset, n, flags) };
        let covers = offset <= WAL_RECOVER_LOCK && WAL_RECOVER_LOCK < offset.saturating_add(n);
        if rc == ffi::SQLITE_OK && shim.kind == Kind::Main && covers {
            if flags & ffi::SQLITE_SHM_UNLOCK != 0 {
                shim.recovering.store(false, Ordering::Release);
            } else if flags & ffi::SQLITE_SHM_LOCK != 0 && flags & ffi::SQLITE_SHM_EXCLUSIVE != 0 {
                shim.recovering.store(true, Ordering::Release);
            }
        }
        rc
    })
}
forward!(x_shm_unmap, xShmUnmap, ffi::SQLITE_IOERR_SHMMAP, (delete: c_int));
forward!(x_unfetch, xUnfetch, ffi::SQLITE_OK, (offset: ffi::sqlite3_int64, page: *mut c_void));

unsafe extern "C" fn x_close(file: *mut ffi::sqlite3_file) -> c_int {
    guard(ffi::SQLITE_IOERR_CLOSE, || {
        // SAFETY: SQLite closes only a file that x_open opened successfully,
        // once. The ShimFile holds nothing to drop.
        let (_, base) = unsafe { parts(file) };
        match base.methods.xClose {
            // SAFETY: the base file's own close, once, on the base file.
            Some(close) => unsafe { close(base.file) },
            None => ffi::SQLITE_OK,
        }
    })
}

unsafe extern "C" fn x_shm_barrier(file: *mut ffi::sqlite3_file) {
    guard((), || {
        // SAFETY: as for every I/O method, `file` is an open file of ours.
        let (_, base) = unsafe { parts(file) };
        if let Some(barrier) = base.methods.xShmBarrier {
            // SAFETY: the base file's own method on the base file.
            unsafe { barrier(base.file) }
        }
    })
}

unsafe extern "C" fn x_device_characteristics(file: *mut ffi::sqlite3_file) -> c_int {
    guard(0, || {
        // SAFETY: as for every I/O method, `file` is an open file of ours.
        let (_, base) = unsafe { parts(file) };
        // SAFETY: the base file's own method on the base file.
        let caps = base.methods.xDeviceCharacteristics.map_or(0, |f| unsafe { f(base.file) });
        // Pages must be read whole to be checked.
        caps & !ffi::SQLITE_IOCAP_SUBPAGE_READ
    })
}

/// No memory mapping: a mapped page would bypass `x_read` and its check.
unsafe extern "C" fn x_fetch(
    _file: *mut ffi::sqlite3_file,
    _offset: ffi::sqlite3_int64,
    _amount: c_int,
    out: *mut *mut c_void,
) -> c_int {
    guard(ffi::SQLITE_IOERR, || {
        if !out.is_null() {
            // SAFETY: SQLite passes a valid out-pointer; a null page means
            // "read it with xRead instead".
            unsafe { *out = ptr::null_mut() };
        }
        ffi::SQLITE_OK
    })
}

unsafe extern "C" fn x_read(
    file: *mut ffi::sqlite3_file,
    buf: *mut c_void,
    amount: c_int,
    offset: ffi::sqlite3_int64,
) -> c_int {
    guard(ffi::SQLITE_IOERR_READ, || {
        // SAFETY: as for every I/O method, `file` is an open file of ours.
        let (shim, base) = unsafe { parts(file) };
        let Ok(len) = usize::try_from(amount) else { return ffi::SQLITE_IOERR_READ };
        if buf.is_null() || len == 0 {
            return ffi::SQLITE_IOERR_READ;
        }
        // SAFETY: SQLite passes a buffer writable for `amount` bytes, not
        // otherwise borrowed during this call.
        let buf = unsafe { std::slice::from_raw_parts_mut(buf.cast::<u8>(), len) };
        let rc = base.read(buf, offset);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        match shim.kind {
            Kind::Main => logged(shim.check_read(buf, offset == 0, main_pgno(offset, len)), c"database", offset),
            Kind::Wal => {
                if offset == 0 {
                    shim.note_wal_header(buf);
                    return ffi::SQLITE_OK;
                }
                match shim.wal_geometry(&base) {
                    Some(g) if len as i64 == g.frame_size() && g.is_frame_start(offset) && shim.checksums_on() => {
                        logged(recovered_frame(&base, g, buf, offset, shim.in_recovery()), c"WAL", offset)
                    }
                    Some(g) if len == g.page_size as usize && g.is_page_start(offset) => {
                        // A page image. Page 1 may live only in the WAL.
                        // Its page number is in its frame's header.
                        let mut pgno = [0u8; 4];
                        let rc = base.read(&mut pgno, offset - FRAME_HEADER);
                        if rc != ffi::SQLITE_OK {
                            return rc;
                        }
                        logged(shim.check_read(buf, true, u32::from_be_bytes(pgno)), c"WAL", offset)
                    }
                    _ => ffi::SQLITE_OK,
                }
            }
        }
    })
}

/// A frame's salts are the WAL header's, its page number is not 0, and its
/// page image holds its checksum (the frame's own WAL checksum aside).
fn frame_content_ok(wal_header: &[u8; WAL_HEADER as usize], frame: &[u8]) -> bool {
    let (header, page) = frame.split_at(FRAME_HEADER as usize);
    let pgno = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    pgno != 0 && header[8..16] == wal_header[16..24] && trailer_ok(page, pgno)
}

/// A whole-frame read of the WAL: SQLite's WAL recovery after a crash (and
/// its re-checksumming of the frames of a transaction being written).
/// Recovery stops at the first frame it cannot accept and drops it and
/// every frame after it, which is right for a torn last write and silently
/// loses committed transactions when the frame was damaged after it was
/// synced. So when the frame is not one SQLite would accept, the rest of
/// the WAL is searched for a later committed transaction (the WAL header
/// itself is not second-guessed: damage there still drops the whole WAL);
/// if there is one,
/// the frame is reported damaged (`SQLITE_IOERR_DATA`) instead, and the
/// database does not open rather than open with committed work missing.
fn recovered_frame(base: &Base, g: WalGeometry, frame: &[u8], offset: i64, recovering: bool) -> c_int {
    // Outside recovery, a whole-frame read is SQLite re-checksumming the
    // frames of the transaction this connection is writing (one that
    // rewrites its own frames); searching the WAL for a later commit on each
    // such read made `add_blocks` spend half its time in preads (measured:
    // 20 k records/s instead of 50 k). Those frames' pages are verified
    // when they are read as pages, so only recovery looks further.
    // (Recovery is known from the recovery lock, which SQLite does not take
    // in exclusive locking mode; then a damaged frame ends recovery as
    // SQLite decides.)
    if !recovering {
        return ffi::SQLITE_OK;
    }
    let mut header = [0u8; WAL_HEADER as usize];
    if base.read(&mut header, 0) != ffi::SQLITE_OK {
        return ffi::SQLITE_OK;
    }
    if frame_content_ok(&header, frame) && g.frame_ok(base, &header, frame, offset) {
        return ffi::SQLITE_OK;
    }
    if g.committed_after(base, &header, offset) {
        ffi::SQLITE_IOERR_DATA
    } else {
        ffi::SQLITE_OK
    }
}

/// Passes on a read's result, telling SQLite's error log (if the
/// application installed one) where a checksum failed.
fn logged(rc: c_int, file: &CStr, offset: i64) -> c_int {
    if rc == ffi::SQLITE_IOERR_DATA {
        // SAFETY: a printf-style format with one %s (a NUL-terminated string)
        // and one %lld (a 64-bit integer), matching the arguments.
        unsafe {
            ffi::sqlite3_log(
                rc,
                c"emr-cksum: page checksum mismatch in the %s file at offset %lld".as_ptr(),
                file.as_ptr(),
                std::ffi::c_longlong::from(offset),
            )
        }
    }
    rc
}

unsafe extern "C" fn x_write(
    file: *mut ffi::sqlite3_file,
    buf: *const c_void,
    amount: c_int,
    offset: ffi::sqlite3_int64,
) -> c_int {
    guard(ffi::SQLITE_IOERR_WRITE, || {
        // SAFETY: as for every I/O method, `file` is an open file of ours.
        let (shim, base) = unsafe { parts(file) };
        let Ok(len) = usize::try_from(amount) else { return ffi::SQLITE_IOERR_WRITE };
        if buf.is_null() || len == 0 {
            return ffi::SQLITE_IOERR_WRITE;
        }
        // SAFETY: SQLite passes a buffer readable for `amount` bytes that
        // stays unchanged during this call.
        let buf = unsafe { std::slice::from_raw_parts(buf.cast::<u8>(), len) };
        match shim.kind {
            Kind::Main => main_write(shim, &base, buf, offset),
            Kind::Wal => wal_write(shim, &base, buf, offset),
        }
    })
}

/// The page number of a whole page at `offset` of the database file.
/// (Only meaningful when `len` is the page size; 0 otherwise, which no page has.)
fn main_pgno(offset: i64, len: usize) -> u32 {
    match (u64::try_from(offset), u64::try_from(len)) {
        (Ok(offset), Ok(len)) if len > 0 && offset % len == 0 => u32::try_from(offset / len + 1).unwrap_or(0),
        _ => 0,
    }
}

fn main_write(shim: &ShimFile, base: &Base, buf: &[u8], offset: i64) -> c_int {
    if offset == 0 {
        shim.note_header(buf);
    }
    if is_page_size(buf.len()) && shim.checksums_on() {
        let mut page = buf.to_vec();
        seal(&mut page, main_pgno(offset, buf.len()));
        base.write(&page, offset)
    } else {
        base.write(buf, offset)
    }
}

/// Writes to the WAL. SQLite writes a frame as its 24-byte header (whose
/// checksum covers the page as SQLite has it), then the page image; a sync
/// point may split either write in two, and a page overwritten within one
/// transaction is written again alone. So: whatever write completes a page
/// image gets the page's checksum (with any earlier part of the page read
/// back from the file), and then the frame header's WAL checksum is
/// recomputed from the previous frame's, as stored in the file, over the
/// header's first 8 bytes and the page as written. When SQLite later rewrites
/// frame checksums itself (`walRewriteChecksums`, after overwrites), it reads
/// frames back from the file, so it chains from these values.
fn wal_write(shim: &ShimFile, base: &Base, buf: &[u8], offset: i64) -> c_int {
    if offset == 0 {
        shim.note_wal_header(buf);
        return base.write(buf, offset);
    }
    let Ok(end) = i64::try_from(buf.len()).map(|n| offset + n) else { return ffi::SQLITE_IOERR_WRITE };
    let geometry = shim.wal_geometry(base);
    let page_start = geometry.and_then(|g| g.page_ending_at(end)).filter(|&start| offset >= start);
    let (Some(g), Some(page_start)) = (geometry, page_start) else {
        return base.write(buf, offset);
    };
    let page_size = g.page_size as usize;
    let mut page = vec![0u8; page_size];
    let head = (offset - page_start) as usize; // < page_size: offset >= start, end = start + size
    if head > 0 {
        let rc = base.read(&mut page[..head], page_start);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
    }
    page[head..].copy_from_slice(buf);
    let frame = page_start - FRAME_HEADER;
    let mut header = [0u8; FRAME_HEADER as usize];
    let rc = base.read(&mut header, frame);
    if rc != ffi::SQLITE_OK {
        return rc;
    }
    if u32::from_be_bytes([header[0], header[1], header[2], header[3]]) == 1 {
        shim.note_header(&page);
    }
    if !shim.checksums_on() {
        return base.write(buf, offset);
    }
    seal(&mut page, u32::from_be_bytes([header[0], header[1], header[2], header[3]]));
    // Write from `offset`, or from the trailer if this write starts inside it.
    let from = head.min(page_size - usize::from(RESERVE));
    let rc = base.write(&page[from..], page_start + from as i64);
    if rc != ffi::SQLITE_OK {
        return rc;
    }
    // The previous frame's checksum, or the WAL header's for frame 1.
    let previous_at = if frame == WAL_HEADER { 24 } else { frame - g.frame_size() + 16 };
    let mut previous = [0u8; 8];
    let rc = base.read(&mut previous, previous_at);
    if rc != ffi::SQLITE_OK {
        return rc;
    }
    let start = [
        u32::from_be_bytes([previous[0], previous[1], previous[2], previous[3]]),
        u32::from_be_bytes([previous[4], previous[5], previous[6], previous[7]]),
    ];
    let sum = g.wal_checksum(g.wal_checksum(start, &header[..8]), &page);
    let mut stored = [0u8; 8];
    stored[..4].copy_from_slice(&sum[0].to_be_bytes());
    stored[4..].copy_from_slice(&sum[1].to_be_bytes());
    if stored == header[16..24] {
        ffi::SQLITE_OK
    } else {
        base.write(&stored, frame + 16)
    }
}

unsafe extern "C" fn x_file_control(file: *mut ffi::sqlite3_file, op: c_int, arg: *mut c_void) -> c_int {
    guard(ffi::SQLITE_ERROR, || {
        // SAFETY: as for every I/O method, `file` is an open file of ours.
        let (shim, base) = unsafe { parts(file) };
        if op == ffi::SQLITE_FCNTL_PRAGMA && shim.kind == Kind::Main && !arg.is_null() {
            // SAFETY: for SQLITE_FCNTL_PRAGMA, SQLite passes an array of three
            // C strings: result slot, pragma name (never null), argument.
            let args = unsafe { std::slice::from_raw_parts_mut(arg.cast::<*mut c_char>(), 3) };
            // SAFETY: args[1] is the pragma's name, a NUL-terminated string.
            let name = unsafe { CStr::from_ptr(args[1]) };
            if name.to_bytes().eq_ignore_ascii_case(STATUS_PRAGMA.as_bytes()) {
                let answer: &[u8; 2] = if shim.checksums_on() { b"1\0" } else { b"0\0" };
                // SAFETY: SQLite frees the result with sqlite3_free, so it
                // must come from sqlite3_malloc; 2 bytes are copied into the
                // 2 just allocated.
                unsafe {
                    let out = ffi::sqlite3_malloc(2).cast::<c_char>();
                    if out.is_null() {
                        return ffi::SQLITE_NOMEM;
                    }
                    ptr::copy_nonoverlapping(answer.as_ptr().cast::<c_char>(), out, 2);
                    args[0] = out;
                }
                return ffi::SQLITE_OK;
            }
        }
        match base.methods.xFileControl {
            // SAFETY: the base file's own method, with SQLite's arguments.
            Some(control) => unsafe { control(base.file, op, arg) },
            None => ffi::SQLITE_NOTFOUND,
        }
    })
}

// ---------------------------------------------------------------------------
// VFS methods: open wraps main database and WAL files; the rest forward.

/// The base VFS behind ours.
///
/// # Safety
/// `vfs` must be the VFS that `register` built.
unsafe fn base_vfs(vfs: *mut ffi::sqlite3_vfs) -> *mut ffi::sqlite3_vfs {
    // SAFETY: per the contract, `vfs` is ours, whose pAppData is the base VFS.
    unsafe { (*vfs).pAppData.cast() }
}

unsafe extern "C" fn x_open(
    vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    guard(ffi::SQLITE_CANTOPEN, || {
        // SAFETY: SQLite calls our xOpen with our VFS.
        let base_vfs = unsafe { base_vfs(vfs) };
        // SAFETY: the base VFS is live for the process (the default VFS is
        // never unregistered by this crate).
        let Some(base_open) = (unsafe { (*base_vfs).xOpen }) else { return ffi::SQLITE_CANTOPEN };
        let kind = if flags & ffi::SQLITE_OPEN_MAIN_DB != 0 {
            Kind::Main
        } else if flags & ffi::SQLITE_OPEN_WAL != 0 {
            Kind::Wal
        } else {
            // Journals and temporary files: the base file alone, at the
            // start of the (larger than needed) allocation.
            // SAFETY: SQLite allocated szOsFile >= the base's size at `file`.
            return unsafe { base_open(base_vfs, name, file, flags, out_flags) };
        };
        let main = if kind == Kind::Wal && !name.is_null() {
            // SAFETY: `name` is the WAL name SQLite built from the main
            // database's name, which sqlite3_database_file_object accepts.
            let main = unsafe { ffi::sqlite3_database_file_object(name) };
            // SAFETY: the returned file is the open main database file.
            if !main.is_null() && ptr::eq(unsafe { (*main).pMethods }, &IO_METHODS) {
                main.cast_const().cast::<ShimFile>()
            } else {
                ptr::null()
            }
        } else {
            ptr::null()
        };
        let shim = ShimFile {
            file: ffi::sqlite3_file { pMethods: ptr::null() },
            kind,
            enabled: AtomicBool::new(false),
            main,
            wal_geometry: AtomicU32::new(0),
            recovering: AtomicBool::new(false),
        };
        // SAFETY: SQLite allocated szOsFile = BASE_OFFSET + the base's size
        // bytes at `file`, 8-aligned; ours goes first, the base's after.
        unsafe {
            file.cast::<ShimFile>().write(shim);
            let base_file = file.cast::<u8>().add(BASE_OFFSET).cast::<ffi::sqlite3_file>();
            (*base_file).pMethods = ptr::null();
            let rc = base_open(base_vfs, name, base_file, flags, out_flags);
            if rc == ffi::SQLITE_OK && !(*base_file).pMethods.is_null() {
                (*file).pMethods = &IO_METHODS;
            }
            rc
        }
    })
}

/// Defines a VFS method that only forwards to the base VFS's.
macro_rules! forward_vfs {
    ($name:ident, $method:ident, $ret:ty, $fail:expr, ($($arg:ident: $ty:ty),*)) => {
        unsafe extern "C" fn $name(vfs: *mut ffi::sqlite3_vfs $(, $arg: $ty)*) -> $ret {
            guard($fail, || {
                // SAFETY: SQLite calls our VFS methods with our VFS.
                let base = unsafe { base_vfs(vfs) };
                // SAFETY: the base VFS is live for the process.
                match unsafe { (*base).$method } {
                    // SAFETY: the base VFS's own method, on the base VFS,
                    // with the arguments SQLite passed to us.
                    Some(method) => unsafe { method(base $(, $arg)*) },
                    None => $fail,
                }
            })
        }
    };
}

/// What bindgen makes of xDlSym's return type (a function pointer).
type DlSymbol = Option<unsafe extern "C" fn(*mut ffi::sqlite3_vfs, *mut c_void, *const c_char)>;

forward_vfs!(x_delete, xDelete, c_int, ffi::SQLITE_IOERR_DELETE, (name: *const c_char, sync_dir: c_int));
forward_vfs!(x_access, xAccess, c_int, ffi::SQLITE_IOERR_ACCESS, (name: *const c_char, flags: c_int, out: *mut c_int));
forward_vfs!(x_full_pathname, xFullPathname, c_int, ffi::SQLITE_CANTOPEN, (name: *const c_char, n: c_int, out: *mut c_char));
forward_vfs!(x_dl_open, xDlOpen, *mut c_void, ptr::null_mut(), (name: *const c_char));
forward_vfs!(x_dl_error, xDlError, (), (), (n: c_int, out: *mut c_char));
forward_vfs!(x_dl_sym, xDlSym, DlSymbol, None, (handle: *mut c_void, symbol: *const c_char));
forward_vfs!(x_dl_close, xDlClose, (), (), (handle: *mut c_void));
forward_vfs!(x_randomness, xRandomness, c_int, 0, (n: c_int, out: *mut c_char));
forward_vfs!(x_sleep, xSleep, c_int, 0, (micros: c_int));
forward_vfs!(x_current_time, xCurrentTime, c_int, ffi::SQLITE_ERROR, (out: *mut f64));
forward_vfs!(x_get_last_error, xGetLastError, c_int, 0, (n: c_int, out: *mut c_char));
forward_vfs!(x_current_time_int64, xCurrentTimeInt64, c_int, ffi::SQLITE_ERROR, (out: *mut ffi::sqlite3_int64));
forward_vfs!(x_set_system_call, xSetSystemCall, c_int, ffi::SQLITE_NOTFOUND, (name: *const c_char, call: ffi::sqlite3_syscall_ptr));
forward_vfs!(x_get_system_call, xGetSystemCall, ffi::sqlite3_syscall_ptr, None, (name: *const c_char));
forward_vfs!(x_next_system_call, xNextSystemCall, *const c_char, ptr::null(), (name: *const c_char));

/// Registers the shim over the default VFS once per process; the outcome is kept.
fn register() -> Result<(), c_int> {
    static REGISTERED: OnceLock<Result<(), c_int>> = OnceLock::new();
    *REGISTERED.get_or_init(|| {
        // SAFETY: a null name asks for the default VFS; sqlite3_vfs_find
        // initialises SQLite first.
        let base = unsafe { ffi::sqlite3_vfs_find(ptr::null()) };
        // SAFETY: `base` is null or the registered default VFS, live for the process.
        unsafe { register_shim(VFS_NAME, base) }
    })
}

/// Registers a shim named `name` over `base` (not as the default).
///
/// # Safety
/// `base` must be null or a registered VFS that lives as long as the process.
unsafe fn register_shim(name: &'static CStr, base: *mut ffi::sqlite3_vfs) -> Result<(), c_int> {
    if base.is_null() {
        return Err(ffi::SQLITE_ERROR);
    }
    // SAFETY: per the contract, `base` is a live registered VFS.
    let base_ref = unsafe { &*base };
    let size = BASE_OFFSET as c_int + base_ref.szOsFile;
    let vfs = Box::new(ffi::sqlite3_vfs {
        iVersion: base_ref.iVersion.min(3),
        szOsFile: size,
        mxPathname: base_ref.mxPathname,
        pNext: ptr::null_mut(),
        zName: name.as_ptr(),
        pAppData: base.cast(),
        xOpen: Some(x_open),
        xDelete: Some(x_delete),
        xAccess: Some(x_access),
        xFullPathname: Some(x_full_pathname),
        xDlOpen: Some(x_dl_open),
        xDlError: Some(x_dl_error),
        xDlSym: Some(x_dl_sym),
        xDlClose: Some(x_dl_close),
        xRandomness: Some(x_randomness),
        xSleep: Some(x_sleep),
        xCurrentTime: Some(x_current_time),
        xGetLastError: Some(x_get_last_error),
        xCurrentTimeInt64: Some(x_current_time_int64),
        xSetSystemCall: Some(x_set_system_call),
        xGetSystemCall: Some(x_get_system_call),
        xNextSystemCall: Some(x_next_system_call),
    });
    // Registered VFSes must live as long as the process.
    let vfs = Box::leak(vfs);
    // SAFETY: `vfs` is fully initialised and never freed; not the default.
    let rc = unsafe { ffi::sqlite3_vfs_register(vfs, 0) };
    if rc == ffi::SQLITE_OK {
        Ok(())
    } else {
        Err(rc)
    }
}

/// Registers the shim over another base VFS, for tests that put a VFS of
/// their own under it (the power-loss simulation, `chain::crash`).
///
/// # Safety
/// As [`register_shim`].
#[cfg(test)]
pub(crate) unsafe fn register_over(name: &'static CStr, base: *mut ffi::sqlite3_vfs) -> Result<(), c_int> {
    // SAFETY: the caller's contract is register_shim's.
    unsafe { register_shim(name, base) }
}

// ---------------------------------------------------------------------------
// The crate's API.

/// The name of the checksumming VFS, registering it on first use.
pub(crate) fn vfs_name() -> rusqlite::Result<&'static CStr> {
    register().map(|()| VFS_NAME).map_err(|rc| {
        rusqlite::Error::SqliteFailure(ffi::Error::new(rc), Some("cannot register the page-checksum VFS".into()))
    })
}

/// The shim that opens `path`: the one over the default VFS, except where a
/// test put the file's directory on a shim over a VFS of its own.
fn vfs_for(path: &Path) -> rusqlite::Result<&'static CStr> {
    #[cfg(test)]
    if let Some(name) = super::crash::shim_for(path) {
        return Ok(name);
    }
    #[cfg(not(test))]
    let _ = path;
    vfs_name()
}

/// Opens a database through the checksumming VFS. A new (empty) database
/// gets its 8 reserved bytes per page and its first page at once, so every
/// page it ever has carries a checksum. An existing database keeps whatever
/// reserve it has: one without checksums opens and works unchecked.
pub(crate) fn open(path: &Path, flags: OpenFlags) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags_and_vfs(path, flags, vfs_for(path)?)?;
    if !flags.contains(OpenFlags::SQLITE_OPEN_READ_WRITE) {
        return Ok(conn);
    }
    if page_count(&conn)? > 0 {
        return Ok(conn);
    }
    // The reserve must be requested before the first write transaction:
    // beginning one on an empty database fixes its page layout.
    let mut reserve = c_int::from(RESERVE);
    // SAFETY: the handle is open and owned by `conn`; "main" is a
    // NUL-terminated schema name; RESERVE_BYTES takes a pointer to an int.
    let rc = unsafe {
        ffi::sqlite3_file_control(
            conn.handle(),
            c"main".as_ptr(),
            ffi::SQLITE_FCNTL_RESERVE_BYTES,
            (&raw mut reserve).cast(),
        )
    };
    if rc != ffi::SQLITE_OK {
        return Err(rusqlite::Error::SqliteFailure(ffi::Error::new(rc), None));
    }
    conn.execute_batch("BEGIN IMMEDIATE")?;
    // Still empty under the write lock: write page 1, and with it the
    // reserve count. (Setting user_version to its default changes nothing else.)
    let created =
        page_count(&conn).and_then(|n| if n == 0 { conn.execute_batch("PRAGMA user_version = 0") } else { Ok(()) });
    match created {
        Ok(()) => conn.execute_batch("COMMIT")?,
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(e);
        }
    }
    Ok(conn)
}

/// Who most likely left the pages of a database file failing their checksums,
/// judged from the file alone after a checksum failure (a hint for the
/// operator's message: damage and a foreign writer can look alike).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Damage {
    /// Another SQLite wrote the file without stamping checksums: a page with
    /// an all-zero trailer (SQLite zeroes every page it allocates, and only
    /// this VFS fills the reserve), page 1 failing and naming another SQLite
    /// version as its last writer, or every page from some point to the end
    /// failing (a rewritten file).
    ForeignWriter,
    /// Page 1, which every writer changes first, fails and nothing else says
    /// why: damaged, or written by another SQLite of this very version.
    PageOne,
    /// Other pages fail: damage.
    Pages,
}

/// Reads the database file at `path` page by page and says what its
/// failing pages suggest; `None` when every page of the file passes (the
/// failure was in the WAL) or the file is not a checksummed database.
pub(crate) fn diagnose(path: &Path) -> Option<Damage> {
    use std::io::Read;
    let mut file = std::io::BufReader::new(std::fs::File::open(path).ok()?);
    let mut page = vec![0u8; 100];
    file.read_exact(&mut page).ok()?;
    if !is_db_header(&page) || page[RESERVE_OFFSET] != RESERVE {
        return None;
    }
    let page_size = match u16::from_be_bytes([page[16], page[17]]) {
        1 => 65536,
        n => usize::from(n),
    };
    if !is_page_size(page_size) {
        return None;
    }
    let writer_version = u32::from_be_bytes([page[96], page[97], page[98], page[99]]);
    page.resize(page_size, 0);
    file.read_exact(&mut page[100..]).ok()?;
    let (mut pgno, mut failing, mut zero_trailer, mut page_one, mut passes_after_failure) = (1u32, 0u64, false, false, false);
    loop {
        if trailer_ok(&page, pgno) {
            passes_after_failure |= failing > 0;
        } else {
            failing += 1;
            page_one |= pgno == 1;
            zero_trailer |= page[page_size - usize::from(RESERVE)..].iter().all(|&b| b == 0);
        }
        if file.read_exact(&mut page).is_err() {
            break;
        }
        pgno = pgno.saturating_add(1);
    }
    let other_version = i64::from(writer_version) != i64::from(rusqlite::version_number());
    Some(match failing {
        0 => return None,
        _ if zero_trailer || (page_one && other_version) || (failing >= 2 && !passes_after_failure) => {
            Damage::ForeignWriter
        }
        _ if page_one => Damage::PageOne,
        _ => Damage::Pages,
    })
}

fn page_count(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA page_count", [], |r| r.get(0))
}

/// Whether the database behind `conn` has page checksums that are being
/// checked: it is open through this VFS and its header reserves 8 bytes.
pub(crate) fn checksums_enabled(conn: &Connection) -> rusqlite::Result<bool> {
    // Reading the schema version reads page 1, from which the VFS learns.
    conn.query_row("PRAGMA schema_version", [], |_| Ok(()))?;
    let answer: Option<String> = conn.query_row(&format!("PRAGMA {STATUS_PRAGMA}"), [], |r| r.get(0)).optional()?;
    Ok(answer.as_deref() == Some("1"))
}

/// Whether an error is a page checksum mismatch: storage damaged.
pub(crate) fn is_checksum_failure(err: &rusqlite::Error) -> bool {
    err.sqlite_error().is_some_and(|e| e.extended_code == ffi::SQLITE_IOERR_DATA)
}

/// Whether an error says the database file is damaged: a checksum mismatch,
/// or SQLite's own corruption findings (which can still come first, e.g. from
/// the file's size, before any page is read).
pub(crate) fn is_storage_damage(err: &rusqlite::Error) -> bool {
    is_checksum_failure(err)
        || err
            .sqlite_error()
            .is_some_and(|e| matches!(e.code, rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase))
}

#[cfg(test)]
mod tests;

//! Power loss, simulated the way SQLite's own crash tests do (`src/test6.c`
//! in its sources), for the chain database: test-only code.
//!
//! A recording VFS sits under the page-checksum shim (`pagecheck`, registered
//! a second time over it) for the databases of one directory. It passes
//! every call through to SQLite's unix VFS, so the chain runs on a real file
//! system, and logs every write (with its bytes), truncation, sync, file
//! creation and deletion, and every directory sync, in order, beside marks
//! saying where each operation of the workload began and was acknowledged.
//!
//! A [`Disk`] replays that log and keeps, for every file, what a power cut
//! would leave for certain: the content as of its last sync, the writes and
//! truncations since, and the directory as of its last sync with the
//! creations and deletions since. At a crash point (just before a sync or
//! a directory sync, or after the last event), [`Disk::crash`] makes the
//! files a restart would find: each unsynced write kept, dropped, or torn
//! (each 512-byte sector it covers new, old or garbage), each unsynced
//! truncation kept or dropped, each unsynced directory change kept or lost.
//! Torn writes damage only the bytes being written: SQLite's unix VFS
//! declares `SQLITE_IOCAP_POWERSAFE_OVERWRITE`, and the WAL relies on it
//! (see docs/DURABILITY.md for what a disk that tears more would break).
//!
//! Directory syncs the recorder cannot see are modelled from SQLite's unix
//! VFS (`os_unix.c`): `unixSync` syncs the directory the first time a file
//! opened with `SQLITE_OPEN_CREATE` as a WAL or a journal is synced
//! (`UNIXFILE_DIRSYNC`), and `unixDelete` when asked to. The chain code
//! syncs no directory of its own for its database. A file that appears
//! without going through the VFS (the writer lock creates the empty
//! database file) is logged as created when the VFS first opens it.

use std::collections::BTreeMap;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::path::{Path, PathBuf};
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use rusqlite::ffi;

use super::pagecheck;

mod tests;

/// The recording VFS, and the checksum shim registered over it.
const RECORDER_NAME: &CStr = c"emr-crash-recorder";
const SHIM_NAME: &CStr = c"emr-cksum-crash";

/// The granularity at which a torn write mixes new, old and garbage bytes.
const SECTOR: u64 = 512;

/// One thing the recorder saw, in order.
#[derive(Debug)]
pub(crate) enum Event {
    /// The VFS opened a file of the directory; `size` is its size then
    /// (a file not yet known to the log must be new and empty).
    Open { name: String, size: u64 },
    Write { name: String, offset: u64, data: Vec<u8> },
    Truncate { name: String, size: u64 },
    Sync { name: String },
    /// The directory was synced: its entries as they are now are durable.
    DirSync,
    Delete { name: String },
    /// Operation `n` of the workload begins.
    Begin(usize),
    /// Operation `n` returned: acknowledged.
    Ack(usize),
}

impl Event {
    /// Whether a power cut may land just before this event: a barrier.
    pub(crate) fn is_barrier(&self) -> bool {
        matches!(self, Event::Sync { .. } | Event::DirSync)
    }
}

/// The log of one directory.
struct Session {
    dir: PathBuf,
    log: Mutex<Vec<Event>>,
}

impl Session {
    fn push(&self, event: Event) {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).push(event);
    }
}

fn sessions() -> &'static Mutex<Vec<Arc<Session>>> {
    static SESSIONS: OnceLock<Mutex<Vec<Arc<Session>>>> = OnceLock::new();
    SESSIONS.get_or_init(Default::default)
}

fn session_of(path: &Path) -> Option<Arc<Session>> {
    let dir = path.parent()?;
    sessions().lock().unwrap_or_else(|p| p.into_inner()).iter().find(|s| s.dir == dir).cloned()
}

/// Records every database file of `dir` (which must be new and empty) while
/// it lives; the chain opened there runs through the recorder.
pub(crate) struct Recording {
    session: Arc<Session>,
}

impl Recording {
    pub(crate) fn start(dir: &Path) -> Recording {
        register();
        let session = Arc::new(Session { dir: dir.to_path_buf(), log: Mutex::new(Vec::new()) });
        sessions().lock().unwrap_or_else(|p| p.into_inner()).push(session.clone());
        Recording { session }
    }

    pub(crate) fn mark(&self, event: Event) {
        self.session.push(event);
    }

    /// Stops recording and hands the log over.
    pub(crate) fn finish(self) -> Vec<Event> {
        sessions().lock().unwrap_or_else(|p| p.into_inner()).retain(|s| !Arc::ptr_eq(s, &self.session));
        std::mem::take(&mut *self.session.log.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// The shim to open `path` through when its directory is being recorded.
pub(crate) fn shim_for(path: &Path) -> Option<&'static CStr> {
    session_of(path).map(|_| SHIM_NAME)
}

/// Registers the recorder over the default VFS and the shim over the
/// recorder, once per process.
fn register() {
    static REGISTERED: OnceLock<()> = OnceLock::new();
    REGISTERED.get_or_init(|| {
        // SAFETY: a null name asks for the default VFS, live for the process.
        let base = unsafe { ffi::sqlite3_vfs_find(ptr::null()) };
        assert!(!base.is_null(), "no default VFS");
        // SAFETY: `base` is the registered default VFS.
        let base_ref = unsafe { &*base };
        let vfs = Box::leak(Box::new(ffi::sqlite3_vfs {
            iVersion: base_ref.iVersion.min(3),
            szOsFile: REC_OFFSET as c_int + base_ref.szOsFile,
            mxPathname: base_ref.mxPathname,
            pNext: ptr::null_mut(),
            zName: RECORDER_NAME.as_ptr(),
            pAppData: base.cast(),
            xOpen: Some(x_open),
            xDelete: Some(x_delete),
            xAccess: Some(x_access),
            xFullPathname: Some(x_full_pathname),
            xDlOpen: None,
            xDlError: None,
            xDlSym: None,
            xDlClose: None,
            xRandomness: Some(x_randomness),
            xSleep: Some(x_sleep),
            xCurrentTime: Some(x_current_time),
            xGetLastError: None,
            xCurrentTimeInt64: Some(x_current_time_int64),
            xSetSystemCall: None,
            xGetSystemCall: None,
            xNextSystemCall: None,
        }));
        // SAFETY: `vfs` is fully initialised and never freed; not the default.
        assert_eq!(unsafe { ffi::sqlite3_vfs_register(vfs, 0) }, ffi::SQLITE_OK);
        // SAFETY: `vfs` was just registered and lives for the process.
        unsafe { pagecheck::register_over(SHIM_NAME, vfs) }.expect("the checksum shim over the recorder");
    });
}

// ---------------------------------------------------------------------------
// The recording VFS: a file object of ours, then the unix VFS's.

#[repr(C)]
struct RecFile {
    /// Must come first: SQLite sees this as the `sqlite3_file`.
    file: ffi::sqlite3_file,
    /// The log this file's changes go to; `None` outside a recorded directory.
    session: Option<Arc<Session>>,
    name: String,
    /// `unixSync` syncs the directory on this file's next sync.
    dir_sync: AtomicBool,
}

const REC_OFFSET: usize = std::mem::size_of::<RecFile>().next_multiple_of(8);

/// # Safety
/// `file` must be a file `x_open` opened successfully and not yet closed.
unsafe fn rec_parts<'a>(file: *mut ffi::sqlite3_file) -> (&'a RecFile, *mut ffi::sqlite3_file, &'a ffi::sqlite3_io_methods) {
    // SAFETY: per the contract: a live RecFile, then the open base file.
    unsafe {
        let rec = &*file.cast::<RecFile>();
        let base = file.cast::<u8>().add(REC_OFFSET).cast::<ffi::sqlite3_file>();
        (rec, base, &*(*base).pMethods)
    }
}

/// # Safety
/// `vfs` must be the recorder.
unsafe fn rec_base(vfs: *mut ffi::sqlite3_vfs) -> *mut ffi::sqlite3_vfs {
    // SAFETY: the recorder's pAppData is the base VFS.
    unsafe { (*vfs).pAppData.cast() }
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

unsafe extern "C" fn x_open(
    vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    // SAFETY: SQLite calls our xOpen with our VFS.
    let base_vfs = unsafe { rec_base(vfs) };
    // SAFETY: the base VFS is live for the process.
    let Some(base_open) = (unsafe { (*base_vfs).xOpen }) else { return ffi::SQLITE_CANTOPEN };
    let path = (!name.is_null()).then(|| {
        // SAFETY: a non-null name is a NUL-terminated path.
        PathBuf::from(unsafe { CStr::from_ptr(name) }.to_string_lossy().into_owned())
    });
    let session = path.as_deref().and_then(session_of);
    let journal = ffi::SQLITE_OPEN_WAL | ffi::SQLITE_OPEN_MAIN_JOURNAL | ffi::SQLITE_OPEN_SUPER_JOURNAL;
    let rec = RecFile {
        file: ffi::sqlite3_file { pMethods: ptr::null() },
        session,
        name: path.as_deref().map(file_name).unwrap_or_default(),
        dir_sync: AtomicBool::new(flags & ffi::SQLITE_OPEN_CREATE != 0 && flags & journal != 0),
    };
    // SAFETY: SQLite allocated szOsFile = REC_OFFSET + the base's size bytes
    // at `file`, 8-aligned; ours first, the base's after.
    unsafe {
        let base_file = file.cast::<u8>().add(REC_OFFSET).cast::<ffi::sqlite3_file>();
        (*base_file).pMethods = ptr::null();
        let rc = base_open(base_vfs, name, base_file, flags, out_flags);
        if rc != ffi::SQLITE_OK || (*base_file).pMethods.is_null() {
            return rc;
        }
        if let Some(session) = &rec.session {
            let mut size: ffi::sqlite3_int64 = 0;
            if let Some(file_size) = (*(*base_file).pMethods).xFileSize {
                file_size(base_file, &raw mut size);
            }
            session.push(Event::Open { name: rec.name.clone(), size: size as u64 });
        }
        file.cast::<RecFile>().write(rec);
        (*file).pMethods = &REC_METHODS;
        rc
    }
}

unsafe extern "C" fn x_delete(vfs: *mut ffi::sqlite3_vfs, name: *const c_char, sync_dir: c_int) -> c_int {
    // SAFETY: SQLite calls our xDelete with our VFS; the base is live.
    let base = unsafe { rec_base(vfs) };
    // SAFETY: the base VFS's own method with SQLite's arguments.
    let rc = match unsafe { (*base).xDelete } {
        Some(delete) => unsafe { delete(base, name, sync_dir) },
        None => ffi::SQLITE_IOERR_DELETE,
    };
    if rc == ffi::SQLITE_OK && !name.is_null() {
        // SAFETY: a non-null name is a NUL-terminated path.
        let path = PathBuf::from(unsafe { CStr::from_ptr(name) }.to_string_lossy().into_owned());
        if let Some(session) = session_of(&path) {
            session.push(Event::Delete { name: file_name(&path) });
            if sync_dir & 1 != 0 {
                session.push(Event::DirSync);
            }
        }
    }
    rc
}

/// Defines a VFS method that forwards to the base VFS's.
macro_rules! rec_forward_vfs {
    ($name:ident, $method:ident, $fail:expr, ($($arg:ident: $ty:ty),*)) => {
        unsafe extern "C" fn $name(vfs: *mut ffi::sqlite3_vfs $(, $arg: $ty)*) -> c_int {
            // SAFETY: SQLite calls our methods with our VFS; the base is live.
            let base = unsafe { rec_base(vfs) };
            // SAFETY: the base VFS's own method with SQLite's arguments.
            match unsafe { (*base).$method } {
                Some(method) => unsafe { method(base $(, $arg)*) },
                None => $fail,
            }
        }
    };
}

rec_forward_vfs!(x_access, xAccess, ffi::SQLITE_IOERR_ACCESS, (name: *const c_char, flags: c_int, out: *mut c_int));
rec_forward_vfs!(x_full_pathname, xFullPathname, ffi::SQLITE_CANTOPEN, (name: *const c_char, n: c_int, out: *mut c_char));
rec_forward_vfs!(x_randomness, xRandomness, 0, (n: c_int, out: *mut c_char));
rec_forward_vfs!(x_sleep, xSleep, 0, (micros: c_int));
rec_forward_vfs!(x_current_time, xCurrentTime, ffi::SQLITE_ERROR, (out: *mut f64));
rec_forward_vfs!(x_current_time_int64, xCurrentTimeInt64, ffi::SQLITE_ERROR, (out: *mut ffi::sqlite3_int64));

static REC_METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 3,
    xClose: Some(r_close),
    xRead: Some(r_read),
    xWrite: Some(r_write),
    xTruncate: Some(r_truncate),
    xSync: Some(r_sync),
    xFileSize: Some(r_file_size),
    xLock: Some(r_lock),
    xUnlock: Some(r_unlock),
    xCheckReservedLock: Some(r_check_reserved_lock),
    xFileControl: Some(r_file_control),
    xSectorSize: Some(r_sector_size),
    xDeviceCharacteristics: Some(r_device_characteristics),
    xShmMap: Some(r_shm_map),
    xShmLock: Some(r_shm_lock),
    xShmBarrier: Some(r_shm_barrier),
    xShmUnmap: Some(r_shm_unmap),
    xFetch: Some(r_fetch),
    xUnfetch: Some(r_unfetch),
};

/// Defines an I/O method that forwards to the base file's.
macro_rules! rec_forward {
    ($name:ident, $method:ident, $ret:ty, $fail:expr, ($($arg:ident: $ty:ty),*)) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file $(, $arg: $ty)*) -> $ret {
            // SAFETY: SQLite calls I/O methods only on an open file of ours.
            let (_, base, methods) = unsafe { rec_parts(file) };
            // SAFETY: the base file's own method with SQLite's arguments.
            match methods.$method {
                Some(method) => unsafe { method(base $(, $arg)*) },
                None => $fail,
            }
        }
    };
}

rec_forward!(r_read, xRead, c_int, ffi::SQLITE_IOERR_READ, (buf: *mut c_void, amount: c_int, offset: ffi::sqlite3_int64));
rec_forward!(r_file_size, xFileSize, c_int, ffi::SQLITE_IOERR_FSTAT, (size: *mut ffi::sqlite3_int64));
rec_forward!(r_lock, xLock, c_int, ffi::SQLITE_IOERR_LOCK, (level: c_int));
rec_forward!(r_unlock, xUnlock, c_int, ffi::SQLITE_IOERR_UNLOCK, (level: c_int));
rec_forward!(r_check_reserved_lock, xCheckReservedLock, c_int, ffi::SQLITE_IOERR_CHECKRESERVEDLOCK, (out: *mut c_int));
rec_forward!(r_file_control, xFileControl, c_int, ffi::SQLITE_NOTFOUND, (op: c_int, arg: *mut c_void));
rec_forward!(r_sector_size, xSectorSize, c_int, 4096, ());
rec_forward!(r_device_characteristics, xDeviceCharacteristics, c_int, 0, ());
rec_forward!(r_shm_map, xShmMap, c_int, ffi::SQLITE_IOERR_SHMMAP, (page: c_int, size: c_int, extend: c_int, out: *mut *mut c_void));
rec_forward!(r_shm_lock, xShmLock, c_int, ffi::SQLITE_IOERR_SHMLOCK, (offset: c_int, n: c_int, flags: c_int));
rec_forward!(r_shm_barrier, xShmBarrier, (), (), ());
rec_forward!(r_shm_unmap, xShmUnmap, c_int, ffi::SQLITE_IOERR_SHMMAP, (delete: c_int));
rec_forward!(r_fetch, xFetch, c_int, ffi::SQLITE_IOERR, (offset: ffi::sqlite3_int64, amount: c_int, out: *mut *mut c_void));
rec_forward!(r_unfetch, xUnfetch, c_int, ffi::SQLITE_OK, (offset: ffi::sqlite3_int64, page: *mut c_void));

unsafe extern "C" fn r_close(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: SQLite closes an open file of ours once; the RecFile is then
    // dropped in place (its Arc and name) and never used again.
    unsafe {
        let (_, base, methods) = rec_parts(file);
        let rc = methods.xClose.map_or(ffi::SQLITE_OK, |close| close(base));
        ptr::drop_in_place(file.cast::<RecFile>());
        rc
    }
}

unsafe extern "C" fn r_write(file: *mut ffi::sqlite3_file, buf: *const c_void, amount: c_int, offset: ffi::sqlite3_int64) -> c_int {
    // SAFETY: an open file of ours.
    let (rec, base, methods) = unsafe { rec_parts(file) };
    if let (Some(session), Ok(len)) = (&rec.session, usize::try_from(amount)) {
        // SAFETY: SQLite passes `amount` readable bytes at `buf`.
        let data = unsafe { std::slice::from_raw_parts(buf.cast::<u8>(), len) }.to_vec();
        session.push(Event::Write { name: rec.name.clone(), offset: offset as u64, data });
    }
    // SAFETY: the base file's own method with SQLite's arguments.
    methods.xWrite.map_or(ffi::SQLITE_IOERR_WRITE, |write| unsafe { write(base, buf, amount, offset) })
}

unsafe extern "C" fn r_truncate(file: *mut ffi::sqlite3_file, size: ffi::sqlite3_int64) -> c_int {
    // SAFETY: an open file of ours.
    let (rec, base, methods) = unsafe { rec_parts(file) };
    if let Some(session) = &rec.session {
        session.push(Event::Truncate { name: rec.name.clone(), size: size as u64 });
    }
    // SAFETY: the base file's own method with SQLite's arguments.
    methods.xTruncate.map_or(ffi::SQLITE_IOERR_TRUNCATE, |truncate| unsafe { truncate(base, size) })
}

unsafe extern "C" fn r_sync(file: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    // SAFETY: an open file of ours.
    let (rec, base, methods) = unsafe { rec_parts(file) };
    // SAFETY: the base file's own method with SQLite's arguments.
    let rc = methods.xSync.map_or(ffi::SQLITE_IOERR_FSYNC, |sync| unsafe { sync(base, flags) });
    // unixSync: the file first, then (once) its directory.
    let dir_sync = rec.dir_sync.swap(false, Ordering::AcqRel);
    if let (Some(session), ffi::SQLITE_OK) = (&rec.session, rc) {
        session.push(Event::Sync { name: rec.name.clone() });
        if dir_sync {
            session.push(Event::DirSync);
        }
    }
    rc
}

// ---------------------------------------------------------------------------
// The disk a power cut leaves.

/// A write or truncation since the file's last sync: its event's index.
type Unsynced = usize;

#[derive(Default, Clone)]
struct Inode {
    /// The content as of the last sync.
    durable: Vec<u8>,
    unsynced: Vec<Unsynced>,
}

#[derive(Clone, Copy)]
enum DirChange {
    Link(usize),
    Unlink,
}

/// What happened to the unsynced changes at crash points.
#[derive(Default, Debug, Clone)]
pub(crate) struct Fates {
    pub(crate) writes_kept: u64,
    pub(crate) writes_dropped: u64,
    pub(crate) writes_torn: u64,
    /// Sectors of torn writes: new, old, garbage.
    pub(crate) sectors: [u64; 3],
    pub(crate) truncates_kept: u64,
    pub(crate) truncates_dropped: u64,
    pub(crate) dir_changes_kept: u64,
    pub(crate) dir_changes_lost: u64,
}

/// Fixed-seed generator (SplitMix64).
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// The files of the recorded directory, replayed from the log.
pub(crate) struct Disk<'a> {
    log: &'a [Event],
    inodes: Vec<Inode>,
    /// The directory now, and as of its last sync.
    names: BTreeMap<String, usize>,
    durable_names: BTreeMap<String, usize>,
    /// Directory changes since its last sync, in order.
    dir_unsynced: Vec<(String, DirChange)>,
}

impl<'a> Disk<'a> {
    pub(crate) fn new(log: &'a [Event]) -> Disk<'a> {
        Disk { log, inodes: Vec::new(), names: BTreeMap::new(), durable_names: BTreeMap::new(), dir_unsynced: Vec::new() }
    }

    fn inode(&mut self, name: &str) -> &mut Inode {
        let ino = *self.names.get(name).unwrap_or_else(|| panic!("{name}: changed while not in the directory"));
        &mut self.inodes[ino]
    }

    /// Applies event `i` of the log.
    pub(crate) fn apply(&mut self, i: usize) {
        match &self.log[i] {
            Event::Open { name, size } => {
                if !self.names.contains_key(name) {
                    assert_eq!(*size, 0, "{name}: written outside the VFS");
                    self.inodes.push(Inode::default());
                    let ino = self.inodes.len() - 1;
                    self.names.insert(name.clone(), ino);
                    self.dir_unsynced.push((name.clone(), DirChange::Link(ino)));
                }
            }
            Event::Write { name, .. } | Event::Truncate { name, .. } => self.inode(name).unsynced.push(i),
            Event::Sync { name } => {
                let log = self.log;
                let inode = self.inode(name);
                for &j in &inode.unsynced {
                    apply_change(&mut inode.durable, &log[j]);
                }
                inode.unsynced.clear();
            }
            Event::DirSync => {
                self.durable_names = self.names.clone();
                self.dir_unsynced.clear();
            }
            Event::Delete { name } => {
                self.names.remove(name);
                self.dir_unsynced.push((name.clone(), DirChange::Unlink));
            }
            Event::Begin(_) | Event::Ack(_) => {}
        }
    }

    /// The files a restart finds after a power cut now, each unsynced
    /// change given a random fate.
    pub(crate) fn crash(&self, rng: &mut Rng, fates: &mut Fates) -> BTreeMap<String, Vec<u8>> {
        let mut names = self.durable_names.clone();
        for (name, change) in &self.dir_unsynced {
            if rng.below(2) == 0 {
                fates.dir_changes_lost += 1;
                continue;
            }
            fates.dir_changes_kept += 1;
            match change {
                DirChange::Link(ino) => names.insert(name.clone(), *ino),
                DirChange::Unlink => names.remove(name),
            };
        }
        names
            .into_iter()
            .map(|(name, ino)| {
                let inode = &self.inodes[ino];
                let mut content = inode.durable.clone();
                for &j in &inode.unsynced {
                    match &self.log[j] {
                        Event::Truncate { .. } if rng.below(2) == 0 => fates.truncates_dropped += 1,
                        Event::Truncate { .. } => {
                            fates.truncates_kept += 1;
                            apply_change(&mut content, &self.log[j]);
                        }
                        Event::Write { offset, data, .. } => {
                            // test6.c's odds: a quarter torn, the rest kept or dropped.
                            match rng.below(8) {
                                0..=2 => {
                                    fates.writes_kept += 1;
                                    apply_change(&mut content, &self.log[j]);
                                }
                                3..=5 => fates.writes_dropped += 1,
                                _ => {
                                    fates.writes_torn += 1;
                                    tear(&mut content, *offset, data, rng, &mut fates.sectors);
                                }
                            }
                        }
                        other => unreachable!("not a file change: {other:?}"),
                    }
                }
                (name, content)
            })
            .collect()
    }
}

fn apply_change(content: &mut Vec<u8>, change: &Event) {
    match change {
        Event::Write { offset, data, .. } => {
            let (start, end) = (*offset as usize, *offset as usize + data.len());
            if content.len() < end {
                content.resize(end, 0);
            }
            content[start..end].copy_from_slice(data);
        }
        Event::Truncate { size, .. } => content.resize(*size as usize, 0),
        other => unreachable!("not a file change: {other:?}"),
    }
}

/// A write cut short by the power: each sector it covers holds the new
/// bytes, the old ones, or garbage. Nothing outside the write changes.
fn tear(content: &mut Vec<u8>, offset: u64, data: &[u8], rng: &mut Rng, sectors: &mut [u64; 3]) {
    let end = offset + data.len() as u64;
    if (content.len() as u64) < end {
        content.resize(end as usize, 0);
    }
    let mut at = offset;
    while at < end {
        let next = ((at / SECTOR) + 1) * SECTOR;
        let piece = at as usize..next.min(end) as usize;
        let fate = rng.below(3) as usize;
        sectors[fate] += 1;
        match fate {
            0 => content[piece.clone()].copy_from_slice(&data[piece.start - offset as usize..piece.end - offset as usize]),
            1 => {}
            _ => content[piece].iter_mut().for_each(|b| *b = rng.next() as u8),
        }
        at = next.min(end);
    }
}

//! The files a command writes (keys, public keys, records, entries, block
//! files). Each is checked when the command starts, so that a refused path
//! costs no work and leaves nothing behind, and written whole or not at all.
//!
//! Only a regular file is ever replaced, and only with `--force`: renaming
//! over a symlink, a FIFO or a device would swap the name for our file (an
//! `--out /dev/null` run as root once turned the host's /dev/null into a
//! regular file). The bytes go to a temporary file that `tempfile` creates
//! with `O_EXCL` under a random name beside the target, so nothing planted
//! there in advance (a symlink, a world-writable file) can receive them or
//! lend them its mode. `docs/SECURITY.md`, "Files the command line writes".

use std::ffi::OsString;
use std::fs::{self, Permissions};
use std::io::Write as _;
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use crate::error::{file_error, CliError};

/// Who may read a file the command writes.
#[derive(Clone, Copy)]
pub enum Access {
    /// A private key: exactly 0600, whatever the umask.
    Private,
    /// Anything else: 0644 less the umask, as for any new file.
    Public,
}

/// A file as the file system knows it, so that two names of one file
/// (a hard link, a case-insensitive name) are seen to be one.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    fn of(meta: &fs::Metadata) -> FileId {
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

/// A file a command will write, checked but not yet written.
pub struct OutFile {
    /// As the user gave it, for messages and results.
    path: PathBuf,
    /// Its directory with every symlink resolved: the temporary file goes
    /// there so that the rename never crosses file systems.
    dir: PathBuf,
    /// `dir` and the file name: the directory entry the rename replaces.
    target: PathBuf,
    access: Access,
    force: bool,
    /// The regular file there now (only with `force`).
    existing: Option<FileId>,
}

impl OutFile {
    /// Checks that `path` may be written: its directory exists, and nothing
    /// is there, or a regular file and `force`.
    pub fn new(path: PathBuf, access: Access, force: bool) -> Result<OutFile, CliError> {
        let name = path.file_name().ok_or_else(|| {
            CliError::invalid_argument(format!("{} is not a file name", path.display()))
        })?;
        let parent = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let dir = fs::canonicalize(parent).map_err(|e| file_error(&path, e))?;
        let target = dir.join(name);
        let mut out = OutFile {
            path,
            dir,
            target,
            access,
            force,
            existing: None,
        };
        out.existing = out.check(None)?;
        Ok(out)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether writing `other` would replace this file: the same path once
    /// its directory is resolved, or two names of one existing file.
    pub fn same_file(&self, other: &OutFile) -> bool {
        self.target == other.target || (self.existing.is_some() && self.existing == other.existing)
    }

    /// What is at the target now: nothing, or a regular file it may
    /// replace (which must not be `keep`); anything else is refused.
    fn check(&self, keep: Option<FileId>) -> Result<Option<FileId>, CliError> {
        let meta = match fs::symlink_metadata(&self.target) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(file_error(&self.path, e)),
        };
        let kind = meta.file_type();
        let what = if kind.is_file() {
            let id = FileId::of(&meta);
            if !self.force {
                return Err(CliError::invalid_argument(format!(
                    "{} exists (use --force to replace it)",
                    self.path.display()
                )));
            }
            if keep == Some(id) {
                return Err(CliError::invalid_argument(format!(
                    "{} is now the file this command just wrote; not replacing it",
                    self.path.display()
                )));
            }
            return Ok(Some(id));
        } else if kind.is_symlink() {
            "a symbolic link"
        } else if kind.is_dir() {
            "a directory"
        } else if kind.is_fifo() {
            "a FIFO"
        } else if kind.is_char_device() {
            "a character device"
        } else if kind.is_block_device() {
            "a block device"
        } else {
            "a socket"
        };
        Err(CliError::invalid_argument(format!(
            "{} is {what}, not a regular file; refusing to replace it, even with --force",
            self.path.display()
        )))
    }

    /// Writes `bytes`: to a new temporary file beside the target, synced,
    /// renamed over the target, and the directory synced, so that a reader
    /// (or a crash) sees the old file or the new one, never half of one.
    /// `keep`: a file this command wrote before, which this one must not
    /// replace. Returns the written file, for the next write's `keep`.
    pub fn write(&self, bytes: &[u8], keep: Option<FileId>) -> Result<FileId, CliError> {
        let io = |e| file_error(&self.path, e);
        let mut prefix = OsString::from(".");
        prefix.push(self.target.file_name().unwrap_or_default());
        prefix.push(".");
        let mode = match self.access {
            Access::Private => 0o600,
            Access::Public => 0o644,
        };
        let mut tmp = tempfile::Builder::new()
            .prefix(&prefix)
            .suffix(".tmp")
            .permissions(Permissions::from_mode(mode))
            .tempfile_in(&self.dir)
            .map_err(io)?;
        if let Access::Private = self.access {
            // The umask only narrows the mode given at creation; the docs
            // promise 0600, not less.
            tmp.as_file()
                .set_permissions(Permissions::from_mode(0o600))
                .map_err(io)?;
        }
        tmp.write_all(bytes).map_err(io)?;
        tmp.as_file().sync_all().map_err(io)?;
        // Again just before the rename: the target may have changed since
        // the command started (a symlink or a FIFO put there).
        self.check(keep)?;
        let persisted = if self.force {
            tmp.persist(&self.target)
        } else {
            // Atomic in the kernel (RENAME_NOREPLACE, or a hard link): a
            // file that appeared since the check is not replaced.
            tmp.persist_noclobber(&self.target)
        };
        let file = persisted.map_err(|e| {
            if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                CliError::invalid_argument(format!(
                    "{} exists (use --force to replace it)",
                    self.path.display()
                ))
            } else {
                io(e.error)
            }
        })?;
        // The rename is durable only once the directory is.
        fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io)?;
        Ok(FileId::of(&file.metadata().map_err(io)?))
    }
}

/// `--out` of a command whose default file name comes from what it writes
/// (a record's txid, an entry's id), with its `--force`.
pub struct NamedLater {
    given: Option<OutFile>,
    force: bool,
}

impl NamedLater {
    /// Checks a path given on the command line now, before any work.
    pub fn new(path: Option<PathBuf>, force: bool) -> Result<NamedLater, CliError> {
        let given = path
            .map(|p| OutFile::new(p, Access::Public, force))
            .transpose()?;
        Ok(NamedLater { given, force })
    }

    /// The file given, or else `default`, checked now.
    pub fn or_default(self, default: impl FnOnce() -> PathBuf) -> Result<OutFile, CliError> {
        match self.given {
            Some(out) => Ok(out),
            None => OutFile::new(default(), Access::Public, self.force),
        }
    }
}

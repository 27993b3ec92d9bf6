//! One error type for every command: a kind (the core's `ErrorKind` names,
//! plus `usage`), a one-line message, and the exit code the kind maps to.
//! The table is documented in `docs/CLI.md`; codes never change meaning.

use emr_core::address::AddressError;
use emr_core::chain::{AddBlocksError, ChainError};
use emr_core::mining::MiningError;
use emr_core::{DecodeError, ErrorKind, KeyError, RecordError, SignError};

/// Exit codes (stable; `docs/CLI.md`).
pub mod exit {
    /// The command did what was asked.
    #[allow(dead_code)]
    pub const OK: i32 = 0;
    /// Data was checked and refused: a record, block or file that does not
    /// verify or decode, a key that cannot be read, `check` finding a bad block.
    pub const INVALID: i32 = 1;
    /// The command line was not understood, or an argument is out of range.
    pub const USAGE: i32 = 2;
    /// A typed address was refused (typo, wrong role, length, character, case).
    pub const ADDRESS: i32 = 3;
    /// The thing asked for does not exist (a file, a chain, a txid, a block to undo).
    pub const NOT_FOUND: i32 = 4;
    /// Another process has the chain open for writing.
    pub const LOCKED: i32 = 5;
    /// The stored chain is damaged.
    pub const CORRUPT: i32 = 6;
    /// The operating system or the storage engine failed.
    pub const IO: i32 = 7;
    /// Interrupted (Ctrl-C); what was done before is kept and consistent.
    pub const INTERRUPTED: i32 = 130;
}

/// Why a command failed.
#[derive(Debug)]
pub struct CliError {
    /// The kind's name: an `ErrorKind` spelling, or `usage`.
    pub kind: &'static str,
    /// One line, without the kind.
    pub message: String,
    /// Indexes into a typed address that the error points at.
    pub positions: Vec<usize>,
    /// Lines shown under the error line (the typed text and its caret).
    pub detail: Option<String>,
    /// What the command did before it failed: lines for stdout, and fields
    /// for the JSON error object.
    pub partial: Option<Box<(String, serde_json::Map<String, serde_json::Value>)>>,
}

impl CliError {
    pub fn new(kind: &'static str, message: impl Into<String>) -> CliError {
        CliError {
            kind,
            message: message.into(),
            positions: Vec::new(),
            detail: None,
            partial: None,
        }
    }

    pub fn usage(message: impl Into<String>) -> CliError {
        CliError::new("usage", message)
    }

    pub fn invalid_argument(message: impl Into<String>) -> CliError {
        CliError::new(ErrorKind::InvalidArgument.as_str(), message)
    }

    pub fn not_found(message: impl Into<String>) -> CliError {
        CliError::new(ErrorKind::NotFound.as_str(), message)
    }

    pub fn io(message: impl Into<String>) -> CliError {
        CliError::new(ErrorKind::Io.as_str(), message)
    }

    pub fn cancelled(message: impl Into<String>) -> CliError {
        CliError::new(ErrorKind::Cancelled.as_str(), message)
    }

    /// The same error with `context: ` in front of its message.
    pub fn context(mut self, context: impl std::fmt::Display) -> CliError {
        self.message = format!("{context}: {}", self.message);
        self
    }

    /// A core error: its kind, and its message without the `kind: ` prefix
    /// the core's `Display` starts with.
    pub fn from_kind(kind: ErrorKind, display: String) -> CliError {
        let name = kind.as_str();
        let message = display
            .strip_prefix(name)
            .and_then(|m| m.strip_prefix(": "))
            .map(str::to_owned)
            .unwrap_or(display);
        CliError::new(name, message)
    }

    pub fn exit_code(&self) -> i32 {
        match self.kind {
            "usage" | "invalid_argument" => exit::USAGE,
            "invalid_checksum" | "wrong_role" | "invalid_length" | "invalid_character"
            | "mixed_case" => exit::ADDRESS,
            "not_found" => exit::NOT_FOUND,
            "locked" => exit::LOCKED,
            "corrupt" => exit::CORRUPT,
            "io" => exit::IO,
            "cancelled" => exit::INTERRUPTED,
            _ => exit::INVALID,
        }
    }

    /// The one line printed on stderr.
    pub fn line(&self) -> String {
        format!("error: {}: {}", self.kind, self.message)
    }

    /// An address `text` refused: the error, and the text with a caret
    /// under each character the error points at.
    pub fn address(text: &str, error: &AddressError) -> CliError {
        let mut e = CliError::from_kind(error.kind(), error.to_string());
        e.positions = error.positions();
        if !e.positions.is_empty() {
            let carets: String = (0..text.chars().count())
                .map(|i| if e.positions.contains(&i) { '^' } else { ' ' })
                .collect();
            e.detail = Some(format!("  {text}\n  {}", carets.trim_end()));
        }
        e
    }
}

impl From<ChainError> for CliError {
    fn from(e: ChainError) -> CliError {
        CliError::from_kind(e.kind(), e.to_string())
    }
}

impl From<AddBlocksError> for CliError {
    fn from(e: AddBlocksError) -> CliError {
        CliError::from_kind(e.kind(), e.error.to_string())
            .context(format!("block {} of the file", e.index))
    }
}

impl From<RecordError> for CliError {
    fn from(e: RecordError) -> CliError {
        CliError::from_kind(e.kind(), e.to_string())
    }
}

impl From<SignError> for CliError {
    fn from(e: SignError) -> CliError {
        CliError::from_kind(e.kind(), e.to_string())
    }
}

impl From<KeyError> for CliError {
    fn from(e: KeyError) -> CliError {
        CliError::from_kind(e.kind(), e.to_string())
    }
}

impl From<DecodeError> for CliError {
    fn from(e: DecodeError) -> CliError {
        let message = e.to_string();
        CliError::new(
            "decode",
            message
                .strip_prefix("decode error: ")
                .unwrap_or(&message)
                .to_owned(),
        )
    }
}

impl From<MiningError> for CliError {
    fn from(e: MiningError) -> CliError {
        match e {
            MiningError::ThreadSpawn(_) => CliError::io(e.to_string()),
            _ => CliError::invalid_argument(e.to_string()),
        }
    }
}

/// An I/O error on `path`: `not_found` when it does not exist, else `io`.
pub fn file_error(path: &std::path::Path, e: std::io::Error) -> CliError {
    let message = format!("{}: {e}", path.display());
    match e.kind() {
        std::io::ErrorKind::NotFound => CliError::not_found(message),
        _ => CliError::io(message),
    }
}

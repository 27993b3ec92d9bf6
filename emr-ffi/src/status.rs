//! Status codes, the thread-local last error message, and the panic boundary.

use core::ffi::{c_char, CStr};
use std::any::Any;
use std::cell::RefCell;
use std::ffi::CString;
use std::panic::{catch_unwind, AssertUnwindSafe};

use emr_core::block::BlockError;
use emr_core::keys::KeyError;
use emr_core::record::{BatchError, RecordError, SignError};
use emr_core::{
    AddressError, ChainError, DecodeError, EntryError, EntrySignError, ErrorKind, InvalidThreadCount, SealError,
};

/// The outcome of a call: `EMR_OK` (0) or the kind of failure.
///
/// Every code's number is stable: it never changes and is never reused, so
/// it may be stored, logged and compared across library versions. New kinds
/// get new numbers. Ranges: 1-19 record kinds, 20-39 block kinds, 40-59
/// chain kinds (a block's place in a chain), 60-79 address kinds, 80-99
/// entry and sealing kinds (SPEC sections 8 and 10: 80-87 registry entries,
/// 90-91 sealing, 92-99 pharmacies), 100-109 general kinds,
/// 110-129 kinds of a peer node (SPEC section 9: emr_chain_sync), 130-199
/// general kinds to come, 200-299 kinds of the C interface itself.
pub type emr_status = u32;

/// Success.
pub const EMR_OK: emr_status = 0;

/// Record: `dr_hash` or `patient_hash` is not 20 bytes.
pub const EMR_HASH_LENGTH: emr_status = 1;
/// Record: `dr_hash` is not the SHA-1 of `dr_public_key`.
pub const EMR_PUBLIC_KEY_MISMATCH: emr_status = 2;
/// Record: the prescription is not text (not UTF-8), is plain text over
/// EMR_MAX_PLAIN_PRESCRIPTION_BYTES (200), or is a sealed text that is
/// malformed, over EMR_MAX_PRESCRIPTION_BYTES (1024) or not sealed to the
/// record's patient.
pub const EMR_INVALID_PRESCRIPTION: emr_status = 3;
/// Record: the nonce is not the doctor's previous nonce + 1.
pub const EMR_INVALID_NONCE: emr_status = 4;
/// Record: the txid is not 32 bytes or not the hash of the record's fields.
pub const EMR_INVALID_TXID: emr_status = 5;
/// Record: the public key is not a DER SPKI of a point on secp256k1 or P-256.
pub const EMR_INVALID_PUBLIC_KEY: emr_status = 6;
/// Record: the signature is not strict DER or does not verify.
pub const EMR_INVALID_SIGNATURE: emr_status = 7;
/// Record, in a chain with authorities: the doctor holds no active grant at
/// the block's timestamp (reported after the record's own checks, as the
/// record status of EMR_RECORD, and by the pool).
pub const EMR_UNAUTHORIZED_DOCTOR: emr_status = 8;

/// Block: the block's difficulty is not the expected difficulty.
pub const EMR_DIFFICULTY_MISMATCH: emr_status = 20;
/// Block: `block_id` is not 32 bytes or not the hash of the header.
pub const EMR_INVALID_BLOCK_ID: emr_status = 21;
/// Block: more than 25 records.
pub const EMR_TOO_MANY_RECORDS: emr_status = 22;
/// Block: `miner` is not 20 bytes.
pub const EMR_INVALID_MINER: emr_status = 23;
/// Block: `previous` is not 32 bytes.
pub const EMR_INVALID_PREVIOUS: emr_status = 24;
/// Block: the block id does not meet the difficulty's target.
pub const EMR_INSUFFICIENT_WORK: emr_status = 25;
/// Block: a record failed. Functions returning it also report the record's
/// index and its own record status through out-parameters.
pub const EMR_RECORD: emr_status = 26;
/// Block: more than 25 entries (checked right after the record count).
pub const EMR_TOO_MANY_ENTRIES: emr_status = 27;
/// Block: an entry (grant or revocation) failed. Functions returning it
/// also report the entry's index and its own entry status (EMR_INVALID_ENTRY
/// ... EMR_ALREADY_REVOKED, EMR_WRONG_CHAIN,
/// EMR_REVOCATION_NOT_YET_EFFECTIVE, EMR_UNAUTHORIZED_DISPENSER ...
/// EMR_PRESCRIPTION_CANCELLED) through out-parameters. Entries are
/// checked before records.
pub const EMR_ENTRY: emr_status = 28;

/// Chain: the block's height is not its parent's height + 1 (0 for a
/// genesis block).
pub const EMR_WRONG_HEIGHT: emr_status = 40;
/// Chain: the block's `previous` is the id of no block the chain knows.
pub const EMR_UNKNOWN_PARENT: emr_status = 41;
/// Chain: the block's timestamp is before its parent's.
pub const EMR_TIMESTAMP_TOO_EARLY: emr_status = 42;
/// Chain: the block's timestamp is more than the chain's max_future seconds
/// (emr_chain_options.max_future, default EMR_DEFAULT_MAX_FUTURE_SECONDS = 60)
/// after the caller's current time. Such a block is not remembered as
/// invalid: it may be offered again once its time has come.
pub const EMR_TIMESTAMP_TOO_LATE: emr_status = 43;
/// Address: the checksum does not match, a character is wrong; its index
/// is reported when it can be located (emr_address_decode).
pub const EMR_INVALID_CHECKSUM: emr_status = 60;
/// Address: a valid address of another role (a patient's where a doctor's
/// is expected, ...), or text without a role prefix.
pub const EMR_WRONG_ROLE: emr_status = 61;
/// Address: empty, longer than 90 bytes, or not holding a 20-byte hash.
pub const EMR_INVALID_LENGTH: emr_status = 62;
/// Address: a character that cannot stand at its place.
pub const EMR_INVALID_CHARACTER: emr_status = 63;
/// Address: upper and lower case mixed.
pub const EMR_MIXED_CASE: emr_status = 64;
/// Entry: a key that is not an uncompressed SPKI on a supported curve, a
/// licence that is not text or over 100 bytes, not_before > not_after, or a
/// grant id or chain id that is not 32 bytes.
pub const EMR_INVALID_ENTRY: emr_status = 80;
/// Entry: the signature is not strict DER, is high-S (s > n/2: an entry's
/// id covers its signature, so (r, n - s) would be a second entry of the
/// same content), or does not verify under the entry's authority.
pub const EMR_INVALID_ENTRY_SIGNATURE: emr_status = 81;
/// Entry: the authority is not one of the chain's (every entry of an open
/// chain fails here).
pub const EMR_UNKNOWN_AUTHORITY: emr_status = 82;
/// Entry: a grant with the same content (chain, doctor key, licence,
/// window and authority, whatever its signature) is already in the active
/// chain.
pub const EMR_DUPLICATE_GRANT: emr_status = 83;
/// Entry: a revocation of a grant the active chain does not hold.
pub const EMR_UNKNOWN_GRANT: emr_status = 84;
/// Entry: a revocation of a grant that is already revoked.
pub const EMR_ALREADY_REVOKED: emr_status = 85;
/// Entry: the entry's chain_id is not the id of the chain it is offered to
/// (an entry made for another chain, a test chain say; see emr_chain_id).
pub const EMR_WRONG_CHAIN: emr_status = 86;
/// Entry: a revocation whose effective time is later than the timestamp of
/// the block carrying it. A chain carries a revocation only once its time
/// has reached it; the pool holds it until then (EMR_SUBMIT_HELD).
pub const EMR_REVOCATION_NOT_YET_EFFECTIVE: emr_status = 87;
/// Sealing: the key opening a sealed record is not one of its recipients.
pub const EMR_NOT_RECIPIENT: emr_status = 90;
/// Sealing: the key is a recipient, but the sealed text does not decrypt
/// under it (tampered, or moved to another record) or is not UTF-8.
pub const EMR_DECRYPT_FAILED: emr_status = 91;
/// Entry: a dispense whose pharmacy holds no dispenser grant active at the
/// block's timestamp (every dispense of an open chain; a doctor's grant
/// never authorizes dispensing).
pub const EMR_UNAUTHORIZED_DISPENSER: emr_status = 92;
/// Entry: a cancellation by a key that is neither an authority of the
/// chain nor the prescriber's own key authorized at the block's timestamp.
pub const EMR_UNAUTHORIZED_CANCELLER: emr_status = 93;
/// Entry: no record with the dispense's or cancellation's (dr_hash, nonce)
/// in an earlier block of the active chain, or its signature hash is not
/// the entry's record hash.
pub const EMR_UNKNOWN_PRESCRIPTION: emr_status = 94;
/// Entry: a dispense whose patient key is not the prescription's patient's.
pub const EMR_WRONG_PATIENT: emr_status = 95;
/// Entry: a dispense of a prescription whose doctor was no longer
/// authorized at the time of the record's own block (a backdated
/// revocation over a stolen key's prescriptions).
pub const EMR_PRESCRIBER_REVOKED: emr_status = 96;
/// Entry: a note or reason on a sealed prescription (they are public).
pub const EMR_PUBLIC_TEXT_ON_SEALED: emr_status = 97;
/// Entry: the prescription is already dispensed in the active chain
/// (earlier in the same block included).
pub const EMR_ALREADY_DISPENSED: emr_status = 98;
/// Entry: the prescription is cancelled in the active chain.
pub const EMR_PRESCRIPTION_CANCELLED: emr_status = 99;

/// An argument outside its documented range (a zero difficulty, a thread
/// count over its maximum, an unknown curve, ...). An index past the end of
/// an indexed getter is EMR_NOT_FOUND instead ("Indexes" at the top of this
/// header).
pub const EMR_INVALID_ARGUMENT: emr_status = 100;
/// A private key that cannot be parsed or used (malformed, encrypted and
/// read without a password, a password for a key that is not encrypted,
/// unsupported curve or key encryption, scalar out of range, mismatched
/// public key).
pub const EMR_INVALID_KEY: emr_status = 101;
/// Bytes that are not a canonical encoding of a record or block.
pub const EMR_DECODE: emr_status = 102;
/// The thing asked for does not exist: a height past the tip, a txid in no
/// active block, an undo on an empty chain, the end of a history, an index
/// past the end of any indexed getter ("Indexes" at the top of this header).
pub const EMR_NOT_FOUND: emr_status = 103;
/// Work stopped by the caller before it finished. (emr_mine_block reports
/// a cancelled search as an outcome, EMR_MINE_CANCELLED, with EMR_OK.)
pub const EMR_CANCELLED: emr_status = 104;
/// The operating system refused something the call needed (such as
/// starting a thread).
pub const EMR_IO: emr_status = 105;
/// The chain is open for writing by another handle, in this process or
/// another; emr_last_error_message() names the file.
pub const EMR_LOCKED: emr_status = 106;
/// Stored data is damaged (a block that does not hash to its id or does not
/// decode, an index that disagrees with the blocks, a file that is not a
/// chain database). Never silently accepted.
pub const EMR_CORRUPT: emr_status = 107;
/// An encrypted private key's password does not decrypt it (or the
/// encrypted key is damaged): emr_key_decrypt.
pub const EMR_WRONG_PASSWORD: emr_status = 108;

/// Peer (SPEC 9): the node could not be asked: no connection, a failed TLS
/// handshake, a dropped connection, or no answer in time (connect 5 s, a
/// whole request 30 s). Try again later.
pub const EMR_PEER_UNREACHABLE: emr_status = 110;
/// Peer: the node answered with an HTTP error status (403: this client is
/// suspended; 429: over its request rate; 503: shutting down; 400, 404: a
/// request it does not serve); emr_last_error_message() gives it.
pub const EMR_PEER_REFUSED: emr_status = 111;
/// Peer: the node broke the protocol: an answer over its limit or
/// malformed, a block that fails the chain's checks, or less work
/// delivered than it advertised. A node suspends such a peer (SPEC 9.2).
pub const EMR_PEER_MISBEHAVED: emr_status = 112;
/// Peer: the node keeps another chain (another chain id or genesis block);
/// nothing was synced.
pub const EMR_PEER_INCOMPATIBLE: emr_status = 113;
/// Peer: a sync stopped before the node's heavier branch was whole, for a
/// reason that is nobody's fault yet (the node's chain moved meanwhile, or
/// a block is ahead of this clock). What was added stays; sync again later.
pub const EMR_SYNC_INCOMPLETE: emr_status = 114;

/// C interface: a required pointer argument is NULL (or a (pointer, length)
/// pair has a NULL pointer and a non-zero length).
pub const EMR_NULL_ARGUMENT: emr_status = 200;
/// C interface: the caller's output buffer is too small; the size needed
/// was written to the in/out length, and nothing else was written.
pub const EMR_BUFFER_TOO_SMALL: emr_status = 201;
/// C interface: a bug inside the library was caught at the boundary (a Rust
/// panic). Objects passed to the failed call should only be freed.
pub const EMR_PANIC: emr_status = 202;

fn lookup(status: emr_status) -> Option<&'static (emr_status, &'static CStr, &'static CStr)> {
    /// (code, kind name, description) for every status.
    static STATUSES: &[(emr_status, &CStr, &CStr)] = &[
        (EMR_OK, c"ok", c"success"),
        (EMR_HASH_LENGTH, c"hash_length", c"dr_hash or patient_hash is not 20 bytes"),
        (EMR_PUBLIC_KEY_MISMATCH, c"public_key_mismatch", c"dr_hash is not the SHA-1 of dr_public_key"),
        (EMR_INVALID_PRESCRIPTION, c"invalid_prescription", c"prescription is not UTF-8 text of at most 200 bytes"),
        (EMR_INVALID_NONCE, c"invalid_nonce", c"record nonce is not the doctor's previous nonce + 1"),
        (EMR_INVALID_TXID, c"invalid_txid", c"txid does not match the record"),
        (EMR_INVALID_PUBLIC_KEY, c"invalid_public_key", c"dr_public_key is not an EC public key on a supported curve"),
        (EMR_INVALID_SIGNATURE, c"invalid_signature", c"signature is not strict DER or does not verify"),
        (EMR_UNAUTHORIZED_DOCTOR, c"unauthorized_doctor", c"the doctor holds no active grant at the block's time"),
        (EMR_DIFFICULTY_MISMATCH, c"difficulty_mismatch", c"block difficulty is not the expected difficulty"),
        (EMR_INVALID_BLOCK_ID, c"invalid_block_id", c"block_id does not match the block"),
        (EMR_TOO_MANY_RECORDS, c"too_many_records", c"a block holds at most 25 records"),
        (EMR_INVALID_MINER, c"invalid_miner", c"miner is not 20 bytes"),
        (EMR_INVALID_PREVIOUS, c"invalid_previous", c"previous is not 32 bytes"),
        (EMR_INSUFFICIENT_WORK, c"insufficient_work", c"block_id does not meet the difficulty's target"),
        (EMR_RECORD, c"record", c"a record of the block failed"),
        (EMR_TOO_MANY_ENTRIES, c"too_many_entries", c"a block holds at most 25 entries"),
        (EMR_ENTRY, c"entry", c"an entry of the block failed"),
        (EMR_WRONG_HEIGHT, c"wrong_height", c"block height is not its parent's height + 1"),
        (EMR_UNKNOWN_PARENT, c"unknown_parent", c"no known block has the block's previous id"),
        (EMR_TIMESTAMP_TOO_EARLY, c"timestamp_too_early", c"block timestamp is before its parent's"),
        (
            EMR_TIMESTAMP_TOO_LATE,
            c"timestamp_too_late",
            c"block timestamp is more than the chain's max_future seconds in the future",
        ),
        (EMR_INVALID_CHECKSUM, c"invalid_checksum", c"the address has a typo: its checksum does not match"),
        (EMR_WRONG_ROLE, c"wrong_role", c"the address is of another role than the one expected"),
        (EMR_INVALID_LENGTH, c"invalid_length", c"the address is too short, too long or not a 20-byte hash"),
        (EMR_INVALID_CHARACTER, c"invalid_character", c"the address has a character that cannot stand at its place"),
        (EMR_MIXED_CASE, c"mixed_case", c"the address mixes upper and lower case"),
        (
            EMR_INVALID_ENTRY,
            c"invalid_entry",
            c"an entry's key, licence, validity window, grant id or chain id is malformed",
        ),
        (
            EMR_INVALID_ENTRY_SIGNATURE,
            c"invalid_entry_signature",
            c"an entry's signature is not strict DER, is high-S, or does not verify",
        ),
        (EMR_UNKNOWN_AUTHORITY, c"unknown_authority", c"the entry's authority is not one of the chain's authorities"),
        (EMR_DUPLICATE_GRANT, c"duplicate_grant", c"a grant with the same content is already in the active chain"),
        (EMR_UNKNOWN_GRANT, c"unknown_grant", c"the revoked grant is not in the active chain"),
        (EMR_ALREADY_REVOKED, c"already_revoked", c"the grant is already revoked"),
        (EMR_WRONG_CHAIN, c"wrong_chain", c"the entry was made for another chain"),
        (
            EMR_REVOCATION_NOT_YET_EFFECTIVE,
            c"revocation_not_yet_effective",
            c"the revocation takes effect after the block's time",
        ),
        (EMR_NOT_RECIPIENT, c"not_recipient", c"the key is not a recipient of the sealed record"),
        (EMR_DECRYPT_FAILED, c"decrypt_failed", c"the sealed record does not decrypt under the key"),
        (
            EMR_UNAUTHORIZED_DISPENSER,
            c"unauthorized_dispenser",
            c"the pharmacy holds no dispenser grant active at the block's time",
        ),
        (
            EMR_UNAUTHORIZED_CANCELLER,
            c"unauthorized_canceller",
            c"only the prescriber (while authorized) or an authority may cancel",
        ),
        (
            EMR_UNKNOWN_PRESCRIPTION,
            c"unknown_prescription",
            c"no such prescription in an earlier block of the active chain",
        ),
        (EMR_WRONG_PATIENT, c"wrong_patient", c"the patient's key is not the prescription's patient"),
        (
            EMR_PRESCRIBER_REVOKED,
            c"prescriber_revoked",
            c"the prescriber was not authorized when the prescription was written",
        ),
        (EMR_PUBLIC_TEXT_ON_SEALED, c"public_text_on_sealed", c"a sealed prescription's entry carries public text"),
        (EMR_ALREADY_DISPENSED, c"already_dispensed", c"the prescription is already dispensed"),
        (EMR_PRESCRIPTION_CANCELLED, c"prescription_cancelled", c"the prescription is cancelled"),
        (EMR_INVALID_ARGUMENT, c"invalid_argument", c"an argument is outside its documented range"),
        (EMR_INVALID_KEY, c"invalid_key", c"the private key cannot be parsed or used"),
        (EMR_DECODE, c"decode", c"the bytes are not a canonical encoding"),
        (EMR_NOT_FOUND, c"not_found", c"the thing asked for does not exist"),
        (EMR_CANCELLED, c"cancelled", c"the work was cancelled"),
        (EMR_IO, c"io", c"the operating system refused an operation"),
        (EMR_LOCKED, c"locked", c"the chain is open for writing by another handle"),
        (EMR_CORRUPT, c"corrupt", c"stored data is damaged"),
        (EMR_PEER_UNREACHABLE, c"peer_unreachable", c"the node could not be reached or did not answer in time"),
        (EMR_PEER_REFUSED, c"peer_refused", c"the node answered with an HTTP error status"),
        (EMR_PEER_MISBEHAVED, c"peer_misbehaved", c"the node broke the protocol or served blocks that fail"),
        (EMR_PEER_INCOMPATIBLE, c"peer_incompatible", c"the node keeps another chain"),
        (
            EMR_SYNC_INCOMPLETE,
            c"sync_incomplete",
            c"the sync stopped before the node's branch was whole; sync again later",
        ),
        (EMR_WRONG_PASSWORD, c"wrong_password", c"the password does not decrypt the private key"),
        (EMR_NULL_ARGUMENT, c"null_argument", c"a required pointer argument is NULL"),
        (EMR_BUFFER_TOO_SMALL, c"buffer_too_small", c"the output buffer is too small"),
        (EMR_PANIC, c"panic", c"internal error: a panic was caught at the library boundary"),
    ];
    STATUSES.iter().find(|(code, _, _)| *code == status)
}

/// A static, human-readable description of a status.
///
/// Returns: a NUL-terminated string in static storage (never NULL, never
///          freed); "unknown status" for a number that is not a status.
/// In:      status: any value.
/// Thread-safety: safe to call from any thread.
#[no_mangle]
pub extern "C" fn emr_status_str(status: emr_status) -> *const c_char {
    ffi_boundary!(default: c"unknown status".as_ptr(); {
        lookup(status).map_or(c"unknown status", |(_, _, text)| *text).as_ptr()
    })
}

/// The status's kind as the specification spells it: "ok", "hash_length",
/// "invalid_txid", "record", "null_argument", ...
///
/// Returns: a NUL-terminated string in static storage (never NULL, never
///          freed); "unknown" for a number that is not a status.
/// In:      status: any value.
/// Thread-safety: safe to call from any thread.
#[no_mangle]
pub extern "C" fn emr_status_name(status: emr_status) -> *const c_char {
    ffi_boundary!(default: c"unknown".as_ptr(); {
        lookup(status).map_or(c"unknown", |(_, name, _)| *name).as_ptr()
    })
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// Stores `message` as this thread's last error. Never panics.
pub(crate) fn set_last_error(message: &str) {
    let message = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    let _ = LAST_ERROR.try_with(|slot| {
        if let Ok(mut slot) = slot.try_borrow_mut() {
            *slot = message;
        }
    });
}

/// The detail of the most recent failure on the calling thread: which
/// argument was NULL, which check failed and why, the size a buffer needs.
///
/// Returns: a NUL-terminated string, "" if no call on this thread has failed
///          yet; never NULL. It is owned by the library and stays valid
///          until the next call into the library on the same thread.
/// Thread-safety: safe to call from any thread; each thread has its own
///          message.
#[no_mangle]
pub extern "C" fn emr_last_error_message() -> *const c_char {
    ffi_boundary!(default: c"".as_ptr(); {
        LAST_ERROR
            .try_with(|slot| match slot.try_borrow() {
                // The CString's heap buffer stays put until the next failure
                // on this thread replaces it.
                Ok(message) => message.as_ptr(),
                Err(_) => c"".as_ptr(),
            })
            .unwrap_or(c"".as_ptr())
    })
}

/// A failure on its way to C: the status and the detail for
/// `emr_last_error_message`.
#[derive(Debug)]
pub struct Error {
    pub(crate) status: emr_status,
    pub(crate) message: String,
}

impl Error {
    pub(crate) fn new(status: emr_status, message: impl Into<String>) -> Error {
        Error { status, message: message.into() }
    }

    pub(crate) fn null(argument: impl core::fmt::Display) -> Error {
        Error::new(EMR_NULL_ARGUMENT, format!("null_argument: `{argument}` is NULL"))
    }

    pub(crate) fn invalid_argument(message: impl core::fmt::Display) -> Error {
        Error::new(EMR_INVALID_ARGUMENT, format!("invalid_argument: {message}"))
    }

    pub(crate) fn kind(kind: ErrorKind, message: impl core::fmt::Display) -> Error {
        Error::new(status_of(kind), message.to_string())
    }
}

/// The stable code of a core error kind.
pub(crate) fn status_of(kind: ErrorKind) -> emr_status {
    match kind {
        ErrorKind::HashLength => EMR_HASH_LENGTH,
        ErrorKind::PublicKeyMismatch => EMR_PUBLIC_KEY_MISMATCH,
        ErrorKind::InvalidPrescription => EMR_INVALID_PRESCRIPTION,
        ErrorKind::InvalidNonce => EMR_INVALID_NONCE,
        ErrorKind::InvalidTxid => EMR_INVALID_TXID,
        ErrorKind::InvalidPublicKey => EMR_INVALID_PUBLIC_KEY,
        ErrorKind::InvalidSignature => EMR_INVALID_SIGNATURE,
        ErrorKind::DifficultyMismatch => EMR_DIFFICULTY_MISMATCH,
        ErrorKind::InvalidBlockId => EMR_INVALID_BLOCK_ID,
        ErrorKind::TooManyRecords => EMR_TOO_MANY_RECORDS,
        ErrorKind::InvalidMiner => EMR_INVALID_MINER,
        ErrorKind::InvalidPrevious => EMR_INVALID_PREVIOUS,
        ErrorKind::InsufficientWork => EMR_INSUFFICIENT_WORK,
        ErrorKind::Record => EMR_RECORD,
        ErrorKind::InvalidArgument => EMR_INVALID_ARGUMENT,
        ErrorKind::InvalidKey => EMR_INVALID_KEY,
        ErrorKind::Decode => EMR_DECODE,
        ErrorKind::Cancelled => EMR_CANCELLED,
        ErrorKind::WrongHeight => EMR_WRONG_HEIGHT,
        ErrorKind::UnknownParent => EMR_UNKNOWN_PARENT,
        ErrorKind::TimestampTooEarly => EMR_TIMESTAMP_TOO_EARLY,
        ErrorKind::TimestampTooLate => EMR_TIMESTAMP_TOO_LATE,
        ErrorKind::NotFound => EMR_NOT_FOUND,
        ErrorKind::Io => EMR_IO,
        ErrorKind::Locked => EMR_LOCKED,
        ErrorKind::Corrupt => EMR_CORRUPT,
        ErrorKind::InvalidChecksum => EMR_INVALID_CHECKSUM,
        ErrorKind::WrongRole => EMR_WRONG_ROLE,
        ErrorKind::InvalidLength => EMR_INVALID_LENGTH,
        ErrorKind::InvalidCharacter => EMR_INVALID_CHARACTER,
        ErrorKind::MixedCase => EMR_MIXED_CASE,
        ErrorKind::TooManyEntries => EMR_TOO_MANY_ENTRIES,
        ErrorKind::Entry => EMR_ENTRY,
        ErrorKind::InvalidEntry => EMR_INVALID_ENTRY,
        ErrorKind::InvalidEntrySignature => EMR_INVALID_ENTRY_SIGNATURE,
        ErrorKind::UnknownAuthority => EMR_UNKNOWN_AUTHORITY,
        ErrorKind::DuplicateGrant => EMR_DUPLICATE_GRANT,
        ErrorKind::UnknownGrant => EMR_UNKNOWN_GRANT,
        ErrorKind::AlreadyRevoked => EMR_ALREADY_REVOKED,
        ErrorKind::WrongChain => EMR_WRONG_CHAIN,
        ErrorKind::RevocationNotYetEffective => EMR_REVOCATION_NOT_YET_EFFECTIVE,
        ErrorKind::UnauthorizedDoctor => EMR_UNAUTHORIZED_DOCTOR,
        ErrorKind::NotRecipient => EMR_NOT_RECIPIENT,
        ErrorKind::DecryptFailed => EMR_DECRYPT_FAILED,
        ErrorKind::WrongPassword => EMR_WRONG_PASSWORD,
        ErrorKind::UnauthorizedDispenser => EMR_UNAUTHORIZED_DISPENSER,
        ErrorKind::UnauthorizedCanceller => EMR_UNAUTHORIZED_CANCELLER,
        ErrorKind::UnknownPrescription => EMR_UNKNOWN_PRESCRIPTION,
        ErrorKind::WrongPatient => EMR_WRONG_PATIENT,
        ErrorKind::PrescriberRevoked => EMR_PRESCRIBER_REVOKED,
        ErrorKind::PublicTextOnSealed => EMR_PUBLIC_TEXT_ON_SEALED,
        ErrorKind::AlreadyDispensed => EMR_ALREADY_DISPENSED,
        ErrorKind::PrescriptionCancelled => EMR_PRESCRIPTION_CANCELLED,
        // A kind added to the core without a code here is a bug of this
        // crate; `tests::every_core_kind_is_listed` finds it (it reads the
        // core's enum) and `tests::every_kind_has_its_own_code` maps it.
        _ => EMR_PANIC,
    }
}

macro_rules! from_core_error {
    ($($ty:ty),*) => {$(
        impl From<$ty> for Error {
            fn from(error: $ty) -> Error {
                Error::kind(error.kind(), &error)
            }
        }
    )*};
}

from_core_error!(
    RecordError,
    BlockError,
    KeyError,
    DecodeError,
    SignError,
    BatchError,
    InvalidThreadCount,
    ChainError,
    AddressError,
    EntryError,
    EntrySignError,
    SealError
);

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(text) = payload.downcast_ref::<&'static str>() {
        text
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text
    } else {
        "(no message)"
    }
}

fn report_panic(payload: Box<dyn Any + Send>) {
    set_last_error(&format!("panic: {}", panic_message(&*payload)));
    // Dropping a payload can itself panic; never let that unwind into C.
    let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
}

/// The body of [`ffi_boundary!`] for functions returning a status.
pub(crate) fn run(body: impl FnOnce() -> Result<(), Error>) -> emr_status {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => EMR_OK,
        Ok(Err(error)) => {
            set_last_error(&error.message);
            error.status
        }
        Err(payload) => {
            report_panic(payload);
            EMR_PANIC
        }
    }
}

/// The body of [`ffi_boundary!`] for functions returning something else.
pub(crate) fn run_or<T>(default: T, body: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(value) => value,
        Err(payload) => {
            report_panic(payload);
            default
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn last_error() -> String {
        // SAFETY: the library returns a valid NUL-terminated string.
        unsafe { CStr::from_ptr(emr_last_error_message()) }.to_str().unwrap().to_owned()
    }

    #[test]
    fn a_panic_inside_the_boundary_becomes_emr_panic() {
        let status = ffi_boundary!({
            if std::hint::black_box(true) {
                panic!("test panic {}", 42);
            }
            Ok(())
        });
        assert_eq!(status, EMR_PANIC);
        assert_eq!(last_error(), "panic: test panic 42");
        let value = ffi_boundary!(default: 7u32; { panic!("static message") });
        assert_eq!(value, 7);
        assert_eq!(last_error(), "panic: static message");
    }

    #[test]
    fn errors_set_the_last_error_and_success_returns_ok() {
        assert_eq!(ffi_boundary!({ Ok(()) }), EMR_OK);
        assert_eq!(ffi_boundary!({ Err(Error::null("out")) }), EMR_NULL_ARGUMENT);
        assert_eq!(last_error(), "null_argument: `out` is NULL");
        assert_eq!(ffi_boundary!({ Err(Error::new(EMR_DECODE, "a\0b")) }), EMR_DECODE);
        assert_eq!(last_error(), "a\\0b");
    }

    /// Every kind of the core, as far as this crate knows them.
    const KINDS: [ErrorKind; 53] = [
        ErrorKind::HashLength,
        ErrorKind::PublicKeyMismatch,
        ErrorKind::InvalidPrescription,
        ErrorKind::InvalidNonce,
        ErrorKind::InvalidTxid,
        ErrorKind::InvalidPublicKey,
        ErrorKind::InvalidSignature,
        ErrorKind::DifficultyMismatch,
        ErrorKind::InvalidBlockId,
        ErrorKind::TooManyRecords,
        ErrorKind::InvalidMiner,
        ErrorKind::InvalidPrevious,
        ErrorKind::InsufficientWork,
        ErrorKind::Record,
        ErrorKind::InvalidArgument,
        ErrorKind::InvalidKey,
        ErrorKind::Decode,
        ErrorKind::Cancelled,
        ErrorKind::WrongHeight,
        ErrorKind::UnknownParent,
        ErrorKind::TimestampTooEarly,
        ErrorKind::TimestampTooLate,
        ErrorKind::NotFound,
        ErrorKind::Io,
        ErrorKind::Locked,
        ErrorKind::Corrupt,
        ErrorKind::InvalidChecksum,
        ErrorKind::WrongRole,
        ErrorKind::InvalidLength,
        ErrorKind::InvalidCharacter,
        ErrorKind::MixedCase,
        ErrorKind::TooManyEntries,
        ErrorKind::Entry,
        ErrorKind::InvalidEntry,
        ErrorKind::InvalidEntrySignature,
        ErrorKind::UnknownAuthority,
        ErrorKind::DuplicateGrant,
        ErrorKind::UnknownGrant,
        ErrorKind::AlreadyRevoked,
        ErrorKind::WrongChain,
        ErrorKind::RevocationNotYetEffective,
        ErrorKind::UnauthorizedDoctor,
        ErrorKind::NotRecipient,
        ErrorKind::DecryptFailed,
        ErrorKind::WrongPassword,
        ErrorKind::UnauthorizedDispenser,
        ErrorKind::UnauthorizedCanceller,
        ErrorKind::UnknownPrescription,
        ErrorKind::WrongPatient,
        ErrorKind::PrescriberRevoked,
        ErrorKind::PublicTextOnSealed,
        ErrorKind::AlreadyDispensed,
        ErrorKind::PrescriptionCancelled,
    ];

    /// The core's `ErrorKind` is `#[non_exhaustive]`, so `status_of` needs a
    /// wildcard and a kind added to the core would silently become
    /// EMR_PANIC: read the enum's variants from the core's source and
    /// require each of them in `KINDS` (and so a code of its own).
    #[test]
    fn every_core_kind_is_listed() {
        let source = include_str!("../../emr-core/src/error.rs");
        let start = source.find("pub enum ErrorKind {").expect("the core's ErrorKind");
        let body = &source[start..];
        let body = &body[..body.find("\n}").expect("the enum's end")];
        let variants: std::collections::BTreeSet<String> = body
            .lines()
            .filter_map(|line| line.strip_prefix("    ")?.strip_suffix(','))
            .filter(|name| name.chars().all(|c| c.is_ascii_alphanumeric()))
            .map(str::to_owned)
            .collect();
        let listed: std::collections::BTreeSet<String> = KINDS.iter().map(|k| format!("{k:?}")).collect();
        assert_eq!(variants.len(), KINDS.len(), "the core has {} kinds", variants.len());
        assert_eq!(variants, listed, "ErrorKind's variants and this crate's list");
    }

    #[test]
    fn every_kind_has_its_own_code() {
        let kinds = KINDS;
        let mut seen = std::collections::HashSet::new();
        for kind in kinds {
            let code = status_of(kind);
            assert_ne!(code, EMR_PANIC, "{kind} has no code");
            assert!(seen.insert(code), "{kind} shares code {code}");
            let (_, name, _) = lookup(code).unwrap();
            assert_eq!(name.to_str().unwrap(), kind.as_str(), "name of {kind}");
        }
    }

    #[test]
    fn status_table_is_consistent() {
        let mut names = std::collections::HashSet::new();
        for code in 0..1000 {
            if let Some((c, name, text)) = lookup(code) {
                assert_eq!(*c, code);
                assert!(names.insert(*name), "duplicate name {name:?}");
                assert!(!text.is_empty());
            }
        }
        // 53 core kinds, ok, the five kinds of a peer node and the three
        // kinds of the C interface.
        assert_eq!(names.len(), 62);
        // SAFETY: static NUL-terminated strings.
        let unknown = unsafe { CStr::from_ptr(emr_status_str(9999)) };
        assert_eq!(unknown, c"unknown status");
    }
}

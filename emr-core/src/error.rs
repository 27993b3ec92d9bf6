//! The error kinds of SPEC section 7, shared by every area's error enum.
//!
//! Each area has its own `thiserror` enum (`RecordError`, `KeyError`,
//! `BlockError`, ...); every variant maps to exactly one [`ErrorKind`], which
//! is what the bindings translate into exceptions and status codes.

/// One kind per failure the protocol names, with a stable spelling.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// `dr_hash` or `patient_hash` is not 20 bytes.
    HashLength,
    /// `H160(dr_public_key) != dr_hash`.
    PublicKeyMismatch,
    /// The prescription is not text or exceeds 200 UTF-8 bytes.
    InvalidPrescription,
    /// The record nonce is not the doctor's previous nonce + 1.
    InvalidNonce,
    /// The txid is not the SHA-256 of the record's fields.
    InvalidTxid,
    /// The public key is not a DER SPKI of a point on a supported curve.
    InvalidPublicKey,
    /// The signature is not strict DER or does not verify.
    InvalidSignature,
    /// The block's difficulty is not the one expected.
    DifficultyMismatch,
    /// The block id is not 32 bytes or not the hash of the header.
    InvalidBlockId,
    /// The block holds more than 25 records.
    TooManyRecords,
    /// The miner hash is not 20 bytes.
    InvalidMiner,
    /// The previous block id is not 32 bytes.
    InvalidPrevious,
    /// The block id does not meet the difficulty's target.
    InsufficientWork,
    /// A record of the block failed; the error carries its index and kind.
    Record,
    /// An argument outside its documented range.
    InvalidArgument,
    /// A private key that cannot be parsed or used.
    InvalidKey,
    /// Bytes that are not a canonical encoding.
    Decode,
    /// Work stopped by the caller before it finished.
    Cancelled,
    /// A block's height is not its parent's height + 1.
    WrongHeight,
    /// A block's `previous` is the id of no known block.
    UnknownParent,
    /// A block's timestamp is before its parent's.
    TimestampTooEarly,
    /// A block's timestamp is more than the chain's `max_future` seconds
    /// after the caller's current time.
    TimestampTooLate,
    /// The thing asked for does not exist (undoing an empty chain, ...).
    NotFound,
    /// The operating system or the storage engine failed.
    Io,
    /// The chain is open for writing by another process or handle.
    Locked,
    /// Stored data is damaged: it does not hash to its id, does not decode,
    /// or disagrees with the rest of the store.
    Corrupt,
    /// An address's checksum does not match (a typo).
    InvalidChecksum,
    /// An address of another role than the one expected.
    WrongRole,
    /// An address that is too long, too short or not a 20-byte hash.
    InvalidLength,
    /// An address with a character outside its alphabet.
    InvalidCharacter,
    /// An address that mixes upper and lower case.
    MixedCase,
    /// The block holds more than 25 entries.
    TooManyEntries,
    /// An entry of the block failed; the error carries its index and kind.
    Entry,
    /// An entry's key, licence, validity window or grant id is malformed.
    InvalidEntry,
    /// An entry's signature is not strict DER or does not verify.
    InvalidEntrySignature,
    /// An entry names another chain than the one it is offered to.
    WrongChain,
    /// An entry's authority is not one of the chain's authorities.
    UnknownAuthority,
    /// A grant that is already in the active chain.
    DuplicateGrant,
    /// A revocation of a grant the active chain does not hold.
    UnknownGrant,
    /// A revocation of a grant already revoked.
    AlreadyRevoked,
    /// A revocation whose `effective` time is later than its block's timestamp.
    RevocationNotYetEffective,
    /// A record's doctor holds no active grant at the block's timestamp.
    UnauthorizedDoctor,
    /// The key opening a sealed record is not one of its recipients.
    NotRecipient,
    /// A sealed record's key or text does not decrypt under the key, or the
    /// text is not UTF-8.
    DecryptFailed,
    /// An encrypted private key's password does not decrypt it.
    WrongPassword,
    /// A dispense whose pharmacy holds no dispenser grant active at the
    /// block's timestamp.
    UnauthorizedDispenser,
    /// A cancellation by neither the (authorized) prescriber nor an authority.
    UnauthorizedCanceller,
    /// A dispense or cancellation of no record in an earlier block of the
    /// active chain with that identity and content.
    UnknownPrescription,
    /// A dispense whose patient key is not the prescription's patient.
    WrongPatient,
    /// A dispense of a prescription whose doctor was not authorized when it
    /// was written.
    PrescriberRevoked,
    /// A note or reason on a sealed prescription.
    PublicTextOnSealed,
    /// The prescription is already dispensed.
    AlreadyDispensed,
    /// The prescription is cancelled.
    PrescriptionCancelled,
}

impl ErrorKind {
    /// Every kind, in the specification's order.
    pub const ALL: &'static [ErrorKind] = &[
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
        ErrorKind::WrongChain,
        ErrorKind::UnknownAuthority,
        ErrorKind::DuplicateGrant,
        ErrorKind::UnknownGrant,
        ErrorKind::AlreadyRevoked,
        ErrorKind::RevocationNotYetEffective,
        ErrorKind::UnauthorizedDoctor,
        ErrorKind::NotRecipient,
        ErrorKind::DecryptFailed,
        ErrorKind::UnauthorizedDispenser,
        ErrorKind::UnauthorizedCanceller,
        ErrorKind::UnknownPrescription,
        ErrorKind::WrongPatient,
        ErrorKind::PrescriberRevoked,
        ErrorKind::PublicTextOnSealed,
        ErrorKind::AlreadyDispensed,
        ErrorKind::PrescriptionCancelled,
    ];

    /// The kind a name spells ([`ErrorKind::as_str`]'s inverse): how a
    /// client reads a kind another process reported.
    pub fn from_name(name: &str) -> Option<ErrorKind> {
        ErrorKind::ALL.iter().copied().find(|k| k.as_str() == name)
    }

    /// The kind's name as the specification spells it (`"hash_length"`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorKind::HashLength => "hash_length",
            ErrorKind::PublicKeyMismatch => "public_key_mismatch",
            ErrorKind::InvalidPrescription => "invalid_prescription",
            ErrorKind::InvalidNonce => "invalid_nonce",
            ErrorKind::InvalidTxid => "invalid_txid",
            ErrorKind::InvalidPublicKey => "invalid_public_key",
            ErrorKind::InvalidSignature => "invalid_signature",
            ErrorKind::DifficultyMismatch => "difficulty_mismatch",
            ErrorKind::InvalidBlockId => "invalid_block_id",
            ErrorKind::TooManyRecords => "too_many_records",
            ErrorKind::InvalidMiner => "invalid_miner",
            ErrorKind::InvalidPrevious => "invalid_previous",
            ErrorKind::InsufficientWork => "insufficient_work",
            ErrorKind::Record => "record",
            ErrorKind::InvalidArgument => "invalid_argument",
            ErrorKind::InvalidKey => "invalid_key",
            ErrorKind::Decode => "decode",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::WrongHeight => "wrong_height",
            ErrorKind::UnknownParent => "unknown_parent",
            ErrorKind::TimestampTooEarly => "timestamp_too_early",
            ErrorKind::TimestampTooLate => "timestamp_too_late",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Io => "io",
            ErrorKind::Locked => "locked",
            ErrorKind::Corrupt => "corrupt",
            ErrorKind::InvalidChecksum => "invalid_checksum",
            ErrorKind::WrongRole => "wrong_role",
            ErrorKind::InvalidLength => "invalid_length",
            ErrorKind::InvalidCharacter => "invalid_character",
            ErrorKind::MixedCase => "mixed_case",
            ErrorKind::TooManyEntries => "too_many_entries",
            ErrorKind::Entry => "entry",
            ErrorKind::InvalidEntry => "invalid_entry",
            ErrorKind::InvalidEntrySignature => "invalid_entry_signature",
            ErrorKind::WrongChain => "wrong_chain",
            ErrorKind::UnknownAuthority => "unknown_authority",
            ErrorKind::DuplicateGrant => "duplicate_grant",
            ErrorKind::UnknownGrant => "unknown_grant",
            ErrorKind::AlreadyRevoked => "already_revoked",
            ErrorKind::RevocationNotYetEffective => "revocation_not_yet_effective",
            ErrorKind::UnauthorizedDoctor => "unauthorized_doctor",
            ErrorKind::NotRecipient => "not_recipient",
            ErrorKind::DecryptFailed => "decrypt_failed",
            ErrorKind::WrongPassword => "wrong_password",
            ErrorKind::UnauthorizedDispenser => "unauthorized_dispenser",
            ErrorKind::UnauthorizedCanceller => "unauthorized_canceller",
            ErrorKind::UnknownPrescription => "unknown_prescription",
            ErrorKind::WrongPatient => "wrong_patient",
            ErrorKind::PrescriberRevoked => "prescriber_revoked",
            ErrorKind::PublicTextOnSealed => "public_text_on_sealed",
            ErrorKind::AlreadyDispensed => "already_dispensed",
            ErrorKind::PrescriptionCancelled => "prescription_cancelled",
        }
    }
}

impl core::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod name_tests {
    use super::ErrorKind;

    #[test]
    fn every_kind_is_listed_once_and_read_back_by_name() {
        let mut names: Vec<&str> = ErrorKind::ALL.iter().map(|k| k.as_str()).collect();
        for kind in ErrorKind::ALL {
            assert_eq!(ErrorKind::from_name(kind.as_str()), Some(*kind));
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ErrorKind::ALL.len());
        assert_eq!(ErrorKind::from_name("no_such_kind"), None);
    }
}

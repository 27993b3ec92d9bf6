"""cryptoemr: tamper-evident electronic medical records.

Doctors sign prescription records (:class:`EMR`); records are grouped into
proof-of-work blocks (:class:`Block`) whose verification yields the changed
per-user states (:class:`UserState`). Every rule is implemented once, in the
Rust core; this package is its Python surface and keeps the original Python
design's names::

    import cryptoemr

    key = cryptoemr.SigningKey.generate("secp256k1")
    patient = cryptoemr.encode_address("patient", cryptoemr.calculate_sha1_hash(b"patient public key"))
    emr = cryptoemr.create_signed_record(key, patient, "Amoxicillin 500mg", 1)
    emr.verify(0)                      # None, or raises a RecordError subclass

A chain may name authorities whose grants (:class:`Grant`,
:func:`create_grant`) and revocations (:class:`Revocation`,
:func:`create_revocation`), carried in blocks, decide which doctors may
write (``Chain(authorities=[...])``, :meth:`Chain.is_authorized`); each
entry names the chain it is made for (``chain_id=chain``). Pharmacies
admitted by a :class:`DispenserGrant` record each dispensing
(:class:`Dispense`, countersigned by the patient; :func:`create_dispense`,
or :func:`prepare_dispense` when the patient signs on their own device),
and a prescriber or authority may withdraw a prescription
(:class:`Cancellation`): the chain holds at most one dispensing per
prescription (:meth:`Chain.prescription_state`). A doctor
may seal a prescription to its readers
(``create_signed_record(..., seal_to=[patient_public_key])``) so that only
they can read it (:meth:`EMR.open`), while it verifies as any record.

A hash a person handles is an address (``emrd1...`` doctor, ``emrp1...``
patient, ``emrm1...`` miner): every function that takes a hash takes the
address of the right role too, and a typo raises ``InvalidChecksumError``
with the ``positions`` of the wrong characters.

Errors are :class:`EMRError` subclasses, one per kind, in the submodule
:mod:`cryptoemr.errors` (``help(cryptoemr.errors)`` shows the tree) and
importable from here too; each has ``.kind``, the specification's spelling
(``"hash_length"``, ...). Those about a value given are ``ValueError`` s,
``IoError`` is an ``OSError``.

Nodes (SPEC section 9) are in :mod:`cryptoemr.node` (``import
cryptoemr.node``): a client of a site's node, a one-shot sync of a chain
held in this process, and a node served from this process; FHIR R4 export
is in :mod:`cryptoemr.fhir`.
"""

from . import errors
from .errors import (
    AddressError,
    BlockError,
    AlreadyRevokedError,
    BlockEntryError,
    BlockRecordError,
    CancelledError,
    ChainError,
    CorruptError,
    DecodeError,
    DecryptFailedError,
    DifficultyMismatchError,
    DuplicateGrantError,
    EMRError,
    EntryError,
    HashLengthError,
    InsufficientWorkError,
    InvalidArgumentError,
    InvalidBlockIdError,
    InvalidCharacterError,
    InvalidChecksumError,
    InvalidEntryError,
    InvalidEntrySignatureError,
    InvalidKeyError,
    WrongPasswordError,
    InvalidLengthError,
    InvalidMinerError,
    InvalidNonceError,
    InvalidPrescriptionError,
    InvalidPreviousError,
    InvalidPublicKeyError,
    InvalidSignatureError,
    InvalidTxidError,
    IoError,
    LockedError,
    MixedCaseError,
    NotFoundError,
    NotRecipientError,
    PublicKeyMismatchError,
    RecordError,
    RevocationNotYetEffectiveError,
    UnauthorizedDispenserError,
    UnauthorizedCancellerError,
    UnknownPrescriptionError,
    WrongPatientError,
    PrescriberRevokedError,
    PublicTextOnSealedError,
    AlreadyDispensedError,
    PrescriptionCancelledError,
    SealError,
    TimestampTooEarlyError,
    TimestampTooLateError,
    TooManyEntriesError,
    TooManyRecordsError,
    UnauthorizedDoctorError,
    UnknownAuthorityError,
    UnknownGrantError,
    UnknownParentError,
    WrongChainError,
    WrongHeightError,
    WrongRoleError,
    NodeError,
    PeerUnreachableError,
    PeerRefusedError,
    MisbehavingPeerError,
    IncompatiblePeerError,
    SyncIncompleteError,
)
from ._native import (
    DEFAULT_BLOCK_REWARD,
    EMR,
    MAX_ENTRIES,
    MAX_LICENCE_BYTES,
    MAX_NOTE_BYTES,
    MAX_PRESCRIPTION_BYTES,
    MAX_RECIPIENTS,
    MAX_RECORDS,
    Block,
    Chain,
    ChainBlocks,
    ChainPool,
    Cancellation,
    Conflict,
    Dispense,
    DispenserGrant,
    EntryConflict,
    Grant,
    PrescriptionStatus,
    Revocation,
    SigningKey,
    UserState,
    __version__,
    calculate_signature_hash,
    calculate_sha1_hash,
    calculate_txid,
    create_cancellation,
    create_dispense,
    create_dispenser_grant,
    create_grant,
    create_revocation,
    create_signed_record,
    decode_address,
    encode_address,
    mine_block,
    mining_engines,
    prepare_dispense,
    verify_records,
)
from ._outcomes import PendingConflict

__all__ = [
    # records
    "EMR",
    "create_signed_record",
    "calculate_sha1_hash",
    "calculate_txid",
    "calculate_signature_hash",
    "verify_records",
    "MAX_PRESCRIPTION_BYTES",
    "MAX_RECIPIENTS",
    # keys
    "SigningKey",
    # blocks
    "Block",
    "UserState",
    "MAX_RECORDS",
    "DEFAULT_BLOCK_REWARD",
    # registry entries
    "Grant",
    "Revocation",
    "create_grant",
    "create_revocation",
    "MAX_ENTRIES",
    "MAX_LICENCE_BYTES",
    # pharmacies (SPEC section 10)
    "DispenserGrant",
    "Dispense",
    "Cancellation",
    "create_dispenser_grant",
    "create_dispense",
    "prepare_dispense",
    "create_cancellation",
    "PrescriptionStatus",
    "EntryConflict",
    "MAX_NOTE_BYTES",
    # chain
    "Chain",
    "ChainBlocks",
    "ChainPool",
    "PendingConflict",
    "Conflict",
    # mining
    "mine_block",
    "mining_engines",
    # addresses
    "encode_address",
    "decode_address",
    # errors: every class is importable from here; the tree is the
    # ``errors`` submodule's, kept out of ``help(cryptoemr)``.
    "errors",
    "EMRError",
    "__version__",
]

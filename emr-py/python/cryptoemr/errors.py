"""The exception hierarchy of SPEC section 7 (``cryptoemr.errors``; every
class is importable from ``cryptoemr`` too).

Every exception the package raises for a protocol failure is an
:class:`EMRError`. Each concrete class stands for one error *kind* and has
its spelling in the ``kind`` class attribute (``HashLengthError.kind ==
"hash_length"``); the native module raises them by looking ``kind`` up in
:data:`BY_KIND`.

::

    EMRError
    +-- RecordError
    |   +-- HashLengthError, PublicKeyMismatchError, InvalidPrescriptionError,
    |       InvalidNonceError, InvalidTxidError, InvalidPublicKeyError,
    |       InvalidSignatureError, UnauthorizedDoctorError
    +-- BlockError
    |   +-- DifficultyMismatchError, InvalidBlockIdError, TooManyRecordsError,
    |       TooManyEntriesError, InvalidMinerError, InvalidPreviousError,
    |       InsufficientWorkError,
    |       BlockEntryError (.index, __cause__ = the entry's error),
    |       BlockRecordError (.index, __cause__ = the record's error)
    +-- EntryError
    |   +-- InvalidEntryError, InvalidEntrySignatureError, WrongChainError,
    |       UnknownAuthorityError, DuplicateGrantError, UnknownGrantError,
    |       AlreadyRevokedError, RevocationNotYetEffectiveError,
    |       UnauthorizedDispenserError, UnauthorizedCancellerError,
    |       UnknownPrescriptionError, WrongPatientError,
    |       PrescriberRevokedError, PublicTextOnSealedError,
    |       AlreadyDispensedError, PrescriptionCancelledError
    +-- SealError
    |   +-- NotRecipientError, DecryptFailedError
    +-- ChainError
    |   +-- WrongHeightError, UnknownParentError, TimestampTooEarlyError,
    |       TimestampTooLateError, LockedError, CorruptError
    +-- AddressError (.positions)
    |   +-- InvalidChecksumError, WrongRoleError, InvalidLengthError,
    |       InvalidCharacterError, MixedCaseError
    +-- DecodeError
    +-- InvalidKeyError
    |   +-- WrongPasswordError
    +-- InvalidArgumentError
    +-- NotFoundError, CancelledError
    +-- IoError (also an OSError)
    +-- NodeError (cryptoemr.node, SPEC section 9; .status)
        +-- PeerUnreachableError, PeerRefusedError, MisbehavingPeerError,
            IncompatiblePeerError, SyncIncompleteError

The errors about a value given (a record, block, entry, sealed text,
address, encoding, key or argument, and a block refused by a chain's
linkage checks) are ``ValueError`` s too; ``IoError`` is an ``OSError``.

Values of the wrong Python *type* raise ``TypeError``, and integers outside
their range ``OverflowError`` (or ``InvalidArgumentError``, a ``ValueError``,
where the specification calls the value an invalid argument).
"""

from typing import Dict, Optional, Tuple, Type

__all__ = [
    "EMRError",
    "RecordError",
    "HashLengthError",
    "PublicKeyMismatchError",
    "InvalidPrescriptionError",
    "InvalidNonceError",
    "InvalidTxidError",
    "InvalidPublicKeyError",
    "InvalidSignatureError",
    "UnauthorizedDoctorError",
    "BlockError",
    "DifficultyMismatchError",
    "InvalidBlockIdError",
    "TooManyRecordsError",
    "TooManyEntriesError",
    "InvalidMinerError",
    "InvalidPreviousError",
    "InsufficientWorkError",
    "BlockEntryError",
    "BlockRecordError",
    "EntryError",
    "InvalidEntryError",
    "InvalidEntrySignatureError",
    "WrongChainError",
    "UnknownAuthorityError",
    "DuplicateGrantError",
    "UnknownGrantError",
    "AlreadyRevokedError",
    "RevocationNotYetEffectiveError",
    "UnauthorizedDispenserError",
    "UnauthorizedCancellerError",
    "UnknownPrescriptionError",
    "WrongPatientError",
    "PrescriberRevokedError",
    "PublicTextOnSealedError",
    "AlreadyDispensedError",
    "PrescriptionCancelledError",
    "SealError",
    "NotRecipientError",
    "DecryptFailedError",
    "ChainError",
    "WrongHeightError",
    "UnknownParentError",
    "TimestampTooEarlyError",
    "TimestampTooLateError",
    "LockedError",
    "CorruptError",
    "AddressError",
    "InvalidChecksumError",
    "WrongRoleError",
    "InvalidLengthError",
    "InvalidCharacterError",
    "MixedCaseError",
    "DecodeError",
    "InvalidKeyError",
    "WrongPasswordError",
    "InvalidArgumentError",
    "NotFoundError",
    "CancelledError",
    "IoError",
    "NodeError",
    "PeerUnreachableError",
    "PeerRefusedError",
    "MisbehavingPeerError",
    "IncompatiblePeerError",
    "SyncIncompleteError",
    "BY_KIND",
    "NODE_BY_KIND",
]


class EMRError(Exception):
    """Base class of every cryptoemr error."""

    #: The error's kind as SPEC section 7 spells it (``None`` on the
    #: abstract area classes, which are never raised themselves).
    kind: Optional[str] = None


# --- records -------------------------------------------------------------


class RecordError(EMRError, ValueError):
    """A record does not verify (or cannot be signed or encoded as given)."""

    #: The record's position when raised by ``verify_records``, else ``None``.
    index: Optional[int] = None


class HashLengthError(RecordError):
    """``Dr_hash`` or ``Patient_hash`` is not 20 bytes."""

    kind = "hash_length"


class PublicKeyMismatchError(RecordError):
    """``Dr_hash`` is not the SHA-1 of ``Dr_public_key``."""

    kind = "public_key_mismatch"


class InvalidPrescriptionError(RecordError):
    """The prescription is not text, or is more than 200 UTF-8 bytes; or it is
    a sealed text (``sealed1:...``) that is malformed or not sealed to the
    record's patient (SPEC section 8.2)."""

    kind = "invalid_prescription"


class InvalidNonceError(RecordError):
    """The nonce is not the doctor's previous nonce + 1."""

    kind = "invalid_nonce"


class InvalidTxidError(RecordError):
    """The txid is not the SHA-256 of the record's fields."""

    kind = "invalid_txid"


class InvalidPublicKeyError(RecordError):
    """``Dr_public_key`` is not a DER SPKI of a point on secp256k1 or P-256."""

    kind = "invalid_public_key"


class InvalidSignatureError(RecordError):
    """The signature is not strict DER or does not verify."""

    kind = "invalid_signature"


class UnauthorizedDoctorError(RecordError):
    """In a chain with authorities, the record's doctor holds no grant that
    authorizes it at the block's timestamp (or, offered to a pool, at the
    current time). Raised by a chain, as the ``__cause__`` of a
    :class:`BlockRecordError` or by ``Chain.pool.submit``; never by
    ``EMR.verify``, which knows no chain."""

    kind = "unauthorized_doctor"


# --- blocks --------------------------------------------------------------


class BlockError(EMRError, ValueError):
    """A block does not verify."""


class DifficultyMismatchError(BlockError):
    """The block's difficulty is not the expected one."""

    kind = "difficulty_mismatch"


class InvalidBlockIdError(BlockError):
    """``block_id`` is not 32 bytes or not the hash of the header."""

    kind = "invalid_block_id"


class TooManyRecordsError(BlockError):
    """The block holds more than 25 records."""

    kind = "too_many_records"


class TooManyEntriesError(BlockError):
    """The block holds more than 25 entries (grants and revocations)."""

    kind = "too_many_entries"


class InvalidMinerError(BlockError):
    """``miner`` is not 20 bytes."""

    kind = "invalid_miner"


class InvalidPreviousError(BlockError):
    """``previous`` is not 32 bytes."""

    kind = "invalid_previous"


class InsufficientWorkError(BlockError):
    """The block id does not meet the difficulty's target."""

    kind = "insufficient_work"


class BlockRecordError(BlockError):
    """A record of the block failed.

    ``index`` is its position in ``block.records``; ``__cause__`` is the
    record's own error (an :class:`InvalidNonceError`, ...).
    """

    kind = "record"
    index: int = -1


class BlockEntryError(BlockError):
    """An entry (grant or revocation) of the block failed.

    ``index`` is its position in ``block.entries``; ``__cause__`` is the
    entry's own error (an :class:`EntryError` subclass). Entries are checked
    before records.
    """

    kind = "entry"
    index: int = -1


# --- registry entries (SPEC section 8.1) -----------------------------------


class EntryError(EMRError, ValueError):
    """A grant or revocation does not verify, or a chain refuses it."""


class InvalidEntryError(EntryError):
    """A key that is not an SPKI on a supported curve, a licence that is not
    text or over 100 UTF-8 bytes, ``not_before > not_after``, or a
    ``chain_id`` or ``grant_id`` that is not 32 bytes."""

    kind = "invalid_entry"


class InvalidEntrySignatureError(EntryError):
    """The signature is not strict DER, is high-S (``s > n/2``: an entry's id
    covers its signature, so ``(r, n-s)`` would make a second entry of the
    same content), or does not verify under ``authority``."""

    kind = "invalid_entry_signature"


class WrongChainError(EntryError):
    """The entry's ``chain_id`` is not the id of the chain it is offered to
    (an entry made for a test chain, say)."""

    kind = "wrong_chain"


class UnknownAuthorityError(EntryError):
    """``authority`` is not one of the chain's authorities (every entry of an
    open chain fails so)."""

    kind = "unknown_authority"


class DuplicateGrantError(EntryError):
    """A grant whose content (everything but its signature) the active chain
    already holds: a second signature of a revoked grant is no way back in."""

    kind = "duplicate_grant"


class UnknownGrantError(EntryError):
    """A revocation of a grant the active chain does not hold."""

    kind = "unknown_grant"


class AlreadyRevokedError(EntryError):
    """A revocation of a grant the active chain has already revoked."""

    kind = "already_revoked"


class RevocationNotYetEffectiveError(EntryError):
    """A revocation whose ``effective`` time is later than the timestamp of
    the block carrying it: a chain carries it once its time has reached it
    (a pool holds it until then)."""

    kind = "revocation_not_yet_effective"


# --- pharmacies (SPEC section 10) ------------------------------------------


class UnauthorizedDispenserError(EntryError):
    """A dispensing whose pharmacy holds no dispenser grant active at the
    block's timestamp (every dispensing of an open chain). A doctor's grant
    never authorizes dispensing."""

    kind = "unauthorized_dispenser"


class UnauthorizedCancellerError(EntryError):
    """A cancellation by a key that is neither an authority of the chain nor
    the prescriber's own key authorized at the block's timestamp (a revoked
    key cancels nothing)."""

    kind = "unauthorized_canceller"


class UnknownPrescriptionError(EntryError):
    """No record with the entry's ``(dr_hash, nonce)`` in an earlier block of
    the active chain, or its ``signature_hash`` is not the entry's
    ``record_hash`` (a record and its dispensing are never in one block)."""

    kind = "unknown_prescription"


class WrongPatientError(EntryError):
    """A dispensing whose patient key is not the prescription's patient's
    (SHA-1 of ``patient_public_key`` is not the record's ``Patient_hash``)."""

    kind = "wrong_patient"


class PrescriberRevokedError(EntryError):
    """A dispensing of a prescription whose doctor was no longer authorized at
    the time of the record's own block: a revocation backdated over a stolen
    key's prescriptions stops their dispensing."""

    kind = "prescriber_revoked"


class PublicTextOnSealedError(EntryError):
    """A note or reason on a sealed prescription: they are public, and a
    sealed prescription's text is not."""

    kind = "public_text_on_sealed"


class AlreadyDispensedError(EntryError):
    """The prescription is already dispensed in the active chain (earlier in
    the same block included): each prescription is dispensed at most once,
    and a dispensed one can no longer be cancelled."""

    kind = "already_dispensed"


class PrescriptionCancelledError(EntryError):
    """The prescription is cancelled in the active chain."""

    kind = "prescription_cancelled"


# --- sealed prescriptions (SPEC section 8.2) -------------------------------


class SealError(EMRError, ValueError):
    """A sealed prescription does not open with the given key."""


class NotRecipientError(SealError):
    """The key is not one of the record's recipients."""

    kind = "not_recipient"


class DecryptFailedError(SealError):
    """The key is a recipient, but its wrapped key or the text does not
    decrypt (tampered, or the envelope was moved to another record), or the
    text is not UTF-8."""

    kind = "decrypt_failed"


# --- chain (SPEC section 5) ----------------------------------------------


class ChainError(EMRError):
    """A block cannot be added to the chain, or the chain cannot be used.

    A block that fails its own checks raises its ``BlockError`` instead; the
    chain sets ``.height`` (and ``.block_id``) on it."""


class WrongHeightError(ChainError, ValueError):
    """The block's height is not its parent's height + 1."""

    kind = "wrong_height"


class UnknownParentError(ChainError, ValueError):
    """No known block has the id in ``previous``."""

    kind = "unknown_parent"


class TimestampTooEarlyError(ChainError, ValueError):
    """The block's timestamp is before its parent's."""

    kind = "timestamp_too_early"


class TimestampTooLateError(ChainError, ValueError):
    """The block's timestamp is more than the chain's ``max_future`` seconds
    (60 by default) ahead of the current time. The block is not remembered
    as invalid: it may be added once its time has come."""

    kind = "timestamp_too_late"


class LockedError(ChainError):
    """The chain is open for writing by another process (or another handle)."""

    kind = "locked"


class CorruptError(ChainError):
    """Stored chain data is damaged (a block that does not hash to its id, an
    index or state that disagrees with the blocks, a page checksum that
    fails). The message names the table and, where known, the height."""

    kind = "corrupt"


# --- addresses (SPEC section 6) ------------------------------------------


class AddressError(EMRError, ValueError):
    """Text that is not an address of the expected role (``decode_address``,
    or an address given where a hash is taken)."""

    #: Indexes into the text of the characters to fix: the one or two wrong
    #: characters an ``InvalidChecksumError`` located, the character of an
    #: ``InvalidCharacterError``; ``()`` otherwise.
    positions: Tuple[int, ...] = ()


class InvalidChecksumError(AddressError):
    """The Bech32m checksum does not match: a character is wrong.

    ``positions`` holds the indexes of one or two wrong characters when they
    can be located (three or more typos are detected, not located). Nothing
    is corrected: the person who typed the address fixes it.
    """

    kind = "invalid_checksum"


class WrongRoleError(AddressError):
    """The address is of another role (doctor, patient, miner), or has no
    role prefix at all."""

    kind = "wrong_role"


class InvalidLengthError(AddressError):
    """Empty, over 90 characters, or not holding a 20-byte hash (a character
    left out or typed twice)."""

    kind = "invalid_length"


class InvalidCharacterError(AddressError):
    """A character that cannot stand at its place (Bech32 has no ``1``,
    ``b``, ``i``, ``o`` after the separator); ``positions`` holds its index."""

    kind = "invalid_character"


class MixedCaseError(AddressError):
    """The address mixes upper and lower case."""

    kind = "mixed_case"


# --- the rest --------------------------------------------------------------


class DecodeError(EMRError, ValueError):
    """Bytes that are not a canonical encoding (``from_bytes``)."""

    kind = "decode"


class InvalidKeyError(EMRError, ValueError):
    """A key that cannot be parsed or used: a private key (garbage,
    encrypted, unsupported curve, out-of-range scalar), or a public key given
    as a recipient or an authority that is not an uncompressed SPKI on
    secp256k1 or P-256."""

    kind = "invalid_key"


class WrongPasswordError(InvalidKeyError, ValueError):
    """The password does not decrypt the encrypted private key (or the
    encrypted key is damaged). A ``ValueError`` as well, as pyca/cryptography
    raises for a wrong password."""

    kind = "wrong_password"


class InvalidArgumentError(EMRError, ValueError):
    """An argument outside its documented range (also a ``ValueError``)."""

    kind = "invalid_argument"


class NotFoundError(EMRError):
    """The requested item does not exist."""

    kind = "not_found"


class CancelledError(EMRError):
    """Work stopped by the caller before it finished."""

    kind = "cancelled"


class IoError(EMRError, OSError):
    """Storage failed (a disk that is full or fails, a file that cannot
    be opened): an ``OSError`` too, with ``filename`` set to the chain's
    file; the message says what failed ("disk full" for a full disk)."""

    kind = "io"

    def __str__(self) -> str:
        # OSError's own text, once ``filename`` is set, is "[Errno e]
        # strerror: filename": with no errno from the operating system (a
        # failed write SQLite reported, an existing backup target) that
        # would read "[Errno None] None" and lose the library's message,
        # which names the file itself.
        if self.errno is None and self.args:
            return str(self.args[0])
        return super().__str__()


# --- nodes (SPEC section 9) -------------------------------------------------


class NodeError(EMRError):
    """A node or a peer failed to answer, or answered what the protocol
    does not allow (:mod:`cryptoemr.node`). Its kinds are not the core's
    (SPEC section 7): they are the C interface's statuses of the same names
    (``EMR_PEER_UNREACHABLE`` ...), and are listed in :data:`NODE_BY_KIND`,
    not :data:`BY_KIND`."""

    #: The HTTP status the peer answered with (:class:`PeerRefusedError`),
    #: else ``None``.
    status: Optional[int] = None


class PeerUnreachableError(NodeError):
    """The node could not be asked: no connection (nothing listens, the
    host is unknown), a failed TLS handshake (a certificate the other side
    does not accept), a connection dropped, or no answer within the
    timeouts (connect 5 s, the whole request 30 s). Try again later."""

    kind = "peer_unreachable"


class PeerRefusedError(NodeError):
    """The node answered with an HTTP error status (``.status``): 403 (this
    client is suspended), 429 (over its request rate), 503 (the node is
    shutting down), 400 or 404 (a request it does not serve)."""

    kind = "peer_refused"


class MisbehavingPeerError(NodeError):
    """The peer broke the protocol: an answer over its limit or malformed,
    a block that fails the chain's checks, or less work delivered than it
    advertised. A node suspends such a peer (SPEC 9.2). What a sync added
    before it noticed is kept (every block added passed every check)."""

    kind = "peer_misbehaved"


class IncompatiblePeerError(NodeError):
    """The peer keeps another chain: its ``chain_id`` or genesis block
    differs from this chain's (SPEC 9.2). Nothing is synced."""

    kind = "peer_incompatible"


class SyncIncompleteError(NodeError):
    """A sync stopped before the peer's heavier branch was whole, for a
    reason that is nobody's fault yet: the peer's chain moved meanwhile (a
    block's parent is unknown), or a block is ahead of this machine's clock.
    What was added is kept; sync again later."""

    kind = "sync_incomplete"


def _concrete(base: Type[EMRError]) -> Dict[str, Type[EMRError]]:
    table: Dict[str, Type[EMRError]] = {}
    for cls in base.__subclasses__():
        if cls.kind is not None:
            table[cls.kind] = cls
        table.update(_concrete(cls))
    return table


#: Kind spelling -> exception class, for the core's kinds (SPEC section 7).
BY_KIND: Dict[str, Type[EMRError]] = {k: c for k, c in _concrete(EMRError).items() if not issubclass(c, NodeError)}

#: Kind spelling -> exception class, for the kinds of :mod:`cryptoemr.node`.
NODE_BY_KIND: Dict[str, Type[EMRError]] = _concrete(NodeError)

for _cls in (
    EMRError,
    *BY_KIND.values(),
    RecordError,
    BlockError,
    EntryError,
    SealError,
    ChainError,
    AddressError,
    NodeError,
    *NODE_BY_KIND.values(),
):
    _cls.__module__ = "cryptoemr.errors"
del _cls

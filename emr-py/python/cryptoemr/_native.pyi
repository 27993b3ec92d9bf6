"""Type stubs for the Rust extension ``cryptoemr._native`` (re-exported by ``cryptoemr``)."""

import os
from typing import Any, Callable, Iterable, List, Literal, Mapping, Optional, Tuple, Union, final

from typing_extensions import Self, TypeAlias, disjoint_base

from .errors import EMRError
from ._outcomes import PendingConflict

_BytesLike: TypeAlias = Union[bytes, bytearray, memoryview]
_CurveName: TypeAlias = Literal["secp256k1", "P-256", "secp256r1", "prime256v1", "p-256", "p256"]
# A pyca/cryptography EllipticCurvePrivateKey (anything with its private_bytes()).
_EngineName: TypeAlias = Literal["scalar", "avx2", "sha-ni", "avx512"]
_PrivateKey: TypeAlias = Union["SigningKey", bytes, bytearray, memoryview, str, Any]
_Role: TypeAlias = Literal["doctor", "patient", "miner"]
# A 20-byte hash, or the address (str) of the role the argument expects.
_HashOrAddress: TypeAlias = Union[bytes, bytearray, memoryview, str]
# A public key: SPKI DER bytes, a SigningKey (its public key), or a
# pyca/cryptography EllipticCurvePublicKey / EllipticCurvePrivateKey.
_PublicKey: TypeAlias = Union["SigningKey", bytes, bytearray, memoryview, Any]

__all__ = [
    "EMR",
    "SigningKey",
    "UserState",
    "Block",
    "Grant",
    "Revocation",
    "DispenserGrant",
    "Dispense",
    "Cancellation",
    "PrescriptionStatus",
    "EntryConflict",
    "Chain",
    "ChainBlocks",
    "ChainPool",
    "Conflict",
    "create_signed_record",
    "calculate_sha1_hash",
    "calculate_txid",
    "calculate_signature_hash",
    "verify_records",
    "create_grant",
    "create_revocation",
    "create_dispenser_grant",
    "create_dispense",
    "prepare_dispense",
    "create_cancellation",
    "mine_block",
    "mining_engines",
    "encode_address",
    "decode_address",
    "MAX_RECORDS",
    "DEFAULT_BLOCK_REWARD",
    "MAX_PRESCRIPTION_BYTES",
    "MAX_ENTRIES",
    "MAX_LICENCE_BYTES",
    "MAX_NOTE_BYTES",
    "MAX_RECIPIENTS",
    "__version__",
]

__version__: str
MAX_RECORDS: int
DEFAULT_BLOCK_REWARD: int
MAX_PRESCRIPTION_BYTES: int
MAX_ENTRIES: int
MAX_LICENCE_BYTES: int
MAX_NOTE_BYTES: int
MAX_RECIPIENTS: int

@disjoint_base
class EMR:
    """A signed prescription record (the original design's ``EMR``).

    Fields hold any assigned value; ``verify`` reports what is wrong, in
    specification order, as a ``RecordError`` subclass. Values of the wrong
    type raise ``TypeError`` (``OverflowError`` for an out-of-range nonce)
    when verified.
    """

    # The original names, typed as the library makes them (a field holds
    # whatever is assigned; ``verify`` judges it).
    Dr_hash: bytes
    Patient_hash: bytes
    Dr_public_key: bytes
    prescription: str
    nonce: int
    signature: bytes
    txid: bytes
    # snake_case aliases of the three above.
    dr_hash: bytes
    patient_hash: bytes
    dr_public_key: bytes

    __hash__: None  # type: ignore[assignment]

    def __new__(
        cls,
        Dr_hash: _BytesLike,
        Patient_hash: _BytesLike,
        Dr_public_key: _BytesLike,
        prescription: str,
        nonce: int,
        signature: _BytesLike,
        txid: _BytesLike,
    ) -> Self: ...
    def verify(self, Dr_previous_nonce: int) -> None:
        """Raise the first failing check's ``RecordError`` subclass, else return ``None``."""
    def calculate_txid(self) -> bytes:
        """The 32-byte txid the other six fields call for."""
    def calculate_signature_hash(self) -> bytes:
        """The 32-byte digest the doctor signs."""
    @property
    def is_sealed(self) -> bool:
        """Whether the prescription is a sealed text (``"sealed1:..."``, SPEC 8.2)."""
    def open(self, private_key: _PrivateKey) -> str:
        """The sealed prescription's text, for a recipient's key. ``NotRecipientError``,
        ``DecryptFailedError`` (both ``SealError``), ``InvalidPrescriptionError`` for a
        malformed sealed text, ``InvalidArgumentError`` for a text that is not sealed.
        Does not verify the signature."""
    def sealed_recipients(self) -> List[bytes]:
        """The readers' key hashes (SHA-1 of each SPKI), in envelope order."""
    def to_bytes(self) -> bytes:
        """The canonical encoding (raises a ``RecordError`` if a field's shape cannot be encoded)."""
    @staticmethod
    def from_bytes(data: _BytesLike) -> EMR:
        """Decode ``to_bytes`` output; ``DecodeError`` otherwise. Does not verify."""
    def __eq__(self, other: object) -> bool: ...
    def __reduce__(self) -> Tuple[Any, Tuple[Any, ...]]: ...

@final
class SigningKey:
    """A doctor's EC private key (secp256k1 or P-256).

    Never shows the secret in ``repr``; refuses pickling (``TypeError``): use
    ``to_der``/``to_pem`` and ``from_der``/``from_pem`` explicitly.
    """

    @staticmethod
    def generate(curve: _CurveName = "secp256k1") -> SigningKey: ...
    @staticmethod
    def from_pem(data: Union[_BytesLike, str], password: Optional[Union[_BytesLike, str]] = None) -> SigningKey:
        """PKCS#8 ``PRIVATE KEY`` or SEC1 ``EC PRIVATE KEY`` PEM; with ``password``, ``ENCRYPTED
        PRIVATE KEY`` (PKCS#8 PBES2). ``WrongPasswordError`` for a wrong password,
        ``InvalidKeyError`` otherwise (also: encrypted without a password, a password for a
        plain key)."""
    @staticmethod
    def from_der(data: _BytesLike) -> SigningKey:
        """PKCS#8 or SEC1 DER; ``InvalidKeyError`` otherwise."""
    def to_pem(self, password: Optional[Union[_BytesLike, str]] = None) -> bytes:
        """PKCS#8 PEM, as pyca/cryptography writes it; with ``password`` (not empty, else
        ``InvalidArgumentError``), ``ENCRYPTED PRIVATE KEY``: PBES2, PBKDF2-HMAC-SHA256 and
        AES-256-CBC."""
    def to_der(self) -> bytes:
        """Unencrypted PKCS#8 DER, as pyca/cryptography writes it."""
    @property
    def public_key_der(self) -> bytes:
        """Uncompressed DER SubjectPublicKeyInfo (a record's ``Dr_public_key``)."""
    @property
    def public_key_hash(self) -> bytes:
        """SHA-1 of ``public_key_der`` (a record's ``Dr_hash``)."""
    @property
    def address(self) -> str:
        """The doctor's address, ``emrd1...``: ``public_key_hash`` as checksummed text."""
    @property
    def curve(self) -> Literal["secp256k1", "P-256"]: ...
    def __eq__(self, other: object) -> bool: ...
    def __hash__(self) -> int: ...
    def __copy__(self) -> Self: ...
    def __deepcopy__(self, memo: Any) -> Self: ...

@disjoint_base
class UserState:
    """A user's ``balance`` and record ``nonce`` (ints in 0..2**64-1)."""

    balance: int
    nonce: int
    __hash__: None  # type: ignore[assignment]
    def __new__(cls, balance: int = 0, nonce: int = 0) -> Self: ...
    def __eq__(self, other: object) -> bool: ...
    def __reduce__(self) -> Tuple[Any, Tuple[int, int]]: ...

@disjoint_base
class Grant:
    """An authority's grant admitting a doctor from ``not_before`` to ``not_after``
    (Unix seconds, inclusive; SPEC 8.1), on the chain whose id is ``chain_id``.

    Fields hold any assigned value; ``verify`` reports what is wrong as an
    ``EntryError`` subclass (``InvalidEntryError``, ``InvalidEntrySignatureError``).
    """

    chain_id: bytes
    dr_public_key: bytes
    licence: str
    not_before: int
    not_after: int
    authority: bytes
    signature: bytes
    __hash__: None  # type: ignore[assignment]

    def __new__(
        cls,
        chain_id: _BytesLike,
        dr_public_key: _BytesLike,
        licence: str,
        not_before: int,
        not_after: int,
        authority: _BytesLike,
        signature: _BytesLike,
    ) -> Self: ...
    @property
    def entry_id(self) -> bytes:
        """The grant's id (32 bytes), over the fields as they stand."""
    @property
    def grant_id(self) -> bytes:
        """Alias of ``entry_id``."""
    @property
    def dr_hash(self) -> bytes:
        """SHA-1 of ``dr_public_key``: the admitted doctor's ``Dr_hash``."""
    def verify(self) -> None:
        """The stateless checks (``InvalidEntryError``, then ``InvalidEntrySignatureError``)."""
    def to_bytes(self) -> bytes: ...
    @staticmethod
    def from_bytes(data: _BytesLike) -> Grant:
        """Decode ``to_bytes`` output; ``DecodeError`` otherwise. Does not verify."""
    def __eq__(self, other: object) -> bool: ...
    def __reduce__(self) -> Tuple[Any, Tuple[Any, ...]]: ...

@disjoint_base
class Revocation:
    """An authority's revocation of the grant ``grant_id`` from ``effective`` on (SPEC 8.1),
    on the chain whose id is ``chain_id``; carried only in a block whose time has reached
    ``effective``."""

    chain_id: bytes
    grant_id: bytes
    effective: int
    authority: bytes
    signature: bytes
    __hash__: None  # type: ignore[assignment]

    def __new__(
        cls,
        chain_id: _BytesLike,
        grant_id: _BytesLike,
        effective: int,
        authority: _BytesLike,
        signature: _BytesLike,
    ) -> Self: ...
    @property
    def entry_id(self) -> bytes:
        """The revocation's id (32 bytes), over the fields as they stand."""
    def verify(self) -> None:
        """The stateless checks (``InvalidEntryError``, then ``InvalidEntrySignatureError``)."""
    def to_bytes(self) -> bytes: ...
    @staticmethod
    def from_bytes(data: _BytesLike) -> Revocation:
        """Decode ``to_bytes`` output; ``DecodeError`` otherwise. Does not verify."""
    def __eq__(self, other: object) -> bool: ...
    def __reduce__(self) -> Tuple[Any, Tuple[Any, ...]]: ...

@disjoint_base
class DispenserGrant:
    """An authority's grant admitting a pharmacy to dispense from ``not_before`` to
    ``not_after`` (Unix seconds, inclusive; SPEC 10), on the chain ``chain_id``. A
    ``Revocation`` naming its id withdraws it."""

    chain_id: bytes
    pharmacy_public_key: bytes
    licence: str
    not_before: int
    not_after: int
    authority: bytes
    signature: bytes
    __hash__: None  # type: ignore[assignment]

    def __new__(
        cls,
        chain_id: _BytesLike,
        pharmacy_public_key: _BytesLike,
        licence: str,
        not_before: int,
        not_after: int,
        authority: _BytesLike,
        signature: _BytesLike,
    ) -> Self: ...
    @property
    def entry_id(self) -> bytes:
        """The grant's id (32 bytes), over the fields as they stand."""
    @property
    def grant_id(self) -> bytes:
        """Alias of ``entry_id``."""
    @property
    def pharmacy_hash(self) -> bytes:
        """SHA-1 of ``pharmacy_public_key``: the pharmacy's identity."""
    def verify(self) -> None:
        """The stateless checks (``InvalidEntryError``, then ``InvalidEntrySignatureError``)."""
    def to_bytes(self) -> bytes: ...
    @staticmethod
    def from_bytes(data: _BytesLike) -> DispenserGrant:
        """Decode ``to_bytes`` output; ``DecodeError`` otherwise. Does not verify."""
    def __eq__(self, other: object) -> bool: ...
    def __reduce__(self) -> Tuple[Any, Tuple[Any, ...]]: ...

@disjoint_base
class Dispense:
    """A pharmacy's dispensing of the prescription ``(dr_hash, nonce)`` whose content is
    ``record_hash``, countersigned by the patient (SPEC 10); at most one per prescription."""

    chain_id: bytes
    dr_hash: bytes
    nonce: int
    record_hash: bytes
    pharmacy_public_key: bytes
    patient_public_key: bytes
    note: str
    signature: bytes
    patient_signature: bytes
    __hash__: None  # type: ignore[assignment]

    def __new__(
        cls,
        chain_id: _BytesLike,
        dr_hash: _BytesLike,
        nonce: int,
        record_hash: _BytesLike,
        pharmacy_public_key: _BytesLike,
        patient_public_key: _BytesLike,
        note: str,
        signature: _BytesLike,
        patient_signature: _BytesLike,
    ) -> Self: ...
    @property
    def entry_id(self) -> bytes:
        """The dispensing's id (32 bytes), over the fields as they stand."""
    @property
    def digest(self) -> bytes:
        """The 32 bytes the pharmacy and the patient sign (ECDSA over the digest)."""
    def add_signature(self, signature: _BytesLike) -> None:
        """Attach the pharmacy's signature of ``digest`` (stored low-S)."""
    def add_patient_signature(self, signature: _BytesLike) -> None:
        """Attach the patient's signature of ``digest``, made on their card or phone."""
    def sign_pharmacy(self, key: _PrivateKey) -> None:
        """Sign ``digest`` as the pharmacy and attach the signature."""
    def sign_patient(self, key: _PrivateKey) -> None:
        """Sign ``digest`` as the patient (a phone running this library)."""
    @property
    def pharmacy_hash(self) -> bytes: ...
    @property
    def patient_hash(self) -> bytes: ...
    def verify(self) -> None:
        """The stateless checks (``InvalidEntryError``, then ``InvalidEntrySignatureError``)."""
    def to_bytes(self) -> bytes: ...
    @staticmethod
    def from_bytes(data: _BytesLike) -> Dispense:
        """Decode ``to_bytes`` output; ``DecodeError`` otherwise. Does not verify."""
    def __eq__(self, other: object) -> bool: ...
    def __reduce__(self) -> Tuple[Any, Tuple[Any, ...]]: ...

@disjoint_base
class Cancellation:
    """The withdrawal of the prescription ``(dr_hash, nonce)`` whose content is
    ``record_hash`` by its prescriber or an authority (SPEC 10)."""

    chain_id: bytes
    dr_hash: bytes
    nonce: int
    record_hash: bytes
    canceller: bytes
    reason: str
    signature: bytes
    __hash__: None  # type: ignore[assignment]

    def __new__(
        cls,
        chain_id: _BytesLike,
        dr_hash: _BytesLike,
        nonce: int,
        record_hash: _BytesLike,
        canceller: _BytesLike,
        reason: str,
        signature: _BytesLike,
    ) -> Self: ...
    @property
    def entry_id(self) -> bytes:
        """The cancellation's id (32 bytes), over the fields as they stand."""
    @property
    def canceller_hash(self) -> bytes: ...
    def verify(self) -> None:
        """The stateless checks (``InvalidEntryError``, then ``InvalidEntrySignatureError``)."""
    def to_bytes(self) -> bytes: ...
    @staticmethod
    def from_bytes(data: _BytesLike) -> Cancellation:
        """Decode ``to_bytes`` output; ``DecodeError`` otherwise. Does not verify."""
    def __eq__(self, other: object) -> bool: ...
    def __reduce__(self) -> Tuple[Any, Tuple[Any, ...]]: ...

_Entry: TypeAlias = Union[Grant, Revocation, DispenserGrant, Dispense, Cancellation]
_PrescriptionState: TypeAlias = Literal["open", "dispensed", "cancelled"]

@final
class PrescriptionStatus:
    """A prescription of the active chain and what became of it (a snapshot)."""

    @property
    def state(self) -> _PrescriptionState: ...
    @property
    def record(self) -> EMR: ...
    @property
    def record_height(self) -> int: ...
    @property
    def record_block_id(self) -> bytes: ...
    @property
    def record_timestamp(self) -> int: ...
    @property
    def entry(self) -> Optional[Union[Dispense, Cancellation]]: ...
    @property
    def by(self) -> Optional[bytes]:
        """SHA-1 of the pharmacy's or canceller's key; ``None`` while open."""
    @property
    def height(self) -> Optional[int]: ...
    @property
    def block_id(self) -> Optional[bytes]: ...
    @property
    def timestamp(self) -> Optional[int]: ...

@final
class EntryConflict:
    """A dispensing or cancellation the chain dropped for another (SPEC 9.3)."""

    @property
    def entry(self) -> Union[Dispense, Cancellation]: ...
    @property
    def replaced_by(self) -> Union[Dispense, Cancellation]: ...
    @property
    def block_id(self) -> bytes: ...
    @property
    def height(self) -> int: ...
    @property
    def pharmacies(self) -> Tuple[bytes, bytes]:
        """SHA-1 of the key that signed each: the dropped entry's, then the kept one's."""

@disjoint_base
class Block:
    """A block of records (and registry entries) with its proof of work.

    Fields hold any assigned value (``records`` and ``entries`` are kept as
    the very lists given); ``verify_and_get_changes`` reports what is wrong,
    in specification order, as a ``BlockError`` subclass.
    """

    previous: bytes
    height: int
    miner: bytes
    records: List[EMR]
    timestamp: int
    difficulty: int
    block_id: bytes
    nonce: int
    entries: List[_Entry]
    __hash__: None  # type: ignore[assignment]

    def __new__(
        cls,
        previous: _BytesLike,
        height: int,
        miner: _HashOrAddress,
        records: Iterable[EMR],
        timestamp: int,
        difficulty: int,
        block_id: _BytesLike,
        nonce: int,
        entries: Iterable[_Entry] = (),
    ) -> Self: ...
    def verify_and_get_changes(
        self,
        difficulty: int,
        previous_user_states: Mapping[Union[bytes, str], UserState],
        *,
        block_reward: int = 10000,
        threads: Optional[int] = None,
    ) -> dict[bytes, UserState]:
        """Verify the block; return the changed states (doctors and miner). Releases the GIL."""
    def calculate_block_id(self) -> bytes:
        """The 32-byte id the header calls for."""
    def to_bytes(self) -> bytes:
        """The canonical encoding (raises a ``BlockError`` if a field's shape cannot be encoded)."""
    @staticmethod
    def from_bytes(data: _BytesLike) -> Block:
        """Decode ``to_bytes`` output; ``DecodeError`` otherwise. Does not verify."""
    def __eq__(self, other: object) -> bool: ...
    def __reduce__(self) -> Tuple[Any, Tuple[Any, ...]]: ...

_AddOutcome: TypeAlias = Literal["extended", "side_branch", "reorganized", "already_known", "stale"]
_HistoryEntry: TypeAlias = Tuple[int, bytes, EMR]
_PathLike: TypeAlias = Union[str, "os.PathLike[str]"]
_Progress: TypeAlias = Callable[[int, int], object]

@final
class Chain:
    """A chain of blocks (SPEC section 5) in one SQLite file, or in memory.

    ``Chain(path)`` opens or creates the chain at ``path`` (its file, or a
    directory holding it as ``chain.db``, as ``emr chain init DIR`` makes;
    an ``IoError``, an ``OSError``, names the file in ``filename`` when it
    does not open); pass parameters only to create one (or to check them
    against the stored ones; a ``salt`` of ``None`` matches any). One
    writer per file (another raises
    ``LockedError``); readers use :meth:`open_readonly`. Each accepted block
    is durable before ``add_block`` returns. Calls release the GIL.
    """

    def __new__(
        cls,
        path: Optional[_PathLike] = None,
        *,
        initial_difficulty: Optional[int] = None,
        window: Optional[int] = None,
        block_time: Optional[int] = None,
        max_adjust: Optional[int] = None,
        block_reward: Optional[int] = None,
        authorities: Iterable[_PublicKey] = (),
        max_future: Optional[int] = None,
        salt: Optional[_BytesLike] = None,
    ) -> Self:
        """``max_future``: seconds a block may be ahead of the caller's clock (default 60).
        ``salt``: 16 bytes naming the chain among chains of equal settings (``None``:
        random for a new chain, the stored one when reopening)."""
    @staticmethod
    def open_readonly(path: _PathLike) -> Chain:
        """Open for reading beside the writer; sees every committed block."""
    def add_block(self, block: Block, now: Optional[int] = None) -> _AddOutcome:
        """Add one block; a ``ChainError`` or the block's ``BlockError`` (with ``.height``) on failure.
        ``"stale"``: a side branch neither heavier nor near the tip, not stored (no error).
        ``TimestampTooLateError`` (more than ``max_future`` s after ``now``) is not remembered."""
    def add_blocks(
        self, blocks: Iterable[Block], progress: Optional[_Progress] = None, *, now: Optional[int] = None
    ) -> List[_AddOutcome]:
        """Add many in one transaction; on failure the error has ``.batch_index`` and ``.added``."""
    def __len__(self) -> int: ...
    @property
    def tip(self) -> Optional[Block]: ...
    def __getitem__(self, height: int) -> Block: ...
    def blocks(self, start: int = 0, stop: Optional[int] = None) -> ChainBlocks: ...
    @property
    def total_difficulty(self) -> int: ...
    def next_difficulty(self) -> int: ...
    @property
    def params(self) -> dict[str, Any]:
        """``initial_difficulty``, ``window``, ``block_time``, ``max_adjust``, ``block_reward``,
        ``max_future`` (ints), ``authorities`` (a list of SPKI DER bytes) and ``salt`` (16 bytes)."""
    @property
    def chain_id(self) -> bytes:
        """The chain's 32-byte id (SPEC 5), which every grant and revocation for it names."""
    @property
    def authorities(self) -> List[bytes]:
        """The chain's authorities (SPKI DER), as created; empty for an open chain."""
    def dispenser_grants(self, pharmacy: _PublicKey) -> List[Tuple[DispenserGrant, int, Optional[int]]]:
        """A pharmacy's (20-byte hash or public key) dispenser grants, as ``grants`` gives a doctor's."""
    def is_dispenser_authorized(self, pharmacy: _PublicKey, timestamp: int) -> bool: ...
    def prescription_state(self, dr_hash: _HashOrAddress, nonce: int) -> _PrescriptionState:
        """``NotFoundError`` when the active chain holds no such record."""
    def prescription(self, dr_hash: _HashOrAddress, nonce: int) -> PrescriptionStatus:
        """The state with who, when and which block; ``NotFoundError`` as ``prescription_state``."""
    def patient_prescriptions(self, patient_hash: _HashOrAddress) -> List[PrescriptionStatus]: ...
    def dispensings(self, pharmacy: _PublicKey) -> List[Tuple[int, bytes, int, Dispense]]:
        """A pharmacy's dispensings as ``(height, block_id, timestamp, Dispense)``, in chain order."""
    def entry_conflicts(self) -> List[EntryConflict]: ...
    def dismiss_entry_conflict(self, entry_id: _BytesLike) -> bool: ...
    def grants(self, dr_hash: Union[_BytesLike, str]) -> List[Tuple[Grant, int, Optional[int]]]:
        """The doctor's grants in the active chain: ``(grant, height, revoked_effective or None)``."""
    def is_authorized(self, dr_hash: Union[_BytesLike, str], timestamp: int) -> bool:
        """Whether a block at ``timestamp`` on the tip may carry the doctor's records."""
    def user_state(self, hash: Union[_BytesLike, str]) -> UserState:
        """A hash, or a doctor's (``emrd1…``) or miner's (``emrm1…``) address."""
    def patient_history(self, patient_hash: Union[_BytesLike, str]) -> List[_HistoryEntry]:
        """A hash or a patient's address (``emrp1…``)."""
    def doctor_records(self, dr_hash: Union[_BytesLike, str]) -> List[_HistoryEntry]:
        """A hash or a doctor's address (``emrd1…``)."""
    def find_record(self, txid: _BytesLike) -> Optional[_HistoryEntry]: ...
    def undo_last_block(self) -> Block: ...
    def check(self, progress: Optional[_Progress] = None) -> int:
        """Re-validate everything; the number of blocks, or the first bad block's error (``.height``)."""
    def backup(self, path: Union[str, "os.PathLike[str]"]) -> None:
        """Copy the chain, as of one committed state, to the new file ``path`` (checked, page
        checksums stamped); ``IoError`` when ``path`` exists, ``CorruptError`` on damage.
        Restore: copy the file back in the chain file's place and open it."""
    @property
    def pool(self) -> ChainPool:
        """The records waiting for a block, stored with the chain."""
    def conflicts(self) -> List[Conflict]:
        """The records dropped for another of the same doctor and nonce (SPEC 9.3), oldest
        first; each is listed until dismissed or until it is in the active chain again."""
    def dismiss_conflict(self, txid: _BytesLike) -> bool:
        """Stop listing the conflict of the record with ``txid`` (32 bytes, else
        ``InvalidArgumentError``); ``False`` when there is none."""
    def template(self, miner: _HashOrAddress, timestamp: Optional[int] = None) -> Block:
        """The next block to mine (``block_id`` zeros, ``nonce`` 0): tip, height, next difficulty,
        ``max(timestamp or now, tip's)``, the pool's pending entries that apply and up to 25
        ready records of authorized doctors."""
    def mine_next(
        self,
        miner: _HashOrAddress,
        *,
        timestamp: Optional[int] = None,
        threads: Optional[int] = None,
        timeout: Optional[float] = None,
        progress: Optional[Callable[[int, float], object]] = None,
        engine: Optional[_EngineName] = None,
    ) -> Optional[Block]:
        """Mine the template and add it, starting over when another thread moves the tip;
        the added block, or ``None`` on timeout. Ctrl-C raises ``KeyboardInterrupt``."""
    def close(self) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, *exc: object) -> bool: ...

@final
class ChainPool:
    """``Chain.pool``: pending records, one per ``(Dr_hash, nonce)``, kept in the chain's database."""

    def submit(
        self, record: EMR, *, now: Optional[int] = None
    ) -> Union[Literal["ready", "held", "already_pending"], PendingConflict]:
        """Verify (signature included) and pool; the record's ``RecordError`` subclass otherwise
        (``UnauthorizedDoctorError`` when a chain with authorities does not admit its doctor at ``now``).
        Another pending record with the same ``(Dr_hash, nonce)``: a ``PendingConflict``, equal to
        ``"conflicts_with_pending"``, whose ``pending_txid`` names it."""
    def submit_entry(self, entry: _Entry, *, now: Optional[int] = None) -> Literal["ready", "held", "already_pending"]:
        """Check a grant or revocation as a block at ``now`` would after the pending ones and pool it;
        ``"held"``: a revocation whose ``effective`` time is later (templates take it from then on).
        Its ``EntryError`` subclass otherwise (``WrongChainError`` for another chain's)."""
    def entries(self) -> List[_Entry]:
        """The pending entries, in arrival order."""
    def pending(self) -> List[EMR]:
        """Ready records in template order, then held ones in arrival order."""
    def ready(self) -> List[EMR]: ...
    def held(self) -> List[EMR]: ...
    def __len__(self) -> int: ...

@final
class Conflict:
    """A record the chain dropped for another (SPEC 9.3): a block carrying another record
    of its doctor with its nonce but other content joined the active chain.

    Immutable; compares, hashes, pickles and copies. ``record`` is a new ``EMR`` at each read.
    """

    def __new__(cls, record: EMR, replaced_by: _BytesLike, block_id: _BytesLike, height: int) -> Self: ...
    @property
    def record(self) -> EMR:
        """The dropped record."""
    @property
    def replaced_by(self) -> bytes:
        """The txid of the record that took its place (32 bytes)."""
    @property
    def block_id(self) -> bytes:
        """The block that carries that record (32 bytes)."""
    @property
    def height(self) -> int:
        """That block's height."""
    def __eq__(self, other: object) -> bool: ...
    def __hash__(self) -> int: ...
    def __reduce__(self) -> Tuple[Any, Tuple[EMR, bytes, bytes, int]]: ...

@final
class ChainBlocks:
    """Iterator over a chain's blocks, read one at a time."""

    def __iter__(self) -> Self: ...
    def __next__(self) -> Block: ...

def create_signed_record(
    Dr_private_key: _PrivateKey,
    patient_hash: _HashOrAddress,
    prescription: str,
    nonce: int,
    *,
    seal_to: Optional[Iterable[_PublicKey]] = None,
    seal_to_self: bool = True,
) -> EMR:
    """Sign a new record with a ``SigningKey``, PKCS#8/SEC1 DER or PEM bytes,
    or a pyca/cryptography EC private key object. ``patient_hash`` is 20 bytes
    or the patient's address (``emrp1...``; else an ``AddressError``).

    With ``seal_to`` (the readers' public keys, the patient's among them), the
    prescription is sealed so that only they (and the doctor, unless
    ``seal_to_self=False``) can read it with ``EMR.open``; at most 4 readers."""

def create_grant(
    authority_key: _PrivateKey,
    dr_public_key: _PublicKey,
    licence: str,
    not_before: int = 0,
    not_after: int = 2**64 - 1,
    *,
    chain_id: Union[_BytesLike, Chain],
) -> Grant:
    """Sign a grant admitting the doctor on the chain ``chain_id`` (32 bytes, or the ``Chain``);
    ``InvalidEntryError`` for one that could never verify."""

def create_revocation(
    authority_key: _PrivateKey,
    grant_id: Union[_BytesLike, Grant, DispenserGrant],
    effective: int,
    *,
    chain_id: Union[_BytesLike, Chain],
) -> Revocation:
    """Sign a revocation of ``grant_id`` (32 bytes, or the ``Grant``) from ``effective`` on,
    for the chain ``chain_id`` (32 bytes, or the ``Chain``)."""

def create_dispenser_grant(
    authority_key: _PrivateKey,
    pharmacy_public_key: _PublicKey,
    licence: str,
    not_before: int = 0,
    not_after: int = 2**64 - 1,
    *,
    chain_id: Union[_BytesLike, Chain],
) -> DispenserGrant:
    """Sign a dispenser grant admitting the pharmacy on the chain ``chain_id``."""

def create_dispense(
    pharmacy_key: _PrivateKey,
    patient_key: _PrivateKey,
    record: EMR,
    note: str = "",
    *,
    chain_id: Union[_BytesLike, Chain],
) -> Dispense:
    """Sign a dispensing of ``record`` with both keys (``WrongPatientError``,
    ``PublicTextOnSealedError``, ``InvalidEntryError`` for what could never be carried)."""

def prepare_dispense(
    pharmacy_public_key: _PublicKey,
    patient_public_key: _PublicKey,
    record: EMR,
    note: str = "",
    *,
    chain_id: Union[_BytesLike, Chain],
) -> Dispense:
    """An unsigned dispensing: show the patient's device its ``digest``, then
    ``add_signature`` / ``add_patient_signature``."""

def create_cancellation(
    key: _PrivateKey,
    record: EMR,
    reason: str = "",
    *,
    chain_id: Union[_BytesLike, Chain],
) -> Cancellation:
    """Sign a cancellation of ``record`` (the prescriber's or an authority's key)."""

def calculate_sha1_hash(data: _BytesLike) -> bytes:
    """SHA-1 of ``data`` (20 bytes)."""

def calculate_txid(
    Dr_hash: _BytesLike,
    Patient_hash: _BytesLike,
    Dr_public_key: _BytesLike,
    prescription: str,
    nonce: int,
    signature: _BytesLike,
) -> bytes:
    """SHA-256 of the concatenated fields (32 bytes), over the values as given."""

def calculate_signature_hash(patient_hash: _BytesLike, prescription: str, nonce: int) -> bytes:
    """SHA-256(patient_hash || UTF8(prescription) || LE64(nonce)) (32 bytes)."""

def verify_records(
    records: Iterable[EMR],
    previous_nonces: Iterable[int],
    *,
    threads: Optional[int] = None,
) -> None:
    """Verify many records in parallel with the GIL released; raise the lowest
    failing index's ``RecordError`` subclass with ``.index`` set.

    ``threads`` (1..=1024, default every core) caps the workers one call
    uses; none are started per call (one kept pool per process, rebuilt in a
    forked child). Outside that range: ``InvalidArgumentError``."""

def mine_block(
    previous: _BytesLike,
    height: int,
    miner: _HashOrAddress,
    records: Iterable[EMR],
    timestamp: int,
    difficulty: int,
    entries: Iterable[_Entry] = (),
    *,
    threads: Optional[int] = None,
    nonce_start: int = 0,
    nonce_count: Optional[int] = None,
    timeout: Optional[float] = None,
    progress: Optional[Callable[[int, float], object]] = None,
    engine: Optional[_EngineName] = None,
) -> Optional[Block]:
    """Search nonces ``nonce_start``, ... (``nonce_count`` of them, default up to
    2**64-1) for a block id meeting ``difficulty``; return a new ``Block`` (new
    ``EMR`` objects, records not verified) or ``None`` when the range is
    exhausted or ``timeout`` seconds pass. One thread finds the lowest nonce.
    ``progress(hashes, hashes_per_second)`` is called about every 250 ms on the
    calling thread; its exception stops mining and propagates. Releases the
    GIL; Ctrl-C stops every mining thread and raises ``KeyboardInterrupt``."""

def _precheck_block(height: int, data: _BytesLike, *, threads: Optional[int] = None) -> int:
    """The stateless half of ``Chain.check`` for the block at ``height``
    (decoding, its id, every record check but the nonce's); the number of
    leading records that passed. ``CorruptError`` (``.height``) otherwise.
    Used by ``cryptoemr.distributed``."""

def _precheck_stored(
    path: _PathLike, start: int, stop: int, *, threads: Optional[int] = None
) -> Tuple[List[Tuple[bytes, int]], Optional[EMRError]]:
    """``_precheck_block`` for the active blocks ``start..stop`` of the chain
    file at ``path``, in one call: ``(encoding, passed)`` per block up to the
    first failure, and that failure (``.height`` set) or ``None``."""

def _block_summary(data: _BytesLike) -> Tuple[bytes, int]:
    """``(block_id, records)`` re-derived from a block's canonical encoding:
    the id it hashes to (every byte included) and its number of records.
    ``CorruptError`` when it carries another id or a record does not hash to
    its txid, ``DecodeError`` when it is not a block. Used by
    ``cryptoemr.distributed``."""

def _active_ids(path: _PathLike) -> List[bytes]:
    """The ids of the active blocks of the chain file at ``path``, genesis
    first, from one read transaction. Used by ``cryptoemr.distributed``."""

@final
class _ChainWalk:
    """The in-order half of ``Chain.check`` (used by ``cryptoemr.distributed``)."""

    def __new__(
        cls,
        *,
        initial_difficulty: Optional[int] = None,
        window: Optional[int] = None,
        block_time: Optional[int] = None,
        max_adjust: Optional[int] = None,
        block_reward: Optional[int] = None,
        authorities: Iterable[_PublicKey] = (),
        max_future: Optional[int] = None,
        salt: Optional[_BytesLike] = None,
    ) -> Self:
        """``salt`` is required (``InvalidArgumentError`` without): entries are checked
        against the chain's id."""
    @property
    def blocks(self) -> int: ...
    def apply(self, data: _BytesLike, passed: int) -> None:
        """Apply the next block; its error as ``Chain.check`` raises it, with ``.height``."""

# --- cryptoemr.node's native half (SPEC section 9; use cryptoemr.node) ---

_Pem: TypeAlias = Union[bytes, bytearray, memoryview, str]

@final
class _NodeClient:
    """A client of one node; wrapped by ``cryptoemr.node.Client``."""

    def __new__(
        cls,
        url: str,
        ca: Optional[_Pem] = None,
        cert: Optional[_Pem] = None,
        key: Optional[_Pem] = None,
    ) -> Self: ...
    @property
    def url(self) -> str: ...
    def info(self) -> str:
        """``GET /v1/info``, shape checked, as JSON text."""
    def get_json(self, path: str) -> Optional[str]:
        """A JSON answer of ``GET path`` as text; ``None`` for HTTP 404."""
    def submit(self, encoded: _BytesLike) -> Tuple[Literal["ok", "refused"], str, Union[bytes, str, None]]:
        """``("ok", outcome, pending_txid or None)`` or ``("refused", kind, message)``."""

@final
class _NodeServer:
    """A node in background threads; wrapped by ``cryptoemr.node.Node``."""

    @property
    def addresses(self) -> List[Tuple[str, int, bool]]:
        """``(host, port, tls)`` per listener."""
    @property
    def running(self) -> bool: ...
    def status(self) -> str:
        """``/v1/status``'s report as JSON text."""
    def seen(self, hash: _BytesLike) -> Optional[str]:
        """"Seen by k of n sites" as JSON text; ``None`` when not in the active chain."""
    def shutdown(self) -> None: ...

def _sync(chain: Chain, client: _NodeClient, progress: Optional[Callable[[int, int], Any]] = None) -> dict:
    """A one-shot sync: the report's fields as a dict (see ``cryptoemr.node.sync``)."""

def _patient_bundle(chain: Chain, patient: _HashOrAddress, keys: List[Any]) -> str:
    """The patient's FHIR R4 Bundle as JSON text (see ``cryptoemr.fhir``)."""

def _verify_bundle(text: str) -> List[bytes]:
    """The txids of a bundle's verified prescriptions (see ``cryptoemr.fhir``)."""

def _serve(
    path: _PathLike,
    listen: Union[str, Iterable[str]],
    local: Union[None, str, Iterable[str]] = None,
    peers: Union[None, str, Iterable[str]] = None,
    ca: Optional[_Pem] = None,
    cert: Optional[_Pem] = None,
    key: Optional[_Pem] = None,
    miner: Optional[_HashOrAddress] = None,
    threads: Optional[int] = None,
    poll: float = 2.0,
) -> _NodeServer:
    """Starts a node (see ``cryptoemr.node.serve``)."""

def _new_authority(name: str, days: int = 3650) -> Tuple[bytes, bytes]:
    """``(cert_pem, key_pem)`` of a new consortium authority."""

def _issue_certificate(
    ca_cert: _Pem, ca_key: _Pem, names: Union[str, Iterable[str]], days: int = 730
) -> Tuple[bytes, bytes]:
    """``(cert_pem, key_pem)`` of a node's or a program's certificate."""

def mining_engines() -> List[_EngineName]:
    """The hash engines this CPU can run, fastest first as measured here for a
    25-record block (once per process, a few ms); the first is the default."""

def encode_address(role: _Role, hash20: Union[_BytesLike, _PublicKey]) -> str:
    """The 43-character Bech32m address of a 20-byte hash in ``role``
    (``emrd1...``, ``emrp1...``, ``emrm1...``), or of a key object's public
    key hash (a ``SigningKey`` or a pyca/cryptography EC key)."""

def decode_address(text: str, role: _Role) -> bytes:
    """The 20-byte hash of an address of ``role``; upper case accepted, nothing
    corrected. Raises an ``AddressError`` subclass (``InvalidChecksumError``
    with ``.positions`` of one or two located typos, ``WrongRoleError``,
    ``InvalidLengthError``, ``InvalidCharacterError``, ``MixedCaseError``)."""

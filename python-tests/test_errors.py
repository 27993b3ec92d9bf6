"""The exception hierarchy of SPEC section 7, and every kind reachable from Python."""

import pathlib
import pickle
import re

import pytest

import cryptoemr
from cryptoemr.errors import BY_KIND
from helpers import PATIENT, make_block

RECORD_KINDS = [
    "hash_length",
    "public_key_mismatch",
    "invalid_prescription",
    "invalid_nonce",
    "invalid_txid",
    "invalid_public_key",
    "invalid_signature",
    "unauthorized_doctor",
]
BLOCK_KINDS = [
    "difficulty_mismatch",
    "invalid_block_id",
    "too_many_records",
    "too_many_entries",
    "invalid_miner",
    "invalid_previous",
    "insufficient_work",
    "record",
    "entry",
]
ENTRY_KINDS = [
    "invalid_entry",
    "invalid_entry_signature",
    "wrong_chain",
    "unknown_authority",
    "duplicate_grant",
    "unknown_grant",
    "already_revoked",
    "revocation_not_yet_effective",
    "unauthorized_dispenser",
    "unauthorized_canceller",
    "unknown_prescription",
    "wrong_patient",
    "prescriber_revoked",
    "public_text_on_sealed",
    "already_dispensed",
    "prescription_cancelled",
]
SEAL_KINDS = ["not_recipient", "decrypt_failed"]
CHAIN_KINDS = ["wrong_height", "unknown_parent", "timestamp_too_early", "timestamp_too_late", "locked", "corrupt"]
ADDRESS_KINDS = ["invalid_checksum", "wrong_role", "invalid_length", "invalid_character", "mixed_case"]
OTHER_KINDS = ["invalid_argument", "invalid_key", "wrong_password", "decode", "not_found", "cancelled", "io"]


def camel(kind):
    return "".join(part.capitalize() for part in kind.split("_")) + "Error"


@pytest.mark.parametrize(
    "kinds,base",
    [
        (RECORD_KINDS, cryptoemr.RecordError),
        (BLOCK_KINDS, cryptoemr.BlockError),
        (CHAIN_KINDS, cryptoemr.ChainError),
        (ENTRY_KINDS, cryptoemr.EntryError),
        (SEAL_KINDS, cryptoemr.SealError),
        (ADDRESS_KINDS, cryptoemr.AddressError),
        (OTHER_KINDS, cryptoemr.EMRError),
    ],
)
def test_one_class_per_kind(kinds, base):
    for kind in kinds:
        name = {"record": "BlockRecordError", "entry": "BlockEntryError"}.get(kind) or camel(kind)
        cls = getattr(cryptoemr, name)
        assert BY_KIND[kind] is cls
        assert cls.kind == kind
        assert issubclass(cls, base) and issubclass(cls, cryptoemr.EMRError)
        assert cls.__module__ == "cryptoemr.errors"
        assert getattr(cryptoemr.errors, name) is cls
        assert name in cryptoemr.errors.__all__


def test_every_core_kind_has_its_class():
    """The kinds are those of emr-core's ErrorKind::as_str, every one of
    them; the C-only kinds (section 7) are not in the Rust enum."""
    source = pathlib.Path(__file__).resolve().parent.parent / "emr-core" / "src" / "error.rs"
    core = set(re.findall(r'ErrorKind::\w+ => "(\w+)"', source.read_text(encoding="utf-8")))
    assert {"wrong_chain", "revocation_not_yet_effective", "hash_length"} <= core
    assert core == set(BY_KIND)


def test_hierarchy():
    for area in (
        cryptoemr.RecordError,
        cryptoemr.BlockError,
        cryptoemr.ChainError,
        cryptoemr.DecodeError,
        cryptoemr.AddressError,
        cryptoemr.InvalidKeyError,
        cryptoemr.EntryError,
        cryptoemr.SealError,
    ):
        assert area.__bases__[0] is cryptoemr.EMRError
        # A value refused is a ValueError; the chain's area is not, its
        # linkage kinds are (test_surface.py).
        assert area.__bases__[1:] == (() if area is cryptoemr.ChainError else (ValueError,))
    assert cryptoemr.EMRError.__bases__ == (Exception,)
    assert issubclass(cryptoemr.InvalidArgumentError, ValueError)
    assert issubclass(cryptoemr.InvalidArgumentError, cryptoemr.EMRError)
    assert len(BY_KIND) == len(
        RECORD_KINDS + BLOCK_KINDS + CHAIN_KINDS + ENTRY_KINDS + SEAL_KINDS + ADDRESS_KINDS + OTHER_KINDS
    )


def test_reachable_kinds_are_raised_with_kind_and_message():
    """Every kind the current API can produce, once (the vector, block and
    address tests reach each again); the chain's kinds are reached in
    test_chain.py."""
    key = cryptoemr.SigningKey.generate()
    emr = cryptoemr.create_signed_record(key, PATIENT, "x", 1)
    seen = {}

    def record(fn):
        with pytest.raises(cryptoemr.EMRError) as info:
            fn()
        seen[info.value.kind] = info.value
        assert str(info.value)

    def mutated(**fields):
        copy = cryptoemr.EMR.from_bytes(emr.to_bytes())
        for name, value in fields.items():
            setattr(copy, name, value)
        return copy

    record(lambda: mutated(Dr_hash=b"").verify(0))
    record(lambda: mutated(Dr_hash=bytes(20)).verify(0))
    record(lambda: mutated(prescription=None).verify(0))
    record(lambda: emr.verify(1))
    record(lambda: mutated(txid=bytes(32)).verify(0))
    bad_key = mutated(Dr_public_key=b"junk", Dr_hash=cryptoemr.calculate_sha1_hash(b"junk"))
    bad_key.txid = bad_key.calculate_txid()
    record(lambda: bad_key.verify(0))
    bad_sig = mutated(signature=b"\x30\x00")
    bad_sig.txid = bad_sig.calculate_txid()
    record(lambda: bad_sig.verify(0))

    block = make_block([emr])
    record(lambda: block.verify_and_get_changes(2, {}))
    record(lambda: cryptoemr.Block(bytes(32), 0, bytes(20), [], 0, 1, bytes(32), 0).verify_and_get_changes(1, {}))
    record(lambda: make_block([emr] * 26).verify_and_get_changes(1, {}))
    record(lambda: make_block([emr], miner=b"").verify_and_get_changes(1, {}))
    record(lambda: make_block([emr], previous=b"").verify_and_get_changes(1, {}))
    hard = make_block([emr])
    hard.difficulty = 2**128 - 1
    hard.block_id = hard.calculate_block_id()
    record(lambda: hard.verify_and_get_changes(2**128 - 1, {}))
    record(lambda: make_block([emr, emr]).verify_and_get_changes(1, {}))

    # Registry entries (SPEC 8.1) and sealed records (8.2), as far as they
    # need no chain; the chain's kinds are reached in test_access.py.
    chain_id = cryptoemr.Chain().chain_id
    grant = cryptoemr.create_grant(key, key, "GMC 1", chain_id=chain_id)
    record(lambda: cryptoemr.Revocation(chain_id, bytes(31), 0, key.public_key_der, b"").verify())
    record(
        lambda: cryptoemr.Grant(chain_id, key.public_key_der, "GMC 2", 0, 1, key.public_key_der, grant.signature).verify()
    )
    with_entries = make_block([emr])
    with_entries.entries = [grant] * 26
    with_entries.block_id = with_entries.calculate_block_id()
    record(lambda: cryptoemr.Block.from_bytes(with_entries.to_bytes()).verify_and_get_changes(1, {}))
    with_entries.entries = [grant, cryptoemr.Grant(chain_id, b"", "", 0, 0, b"", b"")]
    with_entries.block_id = with_entries.calculate_block_id()
    record(lambda: with_entries.verify_and_get_changes(1, {}))
    reader = cryptoemr.SigningKey.generate("P-256")
    sealed = cryptoemr.create_signed_record(key, reader.public_key_hash, "x", 1, seal_to=[reader])
    record(lambda: sealed.open(cryptoemr.SigningKey.generate()))
    record(lambda: mutated(nonce=2, prescription=sealed.prescription, Patient_hash=reader.public_key_hash).open(reader))

    record(lambda: cryptoemr.SigningKey.from_der(b"garbage"))
    record(lambda: cryptoemr.EMR.from_bytes(b"garbage"))
    record(lambda: block.verify_and_get_changes(0, {}))

    good = cryptoemr.encode_address("patient", PATIENT)
    record(lambda: cryptoemr.decode_address(good[:10] + ("q" if good[10] != "q" else "p") + good[11:], "patient"))
    record(lambda: cryptoemr.decode_address(good, "doctor"))
    record(lambda: cryptoemr.decode_address(good[:-1], "patient"))
    record(lambda: cryptoemr.decode_address(good[:10] + "b" + good[11:], "patient"))
    record(lambda: cryptoemr.decode_address(good[:5] + good[5:].upper(), "patient"))

    stateless_entry_kinds = ["invalid_entry", "invalid_entry_signature"]
    assert set(seen) == set(
        [k for k in RECORD_KINDS if k != "unauthorized_doctor"]
        + BLOCK_KINDS
        + stateless_entry_kinds
        + SEAL_KINDS
        + ADDRESS_KINDS
        + ["invalid_key", "decode", "invalid_argument"]
    )
    for kind, error in seen.items():
        assert type(error) is BY_KIND[kind]


def test_exception_attributes_survive_pickling():
    key = cryptoemr.SigningKey.generate()
    records = [cryptoemr.create_signed_record(key, PATIENT, "x", n) for n in (1, 2, 2)]
    with pytest.raises(cryptoemr.BlockRecordError) as info:
        make_block(records).verify_and_get_changes(1, {})
    error = info.value
    assert error.index == 2 and error.kind == "record"
    assert type(error.__cause__) is cryptoemr.InvalidNonceError and error.__cause__.index is None
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is cryptoemr.BlockRecordError and back.index == 2 and str(back) == str(error)

    with pytest.raises(cryptoemr.InvalidNonceError) as info:
        cryptoemr.verify_records(records, [0, 1, 2])
    assert info.value.index == 2
    back = pickle.loads(pickle.dumps(info.value))
    assert type(back) is cryptoemr.InvalidNonceError and back.index == 2


def test_exceptions_can_be_caught_by_area_and_by_python_base():
    with pytest.raises(ValueError):
        cryptoemr.verify_records([], [1])
    with pytest.raises(cryptoemr.EMRError):
        cryptoemr.Block.from_bytes(b"")
    with pytest.raises(cryptoemr.InvalidKeyError):
        cryptoemr.SigningKey.generate("P-384")

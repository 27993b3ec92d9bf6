"""EMR fields, their reassignment, and verification order (SPEC section 2)."""

import hashlib

import pytest

import cryptoemr
from helpers import PATIENT

CURVES = ["secp256k1", "P-256"]


@pytest.fixture(params=CURVES)
def key(request):
    return cryptoemr.SigningKey.generate(request.param)


@pytest.fixture
def emr(key):
    return cryptoemr.create_signed_record(key, PATIENT, "Amoxicillin 500mg", 5)


def raises_exactly(cls, fn, *args):
    with pytest.raises(cryptoemr.EMRError) as info:
        fn(*args)
    assert type(info.value) is cls, f"expected {cls.__name__}, got {type(info.value).__name__}: {info.value}"
    assert info.value.kind == cls.kind
    return info.value


def test_signed_record_fields(key, emr):
    assert emr.Dr_hash == emr.dr_hash == key.public_key_hash
    assert emr.Patient_hash == emr.patient_hash == PATIENT
    assert emr.Dr_public_key == emr.dr_public_key == key.public_key_der
    assert emr.prescription == "Amoxicillin 500mg"
    assert emr.nonce == 5
    assert len(emr.txid) == 32 and emr.txid == emr.calculate_txid()
    assert type(emr.Dr_hash) is bytes and type(emr.signature) is bytes
    assert emr.verify(4) is None


def test_original_mutation_style(key, emr):
    """Build a valid record, reassign one field, expect verify to name it."""
    emr.Dr_hash = b"x" * 19
    raises_exactly(cryptoemr.HashLengthError, emr.verify, 4)
    emr.dr_hash = key.public_key_hash
    emr.verify(4)

    emr.Patient_hash = b"p" * 21
    raises_exactly(cryptoemr.HashLengthError, emr.verify, 4)
    emr.patient_hash = PATIENT

    emr.Dr_public_key = cryptoemr.SigningKey.generate().public_key_der
    raises_exactly(cryptoemr.PublicKeyMismatchError, emr.verify, 4)
    emr.dr_public_key = key.public_key_der

    for bad in (b"Amoxicillin 500mg", 42, None, ["x"], "x" * 201, "é" * 101, "\ud800 lone surrogate"):
        emr.prescription = bad
        raises_exactly(cryptoemr.InvalidPrescriptionError, emr.verify, 4)
    emr.prescription = "Amoxicillin 500mg"

    raises_exactly(cryptoemr.InvalidNonceError, emr.verify, 5)
    raises_exactly(cryptoemr.InvalidNonceError, emr.verify, 3)
    raises_exactly(cryptoemr.InvalidNonceError, emr.verify, 2**64 - 1)

    emr.prescription = "Amoxicillin 5000mg"
    raises_exactly(cryptoemr.InvalidTxidError, emr.verify, 4)
    emr.txid = emr.calculate_txid()
    raises_exactly(cryptoemr.InvalidSignatureError, emr.verify, 4)


def test_every_record_kind_in_order(key, emr):
    signature, txid = emr.signature, emr.txid
    emr.txid = txid[:31]
    raises_exactly(cryptoemr.InvalidTxidError, emr.verify, 4)
    emr.txid = txid + b"\x00"
    raises_exactly(cryptoemr.InvalidTxidError, emr.verify, 4)

    emr.signature = signature + b"\x00"  # not strict DER
    emr.txid = emr.calculate_txid()
    raises_exactly(cryptoemr.InvalidSignatureError, emr.verify, 4)
    emr.signature = b""
    emr.txid = emr.calculate_txid()
    raises_exactly(cryptoemr.InvalidSignatureError, emr.verify, 4)

    garbage = b"\x30\x03\x02\x01\x01"
    emr.Dr_public_key = garbage
    emr.Dr_hash = hashlib.sha1(garbage).digest()
    emr.signature = signature
    emr.txid = emr.calculate_txid()
    raises_exactly(cryptoemr.InvalidPublicKeyError, emr.verify, 4)

    # Earlier checks win: everything wrong at once is a hash_length error...
    emr.patient_hash = b""
    emr.prescription = 7
    emr.txid = b""
    raises_exactly(cryptoemr.HashLengthError, emr.verify, 100)
    # ...then public_key_mismatch before the prescription...
    emr.patient_hash = PATIENT
    emr.Dr_hash = b"\x00" * 20
    raises_exactly(cryptoemr.PublicKeyMismatchError, emr.verify, 100)
    # ...then the prescription before the nonce, the nonce before the txid.
    emr.Dr_hash = hashlib.sha1(garbage).digest()
    raises_exactly(cryptoemr.InvalidPrescriptionError, emr.verify, 100)
    emr.prescription = "Amoxicillin 500mg"
    raises_exactly(cryptoemr.InvalidNonceError, emr.verify, 100)
    raises_exactly(cryptoemr.InvalidTxidError, emr.verify, 4)


def test_bytes_like_field_values_are_accepted(key, emr):
    emr.Dr_hash = bytearray(emr.Dr_hash)
    emr.Patient_hash = memoryview(emr.Patient_hash)
    emr.Dr_public_key = bytearray(emr.Dr_public_key)
    emr.signature = memoryview(bytes(emr.signature))
    emr.txid = bytearray(emr.txid)
    emr.verify(4)
    assert type(emr.Dr_hash) is bytearray, "the assigned object itself is kept"


def test_wrong_types_are_type_errors_at_verify_not_at_assignment(emr):
    good = {name: getattr(emr, name) for name in ("Dr_hash", "Patient_hash", "Dr_public_key", "signature", "txid")}
    for name in good:
        for bad in ("a string", 20, None, [1, 2, 3], 1.5):
            setattr(emr, name, bad)  # allowed
            assert getattr(emr, name) is bad
            with pytest.raises(TypeError, match=name):
                emr.verify(4)
        setattr(emr, name, good[name])
    emr.verify(4)
    for bad in ("5", 5.0, None, b"\x05"):
        emr.nonce = bad
        with pytest.raises(TypeError):
            emr.verify(4)
    for bad in (-1, 2**64, 2**200):
        emr.nonce = bad
        with pytest.raises(OverflowError):
            emr.verify(4)
    emr.nonce = 5
    for bad in (-1, 2**64):
        with pytest.raises(OverflowError):
            emr.verify(bad)
    with pytest.raises(TypeError):
        emr.verify("4")
    emr.nonce = True  # bool is an int: nonce 1
    raises_exactly(cryptoemr.InvalidNonceError, emr.verify, 4)


def test_fields_cannot_be_deleted(emr):
    with pytest.raises((AttributeError, TypeError)):
        del emr.Dr_hash
    with pytest.raises(AttributeError):
        emr.no_such_field = 1


def test_original_positional_constructor_and_max_nonce(key):
    emr = cryptoemr.create_signed_record(key, PATIENT, "last", 2**64 - 1)
    copy = cryptoemr.EMR(
        emr.Dr_hash, emr.Patient_hash, emr.Dr_public_key, emr.prescription, emr.nonce, emr.signature, emr.txid
    )
    assert copy == emr
    copy.verify(2**64 - 2)
    keywords = cryptoemr.EMR(
        Dr_hash=emr.Dr_hash,
        Patient_hash=emr.Patient_hash,
        Dr_public_key=emr.Dr_public_key,
        prescription=emr.prescription,
        nonce=emr.nonce,
        signature=emr.signature,
        txid=emr.txid,
    )
    assert keywords == emr


def test_create_signed_record_refuses_records_that_cannot_verify(key):
    raises_exactly(cryptoemr.HashLengthError, cryptoemr.create_signed_record, key, b"x" * 19, "x", 1)
    raises_exactly(cryptoemr.InvalidPrescriptionError, cryptoemr.create_signed_record, key, PATIENT, "x" * 201, 1)
    raises_exactly(cryptoemr.InvalidNonceError, cryptoemr.create_signed_record, key, PATIENT, "x", 0)
    emr = cryptoemr.create_signed_record(key, PATIENT, "x" * 200, 1)
    emr.verify(0)
    with pytest.raises(TypeError):
        cryptoemr.create_signed_record(key, PATIENT, b"not str", 1)
    with pytest.raises(OverflowError):
        cryptoemr.create_signed_record(key, PATIENT, "x", -1)
    with pytest.raises(TypeError):
        cryptoemr.create_signed_record(12345, PATIENT, "x", 1)
    with pytest.raises(TypeError):
        cryptoemr.create_signed_record(key, 12345, "x", 1)
    # A str patient is an address: text that is not one is an AddressError.
    with pytest.raises(cryptoemr.AddressError):
        cryptoemr.create_signed_record(key, "not bytes", "x", 1)


def test_module_hash_functions():
    assert cryptoemr.calculate_sha1_hash(b"abc").hex() == "a9993e364706816aba3e25717850c26c9cd0d89d"
    assert cryptoemr.calculate_sha1_hash(bytearray(b"abc")) == hashlib.sha1(b"abc").digest()
    assert cryptoemr.calculate_signature_hash(b"p" * 3, "é", 258) == hashlib.sha256(
        b"ppp" + "é".encode() + (258).to_bytes(8, "little")
    ).digest()
    # Over the values as given: no length checks, like the original helpers.
    assert cryptoemr.calculate_txid(b"", b"", b"", "", 0, b"") == hashlib.sha256(bytes(8)).digest()
    with pytest.raises(TypeError):
        cryptoemr.calculate_sha1_hash("abc")
    with pytest.raises(TypeError):
        cryptoemr.calculate_signature_hash(b"", 5, 0)
    with pytest.raises(OverflowError):
        cryptoemr.calculate_txid(b"", b"", b"", "", 2**64, b"")


def test_encoding_round_trip_and_shape_errors(emr):
    data = emr.to_bytes()
    assert cryptoemr.EMR.from_bytes(data) == emr
    assert cryptoemr.EMR.from_bytes(bytearray(data)) == emr
    assert cryptoemr.EMR.from_bytes(data).to_bytes() == data
    for bad in (b"", data[:-1], data + b"\x00", b"B" + data[1:], data[:1] + b"\x09" + data[2:]):
        raises_exactly(cryptoemr.DecodeError, cryptoemr.EMR.from_bytes, bad)
    emr.Dr_hash = b"x" * 19
    raises_exactly(cryptoemr.HashLengthError, emr.to_bytes)
    with pytest.raises(TypeError):
        cryptoemr.EMR.from_bytes("text")

"""No crash, no hang, only documented exceptions on hostile input."""

import base64

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cryptoemr
from helpers import PATIENT, make_block

SETTINGS = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

KEY = cryptoemr.SigningKey.generate("P-256")
EMR_BYTES = cryptoemr.create_signed_record(KEY, PATIENT, "Amoxicillin 500mg", 3).to_bytes()
BLOCK_BYTES = make_block(
    [cryptoemr.create_signed_record(KEY, PATIENT, "a", 1), cryptoemr.create_signed_record(KEY, PATIENT, "b", 2)]
).to_bytes()
DOCTOR = cryptoemr.SigningKey.generate("secp256k1")
CHAIN_ID = cryptoemr.Chain().chain_id
GRANT = cryptoemr.create_grant(KEY, DOCTOR, "GMC 7012345", 5, 2**40, chain_id=CHAIN_ID)
REVOCATION = cryptoemr.create_revocation(KEY, GRANT, 99, chain_id=CHAIN_ID)
ENTRY_BLOCK_BYTES = make_block([cryptoemr.create_signed_record(DOCTOR, PATIENT, "a", 1)])
ENTRY_BLOCK_BYTES.entries = [GRANT, REVOCATION]
ENTRY_BLOCK_BYTES = ENTRY_BLOCK_BYTES.to_bytes()
SEALED = cryptoemr.create_signed_record(DOCTOR, KEY.public_key_hash, "Sertraline 50mg", 1, seal_to=[KEY])
KEY_DER = KEY.to_der()
KEY_PEM = KEY.to_pem()


@st.composite
def mutated(draw, original):
    """A valid encoding with a few bytes flipped, inserted, deleted or cut."""
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and data:
            data[at] = draw(st.integers(0, 255))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete" and data:
            del data[at : at + draw(st.integers(1, 8))]
        elif op == "truncate":
            del data[at:]
    return bytes(data)


def check_decoded(decode, data):
    try:
        obj = decode(data)
    except cryptoemr.DecodeError as error:
        assert type(error) is cryptoemr.DecodeError and error.kind == "decode"
        return None
    # Whatever decodes is canonical: it encodes back to the same bytes.
    assert obj.to_bytes() == data
    return obj


@SETTINGS
@given(st.one_of(st.binary(max_size=600), mutated(EMR_BYTES)))
def test_emr_from_bytes(data):
    emr = check_decoded(cryptoemr.EMR.from_bytes, data)
    if emr is not None:
        try:
            emr.verify(2)
        except cryptoemr.RecordError:
            pass


@SETTINGS
@given(st.one_of(st.binary(max_size=1200), mutated(BLOCK_BYTES)))
def test_block_from_bytes(data):
    block = check_decoded(cryptoemr.Block.from_bytes, data)
    if block is not None:
        try:
            block.verify_and_get_changes(block.difficulty, {})
        except cryptoemr.BlockError:
            pass


@SETTINGS
@given(st.one_of(st.binary(max_size=1200), mutated(ENTRY_BLOCK_BYTES)))
def test_block_with_entries_from_bytes(data):
    block = check_decoded(cryptoemr.Block.from_bytes, data)
    if block is not None:
        try:
            block.verify_and_get_changes(block.difficulty, {})
        except cryptoemr.BlockError:
            pass


@SETTINGS
@given(st.one_of(st.binary(max_size=400), mutated(GRANT.to_bytes()), mutated(REVOCATION.to_bytes())))
def test_entry_from_bytes(data):
    for cls in (cryptoemr.Grant, cryptoemr.Revocation):
        entry = check_decoded(cls.from_bytes, data)
        if entry is not None:
            try:
                entry.verify()
            except cryptoemr.EntryError as error:
                assert type(error) in (cryptoemr.InvalidEntryError, cryptoemr.InvalidEntrySignatureError)


@SETTINGS
@given(
    st.one_of(
        st.text(max_size=1100),
        st.binary(max_size=700).map(lambda b: "sealed1:" + base64.urlsafe_b64encode(b).decode().rstrip("=")),
    )
)
def test_opening_any_text(text):
    emr = cryptoemr.EMR.from_bytes(SEALED.to_bytes())
    emr.prescription = text
    try:
        got = emr.open(KEY)
    except (cryptoemr.SealError, cryptoemr.InvalidPrescriptionError, cryptoemr.InvalidArgumentError, UnicodeEncodeError):
        return
    assert got == "Sertraline 50mg" and text == SEALED.prescription


@SETTINGS
@given(st.one_of(st.binary(max_size=300), mutated(KEY_DER)))
def test_signing_key_from_der(data):
    try:
        key = cryptoemr.SigningKey.from_der(data)
    except cryptoemr.InvalidKeyError as error:
        assert type(error) is cryptoemr.InvalidKeyError
    else:
        cryptoemr.create_signed_record(key, PATIENT, "x", 1).verify(0)


@SETTINGS
@given(st.one_of(st.binary(max_size=400), mutated(KEY_PEM), st.text(max_size=300).map(str.encode)))
def test_signing_key_from_pem(data):
    try:
        key = cryptoemr.SigningKey.from_pem(data)
    except cryptoemr.InvalidKeyError as error:
        assert type(error) is cryptoemr.InvalidKeyError
    else:
        cryptoemr.create_signed_record(key, PATIENT, "x", 1).verify(0)


FIELDS = ["Dr_hash", "Patient_hash", "Dr_public_key", "prescription", "nonce", "signature", "txid"]
VALUES = st.one_of(
    st.binary(max_size=120),
    st.builds(bytearray, st.binary(max_size=40)),
    st.text(max_size=250),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.none(),
    st.floats(allow_nan=True),
    st.lists(st.integers(0, 255), max_size=4),
    st.sampled_from([0, 1, 2, 3, 2**64 - 1, 2**64, "\ud800", "é" * 101]),
)


@SETTINGS
@given(st.dictionaries(st.sampled_from(FIELDS), VALUES, min_size=1), st.integers(0, 2**64 - 1))
def test_arbitrary_field_values(assignments, previous_nonce):
    emr = cryptoemr.EMR.from_bytes(EMR_BYTES)
    for name, value in assignments.items():
        setattr(emr, name, value)
        assert getattr(emr, name) is value
    for call in (lambda: emr.verify(previous_nonce), emr.to_bytes, emr.calculate_txid, repr):
        try:
            call() if call is not repr else repr(emr)
        except (cryptoemr.RecordError, TypeError, OverflowError, UnicodeEncodeError):
            pass
    # verify_records and a block agree with verify() on the outcome's class.
    try:
        emr.verify(previous_nonce)
        expected = None
    except (cryptoemr.RecordError, TypeError, OverflowError) as error:
        expected = type(error)
    try:
        cryptoemr.verify_records([emr], [previous_nonce])
        got = None
    except (cryptoemr.RecordError, TypeError, OverflowError) as error:
        got = type(error)
    assert got is expected

"""Every record and block vector of shared/vectors, through the Python API."""

import pytest

import cryptoemr
from conftest import BLOCK_VECTORS, RECORD_VECTORS
from helpers import block_from_json, emr_from_json, states_from_json, states_to_json

VALID = RECORD_VECTORS["valid"]
INVALID = RECORD_VECTORS["invalid"]
BLOCKS = BLOCK_VECTORS["blocks"]


def test_vector_files_are_the_expected_ones():
    assert RECORD_VECTORS["spec"].startswith("SPEC.md")
    assert len(VALID) >= 28 and len(INVALID) >= 32 and len(BLOCKS) >= 18
    assert {v["curve"] for v in VALID} == {"secp256k1", "P-256"}
    assert {v["expected_error"] for v in INVALID} == {
        "hash_length",
        "public_key_mismatch",
        "invalid_prescription",
        "invalid_nonce",
        "invalid_txid",
        "invalid_public_key",
        "invalid_signature",
    }


@pytest.mark.parametrize("vector", VALID, ids=[v["name"] for v in VALID])
def test_valid_record(vector):
    rec = vector["record"]
    emr = emr_from_json(rec)
    assert emr.verify(vector["previous_nonce"]) is None
    assert emr.verify(Dr_previous_nonce=vector["previous_nonce"]) is None

    # Hashes, by the methods and by the original module functions.
    assert emr.calculate_signature_hash().hex() == vector["signature_hash"]
    assert (
        cryptoemr.calculate_signature_hash(bytes.fromhex(rec["patient_hash"]), rec["prescription"], rec["nonce"]).hex()
        == vector["signature_hash"]
    )
    assert emr.calculate_txid().hex() == rec["txid"]
    assert (
        cryptoemr.calculate_txid(
            bytes.fromhex(rec["dr_hash"]),
            bytes.fromhex(rec["patient_hash"]),
            bytes.fromhex(rec["dr_public_key"]),
            rec["prescription"],
            rec["nonce"],
            bytes.fromhex(rec["signature"]),
        ).hex()
        == rec["txid"]
    )
    assert cryptoemr.calculate_sha1_hash(bytes.fromhex(rec["dr_public_key"])).hex() == rec["dr_hash"]

    # The key: PKCS#8 import/export round-trips byte for byte.
    pkcs8 = bytes.fromhex(vector["private_key_pkcs8"])
    key = cryptoemr.SigningKey.from_der(pkcs8)
    assert key.to_der() == pkcs8
    assert key.curve == vector["curve"]
    assert cryptoemr.SigningKey.from_pem(key.to_pem()).to_der() == pkcs8
    # One key, one encoding: every valid record's key is the uncompressed SPKI.
    assert key.public_key_der == bytes.fromhex(rec["dr_public_key"])
    assert key.public_key_hash.hex() == rec["dr_hash"]

    # Any other previous nonce is refused; the encoding round-trips.
    with pytest.raises(cryptoemr.InvalidNonceError):
        emr.verify(vector["previous_nonce"] + 1)
    assert cryptoemr.EMR.from_bytes(emr.to_bytes()) == emr


def test_all_valid_records_as_one_batch():
    records = [emr_from_json(v["record"]) for v in VALID]
    nonces = [v["previous_nonce"] for v in VALID]
    assert cryptoemr.verify_records(records, nonces) is None
    assert cryptoemr.verify_records(records, nonces, threads=1) is None


@pytest.mark.parametrize("vector", INVALID, ids=[v["name"] for v in INVALID])
def test_invalid_record(vector):
    emr = emr_from_json(vector["record"])
    expected = cryptoemr.errors.BY_KIND[vector["expected_error"]]
    with pytest.raises(cryptoemr.RecordError) as info:
        emr.verify(vector["previous_nonce"])
    assert type(info.value) is expected
    assert info.value.kind == vector["expected_error"]
    assert info.value.index is None
    # The same through the batch API, at position 1 behind a valid record.
    good = emr_from_json(VALID[0]["record"])
    with pytest.raises(cryptoemr.RecordError) as info:
        cryptoemr.verify_records([good, emr], [VALID[0]["previous_nonce"], vector["previous_nonce"]])
    assert type(info.value) is expected
    assert info.value.index == 1


def _expected_error(text):
    """'too_many_records' -> (class, None, None); 'record:1:invalid_nonce' -> (BlockRecordError, 1, InvalidNonceError)."""
    if text.startswith("record:"):
        _, index, kind = text.split(":")
        return cryptoemr.BlockRecordError, int(index), cryptoemr.errors.BY_KIND[kind]
    return cryptoemr.errors.BY_KIND[text], None, None


@pytest.mark.parametrize("vector", BLOCKS, ids=[v["name"] for v in BLOCKS])
def test_block(vector):
    block = block_from_json(vector["block"])
    states = states_from_json(vector["previous_user_states"])
    before = states_to_json(states)
    reward = BLOCK_VECTORS["block_reward"]
    expected = vector["expected"]
    if "error" in expected:
        cls, index, cause = _expected_error(expected["error"])
        with pytest.raises(cryptoemr.BlockError) as info:
            block.verify_and_get_changes(vector["verify_difficulty"], states, block_reward=reward)
        assert type(info.value) is cls
        assert info.value.kind == expected["error"].split(":")[0]
        if index is not None:
            assert info.value.index == index
            assert type(info.value.__cause__) is cause
            assert info.value.__cause__.kind == expected["error"].split(":")[2]
    else:
        changes = block.verify_and_get_changes(vector["verify_difficulty"], states, block_reward=reward)
        assert states_to_json(changes) == expected
        assert all(type(s) is cryptoemr.UserState for s in changes.values())
        assert block.verify_and_get_changes(vector["verify_difficulty"], states, threads=1) == changes
        assert block.calculate_block_id() == block.block_id
        assert cryptoemr.Block.from_bytes(block.to_bytes()) == block
    assert states_to_json(states) == before, "the input states are not modified"


@pytest.mark.parametrize(
    "vector", [v for v in BLOCKS if v["lowest_nonce_from_zero"]], ids=lambda v: v["name"]
)
def test_block_nonce_is_the_lowest_with_enough_work(vector):
    """Every nonce below the vector's fails the proof of work (checked by the
    library: with a matching id, the first failure is insufficient_work)."""
    block = block_from_json(vector["block"])
    difficulty = vector["block"]["difficulty"]
    for nonce in range(vector["block"]["nonce"]):
        block.nonce = nonce
        block.block_id = block.calculate_block_id()
        with pytest.raises(cryptoemr.InsufficientWorkError):
            block.verify_and_get_changes(difficulty, {})

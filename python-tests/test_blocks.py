"""Blocks and user states (SPEC section 3) beyond the vectors."""

import pytest

import cryptoemr
from helpers import MINER, PATIENT, make_block, reid

MAX_U64 = 2**64 - 1


@pytest.fixture(scope="module")
def doctors():
    return [cryptoemr.SigningKey.generate("secp256k1"), cryptoemr.SigningKey.generate("P-256")]


@pytest.fixture
def records(doctors):
    a, b = doctors
    return [
        cryptoemr.create_signed_record(a, PATIENT, "a1", 1),
        cryptoemr.create_signed_record(b, PATIENT, "b4", 4),
        cryptoemr.create_signed_record(a, PATIENT, "a2", 2),
        cryptoemr.create_signed_record(a, PATIENT, "a3", 3),
    ]


@pytest.fixture
def block(records):
    return make_block(records)


@pytest.fixture
def states(doctors):
    return {doctors[1].public_key_hash: cryptoemr.UserState(balance=77, nonce=3)}


def raises_exactly(cls, fn, *args, **kwargs):
    with pytest.raises(cryptoemr.EMRError) as info:
        fn(*args, **kwargs)
    assert type(info.value) is cls, f"expected {cls.__name__}, got {type(info.value).__name__}: {info.value}"
    return info.value


def test_changes_and_input_untouched(doctors, block, states):
    a, b = doctors
    changes = block.verify_and_get_changes(1, states)
    assert changes == {
        a.public_key_hash: cryptoemr.UserState(0, 3),
        b.public_key_hash: cryptoemr.UserState(77, 4),
        MINER: cryptoemr.UserState(10_000, 0),
    }
    assert list(changes) == sorted(changes), "deterministic order"
    assert states == {b.public_key_hash: cryptoemr.UserState(77, 3)}
    changes[b.public_key_hash].nonce = 99
    assert states[b.public_key_hash].nonce == 3, "returned states are new objects"
    assert block.verify_and_get_changes(1, states, block_reward=5)[MINER] == cryptoemr.UserState(5, 0)
    assert block.verify_and_get_changes(1, states, block_reward=0)[MINER] == cryptoemr.UserState(0, 0)


def test_miner_balance_saturates_and_miner_can_be_a_doctor(doctors, records):
    a = doctors[0]
    block = make_block(records[:1], miner=a.public_key_hash)
    changes = block.verify_and_get_changes(1, {a.public_key_hash: cryptoemr.UserState(MAX_U64 - 5, 0)})
    assert changes == {a.public_key_hash: cryptoemr.UserState(MAX_U64, 1)}


def test_block_mutations_in_check_order(doctors, block, states, records):
    # difficulty_mismatch: the block's claim differs from the expected one.
    raises_exactly(cryptoemr.DifficultyMismatchError, block.verify_and_get_changes, 2, states)
    block.difficulty = 2**130
    with pytest.raises(OverflowError):
        block.verify_and_get_changes(1, states)
    block.difficulty = 1

    # Any header change without a new id: invalid_block_id.
    for name, value in [("miner", b"m" * 20), ("timestamp", 5), ("nonce", 12345), ("previous", b"\x01" * 32)]:
        original = getattr(block, name)
        setattr(block, name, value)
        raises_exactly(cryptoemr.InvalidBlockIdError, block.verify_and_get_changes, 1, states)
        setattr(block, name, original)
    block.verify_and_get_changes(1, states)
    block.block_id = block.block_id[:31]
    raises_exactly(cryptoemr.InvalidBlockIdError, block.verify_and_get_changes, 1, states)
    reid(block)
    block.records.reverse()
    raises_exactly(cryptoemr.InvalidBlockIdError, block.verify_and_get_changes, 1, states)
    block.records.reverse()

    # With the id recomputed, the field's own check speaks.
    block.miner = b"m" * 19
    raises_exactly(cryptoemr.InvalidMinerError, reid(block).verify_and_get_changes, 1, states)
    block.miner = MINER
    block.previous = bytes(31)
    raises_exactly(cryptoemr.InvalidPreviousError, reid(block).verify_and_get_changes, 1, states)
    block.previous = bytes(32)
    block.records.extend(records * 6)  # 28 records
    raises_exactly(cryptoemr.TooManyRecordsError, reid(block).verify_and_get_changes, 1, states)
    del block.records[4:]
    reid(block).verify_and_get_changes(1, states)

    # A difficulty of 2**127 is essentially never met by a computed id.
    block.difficulty = 2**127
    raises_exactly(cryptoemr.InsufficientWorkError, reid(block).verify_and_get_changes, 2**127, states)


def test_record_mutation_inside_a_block(block, states):
    """`block.records[i].field = ...` is seen: the list and EMRs are the objects given."""
    block.records[2].prescription = "changed"
    error = raises_exactly(cryptoemr.BlockRecordError, block.verify_and_get_changes, 1, states)
    assert error.index == 2 and error.kind == "record"
    assert type(error.__cause__) is cryptoemr.InvalidTxidError
    block.records[2].prescription = "a2"
    block.records[3].Dr_hash = b"x" * 19
    reid(block)  # the record's txid is unchanged, so is the id
    error = raises_exactly(cryptoemr.BlockRecordError, block.verify_and_get_changes, 1, states)
    assert error.index == 3 and type(error.__cause__) is cryptoemr.HashLengthError


def test_record_nonces_follow_state_and_earlier_records(doctors, records, states):
    b = doctors[1]
    raises_exactly(
        cryptoemr.BlockRecordError, make_block(records).verify_and_get_changes, 1, {}
    )  # doctor b starts at 0, its record has nonce 4
    error = raises_exactly(
        cryptoemr.BlockRecordError,
        make_block(records).verify_and_get_changes,
        1,
        {b.public_key_hash: cryptoemr.UserState(0, 4)},
    )
    assert error.index == 1 and type(error.__cause__) is cryptoemr.InvalidNonceError
    error = raises_exactly(
        cryptoemr.BlockRecordError, make_block(records + records[:1]).verify_and_get_changes, 1, states
    )
    assert error.index == 4 and type(error.__cause__) is cryptoemr.InvalidNonceError


def test_mined_block_at_higher_difficulty(records, states):
    block = make_block(records, difficulty=64)
    assert int.from_bytes(block.block_id, "big") <= 2**256 // 64
    assert block.verify_and_get_changes(64, states, threads=1) == block.verify_and_get_changes(64, states)
    raises_exactly(cryptoemr.DifficultyMismatchError, block.verify_and_get_changes, 63, states)


def test_argument_errors(block, states):
    for bad in (0, -1, 2**128, 2**300):
        error = raises_exactly(cryptoemr.InvalidArgumentError, block.verify_and_get_changes, bad, states)
        assert isinstance(error, ValueError) and error.kind == "invalid_argument"
    block.verify_and_get_changes(1, states)
    with pytest.raises(TypeError):
        block.verify_and_get_changes("1", states)
    with pytest.raises(TypeError):
        block.verify_and_get_changes(1.0, states)
    raises_exactly(cryptoemr.InvalidArgumentError, block.verify_and_get_changes, 1, {b"short": cryptoemr.UserState()})
    with pytest.raises(TypeError):
        block.verify_and_get_changes(1, {MINER: (1, 2)})
    with pytest.raises(TypeError):
        block.verify_and_get_changes(1, [1, 2])
    with pytest.raises(OverflowError):
        block.verify_and_get_changes(1, states, block_reward=-1)
    raises_exactly(cryptoemr.InvalidArgumentError, block.verify_and_get_changes, 1, states, threads=0)
    block.records.append("not an EMR")
    with pytest.raises(TypeError):
        block.verify_and_get_changes(1, states)


def test_block_encoding(block):
    data = block.to_bytes()
    back = cryptoemr.Block.from_bytes(data)
    assert back == block and back.to_bytes() == data
    assert type(back.records) is list and all(type(r) is cryptoemr.EMR for r in back.records)
    for bad in (b"", data[:-1], data + b"\x00", b"R" + data[1:]):
        raises_exactly(cryptoemr.DecodeError, cryptoemr.Block.from_bytes, bad)
    block.miner = b"m" * 21
    raises_exactly(cryptoemr.InvalidMinerError, block.to_bytes)
    block.miner = MINER
    block.records[1].txid = b"short"
    error = raises_exactly(cryptoemr.BlockRecordError, block.to_bytes)
    assert error.index == 1 and type(error.__cause__) is cryptoemr.InvalidTxidError


def test_user_state():
    s = cryptoemr.UserState(5, 6)
    assert (s.balance, s.nonce) == (5, 6)
    assert cryptoemr.UserState() == cryptoemr.UserState(0, 0)
    assert cryptoemr.UserState(nonce=2) == cryptoemr.UserState(balance=0, nonce=2)
    s.balance = MAX_U64
    s.nonce += 1
    assert s == cryptoemr.UserState(MAX_U64, 7) and s != cryptoemr.UserState(MAX_U64, 8)
    with pytest.raises(OverflowError):
        s.balance = 2**64
    with pytest.raises(OverflowError):
        cryptoemr.UserState(-1, 0)
    with pytest.raises(TypeError):
        hash(s)
    assert repr(s) == "UserState(balance=18446744073709551615, nonce=7)"

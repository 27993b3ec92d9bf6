"""Addresses (SPEC section 6): typos caught and located, roles
enforced, and an address taken wherever a hash is taken."""

import pickle
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cryptoemr
from helpers import MINER, PATIENT

CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
ROLES = ("doctor", "patient", "miner")
PREFIX = {"doctor": "emrd1", "patient": "emrp1", "miner": "emrm1"}
DATA = range(5, 43)


def substitute(rng, text, positions):
    chars = list(text)
    for p in positions:
        chars[p] = rng.choice([c for c in CHARSET if c != chars[p]])
    return "".join(chars)


@pytest.fixture(scope="module")
def key():
    return cryptoemr.SigningKey.generate("P-256")


def test_round_trip_in_every_role_and_upper_case():
    rng = random.Random(1)
    for _ in range(50):
        hash20 = rng.randbytes(20)
        for role in ROLES:
            text = cryptoemr.encode_address(role, hash20)
            assert len(text) == 43 and text.startswith(PREFIX[role]) and text == text.lower()
            back = cryptoemr.decode_address(text, role)
            assert type(back) is bytes and back == hash20
            assert cryptoemr.decode_address(text.upper(), role) == hash20
    assert cryptoemr.encode_address("miner", bytearray(20)) == cryptoemr.encode_address("miner", memoryview(bytes(20)))


def test_every_single_substitution_is_located():
    text = cryptoemr.encode_address("patient", PATIENT)
    for p in DATA:
        for c in CHARSET:
            if c == text[p]:
                continue
            typo = text[:p] + c + text[p + 1 :]
            with pytest.raises(cryptoemr.InvalidChecksumError) as info:
                cryptoemr.decode_address(typo, "patient")
            assert info.value.positions == (p,), typo
            assert f"position {p}" in str(info.value)


def test_random_double_substitutions_are_located_and_more_are_detected():
    rng = random.Random(2)
    text = cryptoemr.encode_address("doctor", PATIENT)
    for _ in range(500):
        positions = sorted(rng.sample(DATA, 2))
        with pytest.raises(cryptoemr.InvalidChecksumError) as info:
            cryptoemr.decode_address(substitute(rng, text, positions), "doctor")
        assert info.value.positions == tuple(positions)
    for count in (3, 4):
        for _ in range(300):
            typo = substitute(rng, text, rng.sample(DATA, count))
            with pytest.raises(cryptoemr.InvalidChecksumError) as info:
                cryptoemr.decode_address(typo, "doctor")
            assert len(info.value.positions) <= 2


def test_adjacent_swaps_are_located():
    text = cryptoemr.encode_address("miner", MINER)
    for p in range(5, 42):
        if text[p] == text[p + 1]:
            continue
        swapped = text[:p] + text[p + 1] + text[p] + text[p + 2 :]
        with pytest.raises(cryptoemr.InvalidChecksumError) as info:
            cryptoemr.decode_address(swapped, "miner")
        assert info.value.positions == (p, p + 1)


def test_wrong_role_length_case_characters_and_sizes():
    for given in ROLES:
        text = cryptoemr.encode_address(given, PATIENT)
        for expected in ROLES:
            if expected != given:
                with pytest.raises(cryptoemr.WrongRoleError) as info:
                    cryptoemr.decode_address(text, expected)
                assert PREFIX[given] in str(info.value) and PREFIX[expected] in str(info.value)
                assert info.value.positions == ()
    text = cryptoemr.encode_address("patient", PATIENT)
    for bad in (text[:-1], text + "q", "", "q" * 10_000, text + "q" * 10_000):
        with pytest.raises(cryptoemr.InvalidLengthError):
            cryptoemr.decode_address(bad, "patient")
    mixed = text[:5] + text[5:].upper()
    with pytest.raises(cryptoemr.MixedCaseError):
        cryptoemr.decode_address(mixed, "patient")
    for p, c in ((12, "b"), (20, "1"), (30, "é"), (7, " ")):
        with pytest.raises(cryptoemr.InvalidCharacterError) as info:
            cryptoemr.decode_address(text[:p] + c + text[p + 1 :], "patient")
        assert info.value.positions == (p,)
    # BIP-350: a valid Bech32m string of no role, and one whose checksum
    # was made over the upper-case prefix.
    with pytest.raises(cryptoemr.WrongRoleError):
        cryptoemr.decode_address("a1lqfn3a", "doctor")
    with pytest.raises(cryptoemr.InvalidChecksumError):
        cryptoemr.decode_address("M1VUXWEZ", "doctor")


def test_argument_types_and_ranges():
    with pytest.raises(cryptoemr.InvalidArgumentError):
        cryptoemr.encode_address("nurse", PATIENT)
    with pytest.raises(cryptoemr.InvalidArgumentError):
        cryptoemr.decode_address(cryptoemr.encode_address("doctor", PATIENT), "Doctor")
    with pytest.raises(cryptoemr.InvalidLengthError):
        cryptoemr.encode_address("doctor", bytes(19))
    with pytest.raises(TypeError):
        cryptoemr.encode_address("doctor", "not bytes")
    with pytest.raises(TypeError):
        cryptoemr.decode_address(b"emrd1", "doctor")
    with pytest.raises(TypeError):
        cryptoemr.encode_address(1, PATIENT)


def test_errors_are_address_errors_and_pickle_with_positions():
    text = cryptoemr.encode_address("patient", PATIENT)
    typo = text[:9] + ("q" if text[9] != "q" else "p") + text[10:]
    with pytest.raises(cryptoemr.AddressError) as info:
        cryptoemr.decode_address(typo, "patient")
    error = info.value
    assert isinstance(error, cryptoemr.EMRError) and error.kind == "invalid_checksum"
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is cryptoemr.InvalidChecksumError and back.positions == (9,)


def test_signing_key_address_and_reprs(key):
    assert key.address == cryptoemr.encode_address("doctor", key.public_key_hash)
    assert key.address in repr(key)
    emr = cryptoemr.create_signed_record(key, PATIENT, "x", 1)
    assert key.address in repr(emr) and cryptoemr.encode_address("patient", PATIENT) in repr(emr)


def test_create_signed_record_takes_the_patient_address(key):
    patient = cryptoemr.encode_address("patient", PATIENT)
    emr = cryptoemr.create_signed_record(key, patient, "x", 1)
    assert emr.patient_hash == PATIENT
    emr.verify(0)
    assert cryptoemr.create_signed_record(key, patient.upper(), "x", 1).patient_hash == PATIENT
    # The doctor's own address, a miner's, or a typo: never a silently
    # accepted hash.
    for wrong in (key.address, cryptoemr.encode_address("miner", PATIENT)):
        with pytest.raises(cryptoemr.WrongRoleError):
            cryptoemr.create_signed_record(key, wrong, "x", 1)
    with pytest.raises(cryptoemr.InvalidChecksumError) as info:
        cryptoemr.create_signed_record(key, patient[:-1] + ("q" if patient[-1] != "q" else "p"), "x", 1)
    assert info.value.positions == (42,)


def test_blocks_and_mining_take_the_miner_address(key):
    miner = cryptoemr.encode_address("miner", MINER)
    emr = cryptoemr.create_signed_record(key, PATIENT, "x", 1)
    block = cryptoemr.mine_block(bytes(32), 0, miner, [emr], 1_700_000_000, 8, threads=1)
    assert block.miner == MINER and f"miner={miner}" in repr(block)
    with pytest.raises(cryptoemr.WrongRoleError):
        cryptoemr.mine_block(bytes(32), 0, cryptoemr.encode_address("patient", MINER), [emr], 0, 8, threads=1)

    built = cryptoemr.Block(bytes(32), 0, miner, [emr], block.timestamp, 8, block.block_id, block.nonce)
    assert built.miner == MINER and built == block
    built.miner = miner.upper()
    assert built.miner == MINER
    with pytest.raises(cryptoemr.WrongRoleError):
        built.miner = key.address
    with pytest.raises(cryptoemr.WrongRoleError):
        cryptoemr.Block(bytes(32), 0, key.address, [emr], 0, 8, b"", 0)
    assert built.miner == MINER, "a refused assignment leaves the field as it was"

    # User-state maps keyed by a doctor's or a miner's address.
    changes = block.verify_and_get_changes(8, {key.address: cryptoemr.UserState(5, 0), miner: cryptoemr.UserState(7, 0)})
    assert changes[key.public_key_hash] == cryptoemr.UserState(5, 1)
    assert changes[cryptoemr.decode_address(miner, "miner")] == cryptoemr.UserState(7 + cryptoemr.DEFAULT_BLOCK_REWARD, 0)
    with pytest.raises(cryptoemr.WrongRoleError):
        block.verify_and_get_changes(8, {cryptoemr.encode_address("patient", PATIENT): cryptoemr.UserState()})
    with pytest.raises(cryptoemr.InvalidChecksumError):
        block.verify_and_get_changes(8, {miner[:-1] + ("q" if miner[-1] != "q" else "p"): cryptoemr.UserState()})


@settings(max_examples=500, deadline=None, database=None)
@given(st.one_of(st.text(max_size=120), st.text(alphabet=CHARSET + "1emrdpEMRDP", max_size=60)), st.sampled_from(ROLES))
def test_any_text_decodes_or_raises_an_address_error(text, role):
    try:
        back = cryptoemr.decode_address(text, role)
    except cryptoemr.AddressError as error:
        assert all(0 <= p < len(text) for p in error.positions)
    except UnicodeEncodeError:
        pass  # lone surrogates have no UTF-8 form, as for every str argument
    else:
        assert cryptoemr.encode_address(role, back) == text.lower()

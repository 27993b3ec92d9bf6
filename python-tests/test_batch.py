"""verify_records: the batch check, its ordering and the GIL."""

import sys
import threading
import time

import pytest

import cryptoemr
from helpers import PATIENT


@pytest.fixture(scope="module")
def batch():
    keys = [cryptoemr.SigningKey.generate("secp256k1"), cryptoemr.SigningKey.generate("P-256")]
    records, nonces = [], []
    for i in range(60):
        key = keys[i % 2]
        n = i // 2 + 1
        records.append(cryptoemr.create_signed_record(key, PATIENT, "dose %d" % i, n))
        nonces.append(n - 1)
    return records, nonces


def fresh(records):
    return [cryptoemr.EMR.from_bytes(r.to_bytes()) for r in records]


@pytest.mark.parametrize("threads", [None, 1, 2, 3, 64])
def test_ok_batch(batch, threads):
    records, nonces = batch
    assert cryptoemr.verify_records(records, nonces, threads=threads) is None
    # Any iterables will do.
    assert cryptoemr.verify_records(iter(records), tuple(nonces), threads=threads) is None
    assert cryptoemr.verify_records([], [], threads=threads) is None


@pytest.mark.parametrize("threads", [None, 1, 2, 7])
def test_failing_batch_reports_the_lowest_index(batch, threads):
    records, nonces = batch
    records = fresh(records)
    records[41].signature = records[40].signature
    records[41].txid = records[41].calculate_txid()  # -> invalid_signature
    records[17].prescription = "tampered"  # -> invalid_txid
    records[55].Dr_hash = b"short"  # -> hash_length
    with pytest.raises(cryptoemr.RecordError) as info:
        cryptoemr.verify_records(records, nonces, threads=threads)
    assert type(info.value) is cryptoemr.InvalidTxidError and info.value.index == 17
    # Same as a loop over verify().
    for i, (record, nonce) in enumerate(zip(records, nonces)):
        try:
            record.verify(nonce)
        except cryptoemr.RecordError as error:
            assert (i, type(error)) == (17, cryptoemr.InvalidTxidError)
            break
    records[17].prescription = "dose 17"
    with pytest.raises(cryptoemr.InvalidSignatureError) as info:
        cryptoemr.verify_records(records, nonces, threads=threads)
    assert info.value.index == 41
    wrong_nonces = list(nonces)
    wrong_nonces[3] += 1
    with pytest.raises(cryptoemr.InvalidNonceError) as info:
        cryptoemr.verify_records(records, wrong_nonces, threads=threads)
    assert info.value.index == 3


def test_argument_errors(batch):
    records, nonces = batch
    for short in (nonces[:-1], nonces + [0], []):
        with pytest.raises(cryptoemr.InvalidArgumentError) as info:
            cryptoemr.verify_records(records, short)
        assert isinstance(info.value, ValueError)
    for bad in (0, -3):
        with pytest.raises(cryptoemr.InvalidArgumentError):
            cryptoemr.verify_records(records, nonces, threads=bad)
    with pytest.raises(TypeError):
        cryptoemr.verify_records(records, nonces, threads="2")
    with pytest.raises(TypeError):
        cryptoemr.verify_records(records[:1] + ["x"], nonces[:2])
    with pytest.raises(TypeError):
        cryptoemr.verify_records(5, nonces)
    with pytest.raises(OverflowError):
        cryptoemr.verify_records(records[:1], [-1])


def test_gil_is_released_during_verification(batch):
    """With a huge switch interval a Python thread only runs while the main
    thread has released the GIL; it must make progress during the call."""
    records, nonces = batch
    records, nonces = records * 8, nonces * 8  # ~0.05-0.5 s of work on one thread
    ticks = [0]
    stop = threading.Event()

    def ticker():
        while not stop.is_set():
            ticks[0] += 1
            time.sleep(0.0002)  # hands the GIL back at once

    old = sys.getswitchinterval()
    thread = threading.Thread(target=ticker)
    thread.start()
    try:
        time.sleep(0.01)  # let the ticker start
        sys.setswitchinterval(30.0)
        before = ticks[0]
        cryptoemr.verify_records(records, nonces, threads=1)
        during = ticks[0] - before
    finally:
        sys.setswitchinterval(old)
        stop.set()
        thread.join()
    assert during > 0, "no Python code ran while verify_records was working: the GIL was held"


def test_fields_can_be_assigned_while_another_thread_verifies():
    """Verification releases the GIL without holding a borrow of the object."""
    key = cryptoemr.SigningKey.generate("P-256")
    emr = cryptoemr.create_signed_record(key, PATIENT, "x", 1)
    block = cryptoemr.Block(bytes(32), 0, bytes(20), [emr] * 20, 0, 1, b"", 0)
    block.block_id = block.calculate_block_id()
    errors = []
    stop = threading.Event()

    def verifier():
        try:
            while not stop.is_set():
                try:
                    emr.verify(0)
                except cryptoemr.InvalidTxidError:
                    pass
                try:
                    block.verify_and_get_changes(1, {})
                except cryptoemr.BlockError:
                    pass
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    thread = threading.Thread(target=verifier)
    thread.start()
    try:
        deadline = time.monotonic() + 0.3
        while time.monotonic() < deadline:
            emr.prescription = "y"
            emr.prescription = "x"
            block.nonce += 1
            time.sleep(0)
    finally:
        stop.set()
        thread.join()
    assert errors == []

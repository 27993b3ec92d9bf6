"""The outside review's findings, each reproduced from Python.

1. one key, one encoding: no second identity under which to replay records;
2. verification never starts threads on request;
3. verification and mining work in a child made by fork();
4. PKCS#8 v2's public key must be the key's own.
"""

import hashlib
import multiprocessing
import os
import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

import cryptoemr
from helpers import PATIENT, PYCA_CURVES, pyca_record, sha256, spki


@pytest.fixture(params=sorted(PYCA_CURVES))
def curve(request):
    return request.param


def der(tag, contents):
    n = len(contents)
    if n < 0x80:
        length = bytes([n])
    elif n < 0x100:
        length = bytes([0x81, n])
    else:
        length = bytes([0x82, n >> 8, n & 0xFF])
    return bytes([tag]) + length + contents


def spki_with_point(uncompressed_spki, point):
    """The same SPKI header (algorithm and curve) around another point form."""
    algorithm = uncompressed_spki[2 : len(uncompressed_spki) - 68]  # 30 LEN alg 03 42 00 point
    return der(0x30, algorithm + der(0x03, b"\x00" + point))


def other_encodings(uncompressed_spki):
    point = uncompressed_spki[-65:]
    x, y = point[1:33], point[33:]
    parity = 2 + (y[-1] & 1)
    return {
        "compressed": bytes([parity]) + x,
        "hybrid": bytes([4 + parity]) + x + y,
        "05-form": b"\x05" + x,
    }


def reencoded(record, public_key_der):
    """The attack: same signed prescription under another encoding of the key,
    with dr_hash and txid recomputed so that every hash check passes."""
    dr = hashlib.sha1(public_key_der).digest()
    le = record.nonce.to_bytes(8, "little")
    txid = sha256(dr, record.patient_hash, public_key_der, record.prescription.encode(), le, record.signature)
    return cryptoemr.EMR(dr, record.patient_hash, public_key_der, record.prescription, record.nonce, record.signature, txid)


def test_a_record_cannot_be_replayed_under_another_key_encoding(curve):
    pyca_key = ec.generate_private_key(PYCA_CURVES[curve]())
    original = pyca_record(pyca_key, PATIENT, "amoxicillin 500 mg", 7)
    assert original.verify(6) is None
    for form, point in other_encodings(spki(pyca_key)).items():
        replay = reencoded(original, spki_with_point(spki(pyca_key), point))
        # A fresh identity would start its counter at 0: nonce 7 after 6 is
        # what the attacker needs, and it must still be refused.
        with pytest.raises(cryptoemr.InvalidPublicKeyError):
            replay.verify(6)
        with pytest.raises(cryptoemr.InvalidPublicKeyError) as info:
            cryptoemr.verify_records([original, replay], [6, 6])
        assert info.value.index == 1


def test_signing_key_refuses_a_compressed_stored_public_key(curve):
    pyca_key = ec.generate_private_key(PYCA_CURVES[curve]())
    scalar = pyca_key.private_numbers().private_value.to_bytes(32, "big")
    oid = {"secp256k1": bytes.fromhex("2b8104000a"), "P-256": bytes.fromhex("2a8648ce3d030107")}[curve]
    point = spki(pyca_key)[-65:]
    compressed = bytes([2 + (point[-1] & 1)]) + point[1:33]

    def sec1(public):
        return der(0x30, der(0x02, b"\x01") + der(0x04, scalar) + der(0xA0, der(0x06, oid)) + der(0xA1, der(0x03, b"\x00" + public)))

    assert cryptoemr.SigningKey.from_der(sec1(point)).public_key_der == spki(pyca_key)
    with pytest.raises(cryptoemr.InvalidKeyError, match="uncompressed"):
        cryptoemr.SigningKey.from_der(sec1(compressed))


def pkcs8_with(pyca_key, version, trailer):
    v1 = pyca_key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    body = v1[3:]  # 30 81 LEN
    assert body[:3] == b"\x02\x01\x00"
    return der(0x30, bytes([2, 1, version]) + body[3:] + trailer)


def test_pkcs8_v2_public_key_is_checked(curve):
    pyca_key = ec.generate_private_key(PYCA_CURVES[curve]())
    own = spki(pyca_key)[-65:]
    other = spki(ec.generate_private_key(PYCA_CURVES[curve]()))[-65:]

    def public(point):
        return der(0x81, b"\x00" + point)

    attributes = der(0xA0, der(0x30, b""))
    good = cryptoemr.SigningKey.from_der(pkcs8_with(pyca_key, 1, attributes + public(own)))
    assert good.public_key_der == spki(pyca_key)
    refused = {
        "another key's public key": pkcs8_with(pyca_key, 1, public(other)),
        "v1 carrying a public key": pkcs8_with(pyca_key, 0, public(own)),
        "public key repeated": pkcs8_with(pyca_key, 1, public(own) + public(own)),
        "public key before attributes": pkcs8_with(pyca_key, 1, public(own) + attributes),
    }
    for case, data in refused.items():
        with pytest.raises(cryptoemr.InvalidKeyError):
            cryptoemr.SigningKey.from_der(data)
            pytest.fail(case)


def live_threads():
    return len(os.listdir("/proc/self/task"))


@pytest.fixture(scope="module")
def signed():
    key = cryptoemr.SigningKey.generate("secp256k1")
    records = [cryptoemr.create_signed_record(key, PATIENT, "dose %d" % i, i + 1) for i in range(8)]
    return records, list(range(8))


def test_thread_requests_start_no_threads(signed):
    records, nonces = signed
    cryptoemr.verify_records(records, nonces)
    before = live_threads()
    for threads in range(2, 65):
        cryptoemr.verify_records(records, nonces, threads=threads)
        cryptoemr.verify_records(records[:2], nonces[:2], threads=threads)
    cryptoemr.verify_records(records, nonces, threads=1024)
    assert live_threads() <= before + 2, (before, live_threads())


@pytest.mark.parametrize("threads", [0, 1025, 8000, -1])
def test_thread_counts_outside_the_cap_are_refused(signed, threads):
    records, nonces = signed
    started = live_threads()
    with pytest.raises(cryptoemr.InvalidArgumentError):
        cryptoemr.verify_records(records, nonces, threads=threads)
    with pytest.raises(ValueError):
        cryptoemr.verify_records(records, nonces, threads=threads)
    assert live_threads() == started


def work_in_child(records, nonces):
    """Verification (parallel), a block check and mining: the calls that hung."""
    cryptoemr.verify_records(records, nonces)
    cryptoemr.verify_records(records, nonces, threads=2)
    block = cryptoemr.mine_block(bytes(32), 0, bytes(20), records, 1_700_000_000, 50, threads=2)
    block.verify_and_get_changes(50, {})
    return block.block_id


def test_os_fork_after_parallel_verification(signed):
    records, nonces = signed
    cryptoemr.verify_records(records, nonces, threads=2)  # the pool exists now
    pid = os.fork()
    if pid == 0:
        try:
            work_in_child(records, nonces)
            os._exit(0)
        except BaseException:
            os._exit(1)
    deadline = time.monotonic() + 60
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("the forked child hung")
        time.sleep(0.01)
    assert os.waitstatus_to_exitcode(status) == 0


def test_multiprocessing_fork_pool_after_parallel_verification(signed):
    records, nonces = signed
    cryptoemr.verify_records(records, nonces, threads=2)
    with multiprocessing.get_context("fork").Pool(2) as pool:
        results = [pool.apply_async(work_in_child, (records, nonces)) for _ in range(4)]
        ids = [r.get(timeout=60) for r in results]
    assert all(len(i) == 32 for i in ids)

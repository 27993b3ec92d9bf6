"""Resource limits through Python: bytes that claim huge
lengths, deeply nested and very long DER, an oversized PEM and address, and
a 1 GiB sparse file opened as a ``Chain``. Each case runs in a fresh
interpreter that builds its input, notes its peak RSS (ru_maxrss), makes the
call and reports the exception and how much the peak grew: the call must
raise the specific error and allocate at most one copy of its input (the
binding copies bytes before releasing the GIL; key bytes into memory that is
wiped) plus a few MiB, and nothing sized by a claimed length."""

import json
import subprocess
import sys

import pytest

MIB = 1 << 20

PRELUDE = """
import json, resource, struct, sys
import cryptoemr

def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

def measure(call, size=0):
    before = peak()
    try:
        call()
        outcome = "no error"
    except Exception as e:  # the class is what is checked
        outcome = type(e).__name__
    print(json.dumps({"outcome": outcome, "grew_kib": peak() - before, "input_kib": size // 1024}))
"""

CASES = {
    # A record whose public-key length claims 2^64 - 1 bytes.
    "record_length": (
        "data = b'R\\x01' + bytes(40) + struct.pack('<Q', 2**64 - 1) + bytes(4096)\n"
        "measure(lambda: cryptoemr.EMR.from_bytes(data), len(data))",
        "DecodeError",
    ),
    # A block claiming 2^64 - 1 records.
    "block_count": (
        "data = b'B\\x01' + bytes([1]) * 124 + struct.pack('<Q', 2**64 - 1) + bytes(4096)\n"
        "measure(lambda: cryptoemr.Block.from_bytes(data), len(data))",
        "DecodeError",
    ),
    # 32 MiB of nested SEQUENCE headers, and of DER with a 4-byte length.
    "der_nested": (
        "data = b'\\x30\\x80' * (16 * 2**20)\n"
        "measure(lambda: cryptoemr.SigningKey.from_der(data), len(data))",
        "InvalidKeyError",
    ),
    "der_long": (
        "data = b'\\x30\\x84\\x02\\x00\\x00\\x00' + b'A' * (32 * 2**20)\n"
        "measure(lambda: cryptoemr.SigningKey.from_der(data), len(data))",
        "InvalidKeyError",
    ),
    # A 32 MiB PEM of valid base64, refused unread.
    "pem_huge": (
        "data = b'-----BEGIN PRIVATE KEY-----\\n' + (b'A' * 64 + b'\\n') * (2**19) + b'-----END PRIVATE KEY-----\\n'\n"
        "measure(lambda: cryptoemr.SigningKey.from_pem(data), len(data))",
        "InvalidKeyError",
    ),
    # A 32 MiB address.
    "address_huge": (
        "text = 'emrd1' + 'q' * (32 * 2**20)\n"
        "measure(lambda: cryptoemr.decode_address(text, 'doctor'), len(text))",
        "InvalidLengthError",
    ),
}


def run_case(code):
    out = subprocess.run(
        [sys.executable, "-c", PRELUDE + code], capture_output=True, text=True, timeout=120, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", sorted(CASES))
def test_refused_in_bounded_memory(name):
    code, expected = CASES[name]
    result = run_case(code)
    assert result["outcome"] == expected, result
    # The input is up to 32 MiB and the claims far more: one copy of the
    # input, and a few MiB that are the interpreter's own.
    assert result["grew_kib"] < result["input_kib"] + 8 * 1024, result


def test_a_1_gib_sparse_file_is_not_a_chain(tmp_path):
    path = tmp_path / "big.db"
    with open(path, "wb") as f:
        f.truncate(1 << 30)
    code = (
        f"path = {str(path)!r}\n"
        "measure(lambda: cryptoemr.Chain(path))\n"
        "measure(lambda: cryptoemr.Chain.open_readonly(path))"
    )
    out = subprocess.run(
        [sys.executable, "-c", PRELUDE + code], capture_output=True, text=True, timeout=120, check=True
    )
    results = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["outcome"] for r in results] == ["CorruptError", "CorruptError"], results
    assert all(r["grew_kib"] < 8 * 1024 for r in results), results
    assert path.stat().st_size == 1 << 30

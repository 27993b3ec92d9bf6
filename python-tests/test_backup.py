"""Chain.backup: a consistent, checked copy, taken beside a writer in
another process; the restore; the message for a file another program wrote;
the readable SQL views (docs/OPERATIONS.md "Backups", docs/SQL.md)."""

import os
import sqlite3
import subprocess
import sys
import textwrap

import pytest

import cryptoemr
from helpers import PATIENT
from test_chain import block_on, grow, low_chain


@pytest.fixture(scope="module")
def doctor():
    return cryptoemr.SigningKey.generate("p256")


def test_a_backup_opens_passes_check_and_restores(tmp_path, doctor):
    path, copy = tmp_path / "c.db", tmp_path / "copy.db"
    with low_chain(str(path)) as chain:
        grow(chain, 5, doctor)
        chain.backup(copy)  # an os.PathLike
        tip = chain.tip.block_id
    assert sorted(os.listdir(tmp_path)) == ["c.db", "copy.db"]
    with cryptoemr.Chain(str(copy)) as restored:
        assert restored.check() == 5 and restored.tip.block_id == tip
    # Restore: the backup file copied back over a lost chain file, then opened.
    path.write_bytes(copy.read_bytes())
    with cryptoemr.Chain(str(path)) as chain:
        assert chain.check() == 5
        assert chain.add_block(block_on(chain.tip)) == "extended"


def test_a_backup_refuses_an_existing_file_and_damage(tmp_path, doctor):
    path, copy = tmp_path / "c.db", tmp_path / "copy.db"
    with low_chain(str(path)) as chain:
        grow(chain, 3, doctor)
    copy.write_bytes(b"keep me")
    with cryptoemr.Chain.open_readonly(str(path)) as chain:
        with pytest.raises(cryptoemr.IoError, match="already exists"):
            chain.backup(str(copy))
        with pytest.raises(TypeError):
            chain.backup(None)
    assert copy.read_bytes() == b"keep me"
    copy.unlink()
    data = bytearray(path.read_bytes())
    data[2 * 4096 + 500] ^= 0x10
    path.write_bytes(bytes(data))
    with pytest.raises(cryptoemr.CorruptError, match="emr chain backup"):
        with cryptoemr.Chain.open_readonly(str(path)) as chain:
            chain.backup(str(copy))
    assert not copy.exists()


WRITER = textwrap.dedent(
    """
    import sys, cryptoemr
    sys.path.insert(0, sys.argv[2])
    from test_chain import block_on
    chain = cryptoemr.Chain(sys.argv[1])
    print("ready", flush=True)
    for _ in range(100000):
        if sys.stdin.readline().strip() != "more":
            break
        for _ in range(3):
            chain.add_block(block_on(chain.tip))
        print(len(chain), flush=True)
    """
)


def test_backups_beside_a_writer_in_another_process(tmp_path, doctor):
    path = tmp_path / "c.db"
    with low_chain(str(path)) as chain:
        grow(chain, 2, doctor)
    here = os.path.dirname(os.path.abspath(__file__))
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), here], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout.readline().strip() == "ready"
        with pytest.raises(cryptoemr.LockedError):
            cryptoemr.Chain(str(path))
        reader = cryptoemr.Chain.open_readonly(str(path))
        lengths = []
        for i in range(4):
            child.stdin.write("more\n")
            child.stdin.flush()
            written = int(child.stdout.readline())
            copy = tmp_path / ("copy%d.db" % i)
            reader.backup(str(copy))
            with cryptoemr.Chain(str(copy)) as restored:
                assert restored.check() == written
                lengths.append(len(restored))
        reader.close()
    finally:
        child.stdin.close()
        child.wait()
        child.stdout.close()
    assert lengths == [5, 8, 11, 14]


def test_a_file_written_by_plain_sqlite_is_named_so(tmp_path, doctor):
    path = tmp_path / "c.db"
    with low_chain(str(path)) as chain:
        grow(chain, 3, doctor)
    vacuumed = tmp_path / "vacuumed.db"
    with sqlite3.connect(str(path)) as sql:
        sql.execute("VACUUM INTO ?", (str(vacuumed),))
    sql.close()
    with pytest.raises(cryptoemr.CorruptError, match=r"written by another program \(sqlite3\?\)"):
        cryptoemr.Chain(str(vacuumed)).check()


def test_the_readable_views(tmp_path, doctor):
    path = tmp_path / "c.db"
    with low_chain(str(path)) as chain:
        grow(chain, 2, doctor)
        txid = chain[1].records[0].txid.hex()
    sql = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    try:
        rows = sql.execute(
            "SELECT height, block_date, txid, doctor, patient, nonce, prescription, sealed "
            "FROM prescriptions ORDER BY height"
        ).fetchall()
    finally:
        sql.close()
    patient = cryptoemr.encode_address("patient", PATIENT)
    assert rows == [
        (0, "2023-11-14T22:13:20Z", rows[0][2], doctor.address, patient, 1, "dose 0", 0),
        (1, "2023-11-14T22:13:32Z", txid, doctor.address, patient, 2, "dose 1", 0),
    ]
    with cryptoemr.Chain.open_readonly(str(path)) as chain:
        assert chain.check() == 2

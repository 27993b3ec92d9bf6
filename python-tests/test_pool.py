"""The pool: Chain.pool.submit/pending, Chain.template and
Chain.mine_next, racing a block added from another thread, Ctrl-C."""

import copy
import os
import pickle
import signal
import subprocess
import sys
import threading
import time

import pytest

import cryptoemr
from helpers import MINER, PATIENT, other_form

T0 = 1_700_000_000


def key():
    return cryptoemr.SigningKey.generate("secp256k1")


def rec(k, nonce, text=None):
    return cryptoemr.create_signed_record(k, PATIENT, text or f"rx {nonce}", nonce)


def easy_chain(path=None, difficulty=1):
    return cryptoemr.Chain(path, initial_difficulty=difficulty, window=100)


def mined(chain, template):
    """The template mined (difficulty 1: nonce 0 already meets it)."""
    return cryptoemr.mine_block(
        template.previous, template.height, template.miner, template.records,
        template.timestamp, template.difficulty, threads=1,
    )


def test_submit_outcomes_order_and_template():
    chain = easy_chain()
    a, b = key(), key()
    assert chain.pool.submit(rec(b, 1)) == "ready"
    assert chain.pool.submit(rec(a, 2)) == "held"
    first = rec(a, 1)
    assert chain.pool.submit(first) == "ready"
    assert chain.pool.submit(rec(a, 1)) == "already_pending"
    # The same content under the signature's other form, (r, n - s), is the
    # same record, though its txid differs (SPEC section 2).
    flipped = cryptoemr.EMR.from_bytes(first.to_bytes())
    flipped.signature = other_form(first.signature, "secp256k1")
    flipped.txid = flipped.calculate_txid()
    assert flipped.txid != first.txid and flipped.verify(0) is None
    assert chain.pool.submit(flipped) == "already_pending"
    # Same (Dr_hash, nonce), other content: a conflict, naming the record
    # the pool keeps; the second one is not added.
    conflict = chain.pool.submit(rec(a, 1, "other"))
    assert conflict == "conflicts_with_pending" and type(conflict) is cryptoemr.PendingConflict
    assert isinstance(conflict, str) and conflict.pending_txid == first.txid
    assert chain.pool.submit(rec(a, 1, "yet another")).pending_txid == first.txid
    assert len(chain.pool) == 3
    assert [(r.Dr_hash, r.nonce) for r in chain.pool.pending()] == [
        (rec(b, 1).Dr_hash, 1),
        (rec(a, 1).Dr_hash, 1),
        (rec(a, 1).Dr_hash, 2),
    ]
    assert len(chain.pool.ready()) == 3 and chain.pool.held() == []
    assert "3 ready, 0 held" in repr(chain.pool)

    t = chain.template(MINER, T0)
    assert isinstance(t, cryptoemr.Block)
    assert (t.previous, t.height, t.miner, t.timestamp, t.difficulty) == (bytes(32), 0, MINER, T0, 1)
    assert (t.block_id, t.nonce) == (bytes(32), 0)
    assert [r.txid for r in t.records] == [r.txid for r in chain.pool.pending()]
    block = mined(chain, t)
    assert chain.add_block(block) == "extended"
    assert chain.pool.pending() == []
    # The template's timestamp is never before the tip's; default: now.
    assert chain.template(cryptoemr.encode_address("miner", MINER), T0 - 50).timestamp == T0
    assert abs(chain.template(MINER).timestamp - time.time()) < 100


def test_a_pending_conflict_is_the_outcome_string_with_the_pending_txid(tmp_path):
    txid = bytes(range(32))
    conflict = cryptoemr.PendingConflict(txid)
    assert conflict == "conflicts_with_pending" and str(conflict) == "conflicts_with_pending"
    assert conflict.pending_txid == txid and repr(conflict) == f"PendingConflict(pending_txid={txid.hex()})"
    for again in (pickle.loads(pickle.dumps(conflict)), copy.copy(conflict), copy.deepcopy(conflict)):
        assert type(again) is cryptoemr.PendingConflict and again.pending_txid == txid
    with pytest.raises(AttributeError):
        conflict.pending_txid = bytes(32)
    assert cryptoemr.PendingConflict.__module__ == "cryptoemr" and "PendingConflict" in cryptoemr.__all__
    # The pool is stored: after a restart the conflict still names the first record.
    a = key()
    first = rec(a, 1)
    with easy_chain(tmp_path / "pool.db") as chain:
        assert chain.pool.submit(first) == "ready"
    with cryptoemr.Chain(tmp_path / "pool.db") as chain:
        assert chain.pool.submit(rec(a, 1, "second thoughts")).pending_txid == first.txid
        assert chain.pool.pending() == [first]


def test_refusals_keep_the_record_kind():
    chain = easy_chain()
    a = key()
    r1 = rec(a, 1)
    chain.pool.submit(r1)
    chain.add_block(mined(chain, chain.template(MINER, T0)))
    with pytest.raises(cryptoemr.InvalidNonceError):
        chain.pool.submit(r1)
    assert issubclass(cryptoemr.InvalidNonceError, cryptoemr.RecordError)
    bad = rec(a, 2)
    bad.txid = bytes(32)
    with pytest.raises(cryptoemr.InvalidTxidError):
        chain.pool.submit(bad)
    short = rec(a, 2)
    short.Dr_hash = bytes(19)
    with pytest.raises(cryptoemr.HashLengthError):
        chain.pool.submit(short)
    with pytest.raises(TypeError):
        chain.pool.submit("not a record")
    assert chain.pool.pending() == []


def test_gaps_fill_and_25_per_block():
    chain = easy_chain()
    a = key()
    records = [rec(a, n) for n in range(1, 31)]
    assert chain.pool.submit(records[2]) == "held"
    assert [r.nonce for r in chain.pool.held()] == [3]
    assert chain.template(MINER, T0).records == []
    assert chain.pool.submit(records[1]) == "held"
    assert chain.pool.submit(records[0]) == "ready"
    assert [r.nonce for r in chain.pool.ready()] == [1, 2, 3]
    for r in records[3:]:
        assert chain.pool.submit(r) == "ready"
    t = chain.template(MINER, T0)
    assert [r.nonce for r in t.records] == list(range(1, 26))
    chain.add_block(mined(chain, t))
    assert [r.nonce for r in chain.pool.pending()] == list(range(26, 31))


def test_restart_and_undo_return(tmp_path):
    path = tmp_path / "pool.db"
    a = key()
    with easy_chain(path) as chain:
        for n in (1, 2, 4):
            chain.pool.submit(rec(a, n))
    with cryptoemr.Chain(path) as chain:
        assert [r.nonce for r in chain.pool.ready()] == [1, 2]
        assert [r.nonce for r in chain.pool.held()] == [4]
        block = chain.mine_next(MINER, timestamp=T0, threads=1)
        assert [r.nonce for r in block.records] == [1, 2]
        assert [r.nonce for r in chain.pool.pending()] == [4]
        chain.undo_last_block()
        assert [r.nonce for r in chain.pool.pending()] == [1, 2, 4]
    reader = cryptoemr.Chain.open_readonly(path)
    assert len(reader.pool) == 3
    with pytest.raises(cryptoemr.InvalidArgumentError):
        reader.pool.submit(rec(a, 3))
    reader.close()


def test_mine_next_adds_blocks_and_reports_progress():
    chain = easy_chain(difficulty=50)
    a = key()
    for n in (1, 2):
        chain.pool.submit(rec(a, n))
    block = chain.mine_next(cryptoemr.encode_address("miner", MINER), timestamp=T0)
    assert isinstance(block, cryptoemr.Block)
    assert (block.height, len(block.records), block.timestamp) == (0, 2, T0)
    assert chain.tip == block and chain.pool.pending() == []
    nxt = chain.mine_next(MINER, threads=1, engine="scalar")
    assert nxt.previous == block.block_id and nxt.height == 1
    assert chain.user_state(MINER).balance == 20_000

    hard = easy_chain(difficulty=2**100)
    reports = []
    assert hard.mine_next(MINER, timestamp=T0, threads=1, timeout=0.6,
                          progress=lambda h, r: reports.append((h, r))) is None
    assert reports and all(h > 0 and r > 0 for h, r in reports)
    assert len(hard) == 0

    def stop(h, r):
        raise ValueError("stop")

    with pytest.raises(ValueError):
        hard.mine_next(MINER, timestamp=T0, threads=1, progress=stop)
    with pytest.raises(cryptoemr.InvalidArgumentError):
        hard.mine_next(MINER, threads=0)
    with pytest.raises(cryptoemr.InvalidArgumentError):
        hard.mine_next(MINER, engine="nope")
    with pytest.raises(cryptoemr.WrongRoleError):
        hard.mine_next(cryptoemr.encode_address("doctor", MINER))
    with pytest.raises(cryptoemr.TimestampTooLateError):
        hard.mine_next(MINER, timestamp=int(time.time()) + 100_000, threads=1)
    hard.close()
    with pytest.raises(cryptoemr.InvalidArgumentError):
        hard.mine_next(MINER)


def test_mine_next_starts_over_when_another_thread_adds_a_block():
    # Window 1, block time and clamp 2**35: height 2 on g (t=0), b1 (t=1)
    # needs difficulty 2**35 (never found here); on the rival branch g, c1
    # (t=2**29) it needs 64, and height 3 after c2 (t=2**29+2**30) 2048. So
    # mine_next cannot win: it mines height 2 until c2 arrives at that
    # height, then starts over on c2.
    chain = cryptoemr.Chain(initial_difficulty=1, window=1, block_time=2**35, max_adjust=2**35)
    m1, m2 = bytes([1]) * 20, bytes([2]) * 20
    g = cryptoemr.mine_block(bytes(32), 0, m1, [], 0, 1)
    b1 = cryptoemr.mine_block(g.block_id, 1, m1, [], 1, 1)
    c1 = cryptoemr.mine_block(g.block_id, 1, m2, [], 2**29, 1)
    c2 = cryptoemr.mine_block(c1.block_id, 2, m2, [], 2**29 + 2**30, 64)
    chain.add_block(g)
    chain.add_block(b1)
    assert chain.next_difficulty() == 2**35
    record = rec(key(), 1)
    assert chain.pool.submit(record) == "ready"
    result = {}

    def mine():
        try:
            result["block"] = chain.mine_next(MINER, timestamp=2, threads=1)
        except BaseException as e:  # pragma: no cover - reported below
            result["error"] = e

    worker = threading.Thread(target=mine)
    worker.start()
    time.sleep(0.1)
    assert chain.add_block(c1) == "side_branch"
    assert chain.add_block(c2) == "reorganized"
    worker.join(60)
    assert not worker.is_alive() and "error" not in result, result
    block = result["block"]
    assert (block.height, block.previous, block.timestamp, block.difficulty) == (3, c2.block_id, c2.timestamp, 2048)
    assert [r.txid for r in block.records] == [record.txid]
    assert chain.tip == block and chain.pool.pending() == []


CHILD = r"""
import os, signal, sys, time
import cryptoemr
signal.signal(signal.SIGINT, signal.default_int_handler)
tasks = lambda: len(os.listdir("/proc/self/task")) if os.path.isdir("/proc/self/task") else -1
chain = cryptoemr.Chain(initial_difficulty=2**100)
before = tasks()
print("ready", flush=True)
try:
    chain.mine_next(bytes(20))
    print("returned", flush=True)
except KeyboardInterrupt:
    time.sleep(0.2)
    print(f"interrupted {before} {tasks()} {len(chain)}", flush=True)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery is POSIX")
def test_ctrl_c_stops_mine_next():
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "ready\n", child.stderr.read()
        time.sleep(0.5)
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0, err
    word, before, after, length = out.split()
    assert word == "interrupted", out
    assert int(after) <= int(before)  # every mining thread has ended
    assert length == "0"

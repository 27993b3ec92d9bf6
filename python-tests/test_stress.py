"""Concurrency stress: eight threads share one ``Chain`` (a file)
and add, query, check, verify and mine at once, every call releasing the
GIL; a real SIGINT lands in a long call of the main thread meanwhile.

Every answer must be consistent with some serial order of the calls: per
reader, the length, total difficulty and a doctor's record count never go
down (nothing here removes a block, and a mined block can at most tie the
prepared branch); a record is found at its own height or not yet; and at
the end the active chain is the prepared branch, its states equal a serial
replay, and ``check`` is clean. Every join is bounded: a thread still alive
after its timeout is a deadlock and fails the test."""

import os
import signal
import threading
import time

import pytest

import cryptoemr
from helpers import MINER, PATIENT

T0 = 1_700_000_000
PREPARED = 24
RECORDS_PER_BLOCK = 2
MINED = 3
OTHER_MINER = bytes([0x4D]) * 20
JOIN_SECONDS = 120


def block_on(parent, records, miner=MINER):
    previous = parent.block_id if parent is not None else bytes(32)
    height = parent.height + 1 if parent is not None else 0
    timestamp = parent.timestamp + 12 if parent is not None else T0
    block = cryptoemr.Block(previous, height, miner, list(records), timestamp, 1, b"", 0)
    block.block_id = block.calculate_block_id()
    return block


@pytest.fixture(scope="module")
def prepared():
    doctor = cryptoemr.SigningKey.generate("secp256k1")
    records, blocks = [], []
    for h in range(PREPARED):
        in_block = [
            cryptoemr.create_signed_record(doctor, PATIENT, f"stress h{h} r{r}", h * RECORDS_PER_BLOCK + r + 1)
            for r in range(RECORDS_PER_BLOCK)
        ]
        records += in_block
        blocks.append(block_on(blocks[-1] if blocks else None, in_block))
    return doctor, records, blocks


def chain_at(path=None):
    return cryptoemr.Chain(path, initial_difficulty=1)


def state_of(chain, users):
    return [chain.user_state(u) for u in users] + [len(chain), chain.total_difficulty]


def test_eight_threads_share_one_chain(tmp_path, prepared):
    doctor, records, blocks = prepared
    path = tmp_path / "stress.db"
    chain = chain_at(path)
    errors = []
    adders_done = threading.Barrier(3)  # two adders and the main thread
    miner_done = threading.Event()
    adding = threading.Event()
    adding.set()
    mined = []
    ticks = [0]

    def guarded(work):
        def run():
            try:
                work()
            except BaseException as e:  # noqa: BLE001 - every failure is reported
                errors.append(f"{threading.current_thread().name}: {e!r}")
        return run

    def add_one_by_one():
        for h, block in enumerate(blocks):
            if h == PREPARED - 4:
                assert miner_done.wait(60), "the miner never finished"
            assert chain.add_block(block) in ("extended", "side_branch", "reorganized", "already_known")
            time.sleep(0.002)
        adders_done.wait(JOIN_SECONDS)

    def add_in_batches():
        for h in range(0, PREPARED, 4):
            if h == PREPARED - 4:
                assert miner_done.wait(60), "the miner never finished"
            outcomes = chain.add_blocks(blocks[h:h + 4])
            assert len(outcomes) == len(blocks[h:h + 4])
            time.sleep(0.005)
        adders_done.wait(JOIN_SECONDS)

    def read_loop():
        last_len, last_total, last_history = 0, 0, 0
        rounds = 0
        while adding.is_set() or rounds < 20:
            rounds += 1
            n = len(chain)
            assert n >= last_len, f"length {n} after {last_len}"
            total = chain.total_difficulty
            assert total >= last_total
            tip = chain.tip
            assert tip is None or tip.height + 1 >= n
            nonce = chain.user_state(doctor.public_key_hash).nonce
            history = chain.doctor_records(doctor.public_key_hash)
            assert len(history) >= last_history and len(history) >= nonce
            last_len, last_total, last_history = n, total, len(history)
            i = rounds % len(records)
            found = chain.find_record(records[i].txid)
            assert found is None or found[0] == i // RECORDS_PER_BLOCK, found
            ticks[0] += 1

    def check_loop():
        rounds = 0
        while adding.is_set() or rounds < 3:
            rounds += 1
            assert chain.check() >= 0
            cryptoemr.verify_records(records, list(range(len(records))), threads=2)

    def mine_loop():
        while len(mined) < MINED:
            block = chain.mine_next(OTHER_MINER, timestamp=T0 + 12 * PREPARED + 100, threads=1, timeout=10)
            if block is not None:
                mined.append(block)
            time.sleep(0.003)
        miner_done.set()

    def search_loop():
        # Searches that cannot succeed, stopped by their timeout: mining
        # threads beside the chain's, with the GIL released throughout.
        while adding.is_set():
            assert cryptoemr.mine_block(bytes(32), 0, MINER, [], T0, 2**128 - 1, threads=1, timeout=0.05) is None

    workers = [
        threading.Thread(target=guarded(f), name=f.__name__, daemon=True)
        for f in (add_one_by_one, add_in_batches, read_loop, read_loop, read_loop, check_loop, mine_loop, search_loop)
    ]
    for w in workers:
        w.start()
    # Ctrl-C, for real, in a long call of the main thread while the eight
    # run: the call stops, KeyboardInterrupt is raised, the others go on.
    threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        cryptoemr.mine_block(bytes(32), 0, MINER, [], T0, 2**128 - 1, threads=1, timeout=60)
    assert time.monotonic() - started < 30
    adders_done.wait(JOIN_SECONDS)
    adding.clear()
    for w in workers:
        w.join(JOIN_SECONDS)
        assert not w.is_alive(), f"{w.name} still running after {JOIN_SECONDS} s: a deadlock"
    assert errors == []
    assert len(mined) == MINED and ticks[0] > 0

    # The final chain is the prepared branch; states equal a serial replay.
    assert [b.block_id for b in chain.blocks()] == [b.block_id for b in blocks]
    replay = chain_at()
    assert replay.add_blocks(list(chain.blocks())) == ["extended"] * PREPARED
    users = [doctor.public_key_hash, MINER, OTHER_MINER]
    assert state_of(chain, users) == state_of(replay, users)
    assert chain.user_state(doctor.public_key_hash).nonce == PREPARED * RECORDS_PER_BLOCK
    assert chain.check() == PREPARED
    chain.close()
    with cryptoemr.Chain.open_readonly(path) as again:
        assert state_of(again, users) == state_of(replay, users)

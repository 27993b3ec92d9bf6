"""cryptoemr.distributed against a real distributed.LocalCluster:
two worker processes with one thread each, started here, on 127.0.0.1 only,
one cluster for the module."""

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

import cryptoemr
from helpers import MINER, PATIENT

from distributed import Client, LocalCluster

import cryptoemr.distributed as cd

T0 = 1_700_000_000
IMPOSSIBLE = (1 << 128) - 1  # a block id below 2**128: never found in a test's time


@pytest.fixture(scope="module")
def client():
    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None,
    )
    client = Client(cluster)
    client.wait_for_workers(2, timeout=60)
    yield client
    client.close()
    cluster.close()


@pytest.fixture(scope="module")
def doctor():
    return cryptoemr.SigningKey.generate("secp256k1")


def running(client):
    return client.run(cd._running_searches)


def nothing_running(client):
    return all(n == 0 for n in running(client).values())


# --- packaging ----------------------------------------------------------------


def test_importing_cryptoemr_does_not_import_dask():
    code = "import sys, cryptoemr; assert not {'dask', 'distributed'} & set(sys.modules), sorted(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)


# --- mining ---------------------------------------------------------------------


def test_mined_block_is_valid(client, doctor):
    records = [cryptoemr.create_signed_record(doctor, PATIENT, "Metformin 500mg", n) for n in (1, 2)]
    difficulty = 1 << 22
    # Small ranges: several rounds of ranges before one holds a valid nonce.
    block = cd.mine_block(client, bytes(32), 0, MINER, records, T0, difficulty, chunk=1 << 18)
    assert block is not None and block.records == records and block.difficulty == difficulty
    assert block.calculate_block_id() == block.block_id
    changes = block.verify_and_get_changes(difficulty, {})
    assert changes[doctor.public_key_hash].nonce == 2
    assert cryptoemr.Block.from_bytes(block.to_bytes()) == block
    assert nothing_running(client)


def test_an_exhausted_range_is_none(client):
    assert cd.mine_block(client, bytes(32), 0, MINER, [], T0, IMPOSSIBLE, nonce_start=5, nonce_count=1000, chunk=300) is None


def test_arguments_are_checked_as_the_native_call_does(client):
    address = cryptoemr.encode_address("miner", MINER)
    typo = address[:-1] + ("q" if address[-1] != "q" else "p")
    with pytest.raises(cryptoemr.InvalidChecksumError):
        cd.mine_block(client, bytes(32), 0, typo, [], T0, 1)
    with pytest.raises(cryptoemr.InvalidArgumentError):
        cd.mine_block(client, bytes(32), 0, MINER, [], T0, 0)
    with pytest.raises(cryptoemr.InvalidPreviousError):
        cd.mine_block(client, bytes(31), 0, MINER, [], T0, 1)
    with pytest.raises(cryptoemr.InvalidArgumentError):
        cd.mine_block(client, bytes(32), 0, MINER, [], T0, 1, chunk=0)


def test_timeout_stops_the_running_native_searches(client):
    seen = []
    began = time.monotonic()
    result = cd.mine_block(client, bytes(32), 0, MINER, [], T0, IMPOSSIBLE, timeout=1.5,
                           progress=lambda hashes, rate: seen.append(hashes))
    elapsed = time.monotonic() - began
    assert result is None
    # Both workers were searching (the cluster's hashes grew) ...
    assert seen and seen[-1] > 0 and seen == sorted(seen)
    # ... and every native search had ended when the call returned, within a second.
    assert nothing_running(client)
    assert cd.last_stop_latency < 1.0
    assert elapsed < 1.5 + 1.0


def test_a_found_block_stops_the_other_search(client):
    # Ranges of 2**32 nonces: whichever worker finds first, the other is
    # minutes from the end of its range and must be stopped.
    block = cd.mine_block(client, bytes(32), 0, MINER, [], T0 + 1, 1 << 20, chunk=1 << 32)
    assert block is not None and block.verify_and_get_changes(1 << 20, {})
    assert nothing_running(client)
    assert cd.last_stop_latency < 1.0


def test_progress_raising_stops_everything(client):
    class Enough(Exception):
        pass

    def progress(hashes, rate):
        raise Enough

    with pytest.raises(Enough):
        cd.mine_block(client, bytes(32), 0, MINER, [], T0, IMPOSSIBLE, progress=progress, timeout=30)
    assert nothing_running(client)


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="signals need the main thread")
def test_ctrl_c_stops_everything(client):
    main = threading.get_ident()
    timer = threading.Timer(1.0, lambda: signal.pthread_kill(main, signal.SIGINT))
    timer.start()
    began = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            cd.mine_block(client, bytes(32), 0, MINER, [], T0, IMPOSSIBLE, timeout=30)
    finally:
        timer.cancel()
    assert time.monotonic() - began < 1.0 + 1.0
    assert nothing_running(client)


# Found with one thread from nonce 0 (cryptoemr.mine_block(..., threads=1)):
# the lowest valid nonce of this template, about 3 s of one thread away.
LOST_TIMESTAMP, LOST_DIFFICULTY, LOST_NONCE = 1_700_000_004, 1 << 26, 107_143_873
LOST_MINER = bytes(range(20))


def test_a_lost_worker_s_range_is_run_by_another(client):
    # One range, [0, LOST_NONCE]: its only valid nonce is its last, so the
    # block can only be found by searching that range to the end.
    result = {}

    def mine():
        try:
            result["block"] = cd.mine_block(client, bytes(32), 0, LOST_MINER, [], LOST_TIMESTAMP, LOST_DIFFICULTY,
                                            nonce_count=LOST_NONCE + 1, chunk=LOST_NONCE + 1, timeout=120)
        except BaseException as e:  # pragma: no cover - reported below
            result["error"] = e

    thread = threading.Thread(target=mine)
    thread.start()
    victim = None
    deadline = time.monotonic() + 30
    while victim is None and time.monotonic() < deadline:
        for worker, count in running(client).items():
            if count:
                victim = worker
        time.sleep(0.05)
    assert victim is not None, "the search never started"
    time.sleep(0.5)  # well into the search, far from its end
    pids = client.run(os.getpid)
    os.kill(pids[victim], signal.SIGKILL)
    thread.join(180)
    assert not thread.is_alive()
    assert "error" not in result, result.get("error")
    block = result["block"]
    assert block is not None and block.nonce == LOST_NONCE
    block.verify_and_get_changes(LOST_DIFFICULTY, {})
    # The nanny restarts the killed worker; later tests get two again.
    client.wait_for_workers(2, timeout=60)


# --- checking a chain ---------------------------------------------------------

BLOCKS = 40


def block_on(parent, records, timestamp=None):
    previous = parent.block_id if parent is not None else bytes(32)
    height = parent.height + 1 if parent is not None else 0
    timestamp = timestamp if timestamp is not None else (parent.timestamp + 12 if parent is not None else T0)
    block = cryptoemr.Block(previous, height, MINER, list(records), timestamp, 1, b"", 0)
    block.block_id = block.calculate_block_id()
    return block


@pytest.fixture(scope="module")
def chain_file(tmp_path_factory, doctor):
    """A chain on disk: 40 blocks of 1 to 3 records, by two doctors (one on
    each curve), difficulty 1."""
    other = cryptoemr.SigningKey.generate("P-256")
    path = tmp_path_factory.mktemp("dist") / "chain.db"
    nonces = {doctor.public_key_hash: 0, other.public_key_hash: 0}
    with cryptoemr.Chain(path, initial_difficulty=1) as chain:
        parent = None
        blocks = []
        for height in range(BLOCKS):
            records = []
            for i in range(1 + height % 3):
                key = (doctor, other)[(height + i) % 2]
                nonces[key.public_key_hash] += 1
                records.append(cryptoemr.create_signed_record(key, PATIENT, f"dose {height}.{i}", nonces[key.public_key_hash]))
            parent = block_on(parent, records)
            blocks.append(parent)
        chain.add_blocks(blocks)
    return path


def outcome(check):
    """What a check returned or raised, in the terms that must agree."""
    try:
        return ("ok", check())
    except cryptoemr.EMRError as e:
        cause = e.__cause__
        return (type(e), getattr(e, "height", None), getattr(e, "index", None),
                type(cause) if cause is not None else None, getattr(e, "block_id", None))


def every_way(client, path, **kwargs):
    """Chain.check and check_chain on the three kinds of source."""
    with cryptoemr.Chain(path) as chain:
        expected = outcome(chain.check)
        by_chain = outcome(lambda: cd.check_chain(client, chain, **kwargs))
        encoded = []
        for height in range(len(chain)):
            try:
                encoded.append(chain[height].to_bytes())
            except cryptoemr.EMRError:
                break
        params = chain.params
    by_path = outcome(lambda: cd.check_chain(client, str(path), **kwargs))
    return expected, by_chain, by_path, encoded, params


def test_check_chain_on_a_good_chain(client, chain_file):
    seen = []
    expected, by_chain, by_path, encoded, params = every_way(client, chain_file)
    assert expected == ("ok", BLOCKS) and by_chain == expected and by_path == expected
    for partitions in (None, 1, 3, 7, BLOCKS, 1000):
        got = cd.check_chain(client, encoded, params=params, partitions=partitions,
                             progress=lambda done, total: seen.append((done, total)))
        assert got == BLOCKS
    assert seen[-1] == (BLOCKS, BLOCKS)
    blocks = [cryptoemr.Block.from_bytes(b) for b in encoded]
    assert cd.check_chain(client, blocks, params=params) == BLOCKS
    assert cd.check_chain(client, [], params=params) == 0


def damaged_copy(chain_file, tmp_path, height):
    """A copy of the chain file with one byte of block `height`'s stored
    encoding changed in place (in its last record's signature)."""
    with cryptoemr.Chain.open_readonly(chain_file) as chain:
        block = chain[height]
    encoded = block.to_bytes()
    data = bytearray(chain_file.read_bytes())
    at = bytes(data).find(encoded)
    assert at > 0 and bytes(data).find(encoded, at + 1) == -1
    signature = block.records[-1].signature
    data[at + encoded.find(signature) + len(signature) // 2] ^= 0x01
    path = tmp_path / f"damaged-{height}.db"
    path.write_bytes(bytes(data))
    return path


def relinked_with_bad_record(chain_file, height):
    """The chain's blocks with the last record of block `height` given a
    signature that does not verify (txid redone), every id and link after it
    redone: a chain whose only fault is that record. A stored chain cannot
    hold it (adding refuses it), so `Chain.check`'s answer for it is the one
    adding the blocks in order gives: the first failure of a sequential
    loop, which `add_blocks` and `check` both report."""
    with cryptoemr.Chain.open_readonly(chain_file) as chain:
        blocks = list(chain.blocks())
        params = chain.params
    bad = blocks[height].records[-1]
    signature = bytearray(bad.signature)
    signature[-1] ^= 0x01
    bad.signature = bytes(signature)
    bad.txid = bad.calculate_txid()
    parent = blocks[height - 1] if height > 0 else None
    for h in range(height, len(blocks)):
        block = blocks[h]
        block.previous = parent.block_id if parent is not None else bytes(32)
        block.block_id = block.calculate_block_id()
        parent = block
    return blocks, params


@pytest.mark.parametrize("height", [0, BLOCKS // 2, BLOCKS - 1], ids=["start", "middle", "end"])
def test_check_chain_finds_the_same_bad_record(client, chain_file, height):
    blocks, params = relinked_with_bad_record(chain_file, height)
    with cryptoemr.Chain(initial_difficulty=1) as chain:
        expected = outcome(lambda: chain.add_blocks(blocks))
    assert expected[:4] == (cryptoemr.BlockRecordError, height, height % 3, cryptoemr.InvalidSignatureError)
    encoded = [b.to_bytes() for b in blocks]
    for partitions in (None, 1, 4):
        assert outcome(lambda: cd.check_chain(client, encoded, params=params, partitions=partitions)) == expected


def test_check_chain_reports_a_damaged_file_as_check_does(client, chain_file, tmp_path):
    """Bytes changed in the file: every page carries a checksum, so both
    report storage damage (the height may differ: `Chain.check` meets the
    damaged page in SQLite's integrity check before the replay reads the
    block)."""
    path = damaged_copy(chain_file, tmp_path, 17)
    expected, by_chain, by_path, _, _ = every_way(client, path, partitions=3)
    assert expected[0] is cryptoemr.CorruptError
    assert by_chain[0] is cryptoemr.CorruptError and by_path[0] is cryptoemr.CorruptError


def test_check_chain_finds_a_block_that_is_not_its_own_id(client, chain_file):
    with cryptoemr.Chain.open_readonly(chain_file) as chain:
        listed = [b.to_bytes() for b in chain.blocks()]
        params = chain.params
    bad = cryptoemr.Block.from_bytes(listed[17])
    bad.nonce += 1
    listed[17] = bad.to_bytes()
    assert outcome(lambda: cd.check_chain(client, listed, params=params))[:2] == (cryptoemr.CorruptError, 17)


def test_check_chain_walks_in_order(client, chain_file):
    """Rules that need the blocks before: the walk's errors are the ones
    Chain.check reports, at the same height."""
    with cryptoemr.Chain.open_readonly(chain_file) as chain:
        blocks = list(chain.blocks())
        params = chain.params
    # Out of order, a block is not the one stored at its height: damage.
    swapped = [b.to_bytes() for b in blocks]
    swapped[10], swapped[11] = swapped[11], swapped[10]
    assert outcome(lambda: cd.check_chain(client, swapped, params=params))[:2] == (cryptoemr.CorruptError, 10)
    # A block on another parent, or earlier than its parent.
    for change, error in (("previous", cryptoemr.UnknownParentError), ("timestamp", cryptoemr.TimestampTooEarlyError)):
        listed = [b.to_bytes() for b in blocks]
        bad = cryptoemr.Block.from_bytes(listed[10])
        if change == "previous":
            bad.previous = bytes(32)
        else:
            bad.timestamp = blocks[9].timestamp - 1
        bad.block_id = bad.calculate_block_id()
        listed[10] = bad.to_bytes()
        assert outcome(lambda: cd.check_chain(client, listed, params=params))[:2] == (error, 10)
    # Listed blocks need their chain's salt (entries name the chain's id).
    listed = [b.to_bytes() for b in blocks]
    with pytest.raises(cryptoemr.InvalidArgumentError, match="salt"):
        cd.check_chain(client, listed)
    # The default parameters (initial difficulty 1000) refuse these blocks.
    got = outcome(lambda: cd.check_chain(client, listed, params={"salt": params["salt"]}))
    assert got[:2] == (cryptoemr.DifficultyMismatchError, 0)


def test_check_chain_walks_a_chain_with_authorities(client):
    """The authorities and the salt, which name the chain that entries are
    made for, travel with ``Chain.params`` (SPEC 5, 8.1)."""
    from test_access import PARAMS, SCENARIO, authority_chain, run_scenario

    with authority_chain() as chain:
        accepted, _ = run_scenario(chain, SCENARIO)
        assert cd.check_chain(client, chain) == len(accepted)
        encoded = [b.to_bytes() for b in accepted]
        assert cd.check_chain(client, encoded, params=chain.params) == len(accepted)
        # Without the authorities it is another chain, whose id the first
        # entry does not name; with them and another salt, too.
        for other in (PARAMS, {**chain.params, "salt": bytes(16)}):
            got = outcome(lambda: cd.check_chain(client, encoded, params=other))
            assert got[:4] == (cryptoemr.BlockEntryError, 0, 0, cryptoemr.WrongChainError)


# --- workers that lie ---------------------------------------------------------
#
# The fakes stand in for the worker-side functions (monkeypatched on the
# client, which sends them to the workers with each task). They are built
# inside functions so that cloudpickle ships them by value: a worker need
# not import this module.

PARTITIONS = 8  # runs of five heights: 0..4, ..., 35..39


def caught(client, check, height):
    """The WorkerError that `check` must end with, naming `height` and the
    worker that answered (unknown for one whose task raised)."""
    try:
        got = check()
    except cd.WorkerError as error:
        assert error.height == height, error
        assert str(height) in str(error)
        assert error.worker is None or error.worker in client.scheduler_info()["workers"]
        assert not isinstance(error, cryptoemr.EMRError)  # a verdict on the cluster, not the chain
        return error
    pytest.fail(f"a lying worker's answer was taken: {got!r}")


def reading(lie):
    """A path worker that reads honestly, then hands `lie(start, items,
    error)` back instead."""

    def read_and_precheck(path, start, stop):
        from cryptoemr import _native

        items, error = _native._precheck_stored(path, start, stop, threads=1)
        return lie(start, items, error)

    return read_and_precheck


def substituting(replace):
    """A path worker that returns other bytes for the heights in
    `replace`, with the honest count of passed records."""
    return reading(lambda start, items, error: (
        [(replace.get(h, data), passed) for h, (data, passed) in enumerate(items, start)], error))


def counting(lie):
    """A worker for encoded blocks that prechecks honestly, then hands
    `lie(start, passed)` back instead."""

    def precheck_blocks(start, encoded):
        from cryptoemr import _native

        return lie(start, [_native._precheck_block(h, d, threads=1) for h, d in enumerate(encoded, start)])

    return precheck_blocks


def forged(block):
    """`block` with its last record's prescription changed, its txid and
    id redone: it links where the original did and hashes to its own id."""
    record = block.records[-1]
    record.prescription = "Forged 1000mg"
    record.txid = record.calculate_txid()
    block.block_id = block.calculate_block_id()
    return block


@pytest.mark.parametrize("lie, height", [
    ("tampered", 17), ("another block", 17), ("forged", 17), ("forged tip", BLOCKS - 1),
])
def test_blocks_a_worker_reads_from_a_path_are_held_to_the_file(client, chain_file, monkeypatch, lie, height):
    with cryptoemr.Chain.open_readonly(chain_file) as chain:
        blocks = list(chain.blocks())
    if lie == "tampered":  # a signature byte flipped, nothing redone
        bad = bytearray(blocks[height].to_bytes())
        signature = blocks[height].records[-1].signature
        bad[bytes(bad).find(signature) + 10] ^= 0x01
        bad = bytes(bad)
    elif lie == "another block":
        bad = blocks[height - 1].to_bytes()
    else:
        bad = forged(blocks[height]).to_bytes()
    monkeypatch.setattr(cd, "_read_and_precheck", substituting({height: bad}))
    error = caught(client, lambda: cd.check_chain(client, str(chain_file), partitions=PARTITIONS), height)
    if lie == "tampered":
        assert "not a block" in str(error)
    else:
        assert cryptoemr.Block.from_bytes(bad).calculate_block_id().hex() in str(error)
        assert blocks[height].block_id.hex() in str(error)


def test_a_path_worker_cannot_end_the_chain_early(client, chain_file, monkeypatch):
    # The last run's worker says the chain ends after its second block.
    monkeypatch.setattr(cd, "_read_and_precheck", reading(
        lambda start, items, error: (items[:2] if start == 35 else items, error)))
    caught(client, lambda: cd.check_chain(client, str(chain_file), partitions=PARTITIONS), 37)


@pytest.mark.parametrize("lie, height", [
    ("one more passed than the block holds", 0),
    ("a count for a block it was not sent", 35),
    ("no count for its last blocks", 37),
])
def test_counts_a_worker_returns_are_held_to_the_blocks(client, chain_file, monkeypatch, lie, height):
    with cryptoemr.Chain.open_readonly(chain_file) as chain:
        encoded = [b.to_bytes() for b in chain.blocks()]
        params = chain.params
    lies = {
        "one more passed than the block holds": lambda start, passed: ([p + 1 for p in passed], None),
        "a count for a block it was not sent": lambda start, passed: (passed + [0] if start == 35 else passed, None),
        "no count for its last blocks": lambda start, passed: (passed[:2] if start == 35 else passed, None),
    }
    monkeypatch.setattr(cd, "_precheck_blocks", counting(lies[lie]))
    caught(client, lambda: cd.check_chain(client, encoded, params=params, partitions=PARTITIONS), height)


@pytest.mark.parametrize("source", ["path", "blocks"])
@pytest.mark.parametrize("how", ["returned", "raised"])
def test_a_failure_a_worker_claims_is_checked_by_the_client(client, chain_file, monkeypatch, source, how):
    """A worker that says block 22 has a bad signature, of a chain whose
    blocks are all good: the client's own check of that block finds none."""

    def claim(start, answers):
        if not start <= 22 < start + len(answers):
            return answers, None
        claimed = cryptoemr.InvalidSignatureError("the worker says so")
        if how == "raised":
            raise claimed
        return answers[:22 - start], claimed

    with cryptoemr.Chain.open_readonly(chain_file) as chain:
        encoded = [b.to_bytes() for b in chain.blocks()]
        params = chain.params
    if source == "path":
        monkeypatch.setattr(cd, "_read_and_precheck", reading(lambda start, items, error: claim(start, items)))
        given = {"source": str(chain_file)}
    else:
        monkeypatch.setattr(cd, "_precheck_blocks", counting(claim))
        given = {"source": encoded, "params": params}
    # A raised error is the whole run's: the client names the run's start.
    error = caught(client, lambda: cd.check_chain(client, partitions=PARTITIONS, **given), 22 if how == "returned" else 20)
    assert "the worker says so" in str(error)


@pytest.mark.parametrize("lie", ["a nonce outside its range", "a nonce that is not valid", "a block's bytes"])
def test_a_block_a_worker_says_it_found_is_mined_again_by_the_client(client, monkeypatch, lie):
    template = (bytes(32), 0, MINER, [], T0, IMPOSSIBLE)
    claims = {
        "a nonce outside its range": 5000,
        "a nonce that is not valid": 10,
        "a block's bytes": block_on(None, []).to_bytes(),  # valid only at difficulty 1
    }
    claim = claims[lie]

    def mine_range(*args):
        return ("found", claim, 1)

    monkeypatch.setattr(cd, "_mine_range", mine_range)
    error = caught(client, lambda: cd.mine_block(client, *template, nonce_count=100, chunk=100, timeout=30), 0)
    assert repr(claim) in str(error)

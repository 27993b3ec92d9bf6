"""Chain (SPEC section 5) through Python: consensus, reorganisation, queries,
storage on disk, two processes, interruption."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import cryptoemr
from helpers import MINER, PATIENT

T0 = 1_700_000_000
OTHER_MINER = bytes(range(20))
OTHER_PATIENT = bytes(range(1, 21))


@pytest.fixture(scope="module")
def doctor():
    return cryptoemr.SigningKey.generate("secp256k1")


def block_on(parent, records=(), *, miner=MINER, timestamp=None, difficulty=1):
    """A block on `parent` (None: genesis) with the right id; difficulty 1
    accepts every id, and 12 s spacing keeps the retarget at 1."""
    previous = parent.block_id if parent is not None else bytes(32)
    height = parent.height + 1 if parent is not None else 0
    if timestamp is None:
        timestamp = parent.timestamp + 12 if parent is not None else T0
    block = cryptoemr.Block(previous, height, miner, list(records), timestamp, difficulty, b"", 0)
    block.block_id = block.calculate_block_id()
    return block


def grow(chain, count, doctor=None, first_nonce=1, patient=PATIENT):
    """Adds `count` blocks on the tip, one record each when `doctor` is given."""
    blocks = []
    for i in range(count):
        records = []
        if doctor is not None:
            records = [cryptoemr.create_signed_record(doctor, patient, "dose %d" % i, first_nonce + i)]
        block = block_on(chain.tip, records)
        assert chain.add_block(block) in ("extended", "reorganized")
        blocks.append(block)
    return blocks


def low_chain(path=None):
    return cryptoemr.Chain(path, initial_difficulty=1)


def test_an_empty_chain():
    with low_chain() as chain:
        assert len(chain) == 0 and chain.tip is None
        assert chain.total_difficulty == 0 and chain.next_difficulty() == 1
        assert chain.user_state(PATIENT) == cryptoemr.UserState(0, 0)
        assert chain.patient_history(PATIENT) == [] and chain.find_record(bytes(32)) is None
        assert list(chain.blocks()) == []
        with pytest.raises(IndexError):
            chain[0]
        with pytest.raises(cryptoemr.NotFoundError):
            chain.undo_last_block()


def test_default_parameters_are_the_spec_s():
    with cryptoemr.Chain() as chain:
        assert chain.next_difficulty() == 1000
        with pytest.raises(cryptoemr.DifficultyMismatchError):
            chain.add_block(block_on(None))


def test_blocks_extend_and_queries_answer(doctor):
    with low_chain() as chain:
        blocks = grow(chain, 5, doctor)
        assert len(chain) == 5 and chain.tip == blocks[-1] and chain[-1] == blocks[-1] and chain[0] == blocks[0]
        assert list(chain.blocks()) == blocks and list(chain.blocks(1, 3)) == blocks[1:3]
        assert chain.total_difficulty == 5
        assert chain.user_state(doctor.public_key_hash) == cryptoemr.UserState(0, 5)
        assert chain.user_state(MINER) == cryptoemr.UserState(5 * cryptoemr.DEFAULT_BLOCK_REWARD, 0)
        history = chain.patient_history(PATIENT)
        assert [(h, b) for h, b, _ in history] == [(b.height, b.block_id) for b in blocks]
        assert [r for _, _, r in history] == [b.records[0] for b in blocks]
        assert chain.doctor_records(doctor.public_key_hash) == history
        assert chain.find_record(blocks[2].records[0].txid) == history[2]
        assert chain.patient_history(OTHER_PATIENT) == []
        assert chain.add_block(blocks[3]) == "already_known"
        with pytest.raises(cryptoemr.InvalidArgumentError):
            chain.user_state(b"short")
        with pytest.raises(TypeError):
            chain.add_block("not a block")


def test_linkage_errors(doctor):
    with low_chain() as chain:
        genesis = block_on(None)
        chain.add_block(genesis)
        wrong_height = block_on(genesis)
        wrong_height.height = 5
        with pytest.raises(cryptoemr.WrongHeightError):
            chain.add_block(_reid(wrong_height))
        orphan = block_on(genesis)
        orphan.previous = bytes([7]) * 32
        with pytest.raises(cryptoemr.UnknownParentError):
            chain.add_block(_reid(orphan))
        with pytest.raises(cryptoemr.TimestampTooEarlyError):
            chain.add_block(block_on(genesis, timestamp=T0 - 1))
        # max_future is 60 s: a block 61 s ahead of the caller's clock waits,
        # not remembered as invalid, and is taken once its time has come.
        late = block_on(genesis, timestamp=T0 + 61)
        with pytest.raises(cryptoemr.TimestampTooLateError):
            chain.add_block(late, now=T0)
        with pytest.raises(cryptoemr.TimestampTooLateError):
            chain.add_blocks([late], now=T0)
        assert len(chain) == 1
        assert chain.add_block(late, now=T0 + 1) == "extended"
        for error in (cryptoemr.WrongHeightError, cryptoemr.LockedError, cryptoemr.CorruptError):
            assert issubclass(error, cryptoemr.ChainError)
        bad_work = block_on(late, difficulty=2)
        with pytest.raises(cryptoemr.DifficultyMismatchError) as info:
            chain.add_block(bad_work)
        assert info.value.height == 2
        assert len(chain) == 2


def test_max_future_is_a_stored_chain_parameter(tmp_path):
    path = tmp_path / "future.db"
    with cryptoemr.Chain(path, initial_difficulty=1, max_future=3600) as chain:
        assert chain.params["max_future"] == 3600
        genesis = block_on(None)
        assert chain.add_block(genesis, now=T0 - 3600) == "extended"
        with pytest.raises(cryptoemr.TimestampTooLateError):
            chain.add_block(block_on(genesis, timestamp=T0 + 3601), now=T0)
    with cryptoemr.Chain(path) as chain:
        assert chain.params["max_future"] == 3600
    # The default (60) is another chain's parameter.
    with pytest.raises(cryptoemr.InvalidArgumentError):
        cryptoemr.Chain(path, initial_difficulty=1)
    with cryptoemr.Chain() as chain:
        assert chain.params["max_future"] == 60
        # mine_next refuses, before mining, a template past the wall clock's limit.
        with pytest.raises(cryptoemr.TimestampTooLateError):
            chain.mine_next(MINER, timestamp=int(time.time()) + 3600, threads=1)
    with pytest.raises(OverflowError):
        cryptoemr.Chain(max_future=-1)
    with pytest.raises(TypeError):
        cryptoemr.Chain(max_future="60")


def test_the_salt_names_the_chain(tmp_path):
    a, b = low_chain(), low_chain()
    assert len(a.chain_id) == 32 and len(a.params["salt"]) == 16
    assert a.chain_id != b.chain_id and a.params["salt"] != b.params["salt"]  # random salts
    # The same parameters, salt included, name the same chain (a replica).
    with cryptoemr.Chain(**a.params) as replica:
        assert replica.chain_id == a.chain_id and replica.params == a.params
    given = [cryptoemr.Chain(initial_difficulty=1, salt=salt).chain_id for salt in (bytes(16), bytearray(16))]
    assert given[0] == given[1] != a.chain_id
    path = tmp_path / "salted.db"
    with cryptoemr.Chain(path, initial_difficulty=1, salt=bytes(range(16))) as chain:
        chain_id = chain.chain_id
        grow(chain, 2)
    for again in (lambda: cryptoemr.Chain(path), lambda: cryptoemr.Chain(path, initial_difficulty=1),
                  lambda: cryptoemr.Chain(path, initial_difficulty=1, salt=bytes(range(16))),
                  lambda: cryptoemr.Chain.open_readonly(path)):
        with again() as chain:
            assert chain.chain_id == chain_id and chain.params["salt"] == bytes(range(16)) and len(chain) == 2
    with pytest.raises(cryptoemr.InvalidArgumentError):
        cryptoemr.Chain(path, initial_difficulty=1, salt=bytes(16))
    for bad in (bytes(15), bytes(17), b""):
        with pytest.raises(cryptoemr.InvalidArgumentError, match="salt"):
            cryptoemr.Chain(salt=bad)
    with pytest.raises(TypeError, match="salt"):
        cryptoemr.Chain(salt="0" * 16)
    a.close()
    with pytest.raises(cryptoemr.InvalidArgumentError, match="closed"):
        a.chain_id
    if sys.version_info >= (3, 10):  # no class text signatures on CPython 3.9
        assert "max_future=None, salt=None" in cryptoemr.Chain.__text_signature__


def test_light_side_branches_far_below_the_tip_are_stale():
    """SPEC 5 (v1.2): a side branch is stored only when it is heavier or near
    the tip; else its blocks are "stale", not stored, not marked invalid."""
    with low_chain() as chain:
        window = chain.params["window"]
        main = grow(chain, window + 3)
        rival = block_on(None, miner=OTHER_MINER)  # a competing genesis: forks below height 0
        assert chain.add_block(rival) == "stale"
        assert chain.add_block(rival) == "stale"  # not stored, so not "already_known"
        with pytest.raises(cryptoemr.UnknownParentError):
            chain.add_block(block_on(rival, miner=OTHER_MINER))
        # A competitor of the tip is near it: stored.
        near = block_on(main[-2], miner=OTHER_MINER)
        assert chain.add_block(near) == "side_branch"
        assert chain.add_block(near) == "already_known"
        assert chain.tip == main[-1] and len(chain) == window + 3
        # A light branch is judged where the call leaves it: stale, all of it.
        branch = [rival]
        while len(branch) < window + 4:
            branch.append(block_on(branch[-1], miner=OTHER_MINER))
        assert chain.add_blocks(branch[:3]) == ["stale"] * 3
        # Stale is no mark: the whole branch, heavier, in one call reorganizes.
        assert chain.add_blocks(branch) == ["side_branch"] * (window + 3) + ["reorganized"]
        assert chain.tip == branch[-1] and chain.check() == window + 4


def _reid(block):
    block.block_id = block.calculate_block_id()
    return block


def test_fork_choice_ties_and_reorganisation(doctor):
    with low_chain() as chain:
        genesis = block_on(None)
        chain.add_block(genesis)
        first = block_on(genesis, miner=MINER)
        rival = block_on(genesis, miner=OTHER_MINER)
        assert chain.add_block(first) == "extended"
        assert chain.add_block(rival) == "side_branch"  # a tie: the first seen stays
        assert chain.tip == first
        on_rival = block_on(rival, miner=OTHER_MINER)
        assert chain.add_block(on_rival) == "reorganized"
        assert chain.tip == on_rival and chain[1] == rival
        assert chain.user_state(OTHER_MINER).balance == 2 * cryptoemr.DEFAULT_BLOCK_REWARD
        assert chain.user_state(MINER).balance == cryptoemr.DEFAULT_BLOCK_REWARD  # genesis only


def test_a_heavier_branch_with_a_bad_block_changes_nothing(doctor):
    with low_chain() as chain:
        genesis = block_on(None)
        chain.add_block(genesis)
        good = block_on(genesis, [cryptoemr.create_signed_record(doctor, PATIENT, "main", 1)])
        chain.add_block(good)
        before = (chain.tip, len(chain), chain.user_state(doctor.public_key_hash), chain.patient_history(PATIENT))

        side = block_on(genesis, miner=OTHER_MINER)
        assert chain.add_block(side) == "side_branch"
        forged = cryptoemr.create_signed_record(doctor, OTHER_PATIENT, "forged", 1)
        forged.prescription = "forged, altered"
        forged.txid = forged.calculate_txid()
        bad = block_on(side, [forged], miner=OTHER_MINER)
        with pytest.raises(cryptoemr.BlockRecordError) as info:
            chain.add_block(bad)
        assert info.value.height == 2 and isinstance(info.value.__cause__, cryptoemr.InvalidSignatureError)
        after = (chain.tip, len(chain), chain.user_state(doctor.public_key_hash), chain.patient_history(PATIENT))
        assert after == before
        with pytest.raises(cryptoemr.BlockRecordError):
            chain.add_block(bad)  # remembered as invalid
        with pytest.raises(cryptoemr.BlockRecordError):
            chain.add_block(block_on(bad, miner=OTHER_MINER))  # and so is what builds on it
        assert chain.check() == 2


def test_undo_down_to_empty(doctor):
    with low_chain() as chain:
        blocks = grow(chain, 4, doctor)
        for expected in reversed(blocks):
            assert chain.undo_last_block() == expected
            assert chain.user_state(doctor.public_key_hash).nonce == len(chain)
        assert len(chain) == 0 and chain.tip is None
        with pytest.raises(cryptoemr.NotFoundError):
            chain.undo_last_block()
        assert grow(chain, 4, doctor) == blocks  # the undone blocks are accepted again


def test_reopen_gives_the_same_chain(tmp_path, doctor):
    path = tmp_path / "chain.db"
    with low_chain(path) as chain:
        blocks = grow(chain, 6, doctor)
        history = chain.patient_history(PATIENT)
    with cryptoemr.Chain(path) as chain:  # stored parameters
        assert len(chain) == 6 and chain.tip == blocks[-1] and chain.patient_history(PATIENT) == history
        assert chain.user_state(doctor.public_key_hash).nonce == 6 and chain.check() == 6
    with pytest.raises(cryptoemr.InvalidArgumentError):
        cryptoemr.Chain(path, initial_difficulty=5)


def test_closed_chain_refuses_calls(tmp_path):
    chain = low_chain(tmp_path / "c.db")
    chain.close()
    chain.close()
    with pytest.raises(cryptoemr.InvalidArgumentError, match="closed"):
        len(chain)
    assert "closed" in repr(chain)


def test_second_writer_is_refused_reader_sees_commits(tmp_path, doctor):
    path = tmp_path / "chain.db"
    with low_chain(path) as writer:
        grow(writer, 2, doctor)
        with pytest.raises(cryptoemr.LockedError, match="open for writing by another process"):
            cryptoemr.Chain(path)
        other = subprocess.run(
            [sys.executable, "-c", "import cryptoemr, sys; cryptoemr.Chain(sys.argv[1])", str(path)],
            capture_output=True,
            text=True,
        )
        assert other.returncode != 0 and "LockedError" in other.stderr
        with cryptoemr.Chain.open_readonly(path) as reader:
            assert len(reader) == 2
            grow(writer, 1, doctor, first_nonce=3)
            assert len(reader) == 3 and reader.tip == writer.tip
            with pytest.raises(cryptoemr.InvalidArgumentError):
                reader.add_block(block_on(writer.tip))
    with cryptoemr.Chain(path) as again:  # the lock went with the writer
        assert len(again) == 3


def test_add_blocks_progress_and_first_failure(doctor):
    source = low_chain()
    blocks = grow(source, 30, doctor)
    with low_chain() as chain:
        seen = []
        outcomes = chain.add_blocks(blocks[:20], lambda done, total: seen.append((done, total)))
        assert outcomes == ["extended"] * 20 and seen[-1] == (20, 20)
        broken = [cryptoemr.Block.from_bytes(b.to_bytes()) for b in blocks[20:]]
        broken[4].records[0].nonce = 99
        with pytest.raises(cryptoemr.BlockRecordError) as info:
            chain.add_blocks(broken)
        assert info.value.batch_index == 4 and info.value.added == ["extended"] * 4
        assert isinstance(info.value.__cause__, cryptoemr.InvalidNonceError)
        assert len(chain) == 24  # the blocks before the failure are kept
        with pytest.raises(TypeError):
            chain.add_blocks([blocks[0], "x"])
        with pytest.raises(TypeError):
            chain.add_blocks([], progress=5)


def test_add_blocks_releases_the_gil(long_run):
    """Another Python thread runs while add_blocks works: it ticks during
    the call (with the GIL held it could not run at all)."""
    ticks = []
    stop = threading.Event()

    def ticker():
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    thread = threading.Thread(target=ticker)
    with low_chain() as chain:
        thread.start()
        started = time.perf_counter()
        chain.add_blocks(long_run)
        ended = time.perf_counter()
        stop.set()
        thread.join()
    during = [t for t in ticks if started < t < ended]
    assert len(during) >= 10, (len(during), ended - started)


def test_an_exception_in_progress_stops_add_blocks_cleanly(tmp_path, doctor):
    source = low_chain()
    blocks = grow(source, 40, doctor)
    with low_chain(tmp_path / "c.db") as chain:

        def stop_early(done, total):
            raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            chain.add_blocks(blocks, stop_early)
        kept = len(chain)
        assert 0 <= kept <= 40 and list(chain.blocks()) == blocks[:kept]
        assert chain.check() == kept
        assert chain.add_blocks(blocks[kept:]) == ["extended"] * (40 - kept)


@pytest.fixture(scope="module")
def long_run(doctor):
    """2,000 blocks of 5 records: long enough for a signal to land inside."""
    source = low_chain()
    blocks = []
    for i in range(2000):
        records = [cryptoemr.create_signed_record(doctor, PATIENT, "l%d" % j, 1 + i * 5 + j) for j in range(5)]
        blocks.append(block_on(source.tip, records))
        source.add_block(blocks[-1])
    return blocks


def interrupt_inside(call):
    """Runs `call(progress)` and sends this process SIGINT once progress has
    been reported, i.e. while the call is running with the GIL released."""
    seen = []
    inside = threading.Event()

    def progress(done, total):
        seen.append((done, total))
        inside.set()

    def killer():
        if inside.wait(30):
            os.kill(os.getpid(), signal.SIGINT)

    thread = threading.Thread(target=killer)
    thread.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            call(progress)
    finally:
        thread.join()
    done, total = seen[-1]
    assert done < total, "the signal landed after the call ended"


def test_ctrl_c_interrupts_add_blocks_and_check(tmp_path, long_run):
    path = tmp_path / "c.db"
    with low_chain(path) as chain:
        interrupt_inside(lambda progress: chain.add_blocks(long_run, progress))
        kept = len(chain)
        assert kept < len(long_run) and list(chain.blocks()) == long_run[:kept]
        chain.add_blocks(long_run[kept:])
        interrupt_inside(chain.check)
    with cryptoemr.Chain(path) as chain:  # nothing half-written
        assert len(chain) == len(long_run) and chain.check() == len(long_run)


def test_check_reports_damage(tmp_path, doctor):
    path = tmp_path / "c.db"
    with low_chain(path) as chain:
        blocks = grow(chain, 12, doctor)
    data = bytearray(path.read_bytes())
    # The canonical encoding of a block is stored as is: damage one in place.
    encoded = blocks[7].to_bytes()
    at = bytes(data).find(encoded)
    assert at > 0
    data[at + len(encoded) // 2] ^= 0x40
    path.write_bytes(bytes(data))
    try:
        chain = cryptoemr.Chain(path)
    except cryptoemr.EMRError as refused:  # refused at open is allowed too
        assert isinstance(refused, (cryptoemr.CorruptError, cryptoemr.IoError))
        return
    with chain:
        with pytest.raises(cryptoemr.EMRError) as info:
            chain.check()
        # Damage is reported, never passed: as storage damage, or as the
        # first bad block's own error at its height.
        assert isinstance(info.value, (cryptoemr.CorruptError, cryptoemr.IoError)) or info.value.height == 7


KILL_CHILD = textwrap.dedent(
    """
    import sys, cryptoemr
    sys.path.insert(0, sys.argv[2])
    from test_chain import block_on
    chain = cryptoemr.Chain(sys.argv[1], initial_difficulty=1)
    while True:
        block = block_on(chain.tip)
        chain.add_block(block)
        print(block.height, block.block_id.hex(), flush=True)
    """
)


@pytest.mark.parametrize("round_", range(5))
def test_kill_9_loses_no_acknowledged_block(tmp_path, round_):
    path = tmp_path / "c.db"
    here = os.path.dirname(os.path.abspath(__file__))
    acknowledged = []
    for attempt in range(3):
        child = subprocess.Popen(
            [sys.executable, "-c", KILL_CHILD, str(path), here], stdout=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + 0.2 + 0.15 * round_ + 0.1 * attempt
        while time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                break
            acknowledged.append(line.split())
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        with cryptoemr.Chain.open_readonly(path) as chain:
            for height, block_id in acknowledged:
                assert chain[int(height)].block_id.hex() == block_id
    assert acknowledged, "the child acknowledged nothing"
    with cryptoemr.Chain(path) as chain:
        assert chain.check() == len(chain)
        assert chain.add_block(block_on(chain.tip)) == "extended"


def test_queries_take_addresses_of_the_right_role(doctor):
    with low_chain() as chain:
        grow(chain, 3, doctor)
        patient = cryptoemr.encode_address("patient", PATIENT)
        miner = cryptoemr.encode_address("miner", MINER)
        assert chain.patient_history(patient) == chain.patient_history(PATIENT) != []
        assert chain.doctor_records(doctor.address) == chain.doctor_records(doctor.public_key_hash) != []
        assert chain.user_state(doctor.address) == cryptoemr.UserState(0, 3)
        assert chain.user_state(miner).balance == 3 * cryptoemr.DEFAULT_BLOCK_REWARD
        with pytest.raises(cryptoemr.WrongRoleError):
            chain.patient_history(doctor.address)
        with pytest.raises(cryptoemr.WrongRoleError):
            chain.doctor_records(patient)
        with pytest.raises(cryptoemr.WrongRoleError):
            chain.user_state(patient)  # patients have no state
        typo = patient[:10] + ("q" if patient[10] != "q" else "p") + patient[11:]
        with pytest.raises(cryptoemr.InvalidChecksumError) as info:
            chain.patient_history(typo)
        assert info.value.positions == (10,)

"""Full and failing disks from Python (docs/DURABILITY.md, "Full and failing
disks"): a child interpreter runs with the faultfs shim LD_PRELOAD'ed and
makes the chain's files fail at random points (seeded, the seed printed) of
adds, batches, undos, submits, reads and reopens. Every failed call raises
``IoError`` (an ``OSError``) whose ``filename`` is the chain's file and whose
message names it ("disk full" for ENOSPC); nothing acknowledged is lost;
the same call succeeds on the same handle once the disk works; ``check``
passes on the handle and on a reopened chain."""

import os
import pathlib
import subprocess
import sys
import textwrap
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
SOURCE = ROOT / "faultfs" / "faultfs.c"
SHIM = ROOT / "target" / "faultfs" / "libfaultfs.so"


def shim():
    """The shim, compiled as `make faultfs` does when missing or stale."""
    if not SHIM.exists() or SHIM.stat().st_mtime < SOURCE.stat().st_mtime:
        SHIM.parent.mkdir(parents=True, exist_ok=True)
        partial = SHIM.parent / (".libfaultfs.so.%d" % os.getpid())
        cc = os.environ.get("CC", "cc")
        subprocess.run(
            [cc, "-std=c11", "-Wall", "-Wextra", "-Werror", "-O2", "-fPIC", "-shared", "-o", str(partial), str(SOURCE),
             "-ldl", "-lpthread"],
            check=True,
        )
        os.replace(partial, SHIM)
    return SHIM


CAMPAIGN = textwrap.dedent(
    """
    import os, random, sys
    import cryptoemr
    sys.path.insert(0, sys.argv[3])
    from test_chain import block_on

    directory, seed = sys.argv[1], int(sys.argv[2])
    control = os.environ["EMR_FAULTFS_CONTROL"]
    log = os.environ["EMR_FAULTFS_LOG"]
    file = os.path.join(directory, "chain.db")
    rng = random.Random(seed)
    generation = [0]

    def arm(mode, after=0, count=0):
        generation[0] += 1
        with open(control, "w") as f:  # in place: the shim keeps the file it opened
            f.write("%d %s %d %d\\n" % (generation[0], mode, after, count))

    def injected():
        try:
            with open(log) as f:
                return sum(1 for _ in f)
        except FileNotFoundError:
            return 0

    writer = cryptoemr.SigningKey.generate("p256")
    submitter = cryptoemr.SigningKey.generate("p256")
    patient = bytes([7]) * 20
    chain = cryptoemr.Chain(directory, initial_difficulty=1)
    active = []      # acknowledged active blocks
    submitted = [0]  # acknowledged submits

    def records_in_chain():
        return sum(len(b.records) for b in active)

    def new_blocks(n):
        out, nonce = [], records_in_chain()
        parent = active[-1] if active else None
        for _ in range(n):
            nonce += 1
            record = cryptoemr.create_signed_record(writer, patient, "metformin 500 mg", nonce)
            block = block_on(parent, [record])
            out.append(block)
            parent = block
        return out

    def agrees(when):
        assert len(chain) == len(active), when
        assert (chain.tip.block_id if chain.tip else None) == (active[-1].block_id if active else None), when
        mine = [r for r in chain.pool.pending() if r.dr_hash == submitter.public_key_hash]
        assert len(mine) == submitted[0], (when, len(mine), submitted[0])
        assert len(chain.patient_history(patient)) == records_in_chain(), when

    def attempt(op):
        global chain
        if op == "add":
            block = new_blocks(1)[0]
            assert chain.add_block(block) == "extended"
            active.append(block)
        elif op == "batch":
            blocks = new_blocks(rng.randint(2, 5))
            try:
                assert chain.add_blocks(blocks) == ["extended"] * len(blocks)
                active.extend(blocks)
            except cryptoemr.IoError as e:
                active.extend(blocks[: len(e.added)])
                raise
        elif op == "undo":
            if len(active) > 1:
                assert chain.undo_last_block().block_id == active[-1].block_id
                active.pop()
        elif op == "submit":
            record = cryptoemr.create_signed_record(submitter, bytes([8]) * 20, "amoxicillin", submitted[0] + 1)
            assert chain.pool.submit(record) == "ready"
            submitted[0] += 1
        elif op == "history":
            assert len(chain.patient_history(patient)) == records_in_chain()
        elif op == "reopen":
            chain.close()
            chain = cryptoemr.Chain(directory)

    attempt("add")
    modes = ["enospc", "eio-write", "eio-sync", "enospc-sync", "eio-read", "short-read"]
    failures = {}
    for round in range(40):
        op = rng.choice(["add", "batch", "undo", "submit", "history", "reopen"])
        mode = rng.choice(modes)
        after = rng.randrange(4) if mode.endswith("sync") else rng.randrange(48 * 1024)
        count = 0 if mode == "eio-read" else rng.randrange(3)
        when = "round %d: %s under %s after %d count %d" % (round, op, mode, after, count)
        before = injected()
        arm(mode, after, count)
        try:
            attempt(op)
            error = None
        except cryptoemr.IoError as e:
            error = e
        finally:
            arm("off")
        if error is not None:
            assert injected() > before, when
            assert mode != "short-read", (when, error)
            assert isinstance(error, OSError) and error.filename == file, (when, error.filename)
            assert file in str(error), (when, str(error))
            if mode == "enospc" and "SQLite could not write" in str(error):
                assert "disk full" in str(error), (when, str(error))
            failures[op] = failures.get(op, 0) + 1
            try:
                len(chain)
            except cryptoemr.InvalidArgumentError:
                chain = cryptoemr.Chain(directory)  # a failed reopen left it closed
            agrees(when + ", after the failure")
            attempt(op)  # the same call, the disk working again
        agrees(when)
    assert chain.check() == len(active)
    chain.close()
    with cryptoemr.Chain(directory) as reopened:
        assert reopened.check() == len(active)
        for block in active:
            assert reopened[block.height].block_id == block.block_id
    print("failed as io:", failures, "faults injected:", injected(), flush=True)
    """
)


def test_calls_on_a_failing_disk_raise_ioerror_naming_the_file_and_lose_nothing(tmp_path):
    directory = tmp_path / "chain"
    directory.mkdir()
    control = tmp_path / "faultfs-control"
    control.write_text("0 off 0 0\n")
    log = tmp_path / "faultfs-log"
    seed = int(os.environ.get("EMR_FAULT_SEED", time.time_ns() % (1 << 63)))
    print("Python fault campaign: seed %d (EMR_FAULT_SEED=%d replays it)" % (seed, seed))
    env = dict(os.environ)
    env.update(
        LD_PRELOAD=str(shim()),
        EMR_FAULTFS_DIR=str(directory),
        EMR_FAULTFS_CONTROL=str(control),
        EMR_FAULTFS_LOG=str(log),
    )
    here = os.path.dirname(os.path.abspath(__file__))
    run = subprocess.run(
        [sys.executable, "-c", CAMPAIGN, str(directory), str(seed), here],
        env=env, capture_output=True, text=True, timeout=300,
    )
    print(run.stdout, run.stderr)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "faults injected:" in run.stdout
    assert int(run.stdout.rsplit("faults injected:", 1)[1]) > 0

"""Mining and chain checks on a Dask cluster (``pip install cryptoemr[dask]``).

Dask (``distributed``) runs the cluster: a scheduler, workers on as many
machines as you have, and a :class:`distributed.Client` that this module's
functions take as their first argument. Nothing here re-implements a rule:
the workers run the same native calls as one machine would
(:func:`cryptoemr.mine_block`; the stateless half of :meth:`Chain.check`),
and blocks and records cross the network only in their canonical encoding
(``to_bytes``). See ``docs/DISTRIBUTED.md``.

- :func:`mine_block` splits the nonce space into ranges, one native search
  per worker thread at a time, returns the first valid block found and stops
  every other search (running ones are told
  through a :class:`distributed.Event` that each polls from the native
  progress callback, about every 250 ms).
- :func:`check_chain` validates a whole chain: decoding, block ids and every
  record signature on the workers, the in-order walk (linkage, difficulty,
  proof of work, nonces, states) on the client. The result and the first
  failure are those of :meth:`Chain.check`.

Workers are not trusted with the verdict. What a worker hands back is
re-derived on the client where that is cheap (a found block from its nonce;
each returned block's id, against the chain file's own; a claimed failure,
by checking that one block again), or can only make the call fail. The one
claim taken on trust is the costly one: that a block's record signatures
verified. An answer the client's re-check contradicts raises
:class:`WorkerError`. ``docs/DISTRIBUTED.md`` ("What a worker is trusted
with") has the whole list.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
import uuid
from typing import Any, Callable, Iterable, List, Optional, Sequence, Tuple, Union

try:
    import distributed as _dd
except ImportError as missing:  # pragma: no cover - exercised without Dask only
    raise ImportError(
        "cryptoemr.distributed needs Dask's distributed scheduler: pip install 'cryptoemr[dask]'"
    ) from missing
from distributed.scheduler import KilledWorker

from . import _native
from .errors import EMRError, InvalidArgumentError
from ._native import EMR, Block, Chain, decode_address

__all__ = ["mine_block", "check_chain", "WorkerError", "DEFAULT_CHUNK"]

#: Nonces per range when ``chunk`` is not given: about a second of one
#: SHA-NI thread, so a range's scheduling cost (a few ms) stays under 1%.
DEFAULT_CHUNK = 1 << 26

_NONCE_END = 1 << 64
#: How often the client looks at its futures, and for Ctrl-C.
_POLL = 0.01
#: How long a returning call waits for running searches to report stopped.
_STOP_WAIT = 5.0


class WorkerError(Exception):
    """A worker's answer that the client's own re-check contradicts.

    The call then has no verdict, whatever the chain or the search holds:
    the worker lied, is broken, or (for a path) read a file other than the
    client's. ``height`` is the height of the block the answer was about,
    ``worker`` the address of the worker that gave it (``None`` when the
    scheduler no longer knows). Not an :class:`EMRError`: it says nothing
    about the chain.
    """

    def __init__(self, message: str, *, height: Optional[int], worker: Optional[str]):
        super().__init__(message)
        self.height = height
        self.worker = worker


def _lie(client, future, height, claim) -> WorkerError:
    try:
        worker = next(iter(client.who_has(future)[future.key]), None)
    except Exception:  # the scheduler may have dropped the result already
        worker = None
    return WorkerError(f"worker {worker or '(unknown)'} {claim}", height=height, worker=worker)


# --- worker side -------------------------------------------------------------

_running_lock = threading.Lock()
_running = 0


def _running_searches() -> int:
    """Native searches running in this process (the tests ask each worker)."""
    return _running


class _Stop(Exception):
    """Raised from the native progress callback to end a search."""


def _mine_range(search, previous, height, miner, encoded, timestamp, difficulty, start, count, report):
    """One range on one worker thread: ``("found", nonce, hashes)``,
    ``("exhausted", None, hashes)`` or ``("stopped", None, hashes)``."""
    global _running
    worker = _dd.get_worker()
    stop = _dd.Event(search)
    if stop.is_set():
        return ("stopped", None, 0)
    records = [EMR.from_bytes(r) for r in encoded]
    done = [0]

    def poll(hashes, _rate):
        done[0] = hashes
        if report:  # the client subscribed to the search's topic
            worker.log_event(search, [start, hashes])
        if stop.is_set():
            raise _Stop

    with _running_lock:
        _running += 1
    try:
        block = _native.mine_block(
            previous, height, miner, records, timestamp, difficulty,
            threads=1, nonce_start=start, nonce_count=count, progress=poll,
        )
    except _Stop:
        return ("stopped", None, done[0])
    finally:
        with _running_lock:
            _running -= 1
    if block is None:
        return ("exhausted", None, count)
    return ("found", block.nonce, block.nonce - start + 1)


def _precheck_blocks(start, encoded):
    """Stateless checks of blocks ``start, start+1, ...``: ``(passed counts,
    None)``, or the counts before the first that failed and its error."""
    passed = []
    for height, data in enumerate(encoded, start):
        try:
            passed.append(_native._precheck_block(height, data, threads=1))
        except EMRError as error:
            return passed, error
    return passed, None


def _read_and_precheck(path, start, stop):
    """As :func:`_precheck_blocks`, reading heights ``start..stop`` from the
    chain at ``path`` (in one native call); returns the blocks' encodings
    too, as ``[(encoding, passed), ...]``."""
    return _native._precheck_stored(path, start, stop, threads=1)


# --- client side --------------------------------------------------------------


def _worker_threads(client) -> int:
    return max(1, sum(client.nthreads().values()))


def _stop_all(client, event, futures, wait_for):
    """Signals every search to stop and waits (at most ``wait_for`` s) until
    each has ended: a running one sees the event at its next progress
    callback, a queued one as it starts. What is still pending then (its
    worker lost, say) is cancelled. Returns the seconds it took."""
    global last_stop_latency
    began = time.monotonic()
    try:
        event.set()
    except Exception:  # the scheduler may be gone; nothing else to tell
        pass
    deadline = began + wait_for
    while time.monotonic() < deadline and any(f.status == "pending" for f in futures):
        time.sleep(_POLL)
    pending = [f for f in futures if f.status == "pending"]
    if pending:
        try:
            client.cancel(pending)
        except Exception:
            pass
    last_stop_latency = time.monotonic() - began
    return last_stop_latency


#: Seconds the last :func:`mine_block` took to stop every search once it
#: had its answer (diagnostic; the tests and ``make bench`` read it).
last_stop_latency: Optional[float] = None


def mine_block(
    client,
    previous,
    height,
    miner,
    records,
    timestamp,
    difficulty,
    *,
    chunk: Optional[int] = None,
    timeout: Optional[float] = None,
    progress: Optional[Callable[[int, float], object]] = None,
    nonce_start: int = 0,
    nonce_count: Optional[int] = None,
) -> Optional[Block]:
    """Mine a block on the cluster behind ``client``.

    Arguments as for :func:`cryptoemr.mine_block` (checked here first, with
    its errors). The nonces ``nonce_start, ...`` (``nonce_count`` of them,
    default up to 2**64-1) are split into ranges of ``chunk`` nonces
    (default :data:`DEFAULT_CHUNK`); each worker thread searches one range at
    a time with the native miner (GIL released), and a few ranges more than
    there are threads are queued so that no thread waits for work.

    Returns the first valid block any worker finds (a new :class:`Block`,
    built here from the arguments and the worker's nonce), or ``None`` when
    the ranges are exhausted or ``timeout`` seconds pass; raises
    :class:`WorkerError` for a nonce that does not give a valid block.
    Either way, and on Ctrl-C or any other exception, every search has
    stopped when this returns: running native searches see the stop at their
    next progress callback (about every 250 ms; ``docs/DISTRIBUTED.md`` has
    the measured latency), queued ranges return as they start (and what has
    not ended after 5 s, say on a vanished worker, is cancelled). A range
    whose worker is lost is run again by another worker.

    ``progress(hashes, hashes_per_second)``, if given, is called about every
    250 ms on this thread with the cluster's totals; an exception from it
    stops mining and propagates.
    """
    if isinstance(miner, str):
        miner = decode_address(miner, "miner")
    records = list(records)
    # The native call checks every argument exactly as one machine would.
    _native.mine_block(previous, height, miner, records, timestamp, difficulty, threads=1, nonce_count=0)
    if chunk is None:
        chunk = DEFAULT_CHUNK
    if not isinstance(chunk, int) or isinstance(chunk, bool) or chunk < 1:
        raise InvalidArgumentError("chunk must be an int >= 1")
    if timeout is not None and not timeout >= 0:
        raise InvalidArgumentError("timeout must be None or a number of seconds >= 0")
    end = _NONCE_END if nonce_count is None else min(_NONCE_END, nonce_start + nonce_count)
    previous, miner = bytes(previous), bytes(miner)
    encoded = [r.to_bytes() for r in records]

    search = "cryptoemr-mine-" + uuid.uuid4().hex
    event = _dd.Event(search, client=client)
    ranges = ((s, min(chunk, end - s)) for s in range(nonce_start, end, chunk))
    in_flight = 2 * _worker_threads(client)
    live = {}  # range start -> hashes reported by its running search
    hashes_done = 0
    lock = threading.Lock()

    def on_progress(event_):
        _, (start, hashes) = event_
        with lock:
            if start in live:
                live[start] = hashes

    if progress is not None:
        client.subscribe_topic(search, on_progress)

    futures = {}  # future -> (start, count, attempt), until its outcome is read

    def submit(start, count, attempt=0):
        key = f"{search}-{start}-{attempt}"
        future = client.submit(
            _mine_range, search, previous, height, miner, encoded, timestamp, difficulty, start, count,
            progress is not None, key=key, pure=False, retries=0,
        )
        futures[future] = (start, count, attempt)
        with lock:
            live[start] = 0

    deadline = None if timeout is None else time.monotonic() + timeout
    began = time.monotonic()
    last_report = began
    found = None
    try:
        for start, count in itertools.islice(ranges, in_flight):
            submit(start, count)
        while futures:
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                break
            if progress is not None and now - last_report >= 0.25:
                last_report = now
                with lock:
                    total = hashes_done + sum(live.values())
                progress(total, total / max(now - began, 1e-9))
            ready = [f for f in futures if f.status != "pending"]
            if not ready:
                time.sleep(_POLL)
                continue
            for future in ready:
                start, count, attempt = futures.pop(future)
                if future.status == "error":
                    error = future.exception()
                    if isinstance(error, KilledWorker):
                        submit(start, count, attempt + 1)  # its workers died: run it elsewhere
                        continue
                    raise error
                if future.status != "finished":
                    # Cancelled by someone else, or its result was lost with
                    # its worker: the range is searched again.
                    submit(start, count, attempt + 1)
                    continue
                outcome, nonce, hashes = future.result()
                with lock:
                    live.pop(start, None)
                    hashes_done += hashes
                if outcome == "found":
                    found = _remined(client, future, previous, height, miner, records, timestamp, difficulty,
                                     start, count, nonce)
                    break
                nxt = next(ranges, None)
                if nxt is not None:
                    submit(*nxt)
            if found is not None:
                break
    finally:
        outstanding = list(futures)
        _stop_all(client, event, outstanding, _STOP_WAIT)
        if progress is not None:
            try:
                client.unsubscribe_topic(search)
            except Exception:
                pass
        if all(f.status != "pending" for f in outstanding):
            try:
                event.clear()  # drops the event from the scheduler
            except Exception:
                pass
    return found


def _remined(client, future, previous, height, miner, records, timestamp, difficulty, start, count, nonce) -> Block:
    """The block a worker found, built here from the client's own template
    and the worker's nonce: one hash checks the claim, and nothing but the
    nonce is taken from the worker."""
    if isinstance(nonce, int) and not isinstance(nonce, bool) and start <= nonce < start + count:
        block = _native.mine_block(previous, height, miner, records, timestamp, difficulty,
                                   threads=1, nonce_start=nonce, nonce_count=1)
        if block is not None:
            return block
    raise _lie(client, future, height,
               f"said nonce {nonce!r} of its range {start}..{start + count - 1} gives a valid block; it does not")


_Source = Union[Chain, str, "os.PathLike[str]", Iterable[Union[bytes, bytearray, memoryview, Block]]]


def check_chain(
    client,
    source: _Source,
    *,
    partitions: Optional[int] = None,
    progress: Optional[Callable[[int, int], object]] = None,
    params: Optional[dict] = None,
) -> int:
    """Validate a whole chain on the cluster behind ``client``, as
    :meth:`Chain.check` does on one machine.

    ``source`` is a :class:`Chain` (read here, sent to the workers), the path
    of a chain file that every worker and this client can read (each worker
    reads its own heights and sends the blocks back for the walk; this
    client reads only the file's parameters and the ids of its active
    blocks), or an iterable of blocks in their canonical encoding (or
    :class:`Block` objects) from height 0, with the chain parameters
    ``params`` (a dict as :attr:`Chain.params`; default the
    specification's, but ``salt`` is required: entries name the chain's id,
    ``InvalidArgumentError`` without it).

    The blocks are cut into ``partitions`` runs of consecutive heights
    (default four per worker thread); the workers decode each block, check
    its id and every record's signature; this thread then walks the blocks in
    order (linkage, expected difficulty, proof of work, nonces, states),
    calling ``progress(done, total)`` about every 100 ms and at the end.

    Returns the number of blocks, or raises the first bad block's error with
    ``.height`` (``BlockRecordError`` with ``.index`` and the record's error
    as ``__cause__``), exactly as :meth:`Chain.check`. Not repeated here:
    what :meth:`Chain.check` compares in the store itself (SQLite's integrity
    check, the derived state and record tables, undo data).

    Raises :class:`WorkerError` when a worker's answer is contradicted by
    what this client re-derives: a block from a path whose id is not the
    file's active block's at that height (or bytes that are no block), a
    count of passed records the block cannot have, answers for more or fewer
    blocks than asked, or a failure the client's own check of that one block
    does not find. That the records a worker counts as passed have valid
    signatures is taken on trust: verifying them is the work distributed.
    """
    total: int
    threads = _worker_threads(client)
    ids: Optional[List[bytes]] = None
    if isinstance(source, Chain):
        params = source.params
        total = len(source)
        kind = "bytes"
        encoded, read_error = _read_chain(source, total)
    elif isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        with Chain.open_readonly(path) as chain:
            params = chain.params
        # What the workers' blocks are held to, height by height: without
        # it, a worker could hand back any well-linked chain it mined.
        ids = _native._active_ids(path)
        total = len(ids)
        kind, encoded, read_error = "path", None, None
    else:
        kind, read_error = "bytes", None
        encoded = [b.to_bytes() if isinstance(b, Block) else bytes(b) for b in source]
        total = len(encoded)
        params = dict(params or {})
    walk = _native._ChainWalk(**params)

    if partitions is None:
        partitions = 4 * threads
    if not isinstance(partitions, int) or isinstance(partitions, bool) or partitions < 1:
        raise InvalidArgumentError("partitions must be an int >= 1")
    count = len(encoded) if kind == "bytes" else total
    size = max(1, -(-count // partitions))
    bounds = [(s, min(s + size, count)) for s in range(0, count, size)]
    if kind == "bytes":
        futures = [
            client.submit(_precheck_blocks, s, encoded[s:e], key=f"cryptoemr-check-{uuid.uuid4().hex}", pure=False)
            for s, e in bounds
        ]
    else:
        futures = [
            client.submit(_read_and_precheck, path, s, e, key=f"cryptoemr-check-{uuid.uuid4().hex}", pure=False)
            for s, e in bounds
        ]

    last = time.monotonic()

    def tick(done, force=False):
        nonlocal last
        if progress is not None and (force or time.monotonic() - last >= 0.1):
            last = time.monotonic()
            progress(done, total)

    try:
        for (s, e), future in zip(bounds, futures):
            while future.status == "pending":
                time.sleep(_POLL)
            try:
                result, error = future.result()
            except EMRError as raised:
                raise _lie(client, future, s, f"failed on heights {s}..{e - 1}: {raised!r}") from raised
            # An honest run answers for every height, or for those before
            # the one that failed.
            answered = len(result)
            if answered > e - s or (error is not None and answered == e - s):
                raise _lie(client, future, s, f"answered for {answered} blocks, and {'a' if error else 'no'} "
                                              f"failure, where heights {s}..{e - 1} were asked")
            if error is None and answered < e - s:
                raise _lie(client, future, s + answered,
                           f"gave no answer for height {s + answered} (nor up to {e - 1}) and named no failure")
            if kind == "bytes":
                items = zip(encoded[s:e], result)
            else:
                items = result
            for height, (data, passed) in enumerate(items, s):
                _recheck(client, future, height, data, passed, None if ids is None else ids[height])
                walk.apply(data, passed)
                tick(walk.blocks)
            if error is not None:
                # Every block before this one passed the walk, so it is the
                # first bad one if the worker is right. The client checks
                # that one block itself; its own error is the verdict.
                height = walk.blocks
                if kind == "bytes":
                    _native._precheck_block(height, encoded[height])
                else:
                    _, own = _native._precheck_stored(path, height, height + 1)
                    if own is not None:
                        raise own
                raise _lie(client, future, height,
                           f"said block {height} fails ({error!r}); the client's own check of it finds no fault")
        if read_error is not None:
            read_error.height = walk.blocks
            raise read_error
        tick(walk.blocks, force=True)
        return walk.blocks
    finally:
        pending = [f for f in futures if f.status == "pending"]
        if pending:
            try:
                client.cancel(pending)
            except Exception:
                pass


def _recheck(client, future, height, data, passed, expected_id):
    """Holds a worker's answer for block ``height`` to what the client
    re-derives from the bytes: one decode, the header's hash and each
    record's txid."""
    try:
        block_id, records = _native._block_summary(data)
    except EMRError as error:
        claim = f"returned for height {height} bytes that are not a block ({type(error).__name__}: {error})"
        raise _lie(client, future, height, claim) from error
    if expected_id is not None and block_id != expected_id:
        raise _lie(client, future, height,
                   f"returned for height {height} block {block_id.hex()}; "
                   f"the chain file's active block there is {expected_id.hex()}")
    # A count too low only makes the walk verify more records itself; one
    # above the block's records is the lie a count can be caught in.
    if not (isinstance(passed, int) and not isinstance(passed, bool) and 0 <= passed <= records):
        raise _lie(client, future, height, f"said {passed!r} records of block {height} passed; it holds {records}")


def _read_chain(chain, total) -> Tuple[List[bytes], Optional[EMRError]]:
    out = []
    for height in range(total):
        try:
            out.append(chain[height].to_bytes())
        except EMRError as error:
            return out, error
    return out, None

"""Nodes (SPEC section 9): talk to a site's node, sync a chain held in this
process from one, or serve a chain from this process.

::

    import cryptoemr, cryptoemr.node

    # A client of a node: plain HTTP to a loopback address, or HTTPS with
    # the consortium's certificates (PEM bytes).
    client = cryptoemr.node.Client("https://node-a.example:8443", ca=ca_pem, cert=cert_pem, key=key_pem)
    client.submit(record)                 # "ready", "held", ... as Chain.pool.submit
    client.history(patient)               # [(height, block_id, EMR), ...]

    # A chain held in this process, brought in step with a node.
    with cryptoemr.Chain("site.db") as chain:
        report = cryptoemr.node.sync(chain, "http://127.0.0.1:8080", progress=print)

    # A node served from background threads of this process.
    with cryptoemr.node.serve("site.db", listen="127.0.0.1:0", miner=miner) as node:
        cryptoemr.node.Client(node.url).info()

Every rule (URLs, TLS, the sync of SPEC 9.2, the node itself) is the Rust
crate ``emr-node``'s; this module converts values. Certificates and keys
are PEM, given as ``bytes`` (or ``str``), never as paths: read the files
yourself (``pathlib.Path(p).read_bytes()``). Hashes come back as
``bytes``, totals of work as ``int``.

Errors: :class:`NodeError` subclasses for the network and the peer
(:class:`PeerUnreachableError`, :class:`PeerRefusedError`,
:class:`MisbehavingPeerError`, :class:`IncompatiblePeerError`,
:class:`SyncIncompleteError`); ``InvalidArgumentError`` for a URL a client
may not use (plain ``http://`` to another machine than this one) or
certificates that do not go together; ``InvalidKeyError`` for a key that
does not parse; a record's or entry's own error class for one the node
refuses.
"""

import dataclasses
import json
import os
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple, Union

from . import _native
from .errors import (
    BY_KIND,
    EMRError,
    IncompatiblePeerError,
    MisbehavingPeerError,
    NodeError,
    PeerRefusedError,
    PeerUnreachableError,
    SyncIncompleteError,
)
from ._native import EMR, Cancellation, Chain, Conflict, Dispense, DispenserGrant, Grant, Revocation, decode_address
from ._outcomes import PendingConflict

__all__ = [
    "Client",
    "Node",
    "SyncReport",
    "serve",
    "sync",
    "new_authority",
    "issue_certificate",
    "NodeError",
    "PeerUnreachableError",
    "PeerRefusedError",
    "MisbehavingPeerError",
    "IncompatiblePeerError",
    "SyncIncompleteError",
]

_Pem = Union[bytes, bytearray, memoryview, str]


def _hash(text: Optional[str]) -> Optional[bytes]:
    return None if text is None else bytes.fromhex(text)


def _params(params: Dict[str, Any]) -> Dict[str, Any]:
    """The wire's parameters as :attr:`Chain.params` gives them."""
    out = dict(params)
    out["initial_difficulty"] = int(params["initial_difficulty"])
    out["authorities"] = [bytes.fromhex(a) for a in params["authorities"]]
    out["salt"] = _hash(params.get("salt"))
    return out


def _json(text: str, path: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as e:  # the client checked it; kept for safety
        raise MisbehavingPeerError(f"{path}: not JSON ({e})") from None


class Client:
    """A client of one node (SPEC 9.1).

    ``url`` is ``https://HOST:PORT`` with ``ca`` (the consortium
    authority's certificate), ``cert`` and ``key`` (this program's
    certificate and key, from :func:`issue_certificate` or ``emr node cert
    new``), all three PEM ``bytes``; or ``http://HOST:PORT`` to a loopback
    address (127.0.0.1, ::1, localhost) only, without them.
    ``InvalidArgumentError`` for another URL or only some of the three.

    Each call is one connection, bounded in time (connect 5 s, the whole
    request 30 s) and in what it reads; the GIL is released while it waits.
    A client may be shared between threads.
    """

    def __init__(
        self,
        url: str,
        *,
        ca: Optional[_Pem] = None,
        cert: Optional[_Pem] = None,
        key: Optional[_Pem] = None,
    ) -> None:
        self._native = _native._NodeClient(url, ca, cert, key)

    @property
    def url(self) -> str:
        """The node's URL (``scheme://host:port``)."""
        return self._native.url

    def _get(self, path: str) -> Any:
        text = self._native.get_json(path)
        if text is None:
            error = PeerRefusedError(f"{path}: HTTP 404")
            error.status = 404
            raise error
        return _json(text, path)

    def info(self) -> Dict[str, Any]:
        """``GET /v1/info``: ``version`` (str), ``chain_id`` (32 bytes),
        ``genesis`` and ``tip`` (32 bytes, or ``None`` for an empty chain),
        ``params`` (as :attr:`Chain.params`: pass them to :class:`Chain` to
        make a replica), ``height`` (blocks), ``work`` (int) and
        ``pending`` (records and entries in the pool)."""
        info = _json(self._native.info(), "/v1/info")
        info["chain_id"] = bytes.fromhex(info["chain_id"])
        info["genesis"] = _hash(info["genesis"])
        info["tip"] = _hash(info["tip"])
        info["work"] = int(info["work"])
        info["params"] = _params(info["params"])
        return info

    def submit(self, item: Union[EMR, Grant, Revocation, DispenserGrant, Dispense, Cancellation]) -> str:
        """Offers a record (:class:`EMR`) or an entry (:class:`Grant`,
        :class:`Revocation`, :class:`DispenserGrant`, :class:`Dispense`,
        :class:`Cancellation`) to the node's pool, which forwards what it
        accepts to its peers. Returns the outcome as ``Chain.pool.submit``
        does: ``"ready"``, ``"held"``, ``"already_pending"`` or a
        :class:`PendingConflict` (with ``pending_txid``); raises the
        record's or entry's error class (``InvalidNonceError``,
        ``UnauthorizedDoctorError``, ...) when the node refuses it."""
        if not isinstance(item, (EMR, Grant, Revocation, DispenserGrant, Dispense, Cancellation)):
            raise TypeError(f"submit takes an EMR or an entry, not {type(item).__name__}")
        status, name, detail = self._native.submit(item.to_bytes())
        if status == "refused":
            raise BY_KIND.get(name, EMRError)(detail or name)
        if name == "conflicts_with_pending":
            if detail is None:
                raise MisbehavingPeerError("/v1/submit: conflicts_with_pending without pending_txid")
            return PendingConflict(detail)
        return str(name)

    def history(self, patient: Union[bytes, bytearray, memoryview, str]) -> List[Tuple[int, bytes, EMR]]:
        """Every record of ``patient`` (20 bytes or an ``emrp1…`` address)
        in the node's active chain, in chain order, as ``(height,
        block_id, EMR)`` tuples, as :meth:`Chain.patient_history` gives
        them."""
        if isinstance(patient, str):
            hash20 = decode_address(patient, "patient")
        elif isinstance(patient, (bytes, bytearray, memoryview)):
            hash20 = bytes(patient)
        else:
            raise TypeError(f"patient must be bytes or an address (str), not {type(patient).__name__}")
        if len(hash20) != 20:
            raise _invalid(f"patient must be 20 bytes, got {len(hash20)}")
        items = self._get(f"/v1/history/{hash20.hex()}")
        return [(e["height"], bytes.fromhex(e["block"]), EMR.from_bytes(bytes.fromhex(e["record"]))) for e in items]

    def pending(self) -> List[Dict[str, Any]]:
        """The node's pool: for a record ``{"kind": "record", "txid":
        bytes, "doctor": its address, "nonce": int, "ready": bool}``; for
        an entry ``{"kind": "grant" or "revocation", "id": bytes}``."""
        items = self._get("/v1/pending")
        for item in items:
            for field in ("txid", "id"):
                if field in item:
                    item[field] = bytes.fromhex(item[field])
        return items

    def conflicts(self) -> List[Conflict]:
        """The records the node's chain dropped for others (SPEC 9.3), as
        :class:`Conflict` objects, as :meth:`Chain.conflicts` lists them."""
        items = self._get("/v1/conflicts")
        return [
            Conflict(
                EMR.from_bytes(bytes.fromhex(c["record"])),
                bytes.fromhex(c["replaced_by"]),
                bytes.fromhex(c["block"]),
                c["height"],
            )
            for c in items
        ]

    def status(self) -> Dict[str, Any]:
        """``GET /v1/status``: what an operator checks first (height, tip,
        work, pending, conflicts, each peer's state and lag, suspended
        clients), as the node's JSON gives it (hashes in hex)."""
        return self._get("/v1/status")

    def seen(self, hash: Union[bytes, bytearray, memoryview]) -> Optional[Dict[str, Any]]:
        """How sure a block (its id) or a record (its txid), 32 bytes, is:
        ``{"kind": "block" or "record", "block": bytes, "height", "depth",
        "peers_holding", "peers_asked", "peers", "seen_by": "seen by k of
        n sites"}``; ``None`` when the node's active chain holds neither."""
        hash32 = _hash32(hash)
        text = self._native.get_json(f"/v1/seen/{hash32.hex()}")
        if text is None:
            return None
        seen = _json(text, "/v1/seen")
        seen["block"] = bytes.fromhex(seen["block"])
        return seen

    def __repr__(self) -> str:
        return f"<cryptoemr.node.Client {self.url}>"


def _invalid(message: str) -> EMRError:
    return BY_KIND["invalid_argument"](message)


def _hash32(value: Any) -> bytes:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError(f"hash must be bytes, not {type(value).__name__}")
    value = bytes(value)
    if len(value) != 32:
        raise _invalid(f"hash must be 32 bytes, got {len(value)}")
    return value


@dataclasses.dataclass(frozen=True)
class SyncReport:
    """What :func:`sync` did. ``received`` blocks came from the peer; each
    was ``extended``, ``side_branch``, ``reorganized`` (its add moved the
    active chain to another branch), ``already_known`` or ``stale``;
    ``new_conflicts`` records or entries were dropped by a reorganization
    and kept as conflicts (:meth:`Chain.conflicts`). ``height`` and
    ``work`` are the chain's afterwards, ``peer_work`` what the peer
    advertised, ``fork_height`` the last block both held (``None`` when the
    peer was not heavier, or nothing was common)."""

    received: int
    extended: int
    side_branch: int
    reorganized: int
    already_known: int
    stale: int
    new_conflicts: int
    height: int
    work: int
    peer_work: int
    fork_height: Optional[int]

    @property
    def added(self) -> int:
        """Blocks new to this chain: extended + side_branch + reorganized."""
        return self.extended + self.side_branch + self.reorganized


def sync(
    chain: Chain,
    url: Union[str, Client],
    *,
    ca: Optional[_Pem] = None,
    cert: Optional[_Pem] = None,
    key: Optional[_Pem] = None,
    progress: Optional[Callable[[int, int], Any]] = None,
) -> SyncReport:
    """Brings ``chain`` (held in this process) in step with the node at
    ``url`` (a URL, with ``ca``/``cert``/``key`` as for :class:`Client`, or
    a :class:`Client`), once (SPEC 9.2): when the node's chain is heavier,
    finds the last common block, fetches every block after it page by page
    and adds them all in one call (a reorganization happens as for
    :meth:`Chain.add_blocks`; records it cannot return to the pool are kept
    as conflicts). Returns a :class:`SyncReport`; a node no heavier gives
    one with ``received == 0``.

    ``progress(done, total)`` is called on this thread as blocks are
    added. The GIL is released; the chain is held for the call. Ctrl-C
    (or an exception from ``progress``) stops it between two blocks and is
    raised; blocks added before stay. Raises :class:`IncompatiblePeerError`
    (another chain), :class:`MisbehavingPeerError` (a block that fails, an
    answer over its limit, less work than advertised),
    :class:`PeerUnreachableError`, :class:`PeerRefusedError`,
    :class:`SyncIncompleteError` (sync again later), or the chain's own
    errors (``LockedError``, ``IoError``, ...)."""
    if isinstance(url, Client):
        if ca is not None or cert is not None or key is not None:
            raise _invalid("ca, cert and key belong to the Client already given")
        client = url
    else:
        client = Client(url, ca=ca, cert=cert, key=key)
    return SyncReport(**_native._sync(chain, client._native, progress))


class Node:
    """A node running in background threads of this process (made by
    :func:`serve`). It holds its chain's write lock until :meth:`stop`
    (or the end of the ``with`` block)."""

    def __init__(self, native: Any, credentials: Tuple[Optional[_Pem], Optional[_Pem], Optional[_Pem]]) -> None:
        self._native = native
        self._credentials = credentials

    @property
    def addresses(self) -> List[Tuple[str, int]]:
        """``(host, port)`` of each listener, in order (port 0 resolved):
        ``listen``'s, then ``local``'s."""
        return [(host, port) for host, port, _ in self._native.addresses]

    @property
    def url(self) -> str:
        """The first listener's URL: ``https://`` when the node was given
        certificates, else ``http://``."""
        host, port, tls = self._native.addresses[0]
        shown = f"[{host}]" if ":" in host else host
        return f"{'https' if tls else 'http'}://{shown}:{port}"

    @property
    def running(self) -> bool:
        """Whether the node runs (``False`` after :meth:`stop`)."""
        return self._native.running

    def status(self) -> Dict[str, Any]:
        """The node's report, as :meth:`Client.status` gives it."""
        return json.loads(self._native.status())

    def seen(self, hash: Union[bytes, bytearray, memoryview]) -> Optional[Dict[str, Any]]:
        """As :meth:`Client.seen`, asked of this node directly."""
        text = self._native.seen(_hash32(hash))
        if text is None:
            return None
        seen = json.loads(text)
        seen["block"] = bytes.fromhex(seen["block"])
        return seen

    def client(self) -> Client:
        """A :class:`Client` of this node's first listener, with the
        node's own certificates when it has them."""
        ca, cert, key = self._credentials
        return Client(self.url, ca=ca, cert=cert, key=key)

    def stop(self) -> None:
        """Stops the node: new requests are answered 503, syncs and
        mining stop, its threads are joined and its chain closed (the GIL
        is released meanwhile). Stopping twice is allowed."""
        self._native.shutdown()

    def __enter__(self) -> "Node":
        return self

    def __exit__(self, *exc: Any) -> bool:
        self.stop()
        return False

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<cryptoemr.node.Node {self.url} {state}>"


def serve(
    path: Union[str, "os.PathLike[str]"],
    *,
    listen: Union[str, Iterable[str]] = "127.0.0.1:0",
    local: Union[None, str, Iterable[str]] = None,
    peers: Union[str, Iterable[str]] = (),
    ca: Optional[_Pem] = None,
    cert: Optional[_Pem] = None,
    key: Optional[_Pem] = None,
    miner: Union[None, bytes, str] = None,
    threads: Optional[int] = None,
    poll: float = 2.0,
) -> Node:
    """Starts a node on the chain file ``path`` (made by :class:`Chain`,
    ``emr chain init`` or ``emr node join``; closed in this process) in
    background threads of this process, and returns it, running, as a
    :class:`Node` (a context manager that stops it on exit).

    ``listen``: ``"HOST:PORT"`` or several; port 0 picks a free port
    (:attr:`Node.addresses`). With ``ca``, ``cert`` and ``key`` (PEM
    bytes: the consortium authority's certificate, the node's certificate
    and key) it speaks HTTPS with mutual TLS and accepts only clients with
    a certificate of that authority; without them, plain HTTP on a loopback
    address only (``InvalidArgumentError`` otherwise). ``local``: more
    plain-HTTP loopback listeners beside HTTPS ones, for this machine's
    programs. ``peers``: the other nodes' URLs, kept in step with every
    ``poll`` seconds (SPEC 9.2). ``miner`` (20 bytes or an ``emrm1…``
    address): mine a block whenever something is pending, on ``threads``
    threads (default: every core).

    Raises ``LockedError`` when another writer holds the chain,
    ``InvalidArgumentError`` for settings that cannot work, ``IoError``
    when a listener cannot start (the port is taken, ...)."""
    native = _native._serve(
        os.fspath(path),
        listen,
        local,
        peers,
        ca,
        cert,
        key,
        miner,
        threads,
        float(poll),
    )
    return Node(native, (ca, cert, key))


def new_authority(name: str, *, days: int = 3650) -> Tuple[bytes, bytes]:
    """A new consortium certificate authority named ``name``, valid for
    ``days``, as ``emr node ca new`` makes it: ``(cert_pem, key_pem)``.
    Keep the key as carefully as a signing key."""
    return _native._new_authority(name, days)


def issue_certificate(
    ca_cert: _Pem,
    ca_key: _Pem,
    names: Union[str, Iterable[str]],
    *,
    days: int = 730,
) -> Tuple[bytes, bytes]:
    """A certificate signed by the authority (``ca_cert``, ``ca_key``) for
    ``names`` (DNS names and IP addresses; the first is its common name),
    valid for ``days`` as a TLS server and client, with a new key, as
    ``emr node cert new`` makes it: ``(cert_pem, key_pem)``. A node and
    the programs that talk to it each get one."""
    return _native._issue_certificate(ca_cert, ca_key, names, days)


for _name in ("Client", "Node", "SyncReport", "serve", "sync", "new_authority", "issue_certificate"):
    globals()[_name].__module__ = "cryptoemr.node"
del _name

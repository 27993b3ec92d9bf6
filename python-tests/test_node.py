"""cryptoemr.node (SPEC section 9): a node served in this process on
127.0.0.1 (port 0), a Client of it, a one-shot sync of a chain held in
this process, TLS with the consortium's certificates, and the errors.

Chains are made with a low difficulty so the node mines in milliseconds;
every wait is bounded; every file is under pytest's tmp_path."""

import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

import cryptoemr
import cryptoemr.node as node
from cryptoemr.errors import BY_KIND, NODE_BY_KIND
from helpers import pyca_record

DIFFICULTY = 1000
SALT = bytes(range(16))
PATIENT = cryptoemr.calculate_sha1_hash(b"node test patient")
MINER = cryptoemr.encode_address("miner", cryptoemr.calculate_sha1_hash(b"node test miner"))


def make_chain(path, salt=SALT):
    with cryptoemr.Chain(str(path), initial_difficulty=DIFFICULTY, salt=salt) as chain:
        return chain.params


def wait_for(condition, what, seconds=60.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {seconds} s")


def mined_site(tmp_path, blocks=2):
    """A chain file on which a served node mined `blocks` blocks of one
    record each (a cryptoemr record, then a pyca/cryptography one)."""
    path = tmp_path / "site.db"
    make_chain(path)
    doctor = cryptoemr.SigningKey.generate()
    pyca_doctor = ec.generate_private_key(ec.SECP256K1())
    records = [cryptoemr.create_signed_record(doctor, PATIENT, "Amoxicillin 500mg", 1)]
    records.append(pyca_record(pyca_doctor, PATIENT, "Ibuprofen 200mg", 1))
    with node.serve(path, miner=MINER, threads=1, poll=0.5) as served:
        client = node.Client(served.url)
        for i, record in enumerate(records[:blocks]):
            assert client.submit(record) in ("ready", "already_pending")
            wait_for(lambda: client.info()["height"] > i and not client.pending(), f"block {i} mined")
    return path, records[:blocks]


def test_client_submits_and_reads_a_served_node(tmp_path):
    path = tmp_path / "site.db"
    params = make_chain(path)
    doctor = cryptoemr.SigningKey.generate()
    record = cryptoemr.create_signed_record(doctor, PATIENT, "Amoxicillin 500mg", 1)
    twin = cryptoemr.create_signed_record(doctor, PATIENT, "Amoxicillin 250mg", 1)
    pyca_doctor = ec.generate_private_key(ec.SECP256K1())
    pyca = pyca_record(pyca_doctor, PATIENT, "Ibuprofen 200mg", 1)

    # Without a miner: what is submitted stays pending.
    with node.serve(path, listen="127.0.0.1:0") as served:
        assert served.running
        (host, port), = served.addresses
        assert host == "127.0.0.1" and port > 0
        assert served.url == f"http://127.0.0.1:{port}"
        client = node.Client(served.url)
        assert client.url == served.url and served.url in repr(client)
        info = client.info()
        assert info["height"] == 0 and info["tip"] is None and info["genesis"] is None
        assert info["work"] == 0 and info["pending"] == 0
        assert info["params"] == params
        assert info["chain_id"] == cryptoemr.Chain(None, **info["params"]).chain_id
        assert info["version"] == cryptoemr.__version__

        assert client.submit(record) == "ready"
        assert client.submit(record) == "already_pending"
        conflict = client.submit(twin)
        assert isinstance(conflict, cryptoemr.PendingConflict)
        assert conflict == "conflicts_with_pending" and conflict.pending_txid == record.txid
        assert client.submit(pyca) == "ready"
        pending = client.pending()
        assert {p["txid"] for p in pending} == {record.txid, pyca.txid}
        assert all(p["kind"] == "record" and p["ready"] and p["nonce"] == 1 for p in pending)
        assert {p["doctor"] for p in pending} == {doctor.address, cryptoemr.encode_address("doctor", pyca.dr_hash)}
        assert client.info()["pending"] == 2
        assert client.history(PATIENT) == []
        assert client.conflicts() == []
        assert served.status()["pending"] == 2
        assert client.status()["height"] == 0
        assert served.seen(record.txid) is None and client.seen(record.txid) is None
        # A record the node refuses raises its own class, as Chain.pool.submit would.
        bad = cryptoemr.create_signed_record(doctor, PATIENT, "x", 2)
        bad.prescription = "y"
        with pytest.raises(cryptoemr.InvalidTxidError):
            client.submit(bad)
        with pytest.raises(TypeError):
            client.submit(record.to_bytes())
    assert not served.running
    served.stop()  # again: nothing
    with pytest.raises(cryptoemr.InvalidArgumentError):
        served.status()

    # With a miner: the pool is mined, the history and "seen" follow.
    with node.serve(path, miner=MINER, threads=1) as served:
        client = served.client()
        wait_for(lambda: client.info()["height"] >= 1 and not client.pending(), "the pool mined")
        history = client.history(cryptoemr.encode_address("patient", PATIENT))
        assert {e[2].txid for e in history} == {record.txid, pyca.txid}
        assert client.history(PATIENT) == history
        with cryptoemr.Chain.open_readonly(str(path)) as reader:
            assert reader.patient_history(PATIENT) == history
            tip = reader.tip
        for height, block_id, emr in history:
            assert isinstance(height, int) and len(block_id) == 32 and isinstance(emr, cryptoemr.EMR)
        seen = client.seen(record.txid)
        assert seen["kind"] == "record" and seen["block"] == history[0][1] and seen["depth"] >= 1
        assert seen["seen_by"] == "seen by 1 of 1 sites"
        assert served.seen(tip.block_id)["kind"] == "block"
        assert client.seen(bytes(32)) is None
        assert client.info()["tip"] == tip.block_id
        # The record is in a block now: its nonce is taken.
        with pytest.raises(cryptoemr.InvalidNonceError):
            client.submit(twin)
        with pytest.raises(cryptoemr.InvalidArgumentError):
            client.seen(b"short")
        with pytest.raises(cryptoemr.InvalidArgumentError):
            client.history(b"short")
        with pytest.raises(cryptoemr.WrongRoleError):
            client.history(doctor.address)


def test_sync_a_chain_held_in_process(tmp_path):
    path, records = mined_site(tmp_path)
    with cryptoemr.Chain.open_readonly(str(path)) as reader:
        height, work, tip = len(reader), reader.total_difficulty, reader.tip.block_id
    assert height == 2
    with node.serve(path) as served:
        info = node.Client(served.url).info()
        calls = []
        with cryptoemr.Chain(None, **info["params"]) as replica:
            report = node.sync(replica, served.url, progress=lambda done, total: calls.append((done, total)))
            assert isinstance(report, node.SyncReport)
            assert report.received == height and report.extended == height and report.added == height
            assert (report.side_branch, report.reorganized, report.already_known, report.stale) == (0, 0, 0, 0)
            assert report.new_conflicts == 0 and report.fork_height is None
            assert report.height == height == len(replica)
            assert report.work == work == report.peer_work == replica.total_difficulty
            assert replica.tip.block_id == tip
            assert calls and calls[-1] == (height, height)
            assert {e[2].txid for e in replica.patient_history(PATIENT)} == {r.txid for r in records}
            # Again, through a Client: nothing new.
            again = node.sync(replica, node.Client(served.url))
            assert again.received == 0 and again.height == height and again.work == work
            with pytest.raises(cryptoemr.InvalidArgumentError):
                node.sync(replica, node.Client(served.url), ca=b"x")
        # A replica that has part of the chain gets the rest, from the fork.
        with cryptoemr.Chain(None, **info["params"]) as partial:
            with cryptoemr.Chain.open_readonly(str(path)) as reader:
                partial.add_block(reader[0])
            report = node.sync(partial, served.url)
            assert report.received == 1 and report.extended == 1 and report.fork_height == 0
        # Another chain (another salt): never synced.
        with cryptoemr.Chain(None, initial_difficulty=DIFFICULTY, salt=bytes(16)) as other:
            with pytest.raises(node.IncompatiblePeerError) as info_:
                node.sync(other, served.url)
            assert "chain id" in str(info_.value) and len(other) == 0
        # The progress callback's exception (Ctrl-C raises KeyboardInterrupt
        # the same way) stops the sync and is raised; the chain stays usable.
        with cryptoemr.Chain(None, **info["params"]) as replica:

            def interrupt(done, total):
                raise KeyboardInterrupt

            with pytest.raises(KeyboardInterrupt):
                node.sync(replica, served.url, progress=interrupt)
            assert len(replica) <= height
            assert node.sync(replica, served.url).height == height
            with pytest.raises(TypeError):
                node.sync(replica, served.url, progress=5)


def test_urls_and_unreachable_nodes(tmp_path):
    for url in ("ftp://127.0.0.1:80", "http://127.0.0.1", "http://127.0.0.1:0", "127.0.0.1:80", "", "http://:80"):
        with pytest.raises(cryptoemr.InvalidArgumentError):
            node.Client(url)
    # Plain HTTP only to this machine (SPEC 9.4); https needs certificates.
    with pytest.raises(cryptoemr.InvalidArgumentError, match="loopback"):
        node.Client("http://192.0.2.1:8080")
    with pytest.raises(cryptoemr.InvalidArgumentError):
        node.Client("https://127.0.0.1:8443")
    with pytest.raises(cryptoemr.InvalidArgumentError, match="together"):
        node.Client("https://127.0.0.1:8443", ca=b"x")
    with pytest.raises(TypeError):
        node.Client(b"http://127.0.0.1:1")
    # Nothing listens on port 1 of this machine.
    client = node.Client("http://127.0.0.1:1")
    with pytest.raises(node.PeerUnreachableError) as info:
        client.info()
    assert isinstance(info.value, cryptoemr.NodeError) and info.value.status is None
    with cryptoemr.Chain(None, initial_difficulty=DIFFICULTY, salt=SALT) as chain:
        with pytest.raises(node.PeerUnreachableError):
            node.sync(chain, "http://127.0.0.1:1")
    # A node refuses what it does not serve with an HTTP status.
    path = tmp_path / "site.db"
    make_chain(path)
    with node.serve(path) as served:
        with pytest.raises(node.PeerRefusedError) as info:
            served.client()._get("/v1/nothing")
        assert info.value.status == 404


def test_serve_refuses_what_cannot_work(tmp_path):
    path = tmp_path / "site.db"
    make_chain(path)
    with pytest.raises(cryptoemr.InvalidArgumentError, match="loopback"):
        node.serve(path, listen="0.0.0.0:0")
    with pytest.raises(cryptoemr.InvalidArgumentError):
        node.serve(path, listen="not an address")
    with pytest.raises(cryptoemr.InvalidArgumentError):
        node.serve(path, poll=0)
    with pytest.raises(cryptoemr.InvalidArgumentError):
        node.serve(path, peers=["http://192.0.2.1:80"])
    with pytest.raises(cryptoemr.InvalidChecksumError):
        node.serve(path, miner=MINER[:-1] + ("q" if MINER[-1] != "q" else "p"))
    with cryptoemr.Chain(str(path)):
        with pytest.raises(cryptoemr.LockedError):
            node.serve(path)
    with node.serve(path, listen=["127.0.0.1:0", "127.0.0.1:0"]) as served:
        assert len(served.addresses) == 2
        with pytest.raises(cryptoemr.LockedError):
            cryptoemr.Chain(str(path))
    # Stopped: the chain is free again.
    cryptoemr.Chain(str(path)).close()


def test_mutual_tls_with_the_consortium_certificates(tmp_path):
    ca_cert, ca_key = node.new_authority("Test consortium", days=30)
    assert ca_cert.startswith(b"-----BEGIN CERTIFICATE-----") and b"PRIVATE KEY" in ca_key
    node_cert, node_key = node.issue_certificate(ca_cert, ca_key, ["127.0.0.1", "localhost"], days=10)
    client_cert, client_key = node.issue_certificate(ca_cert, ca_key, "program.example", days=10)
    # pyca/cryptography reads what the node's pki made.
    parsed = x509.load_pem_x509_certificate(node_cert)
    names = parsed.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert x509.load_pem_x509_certificate(ca_cert).subject == parsed.issuer
    with pytest.raises(cryptoemr.InvalidArgumentError):
        node.issue_certificate(ca_cert, ca_key, [])
    with pytest.raises(cryptoemr.InvalidKeyError):
        node.issue_certificate(ca_cert, b"junk", ["a.example"])
    with pytest.raises(cryptoemr.InvalidArgumentError):
        node.new_authority("")

    path, _ = mined_site(tmp_path, blocks=1)
    tls = dict(ca=ca_cert, cert=node_cert, key=node_key)
    with node.serve(path, local="127.0.0.1:0", **tls) as served:
        assert served.url.startswith("https://127.0.0.1:")
        (_, tls_port), (_, local_port) = served.addresses
        assert served.client().info()["height"] == 1
        client = node.Client(served.url, ca=ca_cert, cert=client_cert, key=client_key)
        assert client.info()["height"] == 1
        assert node.Client(f"https://localhost:{tls_port}", ca=ca_cert, cert=client_cert, key=client_key).info()
        # The local listener is plain HTTP, for this machine's programs.
        assert node.Client(f"http://127.0.0.1:{local_port}").info()["height"] == 1
        with cryptoemr.Chain(None, **client.info()["params"]) as replica:
            report = node.sync(replica, served.url, ca=ca_cert, cert=client_cert, key=client_key)
            assert report.received == 1 and len(replica) == 1
        # A certificate of another authority is refused in the handshake.
        other_ca, other_key = node.new_authority("Another consortium", days=30)
        stranger_cert, stranger_key = node.issue_certificate(other_ca, other_key, ["localhost"], days=10)
        with pytest.raises(cryptoemr.InvalidArgumentError):
            node.Client(served.url, ca=ca_cert, cert=stranger_cert, key=stranger_key)
        stranger = node.Client(served.url, ca=other_ca, cert=stranger_cert, key=stranger_key)
        with pytest.raises(node.PeerUnreachableError, match="TLS"):
            stranger.info()
        # The key must be the certificate's.
        with pytest.raises(cryptoemr.EMRError):
            node.Client(served.url, ca=ca_cert, cert=client_cert, key=node_key).info()


def test_error_classes():
    classes = [
        node.PeerUnreachableError,
        node.PeerRefusedError,
        node.MisbehavingPeerError,
        node.IncompatiblePeerError,
        node.SyncIncompleteError,
    ]
    assert node.NodeError is cryptoemr.NodeError and node.NodeError.__bases__ == (cryptoemr.EMRError,)
    assert {c.kind for c in classes} == set(NODE_BY_KIND) == {
        "peer_unreachable",
        "peer_refused",
        "peer_misbehaved",
        "peer_incompatible",
        "sync_incomplete",
    }
    for cls in classes:
        assert issubclass(cls, node.NodeError) and NODE_BY_KIND[cls.kind] is cls
        assert cls.kind not in BY_KIND and cls.__module__ == "cryptoemr.errors" and cls.__doc__
        assert cls.__name__ in cryptoemr.errors.__all__ and cls.__name__ in node.__all__
        assert getattr(cryptoemr, cls.__name__) is cls
    for name in node.__all__:
        assert hasattr(node, name), name


def test_two_sites_the_prescription_dropped_by_a_sync_is_a_conflict(tmp_path):
    """The two-site story through cryptoemr.node: a doctor signs at
    site D (a chain held in this process) and, before the sites sync, at
    site C (a served node) with the same nonce; C's branch is heavier, so
    D's sync reorganizes and D's prescription is listed as a conflict with
    C's record in its place, not lost."""
    path = tmp_path / "site-c.db"
    make_chain(path)
    doctor = cryptoemr.SigningKey.generate()
    other = cryptoemr.SigningKey.generate()
    with node.serve(path, miner=MINER, threads=1) as site_c:
        c = site_c.client()

        def mined(height):
            wait_for(lambda: c.info()["height"] >= height and not c.pending(), f"height {height} at C")

        assert c.submit(cryptoemr.create_signed_record(other, PATIENT, "genesis visit", 1)) == "ready"
        mined(1)
        with cryptoemr.Chain(None, **c.info()["params"]) as site_d:
            assert node.sync(site_d, site_c.url).height == 1
            at_d = cryptoemr.create_signed_record(doctor, PATIENT, "Amoxicillin 500mg, written at D", 1)
            assert site_d.pool.submit(at_d) == "ready"
            assert site_d.mine_next(MINER, threads=1) is not None and len(site_d) == 2
            at_c = cryptoemr.create_signed_record(doctor, PATIENT, "Amoxicillin 250mg, written at C", 1)
            assert c.submit(at_c) == "ready"
            mined(2)
            assert c.submit(cryptoemr.create_signed_record(other, PATIENT, "follow-up", 2)) == "ready"
            mined(3)

            report = node.sync(site_d, site_c.url)
            assert report.fork_height == 0 and report.reorganized >= 1 and report.new_conflicts == 1
            assert report.height == 3 and site_d.tip.block_id == c.info()["tip"]
            (conflict,) = site_d.conflicts()
            assert conflict.record == at_d and conflict.replaced_by == at_c.txid
            assert at_d.txid not in {r.txid for r in site_d.pool.pending()}
            assert {e[2].txid for e in site_d.patient_history(PATIENT)} == {e[2].txid for e in c.history(PATIENT)}
            assert at_c.txid in {e[2].txid for e in site_d.patient_history(PATIENT)}
        # Site C never held D's record: nothing to list there.
        assert c.conflicts() == []

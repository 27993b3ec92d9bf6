"""`make bench`: cryptoemr's core beside the plain-Python baseline, in one run.

Runs the Rust throughput benchmark (JSON lines), the chain benchmark
(emr-core/examples/chain_bench.rs, JSON lines), the same operations through
the Python package, the baseline of
../shared/bench/python_baseline.py (best of five runs each, as the Rust side takes the best of five windows) and OpenSSL's
SHA-256 speed, then prints one Markdown table with ratios. Numbers depend on the machine; the header
line says which one this was.
"""
import json
import os
import platform
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("EMR_SHARED_DIR", os.path.join(os.path.dirname(ROOT), "shared"))
BASELINE = os.path.join(SHARED, "bench", "python_baseline.py")
CURVES = ("secp256k1", "P-256")


def run_json_lines(cmd, **kw):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def baseline(key, *args, runs=5):
    """The baseline's best of `runs` runs: noise only ever slows a run down."""
    print("  baseline:", " ".join(args), file=sys.stderr, flush=True)
    return max(run_json_lines([sys.executable, BASELINE, *args])[0][key] for _ in range(runs))


def best_rate(items, run, runs=5):
    """Items per second of `run()`, the best of `runs` timings, after half a
    second of warm-up: the first few hundred milliseconds of work on this VM
    run up to a third slower, which would otherwise swallow short timings."""
    import time
    warm_until = time.perf_counter() + 0.5
    while time.perf_counter() < warm_until:
        run()
    best = 0.0
    for _ in range(runs):
        start = time.perf_counter()
        run()
        best = max(best, items / (time.perf_counter() - start))
    return best


def python_binding_rates(cores):
    """What a Python caller gets through the cryptoemr wheel, GIL and all."""
    import cryptoemr
    rates = {}
    patient = cryptoemr.calculate_sha1_hash(b"patient")
    for curve in CURVES:
        key = cryptoemr.SigningKey.generate(curve)
        texts = ["Medication %d: 10mg" % i for i in range(1000)]
        records = []
        rates[("sign", curve, 1)] = best_rate(len(texts), lambda: records.__setitem__(slice(None), [
            cryptoemr.create_signed_record(key, patient, text, i + 1) for i, text in enumerate(texts)]))
        nonces = list(range(len(records)))
        for threads in sorted({1, cores}):
            rates[("verify", curve, threads)] = best_rate(
                len(records), lambda: cryptoemr.verify_records(records, nonces, threads=threads))
    return rates


def python_chain_rates(runs=3):
    """`Chain.check` through the Python package, on the 2,000 x 25-record
    chain that chain_bench.rs keeps in target/bench-chains (records/s, best
    of `runs`); {} when that chain is not there."""
    import time
    import cryptoemr
    path = os.path.join(os.environ.get("EMR_BENCH_CHAINS", os.path.join(ROOT, "target", "bench-chains")),
                        "check-2000x25.db")
    if not os.path.exists(path):
        return {}
    best = 0.0
    for _ in range(runs):
        with cryptoemr.Chain.open_readonly(path) as chain:
            start = time.perf_counter()
            blocks = chain.check()
            best = max(best, blocks * 25 / (time.perf_counter() - start))
    return {("`check` (`Chain.check`), 2,000 blocks x 25", os.cpu_count() or 1): best}


def chain_rows(chain, base_verify, cores):
    """Rows for the chain benchmark's JSON lines (chain_bench.rs)."""
    def find(what, **match):
        for r in chain:
            if r["what"] == what and all(r.get(k) == v for k, v in match.items()):
                return r
        return None

    rows = []
    for kind, label in (("flat", "one flat `verify_records` batch of the 50,000 records"),
                        ("check", "`check` of the 2,000 x 25 chain (windows across blocks)")):
        one, many = find("scaling", kind=kind, threads=1), find("scaling", kind=kind, threads=cores)
        if one and many and cores > 1:
            rows.append((f"scaling: {label}", f"{cores}", fmt(many["value"], " rec/s"),
                         fmt(one["value"], " rec/s") + " (1 thread)", f"{many['value'] / one['value']:.2f}x"))
    b = base_verify
    for per_block, blocks in ((25, 2000), (1, 10000)):
        r = find("check", records_per_block=per_block)
        if r:
            rows.append((f"`check` of a stored chain, {blocks:,} blocks x {per_block} secp256k1 record{'s' if per_block > 1 else ''}",
                         f"{r['threads']}", fmt(r["value"], " rec/s"), fmt(b, " rec/s") + " (verify, 1 core)",
                         ratio(r["value"], b)))
    r = find("add_blocks")
    if r:
        rows.append((f"`add_blocks`, file chain, {r['blocks']:,} blocks x {r['records_per_block']} records, batches of 500",
                     f"{r['threads']}", fmt(r["value"], " rec/s"), fmt(b, " rec/s") + " (verify, 1 core)",
                     ratio(r["value"], b)))
    for per_block in (25, 0):
        r = find(f"add_block_{per_block}")
        if r:
            rows.append((f"durable `add_block` ({per_block} records, file chain, synchronous=FULL): median, p99",
                         f"{r['threads']}", f"{r['value']:.2f} ms, {r['p99']:.2f} ms", "n/a (no chain)", "n/a"))
    for blocks in (10000, 100000):
        r = find("reopen", blocks=blocks)
        if r:
            rows.append((f"reopen a {blocks:,}-block chain (open, tip, next difficulty; warm cache)", "1",
                         f"{r['value']:.2f} ms", "n/a (no chain)", "n/a"))
    r = find("patient_history")
    if r:
        rows.append((f"`patient_history` on {r['blocks']:,} blocks ({r['records']} records): median", "1",
                     f"{r['value']:.2f} ms", "n/a (no chain)", "n/a"))
    return rows


def dask_rates(cores, runs=3):
    """cryptoemr.distributed on a LocalCluster of `cores` single-thread worker
    processes on this machine, against the in-process call on `cores`
    threads: mining rate and chain-check rate (best of `runs` each). The
    scheduler and this client share the same cores. None without Dask."""
    try:
        from distributed import Client, LocalCluster
        import cryptoemr.distributed as cd
    except ImportError:
        return None
    import shutil
    import tempfile
    import time
    import cryptoemr

    def timed(items, call):
        start = time.perf_counter()
        call()
        return items / (time.perf_counter() - start)

    out = {}
    miner = cryptoemr.calculate_sha1_hash(b"miner")
    impossible = (1 << 128) - 1  # never met: every run searches its whole range
    # Eight ranges per worker thread: the last range of a fixed-size job is
    # the only one that can leave a thread idle, an eighth of the run at most.
    nonces = 8 * cores * cd.DEFAULT_CHUNK
    work = tempfile.mkdtemp(prefix="emr-bench-dask-")
    try:
        print("  cryptoemr.distributed: building a 2000-block chain", file=sys.stderr, flush=True)
        path = os.path.join(work, "chain.db")
        key = cryptoemr.SigningKey.generate("secp256k1")
        patient = cryptoemr.calculate_sha1_hash(b"patient")
        with cryptoemr.Chain(path, initial_difficulty=1) as chain:
            blocks, previous = [], bytes(32)
            for height in range(2000):
                records = [cryptoemr.create_signed_record(key, patient, "dose %d" % i, height * 25 + i + 1)
                           for i in range(25)]
                block = cryptoemr.Block(previous, height, miner, records, 1_700_000_000 + 12 * height, 1, b"", 0)
                block.block_id = previous = block.calculate_block_id()
                blocks.append(block)
            chain.add_blocks(blocks)
        records = 2000 * 25
        with cryptoemr.Chain(path) as chain:
            encoded = [b.to_bytes() for b in chain.blocks()]
            params = chain.params
        print(f"  cryptoemr.distributed: LocalCluster, {cores} workers x 1 thread, against in-process",
              file=sys.stderr, flush=True)
        with LocalCluster(n_workers=cores, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address=None, silence_logs=40) as cluster, Client(cluster) as client:
            client.wait_for_workers(cores)
            stops = []

            def mine_dask():
                cd.mine_block(client, bytes(32), 0, miner, [], 1_700_000_000, impossible, nonce_count=nonces)
                stops.append(cd.last_stop_latency)

            def check_local():
                with cryptoemr.Chain(path) as chain:
                    chain.check()

            # Interleaved, so that both sides of a ratio see the same load
            # (this is a shared VM); the best run of each side is kept.
            trials = {
                ("mine", "local"): (nonces, lambda: cryptoemr.mine_block(
                    bytes(32), 0, miner, [], 1_700_000_000, impossible, threads=cores, nonce_count=nonces)),
                ("mine", "dask"): (nonces, mine_dask),
                ("check", "local"): (records, check_local),
                ("check", "dask path"): (records, lambda: cd.check_chain(client, path)),
                ("check", "dask bytes"): (records, lambda: cd.check_chain(client, encoded, params=params)),
            }
            for _ in range(runs):
                for name, (items, call) in trials.items():
                    out[name] = max(out.get(name, 0.0), timed(items, call))
            # Stop latency: a search that never finds, stopped by its timeout.
            for _ in range(runs):
                cd.mine_block(client, bytes(32), 0, miner, [], 1_700_000_000, impossible, timeout=2.0)
                stops.append(cd.last_stop_latency)
            out["stop"] = max(stops)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def openssl_compressions_per_second():
    try:
        out = subprocess.run(["openssl", "speed", "-evp", "sha256", "-bytes", "16384", "-seconds", "3"],
                             check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    match = re.search(r"^sha256\s+([\d.]+)k", out, re.M)
    return float(match.group(1)) * 1000 / 64 if match else None


def machine():
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}"


def fmt(x, unit=""):
    if x is None:
        return "n/a"
    if x >= 1e6:
        return f"{x / 1e6:.2f} M{unit}"
    if x >= 1e4:
        return f"{x / 1e3:.1f} k{unit}"
    return f"{x:.1f}{unit}"


def ratio(a, b):
    return f"{a / b:.1f}x" if a and b else "n/a"


def main():
    cores = os.cpu_count() or 1
    print("running the Rust benchmark (cargo bench, release)...", file=sys.stderr, flush=True)
    rust = run_json_lines(["cargo", "bench", "-q", "-p", "emr-core", "--bench", "throughput"], cwd=ROOT)
    print("running the chain benchmark (chain_bench example, release; builds target/bench-chains once)...",
          file=sys.stderr, flush=True)
    chain = run_json_lines(["cargo", "run", "--release", "-q", "-p", "emr-core", "--example", "chain_bench"], cwd=ROOT)

    def ours(what, threads, curve=None, engine=None):
        for r in rust:
            if r["what"] == what and r["threads"] == threads and r.get("curve") == curve and r.get("engine", None) == engine:
                return r["per_second"]
        return None

    base = {}
    for curve in CURVES:
        base[("sign", curve)] = baseline("records_per_s", "sign", "1000", curve)
        base[("verify", curve)] = baseline("records_per_s", "verify", "1000", curve)
    base[("hash", 1)] = baseline("hashes_per_s", "hashrate", "300000", "1")
    base[("hash", cores)] = baseline("hashes_per_s", "hashrate", str(300000 * cores), str(cores))
    openssl = openssl_compressions_per_second()
    print("  cryptoemr from Python", file=sys.stderr, flush=True)
    from_python = python_binding_rates(cores)
    dask = dask_rates(cores)

    rows = []
    for curve in CURVES:
        for what in ("sign", "verify"):
            b = base[(what, curve)]
            for t in sorted({1, cores}):
                r = ours(what, t, curve)
                rows.append((f"{what} {curve}", f"{t}", fmt(r, " rec/s"), fmt(b, " rec/s") + " (1 core)", ratio(r, b)))
            api = "create_signed_record" if what == "sign" else "verify_records"
            for t in sorted({1, cores}):
                r = from_python.get((what, curve, t))
                if r:
                    rows.append((f"{what} {curve}, from Python (`{api}`)", f"{t}", fmt(r, " rec/s"),
                                 fmt(b, " rec/s") + " (1 core)", ratio(r, b)))
        r, bare = ours("verify_ours", 1, curve), ours("verify_bare", 1, curve)
        if r and bare:
            lib = "libsecp256k1 `verify_ecdsa`" if curve == "secp256k1" else "ring `UnparsedPublicKey::verify`"
            rows.append((f"verify {curve}, record checks against bare {lib} of the same signatures (time ratio, goal <= 1.15x)",
                         "1", fmt(r, " rec/s"), fmt(bare, " rec/s") + " (bare)", f"{bare / r:.3f}x the time"))
        b = base[("verify", curve)] / 25
        for t in sorted({1, cores}):
            r = ours("block25", t, curve)
            rows.append((f"verify 25-record block {curve}", f"{t}", fmt(r, " blocks/s"),
                         fmt(b, " blocks/s") + " (verify/25)", ratio(r, b)))
    # Engines in the order the throughput run measured them: the core's
    # calibrated ranking, fastest first.
    engines = list(dict.fromkeys(r["engine"] for r in rust if r["what"] == "mine"))
    ring_rate = next((r["per_second"] for r in rust if r["what"] == "ring_sha256"), None)
    calibration = next((r for r in rust if r["what"] == "calibration"), None)
    for engine in engines:
        r = ours("mine", 1, engine=engine)
        if ring_rate:
            chosen = " (the calibrated default)" if calibration and calibration["engine"] == engine else ""
            rows.append((f"mine ({engine}){chosen}, 25-txid header, against ring's SHA-256 compressions", "1",
                         fmt(r, "H/s"), fmt(ring_rate, " compressions/s") + " (ring, 1 thread)", ratio(r, ring_rate)))
    for engine in engines:
        for t in sorted({1, cores}):
            r = ours("mine", t, engine=engine)
            b = base[("hash", t)]
            extra = f"; {ratio(r, openssl * t if openssl else None)} OpenSSL x{t}" if openssl else ""
            rows.append((f"mine ({engine})", f"{t}", fmt(r, "H/s"), fmt(b, "H/s") + f" ({t} proc)", ratio(r, b) + extra))
    if dask:
        workers = f"{cores} workers x 1 thread"
        rows.append((f"mine, `cryptoemr.distributed` (LocalCluster, {workers})", f"{cores}",
                     fmt(dask[("mine", "dask")], "H/s"), fmt(dask[("mine", "local")], "H/s") + f" (in-process `mine_block`, {cores} threads)",
                     f"{dask[('mine', 'dask')] / dask[('mine', 'local')]:.2f}x in-process"))
        for source, label in (("path", "a path"), ("bytes", "encoded blocks")):
            r = dask[("check", "dask " + source)]
            rows.append((f"check 2000x25-record chain, `check_chain` from {label} (LocalCluster, {workers})", f"{cores}",
                         fmt(r, " rec/s"), fmt(dask[("check", "local")], " rec/s") + f" (in-process `Chain.check`, {cores} threads)",
                         f"{r / dask[('check', 'local')]:.2f}x in-process"))

    rows.extend(chain_rows(chain, base[("verify", "secp256k1")], cores))
    for (what, t), r in sorted(python_chain_rates().items()):
        rows.append((f"{what} secp256k1 records, from Python", f"{t}", fmt(r, " rec/s"),
                     fmt(base[("verify", "secp256k1")], " rec/s") + " (verify, 1 core)",
                     ratio(r, base[("verify", "secp256k1")])))

    print()
    print(f"Machine: {machine()}")
    if openssl:
        print(f"OpenSSL SHA-256 (`openssl speed -evp sha256 -bytes 16384`): {fmt(openssl)} compressions/s per core")
    if calibration:
        ranked = ", ".join(f"{name} {rate / 1e6:.1f} MH/s" for name, rate in calibration["rates"])
        print(f"Engine calibration (25-txid header, one thread, once per process): {calibration['engine']} chosen, "
              f"{'measured' if calibration['calibrated'] else 'fixed order'} in {calibration['took_ms']:.2f} ms: {ranked}")
    print()
    print("| operation | threads | cryptoemr | Python baseline | ratio |")
    print("| --- | --- | --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    try:
        print(f"\nload average when done: {os.getloadavg()[0]:.2f} (other work on the machine slows every row)")
    except OSError:
        pass
    for curve in CURVES:
        one, many = ours("verify", 1, curve), ours("verify", cores, curve)
        if one and many:
            print(f"\nbatch verify {curve}: {cores} threads = {many / one:.2f}x one thread")
    if dask:
        print(f"\ncryptoemr.distributed: every running search stopped within {dask['stop'] * 1000:.0f} ms of the stop (worst of the runs)")


if __name__ == "__main__":
    if sys.argv[1:] == ["--dask"]:  # only the cryptoemr.distributed rows
        print(dask_rates(os.cpu_count() or 1))
    else:
        main()

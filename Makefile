# cryptoemr: one entry point for set-up, tests, demo and benchmarks.
# Needs only Rust, Python 3.11 with pip, gcc and g++; everything else (a venv
# with maturin, ziglang, auditwheel, pytest and pyca/cryptography, cbindgen,
# valgrind, pkg-config, sqlite3) installs itself.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
ROOT := $(abspath .)
PYTHON ?= python3
VENV := $(ROOT)/.venv
VPY := $(VENV)/bin/python
SHARED ?= $(abspath $(ROOT)/../shared)
export EMR_VECTORS_DIR ?= $(SHARED)/vectors
CARGO_BIN := $(HOME)/.cargo/bin
CBINDGEN_VERSION := 0.29.4
CBINDGEN := $(ROOT)/target/tools/bin/cbindgen
CC ?= gcc
LIBDIR := $(ROOT)/target/release
CARGO_FUZZ_VERSION := 0.13.2
TOOLS_BIN := $(ROOT)/target/tools/bin
CARGO_FUZZ := $(TOOLS_BIN)/cargo-fuzz
# Seconds per fuzz target: `make fuzz FUZZ_SECONDS=600`; the smoke in `make test`.
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 3

.PHONY: faultfs help demo test bench bench-chain bench-million bench-node test-rust test-cli test-c test-python test-readme test-sql sqlite3-tool lib header header-check wheel venv tools clean fuzz fuzz-build fuzz-seeds test-fuzz clippy

# A bare `make` lists the targets; nothing long starts by accident.
help: ## this list
	@echo "cryptoemr: make TARGET"
	@grep -E '^[a-z][a-z-]*:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## (.*)/  \1\t\2/' | expand -t 18

## --- set-up -------------------------------------------------------------

$(VENV)/.ready: emr-py/requirements-dev.txt python-tests/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --upgrade pip
	$(VPY) -m pip install --quiet -r emr-py/requirements-dev.txt
	touch $@

venv: $(VENV)/.ready

$(CBINDGEN):
	cargo install --quiet --locked --root $(ROOT)/target/tools cbindgen --version $(CBINDGEN_VERSION)

$(CARGO_FUZZ):
	cargo install --quiet --locked --root $(ROOT)/target/tools cargo-fuzz --version $(CARGO_FUZZ_VERSION)

tools: $(CBINDGEN)
	@command -v valgrind >/dev/null || { echo "installing valgrind"; \
	  (apt-get update -qq && apt-get install -y -qq valgrind >/dev/null) || \
	  { echo "valgrind missing and could not be installed"; exit 1; }; }

# The stock sqlite3 shell, for docs/SQL.md's queries and the CLI tests that
# read a chain with it (or write it, to see what `emr` then says).
sqlite3-tool:
	@command -v sqlite3 >/dev/null || { echo "installing sqlite3"; \
	  (apt-get update -qq && apt-get install -y -qq sqlite3 >/dev/null) || \
	  { echo "sqlite3 missing and could not be installed"; exit 1; }; }

## --- builds -------------------------------------------------------------

# libemr.so's soname (emr-ffi/build.rs) is what programs linked against it
# load: a link of that name beside it lets them run from target/release.
lib: ## libemr.so and libemr.a in target/release
	cargo build --release -p emr-ffi
	@soname=$$(readelf -d $(LIBDIR)/libemr.so | sed -n 's/.*Library soname: \[\(libemr\.so\..*\)\]/\1/p'); \
	  [[ -n $$soname ]] || { echo "libemr.so has no soname (emr-ffi/build.rs)"; exit 1; }; \
	  ln -sfn libemr.so $(LIBDIR)/$$soname

header: $(CBINDGEN) ## regenerates include/emr.h with cbindgen
	$(CBINDGEN) --config emr-ffi/cbindgen.toml --crate emr-ffi --output include/emr.h emr-ffi

# Fails when the committed header is not what cbindgen generates now.
header-check: $(CBINDGEN)
	$(CBINDGEN) --config emr-ffi/cbindgen.toml --crate emr-ffi --output target/emr.h.generated emr-ffi
	@diff -u include/emr.h target/emr.h.generated || \
	  { echo "include/emr.h is stale: run 'make header' and commit it"; exit 1; }

# The release wheel (packaging block below): manylinux2014, abi3, installed
# into .venv.
wheel: venv ## the Python wheel (manylinux2014, abi3), installed into .venv
	rm -rf target/wheels
	PATH="$(VENV)/bin:$$PATH" $(VENV)/bin/maturin build --release --quiet --zig --compatibility manylinux2014 \
	  -m emr-py/Cargo.toml -o target/wheels
	$(VPY) -m pip install --quiet --force-reinstall --no-deps target/wheels/*.whl

## --- tests --------------------------------------------------------------

# The fault-injection shim (faultfs/faultfs.c; docs/DURABILITY.md, "Full and
# failing disks"): LD_PRELOAD'ed by the fault tests of every surface. The
# Rust and Python tests also build it themselves when it is missing.
FAULTFS := $(ROOT)/target/faultfs/libfaultfs.so
$(FAULTFS): faultfs/faultfs.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -Wall -Wextra -Werror -O2 -fPIC -shared -o $@ $< -ldl -lpthread

faultfs: $(FAULTFS) ## the fault-injection shim (target/faultfs/libfaultfs.so)

test: test-rust clippy test-cli test-sql header-check test-c test-readme test-python test-package test-fuzz ## every test suite: Rust, clippy, the command line, C, Python, the walk-throughs, packages, a fuzz smoke (about 27 minutes on 2 cores)
	@echo "make test: all suites passed"

test-rust: faultfs ## the Rust crates' tests
	cargo test --workspace --exclude emr-py --exclude emr-cli

# Every lint on every target of the workspace is an error.
clippy:
	cargo clippy --quiet --workspace --all-targets -- -D warnings

# The `emr` command line, through the built binary: exit codes, --json,
# a two-chain session, progress bars on a pseudo-terminal.
test-cli: sqlite3-tool faultfs ## the emr command line's tests
	cargo test -p emr-cli

# docs/SQL.md's example queries through the stock sqlite3 shell, read-only,
# on a chain the command line made; the chain then still passes check.
test-sql: sqlite3-tool ## docs/SQL.md's queries through the sqlite3 shell
	cargo build --quiet -p emr-cli
	bash scripts/check_sql_doc.sh target/debug/emr

# test_sync runs a node with the `emr` binary, so it is built too;
# test_faults runs with the faultfs shim.
test-c: tools lib faultfs ## the C tests under valgrind and ASan/UBSan
	cargo build --release --quiet -p emr-cli
	bash emr-ffi/tests/run.sh

test-python: wheel chromium-tool faultfs ## the Python tests against a wheel built from this tree
	cd python-tests && $(VPY) -m pytest -q

# The README's quick starts, run exactly as written.
test-readme: venv sqlite3-tool pkg-config-tool ## the README's quick starts and docs/INSTALL.md, docs/TUTORIAL.md as written
	$(VPY) scripts/check_readme.py

## --- fuzzing (docs/SECURITY.md) ----------------------------------------

# cargo fuzz needs the nightly toolchain (libFuzzer, sanitizer coverage).
fuzz-build: $(CARGO_FUZZ)
	@rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
	cd fuzz && PATH=$(TOOLS_BIN):$$PATH cargo +nightly fuzz build -O

# Every target for FUZZ_SECONDS each; findings in target/fuzz-work.
fuzz: fuzz-build ## every fuzz target for FUZZ_SECONDS each (nightly)
	PATH=$(TOOLS_BIN):$$PATH bash fuzz/run.sh $(FUZZ_SECONDS)

# A few seconds per target: keeps every target building and its seeds passing.
test-fuzz: fuzz-build
	PATH=$(TOOLS_BIN):$$PATH FUZZ_WORK=$(ROOT)/target/fuzz-smoke bash fuzz/run.sh $(FUZZ_SMOKE_SECONDS)

# Rewrites the committed seed corpora (fuzz/corpus) from the shared vectors.
fuzz-seeds:
	cd fuzz && cargo +nightly run --quiet --example make_seeds

## --- demo and benchmarks ---------------------------------------------------

demo: ## a hospital's day, told by the library (the first build takes a few minutes)
	@echo "building the demo (release mode; the first build takes about 4 minutes on 2 cores, then seconds)..."
	cargo build --release -p emr-core --example demo
	@echo
	@$(ROOT)/target/release/examples/demo

bench: wheel bench-node ## every benchmark, beside the plain-Python baseline (docs/BENCHMARKS.md)
	$(VPY) benches/bench.py

# The node's rows of `make bench`: a 10,000-block sync over loopback TLS
# against `emr chain import`, peak memory, block propagation across three
# nodes (emr-node/examples/node_bench.rs; the chain is kept in
# target/bench-chains, the runs under target/bench-node).
bench-node: ## the node rows: a 10,000-block sync over TLS, block propagation
	cargo build --release --quiet -p emr-cli
	cargo run --release --quiet -p emr-node --example node_bench

# The chain rows of `make bench` alone (no wheel, no baseline): a table on
# stderr, JSON lines on stdout. Chains are kept in target/bench-chains.
bench-chain: ## the chain rows alone
	cargo run --release --quiet -p emr-core --example chain_bench

# A chain of a million records (docs/BENCHMARKS.md, "A million records"):
# 40,000 and 1,000,000 records built anew into target/bench-chains (about
# 850 MB for the million), each figure and each phase's peak memory from a
# process of its own. Half an hour on two quiet cores.
bench-million: ## a 1,000,000-record chain: size, build, reopen, queries, check, peak memory
	cargo run --release --quiet -p emr-core --example million_bench

clean: ## removes target/ and .venv
	cargo clean
	rm -rf $(VENV)

## --- durability ----------------------------------------------------------

# The long forms of the storage campaigns (docs/DURABILITY.md), in release
# mode: 200 kill -9 rounds, 5000 byte flips in a closed chain database,
# 2000 in the WAL of a killed writer, 5000 in the page-checksum shim's own
# database, 5000 writes beside a reader process, 3000 rounds on a full and
# failing disk (faultfs). Each prints its figures. Override with
# EMR_KILL_ROUNDS, EMR_FLIPS, EMR_WAL_FLIPS, EMR_READER_ROUNDS,
# EMR_FAULT_ROUNDS (EMR_FAULT_SEED replays a fault campaign).
.PHONY: durability
durability: faultfs ## the long kill -9, byte-flip and full/failing-disk campaigns (docs/DURABILITY.md)
	cargo test --release -p emr-core --test durability -- --ignored --nocapture --test-threads=1
	EMR_READER_ROUNDS=$${EMR_READER_ROUNDS:-5000} cargo test --release -p emr-core --test durability -- --exact a_reader_process_sees_only_acknowledged_blocks --nocapture
	cargo test --release -p emr-core --lib -- --ignored --nocapture chain::pagecheck::tests::byte_flip_campaign_long
	EMR_FAULT_ROUNDS=$${EMR_FAULT_ROUNDS:-3000} cargo test --release -p emr-core --test faults -- --ignored --nocapture full_and_failing_disks_long

# The long power-loss campaign (docs/DURABILITY.md, "Power loss"): 100,000
# crash points over 25 recorded runs of 150 operations, in release mode.
# Override with EMR_CRASH_POINTS, EMR_CRASH_RUNS, EMR_CRASH_OPS (operations
# per run); EMR_CRASH_DIR (default /dev/shm) holds the files.
.PHONY: crash
crash: ## the long power-loss campaign: 100,000 simulated crash points (docs/DURABILITY.md)
	cargo test --release -p emr-core --lib -- --ignored --nocapture chain::crash::tests::power_loss_long

## --- packaging and installation ---------------------------------
#
# One version for every surface: [workspace.package] version in Cargo.toml
# (the crate, emr_version(), the CLI, and the wheel through maturin).
# docs/PACKAGING.md says what each target checks and what it costs.

.PHONY: install uninstall test-package test-wheel test-python-versions test-sdist test-install test-crate pkg-config-tool chromium-tool

VERSION := $(shell sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' $(ROOT)/Cargo.toml)

# `make install` puts the C library, its header and pkg-config file, and the
# `emr` command line under $(PREFIX) (GNU names; DESTDIR for staging):
#   bin/emr, include/emr.h, lib/libemr.a, lib/pkgconfig/emr.pc,
#   lib/libemr.so.$(VERSION) with the links libemr.so.<ABI> (its soname,
#   set by emr-ffi/build.rs) and libemr.so.
# Debug information is stripped from the installed libraries (the build's
# own copies in target/release keep it). Into /usr/local, run `ldconfig`
# afterwards so the loader sees the new soname.
PREFIX ?= /usr/local
bindir ?= $(PREFIX)/bin
libdir ?= $(PREFIX)/lib
includedir ?= $(PREFIX)/include
pkgconfigdir ?= $(libdir)/pkgconfig

install: lib ## libemr, emr.h, emr.pc and the emr command under PREFIX (default /usr/local)
	cargo build --release --quiet --locked -p emr-cli
	@soname=$$(readelf -d $(LIBDIR)/libemr.so | sed -n 's/.*Library soname: \[\(libemr\.so\..*\)\]/\1/p'); \
	  [[ -n $$soname ]] || { echo "libemr.so has no soname (emr-ffi/build.rs)"; exit 1; }; \
	  set -x; \
	  install -d "$(DESTDIR)$(bindir)" "$(DESTDIR)$(libdir)" "$(DESTDIR)$(includedir)" "$(DESTDIR)$(pkgconfigdir)"; \
	  install -m 755 $(ROOT)/target/release/emr "$(DESTDIR)$(bindir)/emr"; \
	  install -m 644 $(ROOT)/include/emr.h "$(DESTDIR)$(includedir)/emr.h"; \
	  install -m 644 $(LIBDIR)/libemr.a "$(DESTDIR)$(libdir)/libemr.a"; \
	  strip --strip-debug "$(DESTDIR)$(libdir)/libemr.a"; \
	  install -m 755 $(LIBDIR)/libemr.so "$(DESTDIR)$(libdir)/libemr.so.$(VERSION)"; \
	  strip --strip-debug "$(DESTDIR)$(libdir)/libemr.so.$(VERSION)"; \
	  ln -sfn libemr.so.$(VERSION) "$(DESTDIR)$(libdir)/$$soname"; \
	  ln -sfn $$soname "$(DESTDIR)$(libdir)/libemr.so"
	sed -e 's|@libdir@|$(libdir)|' -e 's|@includedir@|$(includedir)|' -e 's|@VERSION@|$(VERSION)|' \
	  $(ROOT)/emr-ffi/emr.pc.in > "$(DESTDIR)$(pkgconfigdir)/emr.pc"
	@echo "installed cryptoemr $(VERSION) under $(DESTDIR)$(PREFIX)"

uninstall: ## removes what install put under PREFIX
	rm -f "$(DESTDIR)$(bindir)/emr" "$(DESTDIR)$(includedir)/emr.h" "$(DESTDIR)$(pkgconfigdir)/emr.pc" \
	  "$(DESTDIR)$(libdir)/libemr.a" "$(DESTDIR)$(libdir)"/libemr.so "$(DESTDIR)$(libdir)"/libemr.so.*

# Every packaging check; part of `make test`.
test-package: test-wheel test-python-versions test-sdist test-install test-crate ## the packages: wheel tags, Python versions, sdist, make install, the crate
	@echo "packaging: all checks passed"

# The wheel `make wheel` built is the one released: auditwheel must call it
# manylinux_2_17 (manylinux2014), and its name must say abi3.
test-wheel: wheel
	bash scripts/check_wheel.sh $(VENV)/bin/auditwheel target/wheels

# The Python suite against the same wheel on the oldest and the newest CPython
# (>= 3.9, the wheel's floor) that pyenv has here; `make test-python` runs it
# on .venv's Python. A missing pyenv is a printed note, not a failure.
PYENV_ROOT ?= $(HOME)/.pyenv
test-python-versions: wheel
	bash scripts/test_python_versions.sh "$(PYENV_ROOT)" target/wheels target/pyvenvs

# The sdist builds and installs from source with plain pip in a fresh venv.
test-sdist: venv
	bash scripts/test_sdist.sh $(VENV)/bin/maturin $(PYTHON) target/sdist

# `make install` into a temporary prefix; the README's C quick start built
# through pkg-config (shared and static) and run; C++ compiles the header.
test-install: lib pkg-config-tool
	bash scripts/test_install.sh "$(VERSION)"

# The node's pages are tested in a real browser: Debian's chromium.
chromium-tool: ## Debian's chromium, through apt when missing (the node's pages' browser tests)
	@command -v chromium >/dev/null || { echo "installing chromium (for the pages' browser tests)"; \
	  (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || \
	  { echo "chromium missing and could not be installed"; exit 1; }; }

pkg-config-tool: ## pkg-config, through apt when missing (docs/INSTALL.md's C block uses it)
	@command -v pkg-config >/dev/null || { echo "installing pkg-config"; \
	  (apt-get update -qq && apt-get install -y -qq pkg-config >/dev/null) || \
	  { echo "pkg-config missing and could not be installed"; exit 1; }; }

# emr-core as crates.io would take it, and its documentation without a warning.
test-crate:
	cargo package --quiet --locked --allow-dirty -p emr-core
	RUSTDOCFLAGS="-D warnings" cargo doc --quiet --locked -p emr-core --no-deps

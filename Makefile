# cryptoemr: one entry point for set-up, tests, demo and benchmarks.
# Needs only Rust, Python 3.11 with pip and gcc; everything else (a venv with
# maturin, pytest and pyca/cryptography, cbindgen, valgrind) installs itself.

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

.PHONY: all demo test bench bench-chain test-rust test-cli test-c test-python test-readme lib header header-check wheel venv tools install clean fuzz fuzz-build fuzz-seeds test-fuzz clippy

all: test

## --- set-up -------------------------------------------------------------

$(VENV)/.ready: emr-py/requirements-dev.txt
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

## --- builds -------------------------------------------------------------

lib:
	cargo build --release -p emr-ffi

header: $(CBINDGEN)
	$(CBINDGEN) --config emr-ffi/cbindgen.toml --crate emr-ffi --output include/emr.h emr-ffi

# Fails when the committed header is not what cbindgen generates now.
header-check: $(CBINDGEN)
	$(CBINDGEN) --config emr-ffi/cbindgen.toml --crate emr-ffi --output target/emr.h.generated emr-ffi
	@diff -u include/emr.h target/emr.h.generated || \
	  { echo "include/emr.h is stale: run 'make header' and commit it"; exit 1; }

wheel: venv
	rm -rf target/wheels
	$(VENV)/bin/maturin build --release --quiet -m emr-py/Cargo.toml -o target/wheels
	$(VPY) -m pip install --quiet --force-reinstall --no-deps target/wheels/*.whl

# The `emr` command line, into $(PREFIX)/bin (default ~/.cargo/bin, already on
# PATH after rustup): `make install PREFIX=/opt/emr` for elsewhere.
PREFIX ?= $(HOME)/.cargo
install:
	cargo install --quiet --locked --path emr-cli --root $(PREFIX)
	@echo "installed $(PREFIX)/bin/emr"

## --- tests --------------------------------------------------------------

test: test-rust clippy test-cli header-check test-c test-readme test-python test-fuzz
	@echo "make test: all suites passed"

test-rust:
	cargo test --workspace --exclude emr-py --exclude emr-cli

# Every lint on every target of the workspace is an error.
clippy:
	cargo clippy --quiet --workspace --all-targets -- -D warnings

# The `emr` command line, through the built binary: exit codes, --json,
# a two-chain session, progress bars on a pseudo-terminal.
test-cli:
	cargo test -p emr-cli

test-c: tools lib
	bash emr-ffi/tests/run.sh

test-python: wheel
	cd python-tests && $(VPY) -m pytest -q

# The README's quick starts, run exactly as written.
test-readme: venv
	$(VPY) scripts/check_readme.py

## --- fuzzing (docs/SECURITY.md) ----------------------------------------

# cargo fuzz needs the nightly toolchain (libFuzzer, sanitizer coverage).
fuzz-build: $(CARGO_FUZZ)
	@rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
	cd fuzz && PATH=$(TOOLS_BIN):$$PATH cargo +nightly fuzz build -O

# Every target for FUZZ_SECONDS each; findings in target/fuzz-work.
fuzz: fuzz-build
	PATH=$(TOOLS_BIN):$$PATH bash fuzz/run.sh $(FUZZ_SECONDS)

# A few seconds per target: keeps every target building and its seeds passing.
test-fuzz: fuzz-build
	PATH=$(TOOLS_BIN):$$PATH FUZZ_WORK=$(ROOT)/target/fuzz-smoke bash fuzz/run.sh $(FUZZ_SMOKE_SECONDS)

# Rewrites the committed seed corpora (fuzz/corpus) from the shared vectors.
fuzz-seeds:
	cd fuzz && cargo +nightly run --quiet --example make_seeds

## --- demo and benchmarks ---------------------------------------------------

demo:
	cargo run --release --quiet -p emr-core --example demo

bench: wheel
	$(VPY) benches/bench.py

# The chain rows of `make bench` alone (no wheel, no baseline): a table on
# stderr, JSON lines on stdout. Chains are kept in target/bench-chains.
bench-chain:
	cargo run --release --quiet -p emr-core --example chain_bench

clean:
	cargo clean
	rm -rf $(VENV)

## --- durability ----------------------------------------------------------

# The long forms of the storage campaigns (docs/DURABILITY.md), in release
# mode: 200 kill -9 rounds, 5000 byte flips in a closed chain database,
# 2000 in the WAL of a killed writer, 5000 in the page-checksum shim's own
# database, 5000 writes beside a reader process. Each prints its figures.
# Override with EMR_KILL_ROUNDS, EMR_FLIPS, EMR_WAL_FLIPS, EMR_READER_ROUNDS.
.PHONY: durability
durability:
	cargo test --release -p emr-core --test durability -- --ignored --nocapture --test-threads=1
	EMR_READER_ROUNDS=$${EMR_READER_ROUNDS:-5000} cargo test --release -p emr-core --test durability -- --exact a_reader_process_sees_only_acknowledged_blocks --nocapture
	cargo test --release -p emr-core --lib -- --ignored --nocapture chain::pagecheck::tests::byte_flip_campaign_long

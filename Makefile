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

.PHONY: all demo test bench bench-chain test-rust test-c test-python test-readme lib header header-check wheel venv tools clean

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

## --- tests --------------------------------------------------------------

test: test-rust header-check test-c test-readme test-python
	@echo "make test: all suites passed"

test-rust:
	cargo test --workspace --exclude emr-py

test-c: tools lib
	bash emr-ffi/tests/run.sh

test-python: wheel
	cd python-tests && $(VPY) -m pytest -q

# The README's quick starts, run exactly as written.
test-readme: venv
	$(VPY) scripts/check_readme.py

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

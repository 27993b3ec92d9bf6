#!/usr/bin/env bash
# The source distribution as a user without a wheel gets it: `maturin sdist`
# writes cryptoemr-<version>.tar.gz, and plain `pip install` of that file in
# a fresh venv builds it from source (pip fetches maturin into its isolated
# build environment; Rust must be installed). The installed package then
# passes the version test and the shared vectors.
#
# The Rust build inside pip keeps its cache in OUT/cargo-target, so a second
# run rebuilds only the crates unpacked from the sdist (pip unpacks it into a
# new temporary directory each time).
#
# Usage: test_sdist.sh MATURIN PYTHON OUT
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
maturin="$1"
python="$2"
out="$(mkdir -p "$3" && cd "$3" && pwd)"

rm -rf "$out/dist" "$out/venv"
"$maturin" sdist --manifest-path "$ROOT/emr-py/Cargo.toml" --out "$out/dist" >"$out/sdist.log" 2>&1 ||
    { cat "$out/sdist.log"; echo "test_sdist: maturin sdist failed" >&2; exit 1; }
shopt -s nullglob
sdists=("$out"/dist/cryptoemr-*.tar.gz)
[[ ${#sdists[@]} -eq 1 ]] || { echo "test_sdist: expected one sdist in $out/dist" >&2; exit 1; }
sdist="${sdists[0]}"
echo "sdist: $(basename "$sdist") ($(du -k "$sdist" | cut -f1) KiB)"
# Everything the build needs is inside, and nothing of a local build is.
listing="$(tar tzf "$sdist")"
for needed in pyproject.toml emr-core/src/lib.rs emr-py/src/lib.rs python/cryptoemr/__init__.py python/cryptoemr/py.typed; do
    grep -q "/$needed\$" <<<"$listing" || { echo "test_sdist: $needed is missing from the sdist" >&2; exit 1; }
done
if grep -E '/(target|\.venv)/' <<<"$listing" >/dev/null; then
    echo "test_sdist: the sdist holds build output:" >&2
    grep -E '/(target|\.venv)/' <<<"$listing" | head >&2
    exit 1
fi

"$python" -m venv "$out/venv"
"$out/venv/bin/python" -m pip install --quiet --upgrade pip
CARGO_TARGET_DIR="$out/cargo-target" "$out/venv/bin/python" -m pip install --quiet "$sdist" pytest "cryptography>=42"
echo "installed from source: $("$out/venv/bin/python" -m pip show cryptoemr | grep -E '^(Name|Version):' | tr '\n' ' ')"
(cd "$ROOT/python-tests" && "$out/venv/bin/python" -m pytest -q -p no:cacheprovider test_version.py test_vectors.py test_objects.py)

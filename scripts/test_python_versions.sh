#!/usr/bin/env bash
# The Python suite against the release wheel on the oldest and the newest
# CPython that pyenv provides here, among those the wheel supports (>= 3.9).
# `make test-python` already runs it on .venv's Python (3.11 on this kind of
# machine); a version equal to that one is not run twice.
#
# Each interpreter gets a venv in VENVS/<version> with python-tests/
# requirements.txt (kept between runs; rebuilt when that file changes), the
# wheel is force-reinstalled into it, and the whole suite runs.
# Without pyenv, or with no CPython >= 3.9 in it, this prints a note and
# passes: there is nothing here to test on.
#
# Usage: test_python_versions.sh PYENV_ROOT WHEEL_DIR VENVS
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
pyenv_root="$1"
wheel_dir="$2"
venvs="$(mkdir -p "$3" && cd "$3" && pwd)"
shopt -s nullglob
wheels=("$wheel_dir"/*.whl)
[[ ${#wheels[@]} -eq 1 ]] || { echo "test_python_versions: expected one wheel in $wheel_dir" >&2; exit 1; }
wheel="$(cd "$(dirname "${wheels[0]}")" && pwd)/$(basename "${wheels[0]}")"

# CPython versions X.Y.Z (no dev/pypy builds) >= 3.9, oldest first.
versions=()
if [[ -d $pyenv_root/versions ]]; then
    mapfile -t versions < <(ls "$pyenv_root/versions" | grep -E '^3\.[0-9]+\.[0-9]+$' |
        awk -F. '$2 >= 9' | sort -t. -k1,1n -k2,2n -k3,3n)
fi
if [[ ${#versions[@]} -eq 0 ]]; then
    echo "NOTE: no pyenv CPython >= 3.9 under $pyenv_root/versions: the suite ran on .venv's Python only"
    exit 0
fi
picked=("${versions[0]}")
[[ ${versions[-1]} != "${versions[0]}" ]] && picked+=("${versions[-1]}")
main_version="$("$ROOT/.venv/bin/python" -c 'import platform; print(platform.python_version())')"

for version in "${picked[@]}"; do
    if [[ $version == "$main_version" ]]; then
        echo "CPython $version: is .venv's Python, tested by make test-python"
        continue
    fi
    python="$pyenv_root/versions/$version/bin/python3"
    venv="$venvs/$version"
    stamp="$venv/.ready"
    if [[ ! -f $stamp || $ROOT/python-tests/requirements.txt -nt $stamp ]]; then
        rm -rf "$venv"
        "$python" -m venv "$venv"
        "$venv/bin/python" -m pip install --quiet --upgrade pip
        "$venv/bin/python" -m pip install --quiet -r "$ROOT/python-tests/requirements.txt"
        touch "$stamp"
    fi
    "$venv/bin/python" -m pip install --quiet --force-reinstall --no-deps "$wheel"
    echo "--- CPython $version: the Python suite on $(basename "$wheel")"
    (cd "$ROOT/python-tests" && "$venv/bin/python" -m pytest -q -p no:cacheprovider)
done

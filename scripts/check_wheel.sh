#!/usr/bin/env bash
# Fails unless the one wheel in DIR is the release wheel the project ships:
# abi3 (one wheel for CPython >= 3.9) and, as auditwheel reads the symbols it
# needs, manylinux_2_17 (manylinux2014: glibc 2.17, RHEL/CentOS 7 and later).
# Usage: check_wheel.sh AUDITWHEEL DIR
set -euo pipefail
auditwheel="$1"
dir="$2"
shopt -s nullglob
wheels=("$dir"/*.whl)
if [[ ${#wheels[@]} -ne 1 ]]; then
    echo "check_wheel: expected one wheel in $dir, found ${#wheels[@]}" >&2
    exit 1
fi
wheel="${wheels[0]}"
name="$(basename "$wheel")"
echo "wheel: $name"
if [[ $name != cryptoemr-*-cp39-abi3-*.whl ]]; then
    echo "check_wheel: $name is not an abi3 wheel for cp39 and later" >&2
    exit 1
fi
if [[ $name != *manylinux_2_17_x86_64* && $name != *manylinux2014_x86_64* ]]; then
    echo "check_wheel: $name is not tagged manylinux2014 / manylinux_2_17" >&2
    exit 1
fi
# The name is what the build claims; auditwheel checks the claim against the
# versioned glibc symbols the extension actually references.
report="$("$auditwheel" show "$wheel")"
platform="$(tr '\n' ' ' <<<"$report" | sed -n 's/.*consistent with the following platform tag: *"\([^"]*\)".*/\1/p')"
echo "auditwheel: $platform"
if [[ $platform != manylinux_2_17_x86_64 && $platform != manylinux2014_x86_64 ]]; then
    echo "check_wheel: auditwheel says $platform, not manylinux_2_17_x86_64:" >&2
    echo "$report" >&2
    exit 1
fi

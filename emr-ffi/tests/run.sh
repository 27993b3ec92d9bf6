#!/usr/bin/env bash
# The C test suite of libemr (run by `make test-c` after `make lib`:
# the libraries in target/release, with a link named after the soname).
#
# - converts the JSON vectors ($EMR_VECTORS_DIR, default ../shared/vectors
#   beside the repository) to the text form the C tests read;
# - compiles every C test with -std=c11 -Wall -Wextra -Werror twice: linked
#   statically with libemr.a, and dynamically with libemr.so;
# - runs every binary under valgrind (memory errors and definite leaks fail
#   the run), or, where valgrind is missing, built with AddressSanitizer;
# - runs test_mining once more natively (statically linked): valgrind hides
#   SHA-NI and AVX-512 and runs one thread at a time, so only a native run
#   mines on every engine of this CPU with real thread scheduling;
# - prints a closing line "N passed, M failed" (checks counted by the C
#   programs) and exits non-zero on any failure.
#
# Environment: EMR_VECTORS_DIR, CC (default gcc), EMR_FUZZ_ROUNDS (default 3000),
# EMR_C_CHECKER (valgrind or asan; default valgrind when installed).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TESTS="$ROOT/emr-ffi/tests"
LIBDIR="$ROOT/target/release"
OUT="$ROOT/target/ffi-tests"
VECTORS="${EMR_VECTORS_DIR:-$ROOT/../shared/vectors}"
CC="${CC:-gcc}"
ROUNDS="${EMR_FUZZ_ROUNDS:-3000}"

if [[ ! -f "$VECTORS/records.json" || ! -f "$VECTORS/blocks.json" ]]; then
    echo "run.sh: test vectors not found in '$VECTORS' (set EMR_VECTORS_DIR)" >&2
    exit 1
fi
for lib in libemr.a libemr.so; do
    if [[ ! -f "$LIBDIR/$lib" ]]; then
        echo "run.sh: $LIBDIR/$lib is missing: run 'make lib' first" >&2
        exit 1
    fi
done

rm -rf "$OUT"
mkdir -p "$OUT/vectors"
python3 "$TESTS/vectors_to_text.py" "$VECTORS" "$OUT/vectors"

CFLAGS=(-std=c11 -Wall -Wextra -Werror -O1 -g -I "$ROOT/include" -I "$TESTS")
STATIC_LIBS=("$LIBDIR/libemr.a" -lpthread -ldl -lm)
SHARED_LIBS=(-L "$LIBDIR" -lemr -Wl,-rpath,"$LIBDIR" -lpthread)

CHECKER="${EMR_C_CHECKER:-}"
if [[ -z "$CHECKER" ]]; then
    if command -v valgrind >/dev/null; then
        CHECKER=valgrind
    else
        echo "run.sh: valgrind not found; using AddressSanitizer instead" >&2
        CHECKER=asan
    fi
fi
if [[ "$CHECKER" == valgrind ]]; then
    # --fair-sched=yes: without it valgrind may never hand the CPU from busy
    # mining threads to the thread that cancels them.
    RUNNER=(valgrind -q --fair-sched=yes --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
        --suppressions="$TESTS/valgrind.supp")
elif [[ "$CHECKER" == asan ]]; then
    CFLAGS+=(-fsanitize=address,undefined -fno-omit-frame-pointer)
    RUNNER=(env ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1)
else
    echo "run.sh: EMR_C_CHECKER must be valgrind or asan, not '$CHECKER'" >&2
    exit 1
fi

passed=0
failed=0

# The header stands alone in C11 (pedantic) and in C++.
header_check() {
    local name="$1"
    shift
    if "$@"; then
        echo "ok   $name"
        passed=$((passed + 1))
    else
        echo "FAIL $name"
        failed=$((failed + 1))
    fi
}
printf '#include "emr.h"\nint main(void) { return EMR_OK; }\n' >"$OUT/header.c"
header_check "emr.h compiles alone as C11 -pedantic" \
    "$CC" -std=c11 -pedantic -Wall -Wextra -Werror -I "$ROOT/include" -c "$OUT/header.c" -o "$OUT/header.o"
if command -v g++ >/dev/null; then
    header_check "emr.h compiles as C++" \
        g++ -std=c++11 -Wall -Wextra -Werror -I "$ROOT/include" -x c++ -c "$OUT/header.c" -o "$OUT/header_cpp.o"
fi

# run NAME BINARY ARGS...: runs one test binary, adds up its closing line.
run() {
    local name="$1"
    shift
    local log="$OUT/$(basename "$1").log"
    local status=0
    "${RUNNER[@]}" "$@" >"$log" 2>&1 || status=$?
    local line
    line="$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1 || true)"
    if [[ -z "$line" ]]; then
        echo "FAIL $name: no result line (exit $status); log:"
        tail -n 40 "$log" || true
        failed=$((failed + 1))
        return 0
    fi
    local p f
    p="${line%% passed*}"
    f="${line#*passed, }"
    f="${f%% failed}"
    passed=$((passed + p))
    failed=$((failed + f))
    if [[ $status -ne 0 || $f -ne 0 ]]; then
        if [[ $status -eq 99 ]]; then
            echo "FAIL $name: $CHECKER reported memory errors or leaks"
        fi
        echo "FAIL $name: $line (exit $status); log:"
        grep -v -E '^[0-9]+ passed' "$log" | tail -n 60 || true
        if [[ $f -eq 0 ]]; then
            failed=$((failed + 1)) # the checks passed but the run did not
        fi
    else
        echo "ok   $name: $line"
    fi
    return 0
}

for link in static shared; do
    for test in test_vectors test_api test_fuzz test_mining test_security test_chain test_kill test_pool; do
        bin="$OUT/$test-$link"
        if [[ $link == static ]]; then
            "$CC" "${CFLAGS[@]}" "$TESTS/$test.c" "${STATIC_LIBS[@]}" -o "$bin"
        else
            "$CC" "${CFLAGS[@]}" "$TESTS/$test.c" "${SHARED_LIBS[@]}" -o "$bin"
        fi
        case $test in
        test_vectors) run "$test ($link, $CHECKER)" "$bin" "$OUT/vectors" ;;
        test_api) run "$test ($link, $CHECKER)" "$bin" ;;
        test_fuzz) run "$test ($link, $CHECKER)" "$bin" "$OUT/vectors" "$ROUNDS" ;;
        test_mining) run "$test ($link, $CHECKER)" "$bin" "$OUT/vectors" ;;
        test_security) run "$test ($link, $CHECKER)" "$bin" ;;
        test_kill) run "$test ($link, $CHECKER)" "$bin" 4 ;;
        test_chain) run "$test ($link, $CHECKER)" "$bin" ;;
        test_pool) run "$test ($link, $CHECKER)" "$bin" ;;
        esac
    done
done

# Mining natively: every engine this CPU has, real thread scheduling.
cp "$OUT/test_mining-static" "$OUT/test_mining-native"
CHECKED_RUNNER=("${RUNNER[@]}")
RUNNER=(env)
run "test_mining (static, native)" "$OUT/test_mining-native" "$OUT/vectors"
RUNNER=("${CHECKED_RUNNER[@]}")

echo "C tests: $passed passed, $failed failed"
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]

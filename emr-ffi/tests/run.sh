#!/usr/bin/env bash
# The C test suite of libemr (run by `make test-c` after `make lib`:
# the libraries in target/release, with a link named after the soname).
#
# - converts the JSON vectors ($EMR_VECTORS_DIR, default ../shared/vectors
#   beside the repository) to the text form the C tests read;
# - compiles every C test with -std=c11 -Wall -Wextra -Werror twice: linked
#   statically with libemr.a, and dynamically with libemr.so;
# - runs the dynamically linked binaries under valgrind (memory errors and
#   definite leaks fail the run), then builds and runs every test, static
#   and shared, with AddressSanitizer and UndefinedBehaviorSanitizer
#   (-fsanitize=address,undefined; errors and leaks fail the run); where
#   valgrind is missing, the sanitizers only. valgrind skips the static
#   binaries: they hold the same library code as the shared ones, ASan
#   covers both links, and valgrind's second pass cost several minutes of
#   `make test` while finding nothing the first could not;
# - runs test_mining once more natively (statically linked): valgrind hides
#   SHA-NI and AVX-512 and runs one thread at a time, so only a native run
#   mines on every engine of this CPU with real thread scheduling;
# - runs test_faults with the faultfs shim LD_PRELOAD'ed (a full and failing
#   disk under its chain's directory), under both checkers too: valgrind
#   adds its own preloads after it; ASan is told not to insist on coming
#   first (verify_asan_link_order=0), the shim interposing only file calls;
# - prints a closing line "N passed, M failed" (checks counted by the C
#   programs) and exits non-zero on any failure.
#
# Environment: EMR_VECTORS_DIR, CC (default gcc), EMR_FUZZ_ROUNDS (default 3000),
# EMR_C_CHECKER ("valgrind asan" by default, either one alone to save time),
# EMR_STRESS_SECONDS (test_stress, default 3).
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

# test_faults runs with the fault-injection shim LD_PRELOAD'ed (`make faultfs`).
SHIM="$ROOT/target/faultfs/libfaultfs.so"
if [[ ! -f "$SHIM" ]]; then
    echo "run.sh: $SHIM is missing: run 'make faultfs' first" >&2
    exit 1
fi

# test_sync serves a chain with the `emr` binary (a child process on
# loopback), as a site runs its node.
if [[ ! -x "$LIBDIR/emr" ]]; then
    echo "run.sh: $LIBDIR/emr is missing: run 'cargo build --release -p emr-cli' first" >&2
    exit 1
fi

rm -rf "$OUT"
mkdir -p "$OUT/vectors"
python3 "$TESTS/vectors_to_text.py" "$VECTORS" "$OUT/vectors"

BASE_CFLAGS=(-std=c11 -Wall -Wextra -Werror -O1 -g -I "$ROOT/include" -I "$TESTS")
STATIC_LIBS=("$LIBDIR/libemr.a" -lpthread -ldl -lm)
SHARED_LIBS=(-L "$LIBDIR" -lemr -Wl,-rpath,"$LIBDIR" -lpthread)

# Every checker in EMR_C_CHECKER runs the whole suite (valgrind: shared only).
CHECKERS="${EMR_C_CHECKER:-}"
if [[ -z "$CHECKERS" ]]; then
    if command -v valgrind >/dev/null; then
        CHECKERS="valgrind asan"
    else
        echo "run.sh: valgrind not found; AddressSanitizer only" >&2
        CHECKERS=asan
    fi
fi

# use_checker NAME: sets CFLAGS and RUNNER for one checker.
use_checker() {
    CHECKER="$1"
    CFLAGS=("${BASE_CFLAGS[@]}")
    case "$CHECKER" in
    valgrind)
        # --fair-sched=yes: without it valgrind may never hand the CPU from busy
        # mining threads to the thread that cancels them.
        RUNNER=(valgrind -q --fair-sched=yes --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
            --suppressions="$TESTS/valgrind.supp")
        ;;
    asan)
        # The test program is instrumented; the library (Rust, built without
        # sanitizers) is not, but every allocation it makes goes through the
        # interposed malloc, so heap misuse across the boundary (a double
        # free, a read past a buffer the library filled, a leak of an object
        # it returned) is caught. gcc links the sanitizer runtimes first,
        # which both libemr.a and libemr.so need; no LD_PRELOAD.
        # -fno-sanitize-recover: any undefined behaviour fails the run.
        CFLAGS+=(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
        # exitcode=99 like valgrind's. test_kill's children die by SIGKILL
        # and test_pool's forked children leave by _exit, so neither runs
        # the leak check at exit; the parents do.
        RUNNER=(env ASAN_OPTIONS=detect_leaks=1:exitcode=99:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1
            UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1)
        ;;
    *)
        echo "run.sh: EMR_C_CHECKER must list valgrind and/or asan, not '$CHECKER'" >&2
        exit 1
        ;;
    esac
}

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

# canary LINK: the checker must stop a program that frees an emr_key twice
# (memory the Rust library allocated, freed through its own function).
canary() {
    local link="$1" bin="$OUT/canary-$1-$CHECKER" log
    log="$bin.log"
    if [[ $link == static ]]; then
        "$CC" "${CFLAGS[@]}" "$TESTS/canary_double_free.c" "${STATIC_LIBS[@]}" -o "$bin"
    else
        "$CC" "${CFLAGS[@]}" "$TESTS/canary_double_free.c" "${SHARED_LIBS[@]}" -o "$bin"
    fi
    if "${RUNNER[@]}" "$bin" >"$log" 2>&1; then
        echo "FAIL $CHECKER ($link) did not stop a double free; log:"
        tail -n 20 "$log"
        failed=$((failed + 1))
    elif grep -q -E "double-free|Invalid free|AddressSanitizer" "$log"; then
        echo "ok   $CHECKER ($link) stops a double free of a library object"
        passed=$((passed + 1))
    else
        echo "FAIL $CHECKER ($link): the canary failed without a report; log:"
        tail -n 20 "$log"
        failed=$((failed + 1))
    fi
}

for checker in $CHECKERS; do
    use_checker "$checker"
    links="static shared"
    [[ $checker == valgrind ]] && links=shared
    for link in $links; do
        canary "$link"
        for test in test_vectors test_api test_fuzz test_mining test_security test_chain test_kill test_pool test_conflicts test_indexes test_access test_dispense test_v12 test_stress test_limits test_sync test_fhir test_faults; do
            bin="$OUT/$test-$link-$CHECKER"
            if [[ $link == static ]]; then
                "$CC" "${CFLAGS[@]}" "$TESTS/$test.c" "${STATIC_LIBS[@]}" -o "$bin"
            else
                "$CC" "${CFLAGS[@]}" "$TESTS/$test.c" "${SHARED_LIBS[@]}" -o "$bin"
            fi
            case $test in
            test_vectors | test_mining | test_access | test_dispense) run "$test ($link, $CHECKER)" "$bin" "$OUT/vectors" ;;
            test_fuzz) run "$test ($link, $CHECKER)" "$bin" "$OUT/vectors" "$ROUNDS" ;;
            test_kill) run "$test ($link, $CHECKER)" "$bin" 4 ;;
            test_sync) run "$test ($link, $CHECKER)" "$bin" "$LIBDIR/emr" ;;
            test_faults)
                fdir="$OUT/faults-$link-$CHECKER"
                rm -rf "$fdir"
                mkdir -p "$fdir/chain"
                CHECKED_RUNNER=("${RUNNER[@]}")
                RUNNER=(env LD_PRELOAD="$SHIM" EMR_FAULTFS_DIR="$fdir/chain" EMR_FAULTFS_CONTROL="$fdir/control"
                    EMR_FAULTFS_LOG="$fdir/log" "${CHECKED_RUNNER[@]/#ASAN_OPTIONS=/ASAN_OPTIONS=verify_asan_link_order=0:}")
                run "$test ($link, $CHECKER)" "$bin"
                RUNNER=("${CHECKED_RUNNER[@]}")
                ;;
            *) run "$test ($link, $CHECKER)" "$bin" ;;
            esac
        done
    done
done

# Mining natively: every engine this CPU has, real thread scheduling.
"$CC" "${BASE_CFLAGS[@]}" "$TESTS/test_mining.c" "${STATIC_LIBS[@]}" -o "$OUT/test_mining-native"
CHECKER=native
RUNNER=(env)
run "test_mining (static, native)" "$OUT/test_mining-native" "$OUT/vectors"

echo "C tests: $passed passed, $failed failed"
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]

#!/usr/bin/env bash
# Runs every fuzz target in turn: `run.sh SECONDS [RUNS]` gives each target
# SECONDS of wall time (and stops it earlier after RUNS executions, when
# given). Seeds come from fuzz/corpus/<target> (committed, never written);
# what the fuzzer finds goes to $FUZZ_WORK/corpus/<target>, logs to
# $FUZZ_WORK/logs/<target>.log. FUZZ_TARGETS="a b" runs only those targets
# (one name: one target, the checkout left clean). Prints one line of
# figures per target and fails if any target found a crash, leak, timeout or
# out-of-memory input.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:?usage: run.sh SECONDS [RUNS]}
runs=${2:--1}
work=${FUZZ_WORK:-$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/fuzz-work}
mkdir -p "$work/logs" "$work/corpus" "$work/artifacts"
targets=${FUZZ_TARGETS:-$(cargo +nightly fuzz list)}
failed=0
printf '%-20s %12s %8s %8s %8s %7s %s\n' target executions exec/s cov ft corpus result
for t in $targets; do
  mkdir -p "$work/corpus/$t" "$work/artifacts/$t"
  log="$work/logs/$t.log"
  status=ok
  # -timeout: one input taking 10 s is a hang; -rss_limit_mb: 2 GB is a leak
  # or an allocation an input claimed. -jobs=1: one process, one core.
  if ! cargo +nightly fuzz run -O "$t" "$work/corpus/$t" "corpus/$t" -- \
      -max_total_time="$seconds" -runs="$runs" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$work/artifacts/$t/" >"$log" 2>&1; then
    status="FAILED (see $log, $work/artifacts/$t)"
    failed=1
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$log" | grep -E 'cov: ' | tail -1 || true)
  cov=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.*ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.*corp: \([0-9]*\).*/\1/p' <<<"$last")
  printf '%-20s %12s %8s %8s %8s %7s %s\n' "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$status"
done
exit $failed

#!/usr/bin/env bash
# Runs every ```sql block of docs/SQL.md through the stock sqlite3 shell,
# read-only, on a chain the `emr` command line made (plain and sealed
# prescriptions of two doctors in three blocks); each must succeed and
# print rows. Then the chain file must be byte for byte unchanged and
# `emr chain check` must pass. Usage: check_sql_doc.sh EMR_BINARY
set -euo pipefail

EMR="$(realpath "$1")"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
command -v sqlite3 >/dev/null || { echo "check_sql_doc.sh: sqlite3 missing (make sqlite3-tool)" >&2; exit 1; }
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

emr() { "$EMR" -q "$@" >/dev/null; }
emr key new --curve p256 --out grey.pem --no-encrypt
emr key new --curve secp256k1 --out yang.pem --no-encrypt
emr key new --out alice.pem --role patient --no-encrypt
PATIENT=$("$EMR" key show alice.pem --role patient --address)
DOCTOR=$("$EMR" key show grey.pem --address)
MINER=emrm1r3qty3tw2dq3ju5je8fp56vchpq7n99eyksm3p
emr chain init hospital --initial-difficulty 20
n=0
for rx in "grey|Amoxicillin 500mg, 3x daily" "yang|Ibuprofen 400mg as needed" "grey|Metformin 500mg" "grey|sealed:Sertraline 50mg daily"; do
    key="${rx%%|*}.pem"; text="${rx#*|}"; n=$((n + 1))
    if [[ $text == sealed:* ]]; then
        emr record sign --key "$key" --patient "$PATIENT" --text "${text#sealed:}" --chain hospital --seal-to alice.pem --out "rx$n.rec"
    else
        emr record sign --key "$key" --patient "$PATIENT" --text "$text" --chain hospital --out "rx$n.rec"
    fi
    emr chain submit hospital "rx$n.rec"
    if (( n % 2 == 0 )); then emr chain mine hospital --miner "$MINER" --threads 1 --timestamp $((1767254400 + n * 86400)); fi
done
emr chain mine hospital --miner "$MINER" --threads 1 --timestamp 1767772800
DB=hospital/chain.db
before=$(sha256sum "$DB")

count=0
python3 - "$ROOT/docs/SQL.md" "$WORK/queries" <<'PY'
import re, sys, pathlib
text = pathlib.Path(sys.argv[1]).read_text()
out = pathlib.Path(sys.argv[2]); out.mkdir()
blocks = re.findall(r"```sql\n(.*?)```", text, re.S)
assert blocks, "no sql blocks in docs/SQL.md"
for i, b in enumerate(blocks):
    (out / f"{i:02}.sql").write_text(b)
PY
for q in "$WORK"/queries/*.sql; do
    count=$((count + 1))
    rows=$({ printf '.bail on\n.parameter init\n.parameter set @patient "%s"\n.parameter set @doctor "%s"\n' "$PATIENT" "$DOCTOR"
             cat "$q"; } | sqlite3 -readonly "$DB" 2>"$WORK/err") || { cat "$WORK/err" >&2; echo "docs/SQL.md query $count failed:" >&2; cat "$q" >&2; exit 1; }
    [[ ! -s "$WORK/err" ]] || { cat "$WORK/err" >&2; exit 1; }
    [[ -n "$rows" ]] || { echo "docs/SQL.md query $count printed no row:" >&2; cat "$q" >&2; exit 1; }
done
[[ "$(sha256sum "$DB")" == "$before" ]] || { echo "the chain file changed under sqlite3 -readonly" >&2; exit 1; }
"$EMR" -q chain check hospital >/dev/null
echo "docs/SQL.md: $count queries ran read-only through sqlite3 $(sqlite3 --version | cut -d' ' -f1); chain check passes"

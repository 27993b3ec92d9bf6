#!/usr/bin/env python3
"""Converts the JSON test vectors into a line-based text format for the C tests.

Usage: vectors_to_text.py VECTORS_DIR OUT_DIR

Writes OUT_DIR/records.txt and OUT_DIR/blocks.txt. Every token is separated
by one space; byte strings are lowercase hex with "-" for the empty string;
integers are decimal; a 128-bit difficulty is written as "HI LO" (two
decimal u64 halves). Text (names, prescriptions) is written as hex of its
UTF-8 bytes, so no token ever contains a space.

records.txt, one record per line:
  VALID name_hex curve pkcs8 previous_nonce signature_hash RECORD
  INVALID name_hex expected_kind previous_nonce RECORD
  where RECORD = dr_hash patient_hash dr_public_key prescription_hex nonce signature txid

blocks.txt, one block per group of lines:
  BLOCK name_hex
  VERIFY_DIFFICULTY hi lo
  REWARD n
  HEADER previous height miner timestamp diff_hi diff_lo block_id nonce
  STATE hash balance nonce        (previous user states, any number)
  RECORD <RECORD as above>        (the block's records, in order)
  EXPECT_STATE hash balance nonce (expected changes, any number)
  EXPECT_ERROR kind               (or: EXPECT_ERROR record index record_kind)
  END

mining.txt, the blocks whose nonce is the lowest valid one from 0
(lowest_nonce_from_zero), one per group of lines:
  MINE name_hex expected verify_hi verify_lo
      (expected: "ok", or the kind of the block's expected error)
  HEADER, STATE, RECORD as in blocks.txt
  END
"""

import json
import os
import sys

U64 = (1 << 64) - 1


def hx(s: str) -> str:
    if s != s.lower() or any(c not in "0123456789abcdef" for c in s) or len(s) % 2:
        raise ValueError(f"not lowercase hex: {s[:40]!r}")
    return s or "-"


def text(s: str) -> str:
    return s.encode("utf-8").hex() or "-"


def u64(n) -> str:
    if not isinstance(n, int) or not 0 <= n <= U64:
        raise ValueError(f"not a u64: {n!r}")
    return str(n)


def u128(n) -> str:
    if not isinstance(n, int) or not 0 <= n < (1 << 128):
        raise ValueError(f"not a u128: {n!r}")
    return f"{n >> 64} {n & U64}"


def record(r) -> str:
    return " ".join(
        [
            hx(r["dr_hash"]),
            hx(r["patient_hash"]),
            hx(r["dr_public_key"]),
            text(r["prescription"]),
            u64(r["nonce"]),
            hx(r["signature"]),
            hx(r["txid"]),
        ]
    )


def block_lines(v):
    """The HEADER, STATE and RECORD lines of one block vector."""
    b = v["block"]
    header = [hx(b["previous"]), u64(b["height"]), hx(b["miner"]), u64(b["timestamp"]),
              u128(b["difficulty"]), hx(b["block_id"]), u64(b["nonce"])]
    yield "HEADER " + " ".join(header)
    for h, s in sorted(v["previous_user_states"].items()):
        yield f"STATE {hx(h)} {u64(s['balance'])} {u64(s['nonce'])}"
    for r in b["records"]:
        yield f"RECORD {record(r)}"


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    src, dst = sys.argv[1:]
    for name in ("records.json", "blocks.json"):
        if not os.path.isfile(os.path.join(src, name)):
            print(f"vectors_to_text: {name} not found in {src}", file=sys.stderr)
            return 1
    with open(os.path.join(src, "records.json"), encoding="utf-8") as f:
        records = json.load(f)
    with open(os.path.join(src, "blocks.json"), encoding="utf-8") as f:
        blocks = json.load(f)

    lines = []
    for v in records["valid"]:
        lines.append(
            " ".join(
                [
                    "VALID",
                    text(v["name"]),
                    v["curve"],
                    hx(v["private_key_pkcs8"]),
                    u64(v["previous_nonce"]),
                    hx(v["signature_hash"]),
                    record(v["record"]),
                ]
            )
        )
    for v in records["invalid"]:
        lines.append(
            " ".join(
                ["INVALID", text(v["name"]), v["expected_error"], u64(v["previous_nonce"]), record(v["record"])]
            )
        )
    with open(os.path.join(dst, "records.txt"), "w", encoding="ascii") as f:
        f.write("\n".join(lines) + "\n")

    lines = []
    reward = blocks["block_reward"]
    for v in blocks["blocks"]:
        lines.append(f"BLOCK {text(v['name'])}")
        lines.append(f"VERIFY_DIFFICULTY {u128(v['verify_difficulty'])}")
        lines.append(f"REWARD {u64(reward)}")
        lines.extend(block_lines(v))
        expected = v["expected"]
        if "error" in expected:
            error = expected["error"]
            if error.startswith("record:"):
                _, index, kind = error.split(":")
                lines.append(f"EXPECT_ERROR record {int(index)} {kind}")
            else:
                lines.append(f"EXPECT_ERROR {error}")
        else:
            for h, s in sorted(expected.items()):
                lines.append(f"EXPECT_STATE {hx(h)} {u64(s['balance'])} {u64(s['nonce'])}")
        lines.append("END")
    with open(os.path.join(dst, "blocks.txt"), "w", encoding="ascii") as f:
        f.write("\n".join(lines) + "\n")

    lines = []
    for v in blocks["blocks"]:
        if v.get("lowest_nonce_from_zero") is not True:
            continue
        expected = v["expected"].get("error", "ok").split(":")[0]
        lines.append(f"MINE {text(v['name'])} {expected} {u128(v['verify_difficulty'])}")
        lines.extend(block_lines(v))
        lines.append("END")
    mining = sum(1 for line in lines if line.startswith("MINE "))
    with open(os.path.join(dst, "mining.txt"), "w", encoding="ascii") as f:
        f.write("\n".join(lines) + "\n")
    print(
        f"vectors: {len(records['valid'])} valid and {len(records['invalid'])} invalid records, "
        f"{len(blocks['blocks'])} blocks ({mining} with the lowest nonce from 0)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

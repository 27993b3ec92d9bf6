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

registry.txt (SPEC 8.1 and 5, v1.2; written when registry.json exists):
  PARAMS chain initial_hi initial_lo window block_time max_adjust block_reward max_future salt chain_id
      (chain: "authority" for the chain with the authorities below, whose
      entries the ENTRY lines are made for; "open" for the open chain of
      the open scenario; chain_id is what SPEC 5 gives those parameters)
  AUTHORITY spki pkcs8             (the chain's authorities, in order)
  OUTSIDER spki pkcs8
  DOCTOR name_hex dr_hash spki pkcs8
  ENTRY name_hex expected entry_id <ENTRY>   (expected: "valid" or a kind)
      where ENTRY = G chain_id dr_public_key licence_hex not_before not_after authority signature
                 |  V chain_id grant_id effective authority signature
  SCENARIO chain name_hex expected            (chain: "authority" or "open";
      expected: an add outcome, or "error kind", "error entry index kind",
      "error record index kind")
  HEADER as in blocks.txt
  RECORD <RECORD>, BENTRY <ENTRY>             (the block's records and entries)
  AUTHORIZED dr_hash 0|1                      (at the next block's time)
  END

dispense.txt (SPEC 10; written when dispense.json exists):
  PARAMS as in registry.txt ("authority" and "open")
  AUTHORITY spki pkcs8             (the chain's one authority)
  KEY name_hex spki pkcs8 key_hash (doctors, pharmacies, patients, a stranger)
  ENTRY name_hex expected entry_id <ENTRY>   (expected: "valid" or a kind)
      where ENTRY is G or V as in registry.txt, or
                 P chain_id pharmacy_public_key licence_hex not_before not_after authority signature
              |  D chain_id dr_hash nonce record_hash pharmacy_public_key patient_public_key note_hex
                   signature patient_signature
              |  C chain_id dr_hash nonce record_hash canceller reason_hex signature
  SCENARIO chain name_hex expected  as in registry.txt
  HEADER, RECORD, BENTRY            as in registry.txt
  RX dr_hash nonce state            (every prescription's state after the block:
                                     open, dispensed or cancelled)
  END

sealed.txt (SPEC 8.2; written when sealed.json exists):
  RECIPIENT name_hex curve spki pkcs8 key_hash
  SEALED name_hex expected previous_nonce RECORD   (expected: "valid" or a kind)
  OPENS recipient_name_hex plaintext_hex|-  error_kind|-
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


def entry(e) -> str:
    # SPEC v1.2: every entry names its chain (vectors without it are older).
    if "chain_id" not in e:
        raise ValueError("an entry without chain_id: registry.json is older than SPEC v1.2")
    if e["type"] == "grant":
        fields = ["G", hx(e["chain_id"]), hx(e["dr_public_key"]), text(e["licence"]), u64(e["not_before"]),
                  u64(e["not_after"])]
    elif e["type"] == "revocation":
        fields = ["V", hx(e["chain_id"]), hx(e["grant_id"]), u64(e["effective"])]
    elif e["type"] == "dispenser_grant":
        fields = ["P", hx(e["chain_id"]), hx(e["pharmacy_public_key"]), text(e["licence"]), u64(e["not_before"]),
                  u64(e["not_after"])]
    elif e["type"] == "dispense":
        return " ".join(["D", hx(e["chain_id"]), hx(e["dr_hash"]), u64(e["nonce"]), hx(e["record_hash"]),
                         hx(e["pharmacy_public_key"]), hx(e["patient_public_key"]), text(e["note"]),
                         hx(e["signature"]), hx(e["patient_signature"])])
    elif e["type"] == "cancel":
        return " ".join(["C", hx(e["chain_id"]), hx(e["dr_hash"]), u64(e["nonce"]), hx(e["record_hash"]),
                         hx(e["canceller"]), text(e["reason"]), hx(e["signature"])])
    else:
        raise ValueError(f"unknown entry type {e['type']!r}")
    return " ".join(fields + [hx(e["authority"]), hx(e["signature"])])


def params_line(chain: str, p) -> str:
    """A PARAMS line: the chain's parameters, salt and the chain_id they give."""
    for key in ("max_future", "salt", "chain_id"):
        if key not in p:
            raise ValueError(f"{chain} chain parameters without {key}: registry.json is older than SPEC v1.2")
    if len(p["salt"]) != 32 or len(p["chain_id"]) != 64:
        raise ValueError(f"{chain} chain: salt must be 16 bytes and chain_id 32")
    return (
        f"PARAMS {chain} {u128(p['initial_difficulty'])} {u64(p['window'])} {u64(p['block_time'])} "
        f"{u64(p['max_adjust'])} {u64(p['block_reward'])} {u64(p['max_future'])} {hx(p['salt'])} {hx(p['chain_id'])}"
    )


def expected_outcome(expected) -> str:
    if isinstance(expected, str):
        return expected
    parts = expected["error"].split(":")
    if len(parts) == 3:
        return f"error {parts[0]} {int(parts[1])} {parts[2]}"
    return f"error {parts[0]}"


def access_vectors(src: str, dst: str) -> str:
    """Writes registry.txt and sealed.txt; returns a summary for the log."""
    summary = ""
    path = os.path.join(src, "registry.json")
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            reg = json.load(f)
        lines = [params_line("authority", reg["params"]), params_line("open", reg["open_chain_params"])]
        for a in reg["authorities"]:
            lines.append(f"AUTHORITY {hx(a['spki'])} {hx(a['private_key_pkcs8'])}")
        o = reg["outsider"]
        lines.append(f"OUTSIDER {hx(o['spki'])} {hx(o['private_key_pkcs8'])}")
        doctors = {}
        for d in reg["doctors"]:
            doctors[d["name"]] = d["dr_hash"]
            lines.append(f"DOCTOR {text(d['name'])} {hx(d['dr_hash'])} {hx(d['spki'])} {hx(d['private_key_pkcs8'])}")
        for v in reg["entries"]:
            stateless = v["stateless"] if isinstance(v["stateless"], str) else v["stateless"]["error"]
            lines.append(f"ENTRY {text(v['name'])} {stateless} {hx(v['entry_id'])} {entry(v['entry'])}")
        scenarios = 0
        for chain, key in (("authority", "scenario"), ("open", "open_chain_scenario")):
            for v in reg[key]:
                scenarios += 1
                lines.append(f"SCENARIO {chain} {text(v['name'])} {expected_outcome(v['expected'])}")
                b = v["block"]
                lines.append(
                    "HEADER "
                    + " ".join(
                        [hx(b["previous"]), u64(b["height"]), hx(b["miner"]), u64(b["timestamp"]),
                         u128(b["difficulty"]), hx(b["block_id"]), u64(b["nonce"])]
                    )
                )
                for r in b["records"]:
                    lines.append(f"RECORD {record(r)}")
                for e in b["entries"]:
                    lines.append(f"BENTRY {entry(e)}")
                for name, authorized in sorted(v["authorized_at_next_block"].items()):
                    lines.append(f"AUTHORIZED {hx(doctors[name])} {int(bool(authorized))}")
                lines.append("END")
        with open(os.path.join(dst, "registry.txt"), "w", encoding="ascii") as f:
            f.write("\n".join(lines) + "\n")
        summary += f", {len(reg['entries'])} entries and {scenarios} registry scenario blocks"
    path = os.path.join(src, "dispense.json")
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            rx = json.load(f)
        lines = [params_line("authority", rx["params"]), params_line("open", rx["open_chain_params"])]
        a = rx["authority"]
        lines.append(f"AUTHORITY {hx(a['spki'])} {hx(a['private_key_pkcs8'])}")
        hashes = {}
        for k in rx["keys"]:
            hashes[k["name"]] = k["key_hash"]
            lines.append(f"KEY {text(k['name'])} {hx(k['spki'])} {hx(k['private_key_pkcs8'])} {hx(k['key_hash'])}")
        for v in rx["entries"]:
            stateless = v["stateless"] if isinstance(v["stateless"], str) else v["stateless"]["error"]
            lines.append(f"ENTRY {text(v['name'])} {stateless} {hx(v['entry_id'])} {entry(v['entry'])}")
        blocks = 0
        for chain, key in (("authority", "scenario"), ("open", "open_chain_scenario")):
            for v in rx[key]:
                blocks += 1
                lines.append(f"SCENARIO {chain} {text(v['name'])} {expected_outcome(v['expected'])}")
                b = v["block"]
                lines.append(
                    "HEADER "
                    + " ".join(
                        [hx(b["previous"]), u64(b["height"]), hx(b["miner"]), u64(b["timestamp"]),
                         u128(b["difficulty"]), hx(b["block_id"]), u64(b["nonce"])]
                    )
                )
                for r in b["records"]:
                    lines.append(f"RECORD {record(r)}")
                for e in b["entries"]:
                    lines.append(f"BENTRY {entry(e)}")
                for name, state in sorted(v["prescriptions_after"].items()):
                    doctor, nonce = name.split(":")
                    if state not in ("open", "dispensed", "cancelled"):
                        raise ValueError(f"{v['name']}: unknown state {state!r}")
                    lines.append(f"RX {hx(hashes[doctor])} {u64(int(nonce))} {state}")
                lines.append("END")
        with open(os.path.join(dst, "dispense.txt"), "w", encoding="ascii") as f:
            f.write("\n".join(lines) + "\n")
        summary += f", {len(rx['entries'])} pharmacy entries and {blocks} pharmacy scenario blocks"
    path = os.path.join(src, "sealed.json")
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            sealed = json.load(f)
        lines = []
        for r in sealed["recipients"]:
            lines.append(
                f"RECIPIENT {text(r['name'])} {r['curve']} {hx(r['spki'])} {hx(r['private_key_pkcs8'])} "
                f"{hx(r['key_hash'])}"
            )
        for v in sealed["records"]:
            expected = v["expected"] if isinstance(v["expected"], str) else v["expected"]["error"]
            lines.append(f"SEALED {text(v['name'])} {expected} {u64(v['previous_nonce'])} {record(v['record'])}")
            for o in v.get("opens", []):
                plaintext = text(o["plaintext"]) if "plaintext" in o else "-"
                error = o.get("error", "-")
                if ("plaintext" in o) == ("error" in o):
                    raise ValueError(f"{v['name']}: an opening has a plaintext or an error")
                lines.append(f"OPENS {text(o['recipient'])} {plaintext} {error}")
            lines.append("END")
        with open(os.path.join(dst, "sealed.txt"), "w", encoding="ascii") as f:
            f.write("\n".join(lines) + "\n")
        summary += f", {len(sealed['records'])} sealed records"
    return summary


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
    access = access_vectors(src, dst)
    with open(os.path.join(dst, "mining.txt"), "w", encoding="ascii") as f:
        f.write("\n".join(lines) + "\n")
    print(
        f"vectors: {len(records['valid'])} valid and {len(records['invalid'])} invalid records, "
        f"{len(blocks['blocks'])} blocks ({mining} with the lowest nonce from 0){access}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

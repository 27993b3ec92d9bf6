"""Runs the README's quick starts exactly as written, as `make test` does.

Every ```sh block that follows a `<!-- checked -->` line is run with bash
from the repository root, in order; any failure fails the check. Only the
environment differs from a person pasting them: CARGO_TARGET_DIR points at
the repository's target directory, so the Rust quick start reuses the
dependencies the test suite already built instead of compiling them again
(and the Python source install in the Install section reuses them too).

`check_readme.py 3 5` runs only blocks 3 and 5 (numbered from 1, as printed).
"""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BLOCK = re.compile(r"<!-- checked -->\s*\n```sh\n(.*?)```", re.S)


def main():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        blocks = BLOCK.findall(f.read())
    if not blocks:
        sys.exit("README.md has no checked quick start")
    only = {int(arg) for arg in sys.argv[1:]}
    if only - set(range(1, len(blocks) + 1)):
        sys.exit(f"README.md has blocks 1 to {len(blocks)}")
    env = dict(os.environ, CARGO_TARGET_DIR=os.path.join(ROOT, "target"))
    failed = 0
    ran = 0
    for i, script in enumerate(blocks, 1):
        if only and i not in only:
            continue
        ran += 1
        first = script.strip().splitlines()[0]
        print(f"--- README quick start {i}: {first}", flush=True)
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=ROOT, env=env)
        if result.returncode != 0:
            print(f"--- quick start {i} FAILED (exit {result.returncode})", flush=True)
            failed += 1
    print(f"README quick starts: {ran - failed} of {ran} ran cleanly")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

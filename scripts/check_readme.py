"""Runs the README's quick starts and the docs' walk-throughs exactly as
written, as `make test` does.

Every ```sh block that follows a `<!-- checked -->` line in README.md,
docs/INSTALL.md and docs/TUTORIAL.md (in that order) is run with bash from
the repository root; any failure fails the check. Each block makes its own
temporary directory, so two runs cannot collide. Only the
environment differs from a person pasting them: CARGO_TARGET_DIR points at
the repository's target directory, so the Rust quick start reuses the
dependencies the test suite already built instead of compiling them again
(and the Python source install in the Install section reuses them too).

`check_readme.py 3 5` runs only blocks 3 and 5 (numbered from 1 across the
files, as printed).
"""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FILES = ("README.md", "docs/INSTALL.md", "docs/TUTORIAL.md")
BLOCK = re.compile(r"<!-- checked -->\s*\n```sh\n(.*?)```", re.S)


def main():
    blocks = []
    for name in FILES:
        with open(os.path.join(ROOT, name), encoding="utf-8") as f:
            found = BLOCK.findall(f.read())
        if not found:
            sys.exit(f"{name} has no checked block")
        blocks.extend(found)
    only = {int(arg) for arg in sys.argv[1:]}
    if only - set(range(1, len(blocks) + 1)):
        sys.exit(f"there are blocks 1 to {len(blocks)}")
    env = dict(os.environ, CARGO_TARGET_DIR=os.path.join(ROOT, "target"))
    failed = 0
    ran = 0
    for i, script in enumerate(blocks, 1):
        if only and i not in only:
            continue
        ran += 1
        lines = script.strip().splitlines()
        # The first line of most blocks only makes their temporary directory.
        first = lines[1] if lines[0].startswith("ROOT=") and len(lines) > 1 else lines[0]
        print(f"--- block {i}: {first}", flush=True)
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=ROOT, env=env)
        if result.returncode != 0:
            print(f"--- block {i} FAILED (exit {result.returncode})", flush=True)
            failed += 1
    print(f"README and walk-through blocks: {ran - failed} of {ran} ran cleanly")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

"""Shared set-up: the test vectors (SPEC sections 2-4) must be present.

The vectors directory comes from ``EMR_VECTORS_DIR`` (the Makefile exports
it), defaulting to ``../../shared/vectors`` beside the repository. A missing
or unreadable vectors file is an error of the whole run, never a skip.
"""

import json
import os
import pathlib

import pytest

DEFAULT_VECTORS_DIR = pathlib.Path(__file__).resolve().parent.parent.parent / "shared" / "vectors"
VECTORS_DIR = pathlib.Path(os.environ.get("EMR_VECTORS_DIR") or DEFAULT_VECTORS_DIR)


def load_vectors(name):
    path = VECTORS_DIR / name
    if not path.is_file():
        raise RuntimeError(
            f"test vectors {path} not found: set EMR_VECTORS_DIR to the directory holding "
            "records.json and blocks.json"
        )
    with path.open(encoding="utf-8") as f:
        return json.load(f)


RECORD_VECTORS = load_vectors("records.json")
BLOCK_VECTORS = load_vectors("blocks.json")


@pytest.fixture(scope="session")
def record_vectors():
    return RECORD_VECTORS


@pytest.fixture(scope="session")
def block_vectors():
    return BLOCK_VECTORS

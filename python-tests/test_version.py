"""One version everywhere: the installed package reports the workspace's.

The version has one source, ``[workspace.package] version`` in the
repository's Cargo.toml; maturin writes it into the wheel's metadata and the
extension reports it as ``cryptoemr.__version__``.
"""

import importlib.metadata
import pathlib
import re

import cryptoemr

WORKSPACE_MANIFEST = pathlib.Path(__file__).resolve().parent.parent / "Cargo.toml"


def workspace_version():
    # tomllib is 3.11+; the suite also runs on 3.9, so read the one line.
    text = WORKSPACE_MANIFEST.read_text(encoding="utf-8")
    section = re.search(r"^\[workspace\.package\]\n(.*?)(?=^\[|\Z)", text, re.S | re.M)
    assert section, f"no [workspace.package] in {WORKSPACE_MANIFEST}"
    version = re.search(r'^version\s*=\s*"([^"]+)"', section.group(1), re.M)
    assert version, f"no version in [workspace.package] of {WORKSPACE_MANIFEST}"
    return version.group(1)


def test_version_is_the_workspace_version():
    expected = workspace_version()
    assert re.fullmatch(r"\d+\.\d+\.\d+", expected)
    assert cryptoemr.__version__ == expected
    assert cryptoemr._native.__version__ == expected


def test_installed_distribution_has_the_same_version():
    assert importlib.metadata.version("cryptoemr") == workspace_version()

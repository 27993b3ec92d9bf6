"""The Python surface as a newcomer meets it: the command line's chain
directory opens, errors are the standard exceptions they look like, a key
object has an address, the stubs type every field, signatures and
docstrings read cleanly, and the error classes live in their own submodule."""

import ast
import errno
import inspect
import pathlib
import pydoc

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

import cryptoemr
from cryptoemr.errors import BY_KIND

STUB = pathlib.Path(cryptoemr.__file__).with_name("_native.pyi")


def test_the_command_lines_chain_directory_opens(tmp_path):
    directory = tmp_path / "hosp"
    directory.mkdir()
    with cryptoemr.Chain(str(directory), initial_difficulty=1) as chain:
        chain_id = chain.chain_id
    assert (directory / "chain.db").is_file(), "the file the command line keeps in DIR"
    for open_chain in (cryptoemr.Chain, cryptoemr.Chain.open_readonly, lambda d: cryptoemr.Chain(d / "chain.db")):
        with open_chain(directory) as chain:
            assert chain.chain_id == chain_id


def test_a_chain_that_cannot_be_opened_is_an_oserror_naming_its_file(tmp_path):
    missing = tmp_path / "no" / "such" / "chain.db"
    for open_chain in (cryptoemr.Chain, cryptoemr.Chain.open_readonly):
        with pytest.raises(OSError) as info:
            open_chain(missing)
        error = info.value
        assert isinstance(error, cryptoemr.EMRError), error
        assert error.filename == str(missing)
        assert error.errno == errno.ENOENT, error.errno
        assert str(missing) in str(error)
    assert not (tmp_path / "no").exists(), "nothing created on the way"
    with pytest.raises(cryptoemr.IoError) as info:
        cryptoemr.Chain(tmp_path / "no" / "such")
    assert info.value.filename == str(tmp_path / "no" / "such")


def test_errors_are_value_errors_or_os_errors_as_they_mean():
    data = {cryptoemr.RecordError, cryptoemr.BlockError, cryptoemr.EntryError, cryptoemr.SealError,
            cryptoemr.AddressError, cryptoemr.DecodeError, cryptoemr.InvalidKeyError,
            cryptoemr.InvalidArgumentError, cryptoemr.WrongHeightError, cryptoemr.UnknownParentError,
            cryptoemr.TimestampTooEarlyError, cryptoemr.TimestampTooLateError}
    for kind, cls in BY_KIND.items():
        assert issubclass(cls, ValueError) == any(issubclass(cls, d) for d in data), kind
    for cls in (cryptoemr.LockedError, cryptoemr.CorruptError, cryptoemr.NotFoundError, cryptoemr.CancelledError):
        assert not issubclass(cls, ValueError)
    assert issubclass(cryptoemr.IoError, OSError) and not issubclass(cryptoemr.IoError, ValueError)
    assert not any(issubclass(cls, OSError) for cls in BY_KIND.values() if cls is not cryptoemr.IoError)
    with pytest.raises(ValueError):
        cryptoemr.decode_address("emrp1notanaddress", "patient")
    with pytest.raises(ValueError):
        cryptoemr.EMR.from_bytes(b"not a record")
    error = cryptoemr.IoError("disk full")
    assert (str(error), error.errno, error.filename) == ("disk full", None, None)
    # With a file but no number from the operating system, the text stays
    # the library's, not OSError's "[Errno None] None: 'file'".
    error.filename = "/var/emr/chain.db"
    assert str(error) == "disk full"
    error.errno, error.strerror = errno.ENOSPC, "No space left on device"
    assert error.errno == errno.ENOSPC
    assert str(error) == "[Errno 28] No space left on device: '/var/emr/chain.db'"


def test_a_key_object_has_an_address():
    key = cryptoemr.SigningKey.generate("p256")
    for role in ("doctor", "patient", "miner"):
        assert cryptoemr.encode_address(role, key) == cryptoemr.encode_address(role, key.public_key_hash)
    pyca = ec.generate_private_key(ec.SECP256K1())
    same = cryptoemr.SigningKey.from_der(
        pyca.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    expected = cryptoemr.encode_address("patient", same.public_key_hash)
    assert cryptoemr.encode_address("patient", pyca) == expected
    assert cryptoemr.encode_address("patient", pyca.public_key()) == expected
    assert cryptoemr.decode_address(expected, "patient") == same.public_key_hash
    with pytest.raises(cryptoemr.InvalidKeyError):
        cryptoemr.encode_address("patient", ec.generate_private_key(ec.SECP384R1()))
    with pytest.raises(TypeError):
        cryptoemr.encode_address("patient", 42)
    with pytest.raises(cryptoemr.InvalidLengthError):
        cryptoemr.encode_address("patient", b"short")


def test_the_stubs_type_every_field():
    tree = ast.parse(STUB.read_text(encoding="utf-8"))
    classes = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}
    expected = {
        "EMR": {"Dr_hash": "bytes", "prescription": "str", "nonce": "int", "txid": "bytes", "dr_hash": "bytes"},
        "Grant": {"licence": "str", "not_before": "int", "not_after": "int", "chain_id": "bytes"},
        "Revocation": {"effective": "int", "grant_id": "bytes"},
        "Block": {"height": "int", "records": "List[EMR]", "entries": "List[_Entry]", "miner": "bytes"},
    }
    for name, fields in expected.items():
        declared = {
            node.target.id: ast.unparse(node.annotation)
            for node in classes[name].body
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id != "__hash__"
        }
        assert all(annotation != "Any" for annotation in declared.values()), (name, declared)
        for field, annotation in fields.items():
            assert declared[field] == annotation, (name, field, declared)


def test_signatures_and_docstrings_read_cleanly():
    signature = inspect.signature(cryptoemr.create_grant)
    assert list(signature.parameters) == ["authority_key", "dr_public_key", "licence", "not_before", "not_after", "chain_id"]
    assert signature.parameters["not_after"].default == 2**64 - 1
    assert signature.parameters["chain_id"].kind is inspect.Parameter.KEYWORD_ONLY
    for fn in (cryptoemr.create_signed_record, cryptoemr.create_revocation, cryptoemr.encode_address,
               cryptoemr.decode_address, cryptoemr.mine_block, cryptoemr.verify_records):
        inspect.signature(fn)
    for cls in (cryptoemr.Chain, cryptoemr.EMR, cryptoemr.Block, cryptoemr.Grant, cryptoemr.Revocation):
        doc = cls.__doc__
        assert doc and doc[0].isupper() and not doc.startswith(cls.__name__ + "("), (cls, doc[:80])
    assert cryptoemr.Chain.__doc__.startswith("A tamper-evident chain of blocks")


def test_the_errors_are_a_submodule_still_importable_from_the_top():
    from cryptoemr import InvalidChecksumError
    from cryptoemr.errors import InvalidChecksumError as same

    assert InvalidChecksumError is same is cryptoemr.errors.InvalidChecksumError
    for name in cryptoemr.errors.__all__:
        if name not in ("BY_KIND", "NODE_BY_KIND"):  # lookup tables, not errors
            assert getattr(cryptoemr, name) is getattr(cryptoemr.errors, name), name
    assert "errors" in cryptoemr.__all__ and "EMRError" in cryptoemr.__all__
    assert not [name for name in cryptoemr.__all__ if name.endswith("Error") and name != "EMRError"]
    text = pydoc.render_doc(cryptoemr, renderer=pydoc.plaintext)
    assert "class HashLengthError" not in text and "cryptoemr.errors" in text
    assert "class HashLengthError" in pydoc.render_doc(cryptoemr.errors, renderer=pydoc.plaintext)

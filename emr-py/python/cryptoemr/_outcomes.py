"""Outcomes of the pool that carry more than their name (SPEC section 9.1).

``ChainPool.submit`` names its outcome with a plain ``str`` (``"ready"``,
``"held"``, ``"already_pending"``), except when another record with the
same doctor and nonce is pending: the caller then needs that record's txid
too, and a second look at the pool could already find it mined.
"""

from typing import Tuple, Type

__all__ = ["PendingConflict"]


class PendingConflict(str):
    """The outcome ``"conflicts_with_pending"`` of ``ChainPool.submit``: the
    pool already holds another record with the same ``(Dr_hash, nonce)``
    (the doctor signed two records with one nonce). The pending one stays;
    the one offered was not added.

    A ``str`` equal to ``"conflicts_with_pending"``, so it compares like the
    other outcomes, with ``pending_txid``: the 32-byte txid of the pending
    record. It pickles and copies.
    """

    _pending_txid: bytes

    def __new__(cls, pending_txid: bytes) -> "PendingConflict":
        self = super().__new__(cls, "conflicts_with_pending")
        self._pending_txid = bytes(pending_txid)
        return self

    @property
    def pending_txid(self) -> bytes:
        """The txid of the record the pool keeps (32 bytes)."""
        return self._pending_txid

    def __reduce__(self) -> Tuple[Type["PendingConflict"], Tuple[bytes]]:
        return (type(self), (self._pending_txid,))

    def __repr__(self) -> str:
        return f"PendingConflict(pending_txid={self._pending_txid.hex()})"


PendingConflict.__module__ = "cryptoemr"

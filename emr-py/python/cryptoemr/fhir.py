"""A patient's prescriptions as an HL7 FHIR R4 ``Bundle`` (type
``collection``), and its verification by a consumer that holds only the
bundle (``docs/FHIR.md``).

>>> bundle = patient_bundle(chain, "emrp1...", keys=[patient_key])   # doctest: +SKIP
>>> verify_bundle(bundle)                                             # doctest: +SKIP
[b'...txid...', ...]

The bundle is built by the Rust core (``emr_core::fhir``): a ``Patient``,
a ``Practitioner`` per doctor (its public key in an extension, its
licences as qualifications), and per record a ``MedicationRequest`` and a
``Provenance`` carrying the record's ECDSA signature.
"""

import json
from typing import Any, Dict, Iterable, List, Union

from . import _native
from .errors import EMRError

__all__ = ["patient_bundle", "verify_bundle", "BundleError"]


class BundleError(EMRError, ValueError):
    """A bundle that is not one :func:`patient_bundle` writes, or one in
    which a prescription does not verify; ``.entry`` is the index in
    ``bundle["entry"]`` that failed (0 for the bundle itself)."""

    kind = None
    entry: int = 0


BundleError.__module__ = "cryptoemr.fhir"


def patient_bundle(chain: Any, patient: Union[str, bytes], keys: Iterable[Any] = ()) -> Dict[str, Any]:
    """The patient's history in ``chain`` (an address ``emrp1…`` or the
    20-byte hash) as a FHIR R4 Bundle, as a dict. Sealed prescriptions that
    one of ``keys`` (``SigningKey``, PEM/DER bytes or pyca keys) may read
    are shown opened; the others are marked as sealed."""
    return json.loads(_native._patient_bundle(chain, patient, list(keys)))


def verify_bundle(bundle: Dict[str, Any]) -> List[bytes]:
    """Rebuilds every prescription of ``bundle`` from its fields alone and
    verifies it as a record; returns their txids in order. Raises
    :class:`BundleError` naming the entry an edit broke."""
    return _native._verify_bundle(json.dumps(bundle))

"""Names shared by the CRDs, the handlers and the Secret writer.

Kept in one module so the API group, finalizer and annotation keys cannot drift between the
manifests in ``crds/`` and the code that reads them (a unit test checks the CRDs against these).
"""

from __future__ import annotations

import enum
from typing import Final

GROUP: Final = "star.operator.dev"
VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{GROUP}/{VERSION}"

CSRTEMPLATE_KIND: Final = "CsrTemplate"
CSRTEMPLATE_PLURAL: Final = "csrtemplates"
STARORDER_KIND: Final = "StarOrder"
STARORDER_PLURAL: Final = "starorders"
STARCERTIFICATE_KIND: Final = "StarCertificate"
STARCERTIFICATE_PLURAL: Final = "starcertificates"
STARISSUER_KIND: Final = "StarIssuer"
STARISSUER_PLURAL: Final = "starissuers"
DELEGATION_KIND: Final = "Delegation"
DELEGATION_PLURAL: Final = "delegations"

#: A StarOrder created by the delegation front end for an RFC 9115 NDC order: the Delegation it
#: serves (label), the NDC account and Order1 URLs (annotations).
DELEGATION_LABEL: Final = f"{GROUP}/delegation"
NDC_ACCOUNT_ANNOTATION: Final = f"{GROUP}/ndc-account"
NDC_ORDER_ANNOTATION: Final = f"{GROUP}/ndc-order"
#: Set by the delegation front end with ``spec.canceled`` when the NDC revokes an ordinary
#: certificate (RFC 8555 §7.6): the RFC 5280 reason code the operator revokes it with.
REVOCATION_REASON_ANNOTATION: Final = f"{GROUP}/revocation-reason"

#: Our own finalizer and annotation prefix: kopf's defaults (kopf.zalando.org/...) would be
#: shared with every other kopf operator in the cluster.
FINALIZER: Final = f"{GROUP}/finalizer"
ANNOTATION_PREFIX: Final = GROUP

#: An admin sets this to "true" on a StarOrder stuck in deletion (CA gone for good) to let it go
#: without cancelling the STAR order at the CA.
FORCE_DELETE_ANNOTATION: Final = f"{GROUP}/force-delete"

#: Set (to any new value, e.g. a timestamp) to have an emulated STAR series order its next
#: certificate now, like ``cmctl renew``; the value last acted on is ``status.series.renewRequest``.
#: Not under ``star.operator.dev/``: kopf leaves annotations with its own prefix out of the
#: changes it reacts to, so a change there would never wake the series.
RENEW_ANNOTATION: Final = f"renew.{GROUP}/requested-at"

#: Marks Secrets the operator manages; a pre-existing Secret without it is never overwritten.
MANAGED_BY_LABEL: Final = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE: Final = "star-operator"
#: The one owner of a Secret the operator writes (see :mod:`star_operator.secrets.ownership`):
#: ``namespace/name`` (kept from before kind and UID were recorded), its kind and its UID.
OWNER_ANNOTATION: Final = f"{GROUP}/owner"
OWNER_KIND_ANNOTATION: Final = f"{GROUP}/owner-kind"
OWNER_UID_ANNOTATION: Final = f"{GROUP}/owner-uid"

#: Data key holding the private key of a StarOrder before its first certificate arrives.
#: tls.key/tls.crt stay empty until then, so they never disagree; the first write moves the key
#: into tls.key and drops this entry in the same update.
STAGED_KEY: Final = "staged-tls.key"

TLS_CRT: Final = "tls.crt"
TLS_KEY: Final = "tls.key"
CA_CRT: Final = "ca.crt"

# cert-manager compatible Secret annotations (internal/controller/certificates/secrets.go).
CM_PREFIX: Final = "cert-manager.io"
CM_CERTIFICATE_NAME: Final = f"{CM_PREFIX}/certificate-name"
CM_ISSUER_NAME: Final = f"{CM_PREFIX}/issuer-name"
CM_ISSUER_KIND: Final = f"{CM_PREFIX}/issuer-kind"
CM_ISSUER_GROUP: Final = f"{CM_PREFIX}/issuer-group"
CM_COMMON_NAME: Final = f"{CM_PREFIX}/common-name"
CM_ALT_NAMES: Final = f"{CM_PREFIX}/alt-names"
CM_IP_SANS: Final = f"{CM_PREFIX}/ip-sans"
CM_URI_SANS: Final = f"{CM_PREFIX}/uri-sans"

# Our own Secret annotations (informational, for humans and `kubectl describe`).
SERIAL_ANNOTATION: Final = f"{GROUP}/serial"
NOT_AFTER_ANNOTATION: Final = f"{GROUP}/not-after"
STAR_URL_ANNOTATION: Final = f"{GROUP}/star-certificate-url"


class Phase(enum.StrEnum):
    """A StarOrder's ``status.phase`` (the CRD's enum; the CRD test checks they agree)."""

    PENDING = "Pending"
    KEY_STAGED = "KeyStaged"
    ORDERED = "Ordered"
    VALID = "Valid"
    REJECTED = "Rejected"
    FAILED = "Failed"
    CANCELING = "Canceling"
    CANCELED = "Canceled"


class Mode(enum.StrEnum):
    """How a StarOrder's series is issued (``status.mode``; a CsrTemplate's
    ``status.capabilities.mode`` is one of the first two): the CA runs the RFC 8739 series, the
    operator orders each certificate at a CA without STAR, or one ordinary certificate."""

    NATIVE = "Native"
    EMULATED = "Emulated"
    ORDINARY = "Ordinary"


class RenewBasis(enum.StrEnum):
    """What an emulated series timed its next certificate by (``status.series.renewBasis``):
    the CA's ARI window (RFC 9773) or a jittered fraction of the lifetime."""

    ARI = "ARI"
    FRACTION = "Fraction"


class CertState(enum.StrEnum):
    """A StarCertificate's ``status.state`` (the CRD's enum; the CRD test checks they agree)."""

    PENDING = "Pending"
    CURRENT = "Current"
    CANCELED = "Canceled"
    EXPIRED = "Expired"
    END_DATE_REACHED = "EndDateReached"
    ERROR = "Error"

"""RFC 9115 §4 CSR templates: load/validate, the DNO's domain policy, CSR checks, generation.

Public API (contract in docs/INTERFACES.md): ``load_template`` -> ``CsrTemplate`` (raises
``TemplateError`` with ``.path``), ``DomainPolicy``, ``check_csr`` -> ``list[Violation]``,
``generate_key_and_csr`` -> ``GeneratedRequest`` (raises ``TemplateRequestError``).
"""

from .check import check_csr
from .generate import GeneratedRequest, TemplateRequestError, generate_key_and_csr
from .keys import KEY_TYPE_NAMES
from .model import CsrTemplate, KeyType, TemplateError, load_template
from .policy import DomainPolicy
from .violation import Violation
from .vocab import MANDATORY, OPTIONAL

__all__ = [
    "KEY_TYPE_NAMES",
    "MANDATORY",
    "OPTIONAL",
    "CsrTemplate",
    "DomainPolicy",
    "GeneratedRequest",
    "KeyType",
    "TemplateError",
    "TemplateRequestError",
    "Violation",
    "check_csr",
    "generate_key_and_csr",
    "load_template",
]

"""The unit of a CSR check result, shared by the subject/key and the extension checks."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Violation:
    """One way a CSR departs from the template; ``field`` is a template path such as
    ``extensions.subjectAltName.DNS`` or ``subject.country`` (``keyTypes`` for the key)."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"

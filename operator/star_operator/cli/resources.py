"""The kinds the CLI knows, and how a user may name them (as ``kubectl`` accepts them)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from star_operator import constants as c

from .errors import CliError


@dataclass(frozen=True)
class Kind:
    kind: str
    plural: str
    group: str = c.GROUP
    version: str = c.VERSION
    namespaced: bool = True
    aliases: tuple[str, ...] = ()

    @property
    def singular(self) -> str:
        return self.kind.lower()

    def names(self) -> set[str]:
        base = {self.singular, self.plural, *self.aliases}
        return base | ({f"{n}.{self.group}" for n in base} if self.group else set())


STARORDER = Kind(c.STARORDER_KIND, c.STARORDER_PLURAL, aliases=("sto",))
STARCERTIFICATE = Kind(c.STARCERTIFICATE_KIND, c.STARCERTIFICATE_PLURAL,
                       aliases=("stc", "starcert"))
CSRTEMPLATE = Kind(c.CSRTEMPLATE_KIND, c.CSRTEMPLATE_PLURAL, namespaced=False,
                   aliases=("csrt", "csrtpl"))
SECRET = Kind("Secret", "secrets", group="", version="v1")


def resolve(text: str, allowed: tuple[Kind, ...]) -> Kind:
    """The kind ``text`` names (``starorder``, ``sto``, ``starorders.star.operator.dev``...)."""
    wanted = text.lower()
    for kind in allowed:
        if wanted in kind.names():
            return kind
    names = ", ".join(k.singular for k in allowed)
    raise CliError(f"unknown kind {text!r} (expected {names})")


def add_target(parser: Any, kind_help: str, name_help: str | None = None) -> None:
    """The ``KIND NAME`` (or ``KIND/NAME``) positionals every command takes."""
    parser.add_argument("kind", metavar="KIND", help=kind_help)
    parser.add_argument("name", metavar="NAME", nargs="?", help=name_help)


def split_target(kind_arg: str, name_arg: str | None, allowed: tuple[Kind, ...]
                 ) -> tuple[Kind, str]:
    """``KIND NAME`` or ``KIND/NAME``, as kubectl takes them."""
    if name_arg is None:
        if "/" not in kind_arg:
            raise CliError(f"missing NAME (use: KIND NAME or KIND/NAME, KIND one of "
                           f"{', '.join(k.singular for k in allowed)})")
        kind_arg, name_arg = kind_arg.split("/", 1)
    if not name_arg:
        raise CliError("empty NAME")
    return resolve(kind_arg, allowed), name_arg

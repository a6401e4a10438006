"""dns-01 challenge solvers (RFC 8555 §8.4) — RFC 2136 dynamic update with TSIG via dnspython."""

from star_operator.dns01.base import ChallengeSolver, Dns01Error, DnsFailure
from star_operator.dns01.names import challenge_record_name
from star_operator.dns01.rfc2136 import Rfc2136Solver

__all__ = ["ChallengeSolver", "Dns01Error", "DnsFailure", "Rfc2136Solver", "challenge_record_name"]

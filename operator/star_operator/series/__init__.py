"""The emulated STAR series: STAR semantics on an ACME CA that has no RFC 8739.

A public CA issues one ordinary certificate per order, so the operator itself plays the STAR
CA's part: it orders the next certificate of the series before the current one runs out (at the
CA's ARI window, or at a jittered fraction of the lifetime), installs it in the same Secret,
stops at the StarOrder's end-date, and on deletion orders nothing more and revokes what is out.

- :mod:`.timing`: when the next certificate is ordered (pure);
- :mod:`.install`: download, verify, write one issued certificate into the Secret;
- :mod:`.renewal`: the resumable steps of one renewal (key, order with ``replaces``, dns-01,
  finalize, install);
- :mod:`.loop`: the per-StarOrder daemon that waits for the moment, runs renewals, backs off;
- :mod:`.revocation`: the deletion path (``revokeOnDelete``).
"""

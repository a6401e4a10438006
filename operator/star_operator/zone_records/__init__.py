"""Records the DNO keeps in its own zone by RFC 2136 besides dns-01 answers: RFC 9115's
cname-map while a Delegation is active (:mod:`.cname_map`), and CAA records that leave the
CDN no way to get certificates for the DNO's names on its own (:mod:`.caa`, RFC 9115 §7.4).

Both use the CsrTemplate's dns01 server and TSIG key (:mod:`.access`): the DNO's one way into
its zone, already configured and tested by every dns-01 answer.
"""

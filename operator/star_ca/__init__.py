"""star_ca: a STAR-capable ACME CA (RFC 8555 + RFC 8739, CAA per RFC 8659/8657).

Layout follows Pebble's split so each concern can be read (and benchmarked) alone:

- ``wfe``  web front end: routes, strict JWS checks, nonces, RFC 7807 problem documents;
- ``va``   validation authority: dns-01, http-01 and CAA lookups against a configured DNS server;
- ``ca``   PKI: root/intermediate creation, the HTTPS serving certificate, leaf signing, CSR checks;
- ``db``   SQLite (WAL) storage, the single source of durable truth;
- ``star`` RFC 8739: auto-renewal parsing, §3.5 window arithmetic and the renewal scheduler.
"""

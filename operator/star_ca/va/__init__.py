"""Validation authority: dns-01, http-01 and CAA, all resolved against the configured DNS server."""

"""PKI: the CA hierarchy, the HTTPS serving certificate, CSR checks and leaf signing."""

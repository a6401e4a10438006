"""TLS settings for talking to an ACME CA.

A private STAR CA (such as `star_ca`) is trusted through a CA bundle given either as PEM text
(e.g. read from a Kubernetes Secret) or as a file path. Verification of the server certificate
and host name is always on; there is deliberately no switch to disable it.
"""

from __future__ import annotations

import os
import ssl


def ssl_context(ca_bundle: str | os.PathLike[str] | None) -> ssl.SSLContext:
    """A verifying client context trusting `ca_bundle` (PEM text or path), or the system roots.

    Raises `ValueError` naming the problem when the bundle is neither readable PEM text nor an
    existing file, rather than silently falling back to another trust store.
    """
    if ca_bundle is None:
        return ssl.create_default_context()
    text = os.fspath(ca_bundle)
    if "-----BEGIN" in text:
        try:
            return ssl.create_default_context(cadata=text)
        except ssl.SSLError as exc:
            raise ValueError(f"CA bundle PEM text is not a valid certificate list: {exc}") from exc
    if not os.path.isfile(text):
        raise ValueError(f"CA bundle {text!r} is neither PEM text nor an existing file")
    try:
        return ssl.create_default_context(cafile=text)
    except ssl.SSLError as exc:
        raise ValueError(f"CA bundle file {text!r} holds no valid certificates: {exc}") from exc

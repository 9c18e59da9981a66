"""Certificate-bound tokens (RFC 8705) from a sandbox that serves plain HTTP.

RFC 8705 binds a token to the certificate of the mutual-TLS connection it was requested
on. The sandbox identity provider serves HTTP, so it sees no certificate: instead the
client names the certificate in its signed client assertion, ``cnf: {"x5t#S256": ...}``,
and the token carries the same ``cnf``. The assertion proves the registered client asked
for it; possession of the certificate's key is proven where it matters, to the agency,
which accepts the token only on a connection presenting that certificate.
"""

from __future__ import annotations

import json
import re

from joserfc import jws
from joserfc.errors import JoseError

from simulators.identity.assertions import oauth_error

__all__ = ["requested_binding"]

_THUMBPRINT = re.compile(r"[A-Za-z0-9_-]{43}")  # base64url of 32 bytes, unpadded


def requested_binding(assertion: str) -> str | None:
    """The x5t#S256 the (already authenticated) assertion asks for, or None."""
    try:
        claims = json.loads(jws.extract_compact(assertion.encode()).payload)
    except (ValueError, JoseError, UnicodeDecodeError):
        return None  # authenticate_client has already refused a malformed assertion
    cnf = claims.get("cnf") if isinstance(claims, dict) else None
    if cnf is None:
        return None
    value = cnf.get("x5t#S256") if isinstance(cnf, dict) else None
    if not isinstance(value, str) or not _THUMBPRINT.fullmatch(value):
        raise oauth_error(
            400,
            "invalid_request",
            'The assertion\'s cnf must be {"x5t#S256": "<base64url SHA-256 of your DER '
            'client certificate, 43 characters>"} (RFC 8705 §3.1).',
        )
    return value

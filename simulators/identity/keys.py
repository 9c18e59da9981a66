"""The identity provider's signing key, kept on disk so tokens survive a restart."""

from __future__ import annotations

import json
import os
from pathlib import Path

from joserfc.jwk import ECKey

__all__ = ["generate_ec_key", "load_or_create_signing_key"]


def generate_ec_key() -> ECKey:
    key = ECKey.generate_key("P-256", auto_kid=True)
    return key


def load_or_create_signing_key(path: Path) -> ECKey:
    if path.exists():
        return ECKey.import_key(json.loads(path.read_text(encoding="utf-8")))
    key = generate_ec_key()
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written with owner-only permissions: it is the sandbox's root of trust.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(key.as_dict(private=True), handle)
    return key

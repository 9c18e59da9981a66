"""`lienthong credentials issue`: a key pair for an agency, registered with the sandbox IdP.

Files written under ``<state dir>/credentials/<agency id>/``:

- ``client.json`` — client id, agency id, scopes and the private key as a JWK (what the
  reference agency loads);
- ``private-key.pem`` — the same key as PKCS#8 PEM, for systems that load PEM files.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from joserfc.jwk import ECKey

from simulators.identity.keys import generate_ec_key
from simulators.identity.resources import DEFAULT_AGENCY_SCOPES
from simulators.identity.store import Client, IdentityStore

__all__ = [
    "AGENCY_ID_PATTERN",
    "ClientCredentials",
    "identity_db_path",
    "issue_credentials",
    "load_credentials",
]

# The prefix of a dossier code: digits, capitals and dots, e.g. 000.00.01.H29.
AGENCY_ID_PATTERN = re.compile(r"[0-9A-Z.]{3,30}")  # use with fullmatch


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    client_id: str
    agency_id: str
    scopes: tuple[str, ...]
    private_key: ECKey
    directory: Path


def identity_db_path(state_dir: Path) -> Path:
    return state_dir / "identity" / "identity.db"


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # the mode of os.open applies only when it creates the file
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def issue_credentials(
    state_dir: Path, agency_id: str, scopes: Iterable[str] = DEFAULT_AGENCY_SCOPES
) -> ClientCredentials:
    if not AGENCY_ID_PATTERN.fullmatch(agency_id):
        raise ValueError(
            f"agency id {agency_id!r} is not of the form 000.00.01.H29 "
            "(3–30 digits, capital letters and dots)"
        )
    key = generate_ec_key()
    directory = state_dir / "credentials" / agency_id
    directory.mkdir(parents=True, exist_ok=True)
    scope_list = tuple(sorted(set(scopes)))
    document: dict[str, Any] = {
        "client_id": agency_id,
        "agency_id": agency_id,
        "scopes": list(scope_list),
        "private_jwk": key.as_dict(private=True),
    }
    _write_private(directory / "client.json", json.dumps(document, indent=2))
    _write_private(directory / "private-key.pem", _pem(key))
    store = IdentityStore(identity_db_path(state_dir))
    try:
        store.register_client(
            Client(agency_id, agency_id, key.as_dict(private=False), frozenset(scope_list))
        )
    finally:
        store.close()
    return ClientCredentials(agency_id, agency_id, scope_list, key, directory)


def _pem(key: ECKey) -> str:
    raw = key.private_key
    assert raw is not None
    return raw.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def load_credentials(path: Path) -> ClientCredentials:
    """Read a ``client.json`` written by :func:`issue_credentials`."""
    document = json.loads(path.read_text(encoding="utf-8"))
    return ClientCredentials(
        client_id=document["client_id"],
        agency_id=document["agency_id"],
        scopes=tuple(document["scopes"]),
        private_key=ECKey.import_key(document["private_jwk"]),
        directory=path.parent,
    )

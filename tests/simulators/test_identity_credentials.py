"""`issue_credentials`: key files written privately, the client registered, keys rotated."""

from __future__ import annotations

import json
import stat
import time
import uuid
import warnings
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jwt
from joserfc.jwk import ECKey
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

from simulators.identity.app import create_app
from simulators.identity.assertions import ASSERTION_TYPE
from simulators.identity.credentials import (
    identity_db_path,
    issue_credentials,
    load_credentials,
)
from simulators.identity.resources import DEFAULT_AGENCY_SCOPES
from simulators.identity.store import IdentityStore

AGENCY = "000.00.01.H29"
ISSUER = "http://idp.test"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _token_status(state_dir: Path, key: ECKey) -> int:
    """The token endpoint's answer to an assertion signed with `key` for AGENCY."""
    store = IdentityStore(identity_db_path(state_dir))
    app = create_app(
        store=store,
        signing_key=ECKey.generate_key("P-256", auto_kid=True),
        issuer=ISSUER,
        admin_token="admin",
    )
    now = int(time.time())
    claims = {
        "iss": AGENCY,
        "sub": AGENCY,
        "aud": f"{ISSUER}/oauth2/token",
        "iat": now,
        "exp": now + 60,
        "jti": uuid.uuid4().hex,
    }
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": jwt.encode({"alg": "ES256"}, claims, key),
        "resource": "urn:lienthong:population",
    }
    try:
        status: int = TestClient(app).post("/oauth2/token", data=form).status_code
        return status
    finally:
        store.close()


def test_issue_writes_both_key_files_owner_only(tmp_path: Path) -> None:
    credentials = issue_credentials(tmp_path, AGENCY)
    assert credentials.directory == tmp_path / "credentials" / AGENCY
    for name in ("client.json", "private-key.pem"):
        assert _mode(credentials.directory / name) == 0o600, name


def test_client_json_holds_the_private_jwk_and_scopes(tmp_path: Path) -> None:
    credentials = issue_credentials(tmp_path, AGENCY)
    document = json.loads((credentials.directory / "client.json").read_text(encoding="utf-8"))
    assert document["client_id"] == document["agency_id"] == AGENCY
    assert document["scopes"] == sorted(DEFAULT_AGENCY_SCOPES)
    assert document["private_jwk"]["d"] == credentials.private_key.as_dict(private=True)["d"]


def test_the_pem_holds_the_same_key_as_the_jwk(tmp_path: Path) -> None:
    credentials = issue_credentials(tmp_path, AGENCY)
    pem = (credentials.directory / "private-key.pem").read_bytes()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    loaded = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(loaded, ec.EllipticCurvePrivateKey)
    jwk_private = credentials.private_key.private_key
    assert jwk_private is not None
    assert loaded.private_numbers() == jwk_private.private_numbers()


def test_load_credentials_reads_back_what_was_issued(tmp_path: Path) -> None:
    issued = issue_credentials(tmp_path, AGENCY, scopes=["portal.sync", "citizen.verify"])
    loaded = load_credentials(issued.directory / "client.json")
    assert loaded.client_id == loaded.agency_id == AGENCY
    assert loaded.scopes == ("citizen.verify", "portal.sync")
    assert loaded.directory == issued.directory
    assert loaded.private_key.thumbprint() == issued.private_key.thumbprint()


def test_issue_registers_the_client_with_its_public_key_only(tmp_path: Path) -> None:
    credentials = issue_credentials(tmp_path, AGENCY)
    store = IdentityStore(identity_db_path(tmp_path))
    try:
        client = store.get_client(AGENCY)
    finally:
        store.close()
    assert client is not None
    assert client.agency_id == AGENCY
    assert client.scopes == frozenset(DEFAULT_AGENCY_SCOPES)
    assert "d" not in client.public_jwk
    assert client.public_jwk["x"] == credentials.private_key.as_dict()["x"]


def test_the_issued_key_gets_tokens(tmp_path: Path) -> None:
    credentials = issue_credentials(tmp_path, AGENCY)
    assert _token_status(tmp_path, credentials.private_key) == 200


def test_reissuing_rotates_the_key(tmp_path: Path) -> None:
    old = issue_credentials(tmp_path, AGENCY)
    new = issue_credentials(tmp_path, AGENCY)
    assert new.private_key.thumbprint() != old.private_key.thumbprint()
    assert _token_status(tmp_path, old.private_key) == 401
    assert _token_status(tmp_path, new.private_key) == 200
    on_disk = load_credentials(new.directory / "client.json")
    assert on_disk.private_key.thumbprint() == new.private_key.thumbprint()


def test_two_agencies_get_separate_directories_and_clients(tmp_path: Path) -> None:
    first = issue_credentials(tmp_path, AGENCY)
    second = issue_credentials(tmp_path, "000.00.02.H29")
    assert first.directory != second.directory
    assert _token_status(tmp_path, first.private_key) == 200


@pytest.mark.parametrize(
    "agency_id",
    ["000.00.01.h29", "AB", "A" * 31, "000 00 01 H29", "../H29", "", "000-00-01"],
    ids=["lowercase", "too-short", "too-long", "spaces", "path", "empty", "dashes"],
)
def test_a_bad_agency_id_is_refused_naming_the_right_form(tmp_path: Path, agency_id: str) -> None:
    with pytest.raises(ValueError, match=r"000\.00\.01\.H29"):
        issue_credentials(tmp_path, agency_id)
    assert not (tmp_path / "credentials").exists()


def test_an_agency_id_with_a_trailing_newline_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        issue_credentials(tmp_path, AGENCY + "\n")


def test_reissuing_over_a_readable_file_makes_it_owner_only(tmp_path: Path) -> None:
    credentials = issue_credentials(tmp_path, AGENCY)
    (credentials.directory / "client.json").chmod(0o644)
    issue_credentials(tmp_path, AGENCY)
    assert _mode(credentials.directory / "client.json") == 0o600

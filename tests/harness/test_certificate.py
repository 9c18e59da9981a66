from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest

from harness.reporting.certificate import (
    CertificateError,
    issue_certificate,
    load_or_create_signing_key,
    load_public_key,
    public_key_path,
    verify_certificate,
)


def _run_dir(tmp_path: Path, verdict: str = "pass") -> Path:
    run = tmp_path / "run"
    run.mkdir()
    results = {
        "verdict": verdict,
        "target": {"base_url": "http://a.test", "agency_id": "000.00.01.H29"},
        "suite_version": "0.1.0",
        "tool_version": "0.1.0",
        "profile": "baseline",
        "seed": 3,
        "requirements": [{"id": "SEC-TOKEN-AUD@1", "outcome": verdict}],
    }
    (run / "results.json").write_text(json.dumps(results))
    (run / "evidence.jsonl").write_text('{"id": "ex-00001"}\n')
    return run


@pytest.fixture
def keypair(tmp_path: Path):  # type: ignore[no-untyped-def]
    key, created = load_or_create_signing_key(tmp_path / "keys" / "signing-key.json")
    assert created and (tmp_path / "keys" / "signing-key.json").stat().st_mode & 0o777 == 0o600
    return key, load_public_key(public_key_path(key.path))


def _claims(token: str) -> dict[str, object]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "==")))


def test_a_pass_is_certified_with_everything_it_binds(tmp_path: Path, keypair) -> None:  # type: ignore[no-untyped-def]
    key, public = keypair
    run = _run_dir(tmp_path)
    digest = "sha256:" + "ab" * 32
    path = issue_certificate(run, key, issuer="VPCP", build_digest=digest, valid_days=30)
    token = path.read_text()
    checked = verify_certificate(token, public, evidence_dir=run)
    assert checked.valid, checked.problems
    claims = _claims(token)
    assert claims["sub"] == "000.00.01.H29" and claims["endpoint"] == "http://a.test"
    assert claims["build_digest"] == digest and claims["seed"] == 3
    assert claims["requirements"] == {"SEC-TOKEN-AUD@1": "pass"}
    assert set(claims["evidence"]) == {"results.json", "evidence.jsonl"}  # type: ignore[arg-type]
    assert int(claims["exp"]) - int(claims["iat"]) == 30 * 86400  # type: ignore[call-overload]


def test_a_failed_run_gets_no_certificate(tmp_path: Path, keypair) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CertificateError, match="did not pass"):
        issue_certificate(
            _run_dir(tmp_path, "fail"), keypair[0], issuer="x", build_digest=None, valid_days=1
        )


def test_a_malformed_build_digest_is_refused(tmp_path: Path, keypair) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CertificateError, match="sha256:<64 hex digits>"):
        issue_certificate(
            _run_dir(tmp_path), keypair[0], issuer="x", build_digest="latest", valid_days=1
        )


def test_tampering_expiry_revocation_and_evidence_each_invalidate(tmp_path: Path, keypair) -> None:  # type: ignore[no-untyped-def]
    key, public = keypair
    run = _run_dir(tmp_path)
    token = issue_certificate(run, key, issuer="x", build_digest=None, valid_days=1).read_text()
    header, _payload, signature = token.strip().split(".")
    forged = _claims(token) | {"sub": "999.99.99.X99"}
    raw = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
    assert not verify_certificate(f"{header}.{raw}.{signature}", public).valid
    later = verify_certificate(token, public, now=time.time() + 2 * 86400)
    assert not later.valid and "expired" in later.problems[0]
    revocations = tmp_path / "revoked.json"
    revocations.write_text(
        json.dumps({"revoked": [{"serial": _claims(token)["jti"], "reason": "rebuilt"}]})
    )
    revoked = verify_certificate(token, public, revocations=revocations)
    assert not revoked.valid and "rebuilt" in revoked.problems[0]
    (run / "evidence.jsonl").write_text("changed\n")
    changed = verify_certificate(token, public, evidence_dir=run)
    assert not changed.valid and "evidence.jsonl" in changed.problems[0]


def test_another_key_does_not_verify(tmp_path: Path, keypair) -> None:  # type: ignore[no-untyped-def]
    token = issue_certificate(
        _run_dir(tmp_path), keypair[0], issuer="x", build_digest=None, valid_days=1
    ).read_text()
    other, _ = load_or_create_signing_key(tmp_path / "other.json")
    assert not verify_certificate(token, load_public_key(public_key_path(other.path))).valid

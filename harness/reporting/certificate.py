"""Certificates: a signed statement of what was tested and found, verifiable offline.

A certificate is a JWS (RFC 7515, compact) signed with Ed25519 (`alg: Ed25519`, RFC 9864),
issued only when the verdict is pass. Its claims bind the agency, the endpoint, the build
digest the agency supplied, the suite and tool versions, profile, seed, every
requirement's outcome and the SHA-256 of every evidence file, with issue and expiry times
(`iat`, `exp`) and a serial (`jti`) that a revocation list can name.

Like every report it is built from the run's files alone (results.json, evidence.jsonl).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey
from joserfc.jws import JWSRegistry

__all__ = [
    "CERTIFICATE_FILE",
    "CertificateError",
    "SigningKey",
    "Verification",
    "issue_certificate",
    "load_or_create_signing_key",
    "load_public_key",
    "public_key_path",
    "sha256_file",
    "verify_certificate",
]

CERTIFICATE_FILE = "certificate.jws"
CERTIFICATE_TYPE = "lienthong-certificate+jwt"
EVIDENCE_FILES = ("results.json", "evidence.jsonl")
LOAD_FILE = "load/load.json"  # present after `certify --with-load`
_REGISTRY = JWSRegistry(algorithms=["Ed25519"])
_BUILD_DIGEST = re.compile(r"[a-z0-9]+:[0-9a-f]{32,128}")


class CertificateError(Exception):
    """A certificate could not be issued, or a file needed to check one is unusable."""


@dataclass(frozen=True, slots=True)
class SigningKey:
    key: OKPKey
    path: Path

    @property
    def key_id(self) -> str:
        return str(self.key.kid)


def _write_owner_only(path: Path, data: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(data)


def load_or_create_signing_key(path: Path, *, create: bool = True) -> tuple[SigningKey, bool]:
    """The Ed25519 key at `path` (a private JWK), created if absent; (key, created)."""
    if path.exists():
        try:
            key = OKPKey.import_key(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, JoseError) as exc:
            raise CertificateError(f"{path} is not an Ed25519 private JWK: {exc}") from None
        return SigningKey(key, path), False
    if not create:
        raise CertificateError(
            f"no signing key at {path}; create one with `lienthong keys generate`"
        )
    key = OKPKey.generate_key("Ed25519", auto_kid=True)
    _write_owner_only(path, json.dumps(key.as_dict(private=True)))
    _write_owner_only(public_key_path(path), json.dumps(key.as_dict(private=False), indent=2))
    return SigningKey(key, path), True


def public_key_path(private_path: Path) -> Path:
    return private_path.with_name(private_path.stem + ".pub.json")


def load_public_key(path: Path) -> OKPKey:
    try:
        key = OKPKey.import_key(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, JoseError) as exc:
        raise CertificateError(f"{path} is not an Ed25519 public JWK: {exc}") from None
    return key


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return "sha256:" + digest.hexdigest()


def _results(run_dir: Path) -> dict[str, Any]:
    try:
        results: dict[str, Any] = json.loads((run_dir / "results.json").read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise CertificateError(f"cannot read {run_dir / 'results.json'}: {exc}") from None
    return results


def _load_summary(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / LOAD_FILE
    if not path.is_file():
        return None
    try:
        load = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CertificateError(f"cannot read {path}: {exc}") from None
    keys = ("profile", "scale", "compress", "verdict")
    return {key: load.get(key) for key in keys} if isinstance(load, dict) else None


def _evidence_names(run_dir: Path) -> list[str]:
    names = list(EVIDENCE_FILES)
    if (run_dir / LOAD_FILE).is_file():
        names.append(LOAD_FILE)
    return names


def issue_certificate(
    run_dir: Path, key: SigningKey, *, issuer: str, build_digest: str | None, valid_days: int
) -> Path:
    """Sign a certificate for the passing run in `run_dir`; returns its path."""
    results = _results(run_dir)
    if results.get("verdict") != "pass":
        raise CertificateError(f"the run in {run_dir} did not pass; no certificate is issued")
    load = _load_summary(run_dir)
    if load is not None and load.get("verdict") != "pass":
        raise CertificateError(
            f"the load test in {run_dir / 'load'} did not pass; no certificate is issued"
        )
    if build_digest is not None and not _BUILD_DIGEST.fullmatch(build_digest):
        raise CertificateError(
            f"build digest {build_digest!r} is not of the form sha256:<64 hex digits>"
        )
    now = int(time.time())
    claims = {
        "iss": issuer,
        "sub": results["target"]["agency_id"],
        "jti": uuid.uuid4().hex,
        "iat": now,
        "nbf": now,
        "exp": now + valid_days * 86400,
        "endpoint": results["target"]["base_url"],
        "build_digest": build_digest,
        "suite_version": results["suite_version"],
        "tool_version": results["tool_version"],
        "profile": results["profile"],
        "seed": results["seed"],
        "verdict": "pass",
        "requirements": {r["id"]: r["outcome"] for r in results["requirements"]},
        "evidence": {name: sha256_file(run_dir / name) for name in _evidence_names(run_dir)},
    }
    if load is not None:
        claims["load"] = load
    header = {"alg": "Ed25519", "kid": key.key_id, "typ": CERTIFICATE_TYPE}
    token = jwt.encode(header, claims, key.key, registry=_REGISTRY)
    path = run_dir / CERTIFICATE_FILE
    path.write_text(token + "\n", encoding="utf-8")
    return path


@dataclass(frozen=True, slots=True)
class Verification:
    valid: bool
    problems: tuple[str, ...]
    claims: dict[str, Any]


def _revoked_serials(revocations: Path | None) -> dict[str, str]:
    if revocations is None or not revocations.exists():
        return {}
    try:
        entries = json.loads(revocations.read_text(encoding="utf-8")).get("revoked", [])
        return {str(e["serial"]): str(e.get("reason", "")) for e in entries}
    except (OSError, ValueError, AttributeError, KeyError, TypeError) as exc:
        raise CertificateError(f"{revocations} is not a revocation list: {exc}") from None


def verify_certificate(
    token: str,
    public_key: OKPKey,
    *,
    revocations: Path | None = None,
    evidence_dir: Path | None = None,
    now: float | None = None,
) -> Verification:
    """Check signature, type, validity period, revocation and (optionally) the evidence."""
    try:
        decoded = jwt.decode(token.strip(), public_key, registry=_REGISTRY)
    except (ValueError, JoseError) as exc:
        return Verification(False, (f"the signature does not verify with this key ({exc})",), {})
    claims = dict(decoded.claims)
    problems = _claim_problems(decoded.header, claims, now or time.time())
    reason = _revoked_serials(revocations).get(str(claims.get("jti")))
    if reason is not None:
        problems.append(f"certificate {claims.get('jti')} is revoked: {reason or 'no reason'}")
    if evidence_dir is not None:
        problems += _evidence_problems(claims.get("evidence", {}), evidence_dir)
    return Verification(not problems, tuple(problems), claims)


def _claim_problems(header: dict[str, Any], claims: dict[str, Any], now: float) -> list[str]:
    problems = []
    if header.get("typ") != CERTIFICATE_TYPE:
        problems.append(f"not a lienthong certificate (typ {header.get('typ')!r})")
    if claims.get("verdict") != "pass":
        problems.append(f"the certified verdict is {claims.get('verdict')!r}, not pass")
    exp = claims.get("exp")
    if not isinstance(exp, int) or exp < now:
        problems.append(f"expired at {_iso(exp)}" if isinstance(exp, int) else "no expiry")
    nbf = claims.get("nbf")
    if isinstance(nbf, int) and nbf > now + 60:
        problems.append(f"not valid before {_iso(nbf)}")
    return problems


def _evidence_problems(expected: Any, evidence_dir: Path) -> list[str]:
    if not isinstance(expected, dict) or not expected:
        return ["the certificate names no evidence files"]
    problems = []
    root = evidence_dir.resolve()
    for name, digest in expected.items():
        path = (root / str(name)).resolve()
        if root not in path.parents:  # a certificate must not point outside the folder
            problems.append(f"evidence file {name} lies outside {evidence_dir}")
        elif not path.is_file():
            problems.append(f"evidence file {name} is missing from {evidence_dir}")
        elif sha256_file(path) != digest:
            problems.append(f"evidence file {name} does not match its certified SHA-256")
    return problems


def _iso(timestamp: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))

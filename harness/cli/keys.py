"""`lienthong keys …` and `lienthong verify`: the certificate's key and its checking."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from rich.markup import escape

from harness.cli.app import console
from harness.errors import ConfigError
from harness.reporting.certificate import (
    CertificateError,
    load_or_create_signing_key,
    load_public_key,
    public_key_path,
    verify_certificate,
)

__all__ = ["generate_key", "revoke", "show_key", "verify_command"]


def generate_key(path: Path, *, force: bool) -> None:
    if path.exists() and not force:
        raise ConfigError(
            f"{path} already exists; pass --force to replace it (certificates "
            "signed with the old key will no longer verify with the new one)"
        )
    if force:
        path.unlink(missing_ok=True)
    key, _ = load_or_create_signing_key(path)
    console.print(
        f"key id      {key.key_id}\nprivate key {path}\n"
        f"public key  {public_key_path(path)}  (hand this to verifiers)"
    )


def show_key(path: Path) -> None:
    try:
        key, _ = load_or_create_signing_key(path, create=False)
    except CertificateError as exc:
        raise ConfigError(str(exc)) from None
    console.print(f"key id {key.key_id}")
    console.print_json(json.dumps(key.key.as_dict(private=False)))


def revoke(serial: str, *, reason: str, revocations: Path) -> None:
    if not serial.isalnum() or len(serial) > 64:
        raise ConfigError(
            f"serial {serial!r} is not a certificate serial (its jti: 32 hex "
            "digits, as `lienthong verify` prints it)"
        )
    document: dict[str, Any] = {"revoked": []}
    if revocations.exists():
        try:
            document = json.loads(revocations.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ConfigError(f"{revocations} is not a revocation list: {exc}") from None
    document["revoked"].append(
        {
            "serial": serial,
            "reason": reason,
            "revoked_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
    )
    revocations.parent.mkdir(parents=True, exist_ok=True)
    revocations.write_text(json.dumps(document, indent=2, ensure_ascii=False), encoding="utf-8")
    console.print(f"revoked {serial} in {revocations}")


def verify_command(
    certificate: Path, public_key: Path, revocations: Path, evidence_dir: Path | None
) -> int:
    """0 when the certificate is valid, 1 when it is not; usage problems raise (exit 2)."""
    try:
        token = certificate.read_text(encoding="utf-8")
        key = load_public_key(public_key)
        result = verify_certificate(token, key, revocations=revocations, evidence_dir=evidence_dir)
    except OSError as exc:
        raise ConfigError(f"cannot read {certificate}: {exc.strerror}") from None
    except CertificateError as exc:
        raise ConfigError(str(exc)) from None
    claims = result.claims
    if claims:
        console.print(
            f"certificate {escape(str(claims.get('jti')))} for "
            f"{escape(str(claims.get('sub')))} at {escape(str(claims.get('endpoint')))}"
            f", suite {escape(str(claims.get('suite_version')))}, profile "
            f"{escape(str(claims.get('profile')))}"
        )
    if result.valid:
        console.print("[green]VALID[/]")
        return 0
    for problem in result.problems:
        console.print(f"[red]INVALID[/] {escape(problem)}")
    return 1

"""The sandbox PKI: a CA, loopback server certificates, client certificates, kept on disk."""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

from simulators.common.pki import SandboxPki, thumbprint


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_files_are_owner_only(tmp_path: Path) -> None:
    pki = SandboxPki(tmp_path / "pki")
    issued = pki.client("lienthong-harness")
    assert _mode(pki.directory) == 0o700
    assert _mode(pki.directory / "clients") == 0o700
    for path in (pki.ca_file, pki.directory / "ca-key.pem", issued.cert_file, issued.key_file):
        assert _mode(path) == 0o600, path


def test_a_server_certificate_names_the_loopback_addresses(tmp_path: Path) -> None:
    cert = SandboxPki(tmp_path).server("agency-x").certificate()
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in names.get_values_for_type(x509.IPAddress)
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]


def test_leaves_chain_to_the_ca(tmp_path: Path) -> None:
    pki = SandboxPki(tmp_path)
    leaves = (pki.server("s"), pki.client("c"))
    ca = x509.load_pem_x509_certificate(pki.ca_file.read_bytes())
    for leaf in leaves:
        leaf.certificate().verify_directly_issued_by(ca)


def test_certificates_are_issued_once_and_reused(tmp_path: Path) -> None:
    first = SandboxPki(tmp_path).client("agency-1")
    again = SandboxPki(tmp_path).client("agency-1")
    assert first.thumbprint() == again.thumbprint()


def test_a_leaf_of_a_removed_ca_is_reissued(tmp_path: Path) -> None:
    pki = SandboxPki(tmp_path)
    before = pki.client("agency-1").thumbprint()
    pki.ca_file.unlink()
    assert pki.client("agency-1").thumbprint() != before


def test_client_certificates_are_the_registry_of_signers(tmp_path: Path) -> None:
    pki = SandboxPki(tmp_path)
    issued = [pki.client("a"), pki.client("b")]
    pki.server("not-a-client")
    listed = {thumbprint(c.public_bytes(Encoding.DER)) for c in pki.client_certificates()}
    assert listed == {i.thumbprint() for i in issued}


def test_a_thumbprint_is_unpadded_base64url_of_sha256() -> None:
    # RFC 8705 §3.1; the SHA-256 of b"" is e3b0c442…
    assert thumbprint(b"") == "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"


@pytest.mark.parametrize("name", ["", "../ca", "a b", "x" * 65])
def test_a_bad_name_is_refused_with_the_right_form(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="letters, digits"):
        SandboxPki(tmp_path).client(name)

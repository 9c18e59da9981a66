from __future__ import annotations

from harness.redaction import redact_headers, redact_text, redact_value


def test_pins_keep_prefix_and_tail_only() -> None:
    assert redact_text("pin 001203012345 ok") == "pin 001******345 ok"


def test_longer_digit_runs_are_not_mistaken_for_pins() -> None:
    assert redact_text("20250115143000") == "20250115143000"


def test_names_keep_initials_and_addresses_vanish() -> None:
    data = {
        "ChuHoSo": {"HoVaTen": "Nguyễn Văn An", "SoDinhDanh": "001203012345"},
        "permanent_address": "Số 1, phố Huế",
    }
    assert redact_value(data) == {
        "ChuHoSo": {"HoVaTen": "N***** V** A*", "SoDinhDanh": "001******345"},
        "permanent_address": "<address redacted>",
    }


def test_tokens_are_removed_from_headers_and_text() -> None:
    jwt = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"
    assert redact_headers({"Authorization": f"Bearer {jwt}", "X-A": "b"}) == {
        "Authorization": "<redacted>",
        "X-A": "b",
    }
    assert jwt not in redact_text(f"token={jwt}")

"""The plain-locust baseline of benchmarks/load_ceiling.py: the same requests as the
harness sends (POST a dossier, GET its status), with nothing else around them."""

from __future__ import annotations

import itertools
import json

from locust import FastHttpUser, task

_BODY = json.dumps(
    {
        "MaHoSo": "000.00.01.H29.LBENCH-250101-0001",
        "MaTTHC": "1.004194",
        "NgayNopHoSo": "20250101120000",
        "KenhNop": 2,
        "ChuHoSo": {
            "SoDinhDanh": "001090000000",
            "HoVaTen": "Nguyễn Văn Thử",
            "NgaySinh": "19900101",
        },
        "TrichYeuHoSo": "Đăng ký nguyện vọng",
        "DuLieuHoSo": {"NguyenVong": 1, "ThoiHanTamTru": 12},
    }
).encode()
_HEADERS = {"Authorization": "Bearer bench", "Content-Type": "application/json"}
_serial = itertools.count()


class PlainUser(FastHttpUser):
    @task
    def submit(self) -> None:
        self.client.post("/dossiers", data=_BODY, headers=_HEADERS, name="submit")

    @task
    def status(self) -> None:
        code = f"000.00.01.H29.LBENCH-250101-{next(_serial) % 10000:04d}"
        self.client.get(f"/dossiers/{code}", headers=_HEADERS, name="status")

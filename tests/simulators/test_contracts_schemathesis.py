"""Our simulators honour their own contracts: schemathesis fuzzes each one in-process.

Every operation of specs/identity.yaml, specs/population.yaml and specs/portal.yaml gets
valid (positive) and invalid (negative) requests; no answer may be a server error, and
every answer must have a documented status, content type and body schema.

Schema-valid but random data mostly stops at the simulators' semantic checks (a PIN with
no province, an unknown procedure code, an unsigned client assertion), so half of the
positive cases carry realistic values (real citizens, known procedures, a registered
client) and reach the success paths and their response schemas too.

The cases come from `operation.as_strategy()` under a plain hypothesis `@given`, the way
harness/checks/contract.py drives them: schemathesis's own pytest integration
(`schemathesis.pytest.from_fixture`) reads `Function._nodeid`, which pytest 9.2 no longer
has.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from joserfc import jwt
from joserfc.jwk import ECKey
from schemathesis import GenerationMode
from schemathesis.auths import AuthStorage
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from simulators.common.tokens import TokenVerifier
from simulators.identity.app import create_app as create_identity_app
from simulators.identity.assertions import ASSERTION_TYPE
from simulators.identity.keys import load_or_create_signing_key
from simulators.identity.store import Client, IdentityStore
from simulators.population.app import FIELD_SCOPES
from simulators.population.app import create_app as create_population_app
from simulators.population.generator import generate_population
from simulators.population.store import PopulationStore
from simulators.portal.app import create_app as create_portal_app
from simulators.portal.dossiers import DossierState
from simulators.portal.legacy import LegacyAccounts
from simulators.portal.store import PortalStore

SPECS = Path(__file__).resolve().parents[2] / "specs"
ADMIN_TOKEN = "admin"
AGENCY = "000.00.01.H29"
ISSUER = "http://testserver"
CLIENT_ID = "agency-client"
EXAMPLES = 30
SEED = 20250115
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
HTTP_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options", "trace"})


@dataclass(frozen=True)
class Service:
    spec: str
    audience: str | None  # None: only /admin/* needs a token
    scope: str = ""
    claims: dict[str, str] = field(default_factory=dict)


SERVICES = {
    "identity": Service("identity.yaml", None),
    "population": Service(
        "population.yaml",
        "urn:lienthong:population",
        "citizen.verify citizen.read.identity citizen.read.residence citizen.read.family "
        "citizen.changes justice.civil-status police.residence",
    ),
    "portal": Service(
        "portal.yaml",
        "urn:lienthong:portal",
        "portal.sync",
        {"subject": AGENCY, "agency_id": AGENCY},
    ),
    # The legacy adapter authenticates with a session in the body, not a bearer token.
    "portal-legacy": Service("portal-legacy.yaml", None),
}
MODES = {"positive": GenerationMode.POSITIVE, "negative": GenerationMode.NEGATIVE}


def _operations() -> list[Any]:
    """One test per (service, operation, mode), named after what it fuzzes."""
    params = []
    for name, service in SERVICES.items():
        document = yaml.safe_load((SPECS / service.spec).read_text(encoding="utf-8"))
        for path, item in document["paths"].items():
            for method in sorted(m for m in item if m in HTTP_METHODS):
                definition = item[method]
                has_input = "parameters" in definition or "requestBody" in definition
                # An operation without parameters or body has nothing to make invalid
                # (credentials are not fuzzed, see `_schema`).
                for mode in MODES if has_input else ("positive",):
                    test_id = f"{name}-{method.upper()} {path}-{mode}"
                    params.append(pytest.param(name, method.upper(), path, mode, id=test_id))
    return params


# -- the simulators -------------------------------------------------------------------------


@dataclass
class Simulator:
    app: Any
    citizens: list[dict[str, Any]] = field(default_factory=list)
    client_key: ECKey | None = None
    procedures: list[str] = field(default_factory=list)
    session: str = ""  # a live legacy-adapter session (portal)
    dossiers: list[str] = field(default_factory=list)  # citizen dossiers at 4, 5, 6 (portal)


@pytest.fixture(scope="module")
def population_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("population") / "population.sqlite"
    generate_population(path, 200, seed=0)
    return path


@pytest.fixture
def build(
    tmp_path: Path, population_db: Path, verifier_for: Callable[[str], TokenVerifier]
) -> Iterator[Callable[[str], Simulator]]:
    """Builds a simulator as an ASGI app on fresh storage; closes the storage afterwards."""
    stores: list[Any] = []

    def build_simulator(name: str) -> Simulator:
        if name == "identity":
            identity = IdentityStore(tmp_path / "identity.sqlite")
            stores.append(identity)
            key = ECKey.generate_key("P-256", auto_kid=True)
            identity.register_client(
                Client(
                    CLIENT_ID,
                    AGENCY,
                    key.as_dict(private=False),
                    frozenset({"citizen.verify", "citizen.read.identity", "portal.sync"}),
                )
            )
            app = create_identity_app(
                store=identity,
                signing_key=load_or_create_signing_key(tmp_path / "signing-key.json"),
                issuer=ISSUER,
                admin_token=ADMIN_TOKEN,
            )
            return Simulator(app, client_key=key)
        verifier = verifier_for(SERVICES[name].audience or "")
        if name == "population":
            shutil.copy(population_db, tmp_path / "population.sqlite")
            population = PopulationStore(tmp_path / "population.sqlite")
            stores.append(population)
            app = create_population_app(
                store=population, verifier=verifier, admin_token=ADMIN_TOKEN
            )
            return Simulator(app, citizens=population.all_citizens())
        portal = PortalStore(tmp_path / "portal.sqlite")
        stores.append(portal)
        procedures = yaml.safe_load((SPECS / "procedures.yaml").read_text(encoding="utf-8"))
        # A route and a legacy account, so citizen submissions and adapter calls get past
        # "unknown agency" and "unknown session" to the paths that do the work.
        portal.set_route(AGENCY, "http://agency.invalid")
        accounts = LegacyAccounts(portal.db)
        accounts.register("igate", "igate-secret", AGENCY)
        login = accounts.login("igate", "igate-secret")
        assert login is not None
        return Simulator(
            create_portal_app(store=portal, verifier=verifier, admin_token=ADMIN_TOKEN),
            procedures=[p["code"] for p in procedures["procedures"]],
            session=login[0],
            dossiers=_citizen_dossiers(portal),
        )

    yield build_simulator
    for store in stores:
        store.close()


def _citizen_dossiers(portal: PortalStore) -> list[str]:
    """Dossiers in process (4), awaiting a supplement (5) and awaiting payment (6), so the
    citizen's pay, supplement and withdraw reach their success paths as well as 409."""
    codes = []
    for status in (4, 5, 6):
        code = f"{AGENCY}-250115-010{status}"
        portal.save_dossier(
            DossierState(
                code=code,
                agency_id=AGENCY,
                procedure="1.004194",
                status=status,
                received_at="20250115083000",
                due_at="20250120170000",
                synced=True,
                paused_since="20250116090000" if status in (5, 6) else None,
            )
        )
        codes.append(code)
    return codes


# -- generation -----------------------------------------------------------------------------


def _auth(service: Service, make_token: Callable[..., str]) -> AuthStorage:
    """Credentials the simulator accepts: the admin token for /admin/*, a service token
    with every scope otherwise."""
    claims = dict(service.claims)
    subject = claims.pop("subject", "client-1")

    class Bearer:
        def get(self, case: Any, ctx: Any) -> str | None:
            if case.operation.path.startswith("/admin/"):
                return ADMIN_TOKEN
            if service.audience is None:
                return None  # the identity provider's public endpoints
            return str(make_token(service.audience, service.scope, subject=subject, **claims))

        def set(self, case: Any, data: str, ctx: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    storage: AuthStorage = AuthStorage()
    storage.auth(refresh_interval=None)(Bearer)
    return storage


def _client_assertion(key: ECKey) -> str:
    now = int(time.time())
    claims = {
        "iss": CLIENT_ID,
        "sub": CLIENT_ID,
        "aud": f"{ISSUER}/oauth2/token",
        "iat": now,
        "exp": now + 60,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode({"alg": "ES256", "kid": key.kid}, claims, key)


def _realistic(operation: Any, simulator: Simulator, auth: AuthStorage) -> Any:
    """Cases with values the simulator knows, or None where random data already gets far."""
    label = operation.label

    def cases(**fixed: Any) -> Any:
        return operation.as_strategy(auth_storage=auth, **fixed)

    if label == "POST /oauth2/token":
        key = simulator.client_key
        assert key is not None
        return st.tuples(
            st.sampled_from(
                [
                    "urn:lienthong:population",
                    "urn:lienthong:portal",
                    f"urn:lienthong:agency:{AGENCY}",
                    "urn:lienthong:unknown",
                ]
            ),
            st.sampled_from([None, "citizen.verify", "portal.sync", "citizen.read.family"]),
        ).flatmap(
            lambda drawn: cases(
                body={
                    "grant_type": "client_credentials",
                    "client_assertion_type": ASSERTION_TYPE,
                    "client_assertion": _client_assertion(key),
                    "resource": drawn[0],
                    **({"scope": drawn[1]} if drawn[1] else {}),
                }
            )
        )
    if label == "POST /v1/citizens/verify":
        return st.tuples(st.sampled_from(simulator.citizens), st.booleans()).flatmap(
            lambda drawn: cases(
                body={
                    "pin": drawn[0]["pin"],
                    "full_name": drawn[0]["full_name"].upper() if drawn[1] else "Nguyễn Văn Sai",
                    "date_of_birth": drawn[0]["date_of_birth"],
                }
            )
        )
    if label == "GET /v1/citizens/{pin}":
        return st.tuples(
            st.sampled_from(simulator.citizens),
            st.lists(st.sampled_from(sorted(FIELD_SCOPES)), min_size=1, unique=True),
        ).flatmap(
            lambda drawn: cases(
                path_parameters={"pin": drawn[0]["pin"]},
                query={"fields": ",".join(drawn[1]), **POPULATION_PURPOSE},
            )
        )
    population = _realistic_population(label, simulator, cases)
    if population is not None:
        return population
    if label == "POST /v1/status-sync":
        # Few dossiers and every status, so syncs build on each other: accepted
        # transitions (200) and illegal ones (409) both occur.
        return st.fixed_dictionaries(
            {
                "MaHoSo": st.sampled_from([f"{AGENCY}-250115-000{i}" for i in range(1, 4)]),
                "MaTTHC": st.sampled_from(simulator.procedures),
                "TrangThaiHoSo": st.integers(1, 10),
                "NgayTiepNhan": st.just("20250115083000"),
                "NgayHenTra": st.sampled_from(["20250120170000", "20250110170000"]),
                "DonViXuLy": st.sampled_from([AGENCY, AGENCY, "000.00.02.H29"]),
            }
        ).flatmap(lambda body: cases(body=body))
    if label == "POST /v1/citizen/dossiers":
        return st.fixed_dictionaries(
            {
                "MaTTHC": st.sampled_from(simulator.procedures),
                "DonViXuLy": st.sampled_from([AGENCY, "000.00.02.H29"]),
                "ChuHoSo": st.just(
                    {"SoDinhDanh": "001090000001", "HoVaTen": "Lê Văn D", "NgaySinh": "19900101"}
                ),
            }
        ).flatmap(lambda body: cases(body=body))
    citizen_action = _realistic_citizen_action(label, simulator, cases)
    if citizen_action is not None:
        return citizen_action
    if label == "POST /legacy/auth":
        return cases(
            body={"username": "igate", "secret": "igate-secret"}, headers={"dstcode": "DVCQG"}
        )
    if label == "POST /legacy/integration":
        item = st.fixed_dictionaries(
            {
                "MaHoSo": st.sampled_from([f"{AGENCY}-250115-000{i}" for i in range(1, 4)]),
                "MaTTHC": st.sampled_from(simulator.procedures),
                "TrangThaiHoSo": st.integers(1, 10),
                "NgayTiepNhan": st.just("20250115083000"),
            }
        )
        return st.tuples(
            st.sampled_from(
                [
                    "DongBoHoSoMC",
                    "CapNhatTienDoHoSoMC",
                    "TraCuuHoSo",
                    "LayThuTuc",
                    "LayDanhSachTTHC",
                ]
            ),
            st.lists(item, min_size=1, max_size=3),
            st.booleans(),
        ).flatmap(
            lambda drawn: cases(
                body={
                    "session": simulator.session,
                    "madonvi": AGENCY,
                    "service": drawn[0],
                    "isUpdating": drawn[2],
                    "data": drawn[1],
                    "MaHoSo": drawn[1][0]["MaHoSo"],
                },
                headers={"dstcode": "DVCQG"},
            )
        )
    return None


GROUP_AUTHORITIES = (
    "civil-status",
    "residence",
    "health-insurance",
    "social-security",
    "labour-social-affairs",
)
CITIZEN_ACTION_BODIES = {
    "payment": [{"SoTien": 15000}, {"SoTien": 1}],
    "supplement": [{"TaiLieuNop": [{"TenTepDinhKem": "giay-to.pdf"}], "GhiChu": "Bổ sung"}],
    "withdrawal": [{"LyDo": "Không còn nhu cầu"}],
}


BIRTH_GROUP_CHILD = {
    "HoVaTen": "Lê Văn Bé",
    "NgaySinh": "20250301",
    "GioiTinh": "male",
    "NoiDangKyKhaiSinh": "001",
}


def _group_declaration(kind: str, **extra: Any) -> Any:
    """A group declaration with connected agencies and the kind's own fields (a birth
    group requires its child, TreEm), so both kinds reach 201."""
    return st.fixed_dictionaries(
        {
            "NhomLienThong": st.just(kind),
            "ChuHoSo": st.just(
                {"SoDinhDanh": "001090000001", "HoVaTen": "Lê Văn D", "NgaySinh": "19900101"}
            ),
            "CoQuan": st.just({authority: AGENCY for authority in GROUP_AUTHORITIES}),
            **extra,
        }
    )


def _realistic_citizen_action(label: str, simulator: Simulator, cases: Any) -> Any:
    """Pay, supplement or withdraw a dossier the portal has, in every status seeded; declare
    a group whose agencies are connected."""
    if label == "POST /v1/citizen/groups":
        return st.one_of(
            _group_declaration("birth", TreEm=st.just(BIRTH_GROUP_CHILD)),
            _group_declaration(
                "death",
                ThuTucChon=st.lists(
                    st.sampled_from(["funeral-allowance", "survivor-benefit"]), unique=True
                ),
                DoiTuong=st.sampled_from(["insured", "merit"]),
            ),
        ).flatmap(lambda body: cases(body=body))
    action = label.rsplit("/", 1)[-1]
    if not label.startswith("POST /v1/citizen/dossiers/{code}/") or action not in (
        CITIZEN_ACTION_BODIES
    ):
        return None
    return st.tuples(
        st.sampled_from(simulator.dossiers), st.sampled_from(CITIZEN_ACTION_BODIES[action])
    ).flatmap(lambda drawn: cases(path_parameters={"code": drawn[0]}, body=drawn[1]))


POPULATION_PURPOSE = {"purpose": "residence-management", "legal_basis": "Luật Cư trú 2020"}


def _realistic_population(label: str, simulator: Simulator, cases: Any) -> Any:
    """Population writes and household reads with citizens that exist, so they reach 200."""
    citizens = st.sampled_from(simulator.citizens)
    if label == "GET /v1/citizens/{pin}/household":
        return citizens.flatmap(
            lambda c: cases(path_parameters={"pin": c["pin"]}, query=POPULATION_PURPOSE)
        )
    if label == "POST /v1/births":
        body = {"full_name": "Lê Văn Mới", "date_of_birth": "2025-06-01", "sex": "male"}
        return st.sampled_from(["001", "079", "003"]).flatmap(
            lambda p: cases(body={**body, "birth_registration_province": p})
        )
    if label == "POST /v1/deaths":
        return citizens.flatmap(
            lambda c: cases(body={"pin": c["pin"], "date_of_death": "2025-06-01"})
        )
    if label == "POST /v1/residence-changes":
        return st.tuples(citizens, st.sampled_from(["permanent", "temporary"])).flatmap(
            lambda d: cases(
                body={"pin": d[0]["pin"], "kind": d[1], "ward": "00070", "address": "Số 1"}
            )
        )
    if label == "POST /admin/consents":
        return citizens.flatmap(
            lambda c: cases(
                body={
                    "pin": c["pin"],
                    "client_id": "client-1",
                    "purpose": "civil-status",
                    "fields": ["full_name"],
                    "valid_for_s": 60,
                }
            )
        )
    return None


def _schema(spec: str, app: Any) -> Any:
    schema = schemathesis.openapi.from_path(SPECS / spec)
    schema.app = app
    # Credentials come from the auth provider, never from generation: negative cases with a
    # mangled Authorization header would all stop at 401 before any input is validated.
    schema.config.generation.update(with_security_parameters=False)
    return schema


def _describe(case: Any, response: Any, group: FailureGroup) -> str:
    failures = "\n".join(f"- {f.title}: {f.message}" for f in group.exceptions)
    body = response.content[:2000].decode("utf-8", "replace")
    content_type = response.headers.get("content-type") or ["(none)"]  # a list per header
    return (
        f"{case.operation.label} broke its contract:\n{failures}\n"
        f"Request:\n  {case.as_curl_command()}\n"
        f"Response: {response.status_code} {', '.join(content_type)}\n  {body}"
    )


@pytest.mark.parametrize(("name", "method", "path", "mode"), _operations())
def test_simulator_honours_its_contract(
    name: str,
    method: str,
    path: str,
    mode: str,
    build: Callable[[str], Simulator],
    make_token: Callable[..., str],
) -> None:
    service = SERVICES[name]
    simulator = build(name)
    operation = _schema(service.spec, simulator.app)[path][method]
    auth = _auth(service, make_token)
    strategy = operation.as_strategy(generation_mode=MODES[mode], auth_storage=auth)
    realistic = _realistic(operation, simulator, auth) if mode == "positive" else None
    if realistic is not None:
        strategy = st.one_of(strategy, realistic)

    @seed(SEED)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def fuzz(case: Any) -> None:
        response = case.call()
        try:
            case.validate_response(response, checks=CHECKS)
        except FailureGroup as group:
            raise AssertionError(_describe(case, response, group)) from None

    fuzz()

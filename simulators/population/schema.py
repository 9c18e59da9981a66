"""The population tables, written once for SQLite and PostgreSQL (DOMAIN.md §3).

A citizen row is a plain tuple in CITIZEN_COLUMNS order, so the generator's stream goes
straight into `executemany` or PostgreSQL COPY without reshaping. Indexes are built after
a bulk load (`INDEXES`), which is several times faster than maintaining them row by row.
"""

from __future__ import annotations

__all__ = [
    "CITIZEN_COLUMNS",
    "CITIZEN_DDL",
    "COLUMN_INDEX",
    "INDEXES",
    "CitizenRow",
    "tables_ddl",
]

CITIZEN_COLUMNS = (
    "pin",
    "full_name",
    "former_name",
    "date_of_birth",
    "sex",
    "birth_registration_province",
    "native_place",
    "ethnicity",
    "religion",
    "nationality",
    "marital_status",
    "permanent_address",
    "permanent_ward",
    "temporary_address",
    "temporary_ward",
    "current_address",
    "current_ward",
    "household_id",
    "relationship_to_head",
    "father_pin",
    "mother_pin",
    "spouse_pin",
    "legal_representative_pin",
    "cmnd",
    "previous_pin",
    "date_of_death",
    "vneid_level",
    "hard_case",
)
COLUMN_INDEX = {name: i for i, name in enumerate(CITIZEN_COLUMNS)}
# One citizen in CITIZEN_COLUMNS order (vneid_level is the only integer).
CitizenRow = tuple[str | int | None, ...]

# No PRIMARY KEY here: the unique index on pin comes with INDEXES, after the bulk load.
CITIZEN_DDL = """
CREATE TABLE IF NOT EXISTS citizens (
    pin TEXT NOT NULL,
    full_name TEXT NOT NULL,
    former_name TEXT,
    date_of_birth TEXT NOT NULL,
    sex TEXT NOT NULL,
    birth_registration_province TEXT NOT NULL,
    native_place TEXT NOT NULL,
    ethnicity TEXT NOT NULL,
    religion TEXT NOT NULL,
    nationality TEXT NOT NULL,
    marital_status TEXT NOT NULL,
    permanent_address TEXT,
    permanent_ward TEXT,
    temporary_address TEXT,
    temporary_ward TEXT,
    current_address TEXT,
    current_ward TEXT,
    household_id TEXT,
    relationship_to_head TEXT,
    father_pin TEXT,
    mother_pin TEXT,
    spouse_pin TEXT,
    legal_representative_pin TEXT,
    cmnd TEXT,
    previous_pin TEXT,
    date_of_death TEXT,
    vneid_level INTEGER NOT NULL,
    hard_case TEXT
)
"""

INDEXES = """
CREATE UNIQUE INDEX IF NOT EXISTS citizens_pin ON citizens (pin);
CREATE INDEX IF NOT EXISTS citizens_household ON citizens (household_id);
CREATE INDEX IF NOT EXISTS citizens_previous_pin ON citizens (previous_pin)
    WHERE previous_pin IS NOT NULL;
CREATE INDEX IF NOT EXISTS citizens_hard_case ON citizens (hard_case, pin)
    WHERE hard_case IS NOT NULL
"""


def tables_ddl(autoincrement: str) -> str:
    """Every table but citizens; `autoincrement` is the dialect's surrogate-key type."""
    return f"""
CREATE TABLE IF NOT EXISTS audit (
    id {autoincrement},
    at TEXT NOT NULL,
    client_id TEXT NOT NULL,
    operation TEXT NOT NULL,
    pin TEXT,
    fields TEXT NOT NULL,
    purpose TEXT,
    legal_basis TEXT,
    consent_id TEXT,
    result TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_client ON audit (client_id, id);
CREATE INDEX IF NOT EXISTS audit_pin ON audit (pin, id);
CREATE TABLE IF NOT EXISTS consents (
    id TEXT PRIMARY KEY,
    pin TEXT NOT NULL,
    client_id TEXT NOT NULL,
    purpose TEXT NOT NULL,
    fields TEXT NOT NULL,
    granted_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    withdrawn_at TEXT
);
CREATE INDEX IF NOT EXISTS consents_pin ON consents (pin, client_id);
CREATE TABLE IF NOT EXISTS changes (
    seq {autoincrement},
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    pin TEXT NOT NULL,
    client_id TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS registrations (
    client_id TEXT PRIMARY KEY,
    purposes TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS absences (
    id {autoincrement},
    pin TEXT NOT NULL,
    departed_on TEXT NOT NULL,
    returns_on TEXT NOT NULL,
    destination TEXT NOT NULL,
    reason TEXT,
    returned_on TEXT,
    client_id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS absences_pin ON absences (pin, id);
CREATE TABLE IF NOT EXISTS disappearances (
    pin TEXT PRIMARY KEY,
    declared_on TEXT NOT NULL,
    decision_ref TEXT NOT NULL,
    client_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    status TEXT NOT NULL,
    total INTEGER NOT NULL,
    processed INTEGER NOT NULL,
    results TEXT NOT NULL,
    created_at TEXT NOT NULL,
    error TEXT
);
CREATE TABLE IF NOT EXISTS job_results (
    job_id TEXT NOT NULL,
    part INTEGER NOT NULL,
    lines TEXT NOT NULL,
    PRIMARY KEY (job_id, part)
);
CREATE TABLE IF NOT EXISTS idempotency (
    client_id TEXT NOT NULL,
    key TEXT NOT NULL,
    body_sha256 TEXT NOT NULL,
    answer TEXT NOT NULL,
    PRIMARY KEY (client_id, key)
);
CREATE TABLE IF NOT EXISTS settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
)
"""

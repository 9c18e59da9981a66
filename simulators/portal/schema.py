"""The portal's tables, in the SQL subset SQLite and PostgreSQL share.

`{autoincrement}` is filled with `Database.autoincrement`: the one DDL word that differs.
Timestamps are `yyyyMMddHHmmss` text in Vietnam time (string order is time order) except
`received_at` of the sync log, ISO 8601 with offset as the contract has always said.
"""

from __future__ import annotations

__all__ = ["SCHEMA"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS syncs (
    id {autoincrement},
    received_at TEXT NOT NULL,
    agency_id TEXT,
    client_id TEXT,
    dossier_code TEXT,
    status BIGINT,
    accepted INTEGER NOT NULL,
    problem TEXT,
    payload TEXT NOT NULL,
    channel TEXT NOT NULL DEFAULT 'rest'
);
CREATE INDEX IF NOT EXISTS syncs_dossier ON syncs (dossier_code, accepted, id);
CREATE INDEX IF NOT EXISTS syncs_agency ON syncs (agency_id, id);
CREATE TABLE IF NOT EXISTS dossiers (
    code TEXT PRIMARY KEY,
    agency_id TEXT NOT NULL,
    procedure TEXT NOT NULL,
    status INTEGER NOT NULL,
    received_at TEXT NOT NULL,
    due_at TEXT NOT NULL,
    channel INTEGER NOT NULL,
    synced INTEGER NOT NULL,
    paused_since TEXT,
    paused_days INTEGER NOT NULL,
    finished_at TEXT,
    applicant_pin TEXT,
    has_fee INTEGER NOT NULL,
    paid_online INTEGER NOT NULL,
    e_result INTEGER NOT NULL,
    components INTEGER NOT NULL,
    reused_components INTEGER NOT NULL,
    submission TEXT,
    idempotency_key TEXT UNIQUE
);
CREATE INDEX IF NOT EXISTS dossiers_agency ON dossiers (agency_id);
CREATE TABLE IF NOT EXISTS code_counters (
    agency_id TEXT NOT NULL,
    day TEXT NOT NULL,
    last INTEGER NOT NULL,
    PRIMARY KEY (agency_id, day)
);
CREATE TABLE IF NOT EXISTS routes (
    agency_id TEXT PRIMARY KEY,
    base_url TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    id {autoincrement},
    dossier_code TEXT NOT NULL,
    agency_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at DOUBLE PRECISION NOT NULL,
    last_error TEXT,
    delivered_at TEXT
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (state, next_attempt_at);
CREATE INDEX IF NOT EXISTS outbox_dossier ON outbox (dossier_code, state, id);
CREATE TABLE IF NOT EXISTS legacy_accounts (
    username TEXT PRIMARY KEY,
    secret_sha256 TEXT NOT NULL,
    agency_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS legacy_sessions (
    session TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    agency_id TEXT NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS progress (
    id {autoincrement},
    dossier_code TEXT NOT NULL,
    at TEXT NOT NULL,
    payload TEXT NOT NULL,
    fingerprint TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS feedback (
    id {autoincrement},
    agency_id TEXT NOT NULL,
    dossier_code TEXT,
    kind TEXT NOT NULL,
    content TEXT NOT NULL,
    received_at TEXT NOT NULL,
    due_at TEXT NOT NULL,
    answered_at TEXT,
    answer TEXT
);
CREATE INDEX IF NOT EXISTS feedback_dossier ON feedback (dossier_code);
CREATE INDEX IF NOT EXISTS feedback_agency ON feedback (agency_id, id);
CREATE TABLE IF NOT EXISTS ratings (
    dossier_code TEXT PRIMARY KEY,
    agency_id TEXT NOT NULL,
    level INTEGER NOT NULL,
    rated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS dossier_groups (
    code TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    declaration TEXT NOT NULL,
    received_at TEXT NOT NULL,
    idempotency_key TEXT UNIQUE,
    child_pin TEXT,
    child_pin_at TEXT
);
CREATE TABLE IF NOT EXISTS group_members (
    group_code TEXT NOT NULL,
    role TEXT NOT NULL,
    procedure TEXT NOT NULL,
    agency_id TEXT NOT NULL,
    step INTEGER NOT NULL,
    dossier_code TEXT UNIQUE,
    PRIMARY KEY (group_code, role)
);
CREATE TABLE IF NOT EXISTS payments (
    id TEXT PRIMARY KEY,
    dossier_code TEXT NOT NULL,
    amount_vnd BIGINT NOT NULL,
    state TEXT NOT NULL,
    created_at TEXT NOT NULL,
    paid_at TEXT
)
"""

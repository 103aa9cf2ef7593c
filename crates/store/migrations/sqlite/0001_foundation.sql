-- Foundation: regions, organizations, kindergarten groups, accounts, sessions, the audit chain.
-- Times are UTC, stored as RFC 3339 text (sqlx encodes time::OffsetDateTime so).

CREATE TABLE regions (
    id INTEGER PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name_kk TEXT NOT NULL,
    name_ru TEXT NOT NULL,
    name_en TEXT NOT NULL
);

CREATE TABLE districts (
    id INTEGER PRIMARY KEY,
    region_id INTEGER NOT NULL REFERENCES regions(id),
    name_kk TEXT NOT NULL,
    name_ru TEXT NOT NULL,
    name_en TEXT NOT NULL
);

CREATE TABLE organizations (
    id INTEGER PRIMARY KEY,
    region_id INTEGER NOT NULL REFERENCES regions(id),
    district_id INTEGER REFERENCES districts(id),
    kind TEXT NOT NULL CHECK (kind IN ('provider', 'state_corporation', 'kindergarten', 'oversight')),
    bin TEXT UNIQUE,
    name_kk TEXT NOT NULL,
    name_ru TEXT NOT NULL,
    name_en TEXT NOT NULL,
    address TEXT NOT NULL DEFAULT '',
    office_hours TEXT NOT NULL,
    office_breaks TEXT NOT NULL DEFAULT ''
);
CREATE INDEX organizations_region ON organizations(region_id, kind);

CREATE TABLE kindergarten_groups (
    id INTEGER PRIMARY KEY,
    organization_id INTEGER NOT NULL REFERENCES organizations(id),
    age_band TEXT NOT NULL,
    language TEXT NOT NULL CHECK (language IN ('kk', 'ru')),
    capacity INTEGER NOT NULL CHECK (capacity >= 0),
    enrolled INTEGER NOT NULL CHECK (enrolled >= 0 AND enrolled <= capacity),
    UNIQUE (organization_id, age_band, language)
);

CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    iin TEXT NOT NULL UNIQUE,
    full_name TEXT NOT NULL,
    password_hash TEXT,
    language TEXT NOT NULL DEFAULT 'ru' CHECK (language IN ('kk', 'ru', 'en')),
    created_at TEXT NOT NULL
);

CREATE TABLE memberships (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    organization_id INTEGER REFERENCES organizations(id),
    role TEXT NOT NULL CHECK (role IN ('citizen', 'operator', 'clerk', 'head', 'specialist',
                                       'kindergarten_head', 'regional_admin', 'auditor')),
    UNIQUE (user_id, organization_id, role)
);
CREATE INDEX memberships_user ON memberships(user_id);
CREATE INDEX memberships_organization ON memberships(organization_id);

CREATE TABLE sessions (
    id INTEGER PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    user_id INTEGER NOT NULL REFERENCES users(id),
    kind TEXT NOT NULL CHECK (kind IN ('browser', 'api')),
    csrf_token TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);

-- The chain head: one row, updated first by every audited write, so audited writes are
-- serialised and each entry knows the hash before it.
CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL,
    last_hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, last_hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor_user_id INTEGER,
    organization_id INTEGER,
    action TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_id TEXT NOT NULL,
    details TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_log_organization ON audit_log(organization_id, seq);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

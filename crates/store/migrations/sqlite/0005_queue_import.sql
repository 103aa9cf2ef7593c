-- Bringing an existing queue in (`kezek import queue`): each import with the digest of its
-- files, and the ids the old queue used for kindergartens and children, so that the same data
-- imported again is recognised and refused row by row instead of doubled.

CREATE TABLE queue_imports (
    id INTEGER PRIMARY KEY,
    region_id INTEGER NOT NULL REFERENCES regions(id),
    source TEXT NOT NULL CHECK (source IN ('csv', 'instance')),
    -- SHA-256 over the input files (name, length, bytes of each); each file's own digest is in
    -- the queue-log event.
    digest TEXT NOT NULL,
    imported_at TEXT NOT NULL,
    imported_by INTEGER REFERENCES users(id),
    kindergartens INTEGER NOT NULL,
    groups_count INTEGER NOT NULL,
    children INTEGER NOT NULL,
    rejected INTEGER NOT NULL,
    -- The children's and applicants' identities were generated (benchmark and test data).
    placeholder_identities INTEGER NOT NULL CHECK (placeholder_identities IN (0, 1))
);
CREATE INDEX queue_imports_region ON queue_imports(region_id, id);

CREATE TABLE imported_kindergartens (
    region_id INTEGER NOT NULL REFERENCES regions(id),
    external_id TEXT NOT NULL,
    organization_id INTEGER NOT NULL UNIQUE REFERENCES organizations(id),
    import_id INTEGER NOT NULL REFERENCES queue_imports(id),
    PRIMARY KEY (region_id, external_id)
);

CREATE TABLE imported_entries (
    region_id INTEGER NOT NULL REFERENCES regions(id),
    external_id TEXT NOT NULL,
    entry_id INTEGER NOT NULL UNIQUE REFERENCES queue_entries(id),
    import_id INTEGER NOT NULL REFERENCES queue_imports(id),
    placeholder_identity INTEGER NOT NULL CHECK (placeholder_identity IN (0, 1)),
    PRIMARY KEY (region_id, external_id)
);

-- The kindergarten queue (service S1) and enrolment (S2): settings per region, priority
-- categories, registrations with preferences and claims, allocation rounds, referrals,
-- enrolments, and the per-region hash-chained queue log.

CREATE TABLE queue_settings (
    region_id INTEGER PRIMARY KEY REFERENCES regions(id),
    max_preferences INTEGER NOT NULL DEFAULT 5 CHECK (max_preferences BETWEEN 1 AND 20),
    -- Age bands as "min-max" names, age in full years on 1 September.
    bands TEXT NOT NULL DEFAULT '1-2,2-3,3-4,4-5,5-6',
    ranking TEXT NOT NULL DEFAULT 'priority,sibling,registered_at,registration_no',
    referral_term_amount INTEGER NOT NULL DEFAULT 5 CHECK (referral_term_amount > 0),
    referral_term_unit TEXT NOT NULL DEFAULT 'working_days'
        CHECK (referral_term_unit IN ('working_days', 'calendar_days', 'months')),
    on_decline TEXT NOT NULL DEFAULT 'keep_waiting' CHECK (on_decline IN ('keep_waiting', 'remove')),
    on_expiry TEXT NOT NULL DEFAULT 'keep_waiting' CHECK (on_expiry IN ('keep_waiting', 'remove')),
    next_registration_no INTEGER NOT NULL DEFAULT 1,
    -- The round lock: held by a running round until it finishes or its lease runs out.
    round_lock TEXT,
    round_lock_until TEXT
);

CREATE TABLE priority_categories (
    id INTEGER PRIMARY KEY,
    region_id INTEGER NOT NULL REFERENCES regions(id),
    code TEXT NOT NULL,
    class INTEGER NOT NULL CHECK (class IN (1, 2)),
    name_kk TEXT NOT NULL,
    name_ru TEXT NOT NULL,
    name_en TEXT NOT NULL,
    evidence TEXT NOT NULL,
    clause TEXT NOT NULL,
    UNIQUE (region_id, code)
);

CREATE TABLE queue_entries (
    id INTEGER PRIMARY KEY,
    region_id INTEGER NOT NULL REFERENCES regions(id),
    registration_no INTEGER NOT NULL,
    registered_at TEXT NOT NULL,
    child_iin TEXT NOT NULL,
    child_birth_date TEXT NOT NULL,
    child_name TEXT NOT NULL,
    applicant_user_id INTEGER NOT NULL REFERENCES users(id),
    applicant_relation TEXT NOT NULL CHECK (applicant_relation IN ('mother', 'father', 'guardian', 'representative')),
    language TEXT NOT NULL CHECK (language IN ('kk', 'ru')),
    desired_start TEXT NOT NULL,
    channel TEXT NOT NULL CHECK (channel IN ('provider_office', 'state_corporation', 'portal', 'city_portal', 'import')),
    accepted_by INTEGER REFERENCES users(id),
    sibling_kindergarten_id INTEGER REFERENCES organizations(id),
    status TEXT NOT NULL CHECK (status IN ('waiting', 'referred', 'enrolled', 'removed')),
    status_reason TEXT NOT NULL DEFAULT '',
    -- Salt of the child's reference in the public queue log; given to the parent with proofs.
    log_salt TEXT NOT NULL,
    UNIQUE (region_id, registration_no)
);
CREATE UNIQUE INDEX queue_entries_one_active ON queue_entries(region_id, child_iin)
    WHERE status IN ('waiting', 'referred');
CREATE INDEX queue_entries_applicant ON queue_entries(applicant_user_id);
CREATE INDEX queue_entries_region_status ON queue_entries(region_id, status);

CREATE TABLE queue_preferences (
    entry_id INTEGER NOT NULL REFERENCES queue_entries(id),
    rank INTEGER NOT NULL CHECK (rank >= 1),
    kindergarten_id INTEGER NOT NULL REFERENCES organizations(id),
    PRIMARY KEY (entry_id, rank),
    UNIQUE (entry_id, kindergarten_id)
);
CREATE INDEX queue_preferences_kindergarten ON queue_preferences(kindergarten_id);

CREATE TABLE priority_claims (
    id INTEGER PRIMARY KEY,
    entry_id INTEGER NOT NULL REFERENCES queue_entries(id),
    category_id INTEGER NOT NULL REFERENCES priority_categories(id),
    status TEXT NOT NULL CHECK (status IN ('pending', 'confirmed', 'rejected', 'revoked', 'expired')),
    evidence_kind TEXT NOT NULL CHECK (evidence_kind IN ('document', 'registry')),
    evidence_ref TEXT NOT NULL,
    submitted_at TEXT NOT NULL,
    decided_by INTEGER REFERENCES users(id),
    decided_at TEXT,
    expires_on TEXT,
    reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX priority_claims_entry ON priority_claims(entry_id);

CREATE TABLE allocation_rounds (
    id INTEGER PRIMARY KEY,
    region_id INTEGER NOT NULL REFERENCES regions(id),
    started_by INTEGER REFERENCES users(id),
    started_at TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    reference_date TEXT NOT NULL,
    engine_version TEXT NOT NULL,
    ranking TEXT NOT NULL,
    input_digest TEXT NOT NULL,
    children INTEGER NOT NULL,
    groups_count INTEGER NOT NULL,
    free_places INTEGER NOT NULL,
    assigned INTEGER NOT NULL,
    proposals INTEGER NOT NULL,
    -- The round's input in the instance format (shared/bench/FORMAT.md), for replay and checking.
    instance_meta TEXT NOT NULL,
    instance_kindergartens TEXT NOT NULL,
    instance_groups TEXT NOT NULL,
    instance_children TEXT NOT NULL
);
CREATE INDEX allocation_rounds_region ON allocation_rounds(region_id, id);

CREATE TABLE referrals (
    id INTEGER PRIMARY KEY,
    round_id INTEGER REFERENCES allocation_rounds(id),
    entry_id INTEGER NOT NULL REFERENCES queue_entries(id),
    group_id INTEGER NOT NULL REFERENCES kindergarten_groups(id),
    issued_at TEXT NOT NULL,
    expires_on TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'accepted', 'declined', 'expired', 'enrolled', 'refused')),
    decided_at TEXT,
    decided_by INTEGER REFERENCES users(id),
    reason TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX referrals_one_live ON referrals(entry_id) WHERE status IN ('open', 'accepted');
CREATE INDEX referrals_group_live ON referrals(group_id, status);
CREATE INDEX referrals_open_expiry ON referrals(status, expires_on);

CREATE TABLE enrolments (
    id INTEGER PRIMARY KEY,
    referral_id INTEGER NOT NULL UNIQUE REFERENCES referrals(id),
    entry_id INTEGER NOT NULL REFERENCES queue_entries(id),
    group_id INTEGER NOT NULL REFERENCES kindergarten_groups(id),
    contract_no TEXT NOT NULL,
    contract_date TEXT NOT NULL,
    enrolled_at TEXT NOT NULL,
    enrolled_by INTEGER NOT NULL REFERENCES users(id)
);

-- The public queue log of each region: every queue event, personal data only as salted hashes.
CREATE TABLE queue_log (
    region_id INTEGER NOT NULL REFERENCES regions(id),
    seq INTEGER NOT NULL,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    child_ref TEXT,
    payload TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (region_id, seq)
);
CREATE INDEX queue_log_child ON queue_log(child_ref);
CREATE TRIGGER queue_log_no_update BEFORE UPDATE ON queue_log
BEGIN SELECT RAISE(ABORT, 'the queue log is append-only'); END;
CREATE TRIGGER queue_log_no_delete BEFORE DELETE ON queue_log
BEGIN SELECT RAISE(ABORT, 'the queue log is append-only'); END;

CREATE TABLE queue_log_head (
    region_id INTEGER PRIMARY KEY REFERENCES regions(id),
    seq INTEGER NOT NULL,
    last_hash TEXT NOT NULL
);

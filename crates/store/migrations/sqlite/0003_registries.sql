-- State registries kept locally (the embedded ГБД ФЛ, ГБД ЮЛ and ЕНИС, filled from CSV), the
-- applicants' consents to the use of protected personal data (002 §10), and the log of every
-- registry request and its answer.
-- Dates are ISO text (sqlx encodes time::Date so), times RFC 3339 UTC text.

CREATE TABLE registry_persons (
    iin TEXT PRIMARY KEY,
    full_name TEXT NOT NULL,
    birth_date TEXT NOT NULL,
    death_date TEXT
);

-- "adult_iin is a parent (or legal representative) of child_iin".
CREATE TABLE registry_person_links (
    adult_iin TEXT NOT NULL REFERENCES registry_persons(iin),
    child_iin TEXT NOT NULL REFERENCES registry_persons(iin),
    relation TEXT NOT NULL CHECK (relation IN ('parent', 'legal_representative')),
    PRIMARY KEY (adult_iin, child_iin),
    CHECK (adult_iin <> child_iin)
);
CREATE INDEX registry_person_links_child ON registry_person_links(child_iin);

CREATE TABLE registry_entities (
    bin TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'suspended', 'liquidated'))
);

CREATE TABLE registry_powers_of_attorney (
    number TEXT PRIMARY KEY,
    principal_iin TEXT NOT NULL,
    representative_iin TEXT NOT NULL,
    -- Service ids the power covers, separated by ';' (e.g. 'S1;S2').
    scope TEXT NOT NULL,
    valid_from TEXT NOT NULL,
    valid_until TEXT NOT NULL,
    revoked_on TEXT,
    CHECK (valid_from <= valid_until),
    CHECK (principal_iin <> representative_iin)
);

CREATE TABLE consents (
    id INTEGER PRIMARY KEY,
    -- Whose protected data may be used.
    subject_iin TEXT NOT NULL,
    -- Who gave the consent: the subject, or a parent or representative for them.
    given_by_iin TEXT NOT NULL,
    channel TEXT NOT NULL CHECK (channel IN ('provider_office', 'state_corporation', 'portal', 'city_portal')),
    -- 000 R1 §12, 002 §10: at the State Corporation the operator takes the consent.
    operator_user_id INTEGER REFERENCES users(id),
    -- The purpose: the id of the service the data are used for.
    scope TEXT NOT NULL,
    application_ref TEXT,
    given_at TEXT NOT NULL,
    revoked_at TEXT,
    CHECK (channel <> 'state_corporation' OR operator_user_id IS NOT NULL)
);
CREATE INDEX consents_subject ON consents(subject_iin, scope);

-- Every request sent to a registry and what came back: the application's record of it.
CREATE TABLE registry_requests (
    id INTEGER PRIMARY KEY,
    registry TEXT NOT NULL CHECK (registry IN ('person', 'entity', 'notary')),
    operation TEXT NOT NULL,
    -- The key asked about (IIN, BIN, number), kept as the application's record.
    query TEXT NOT NULL,
    -- The same key with IINs masked: the only form that may be shown or logged.
    query_masked TEXT NOT NULL,
    subject_iin TEXT NOT NULL,
    consent_id INTEGER NOT NULL REFERENCES consents(id),
    application_ref TEXT,
    actor_user_id INTEGER REFERENCES users(id),
    asked_at TEXT NOT NULL,
    answered_at TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('answered', 'not_found', 'unavailable', 'timeout', 'circuit_open', 'invalid_answer')),
    -- SHA-256 (hex) of the canonical JSON of the answer, when the registry gave one.
    answer_digest TEXT
);
CREATE INDEX registry_requests_application ON registry_requests(application_ref, id);
CREATE INDEX registry_requests_subject ON registry_requests(subject_iin, id);

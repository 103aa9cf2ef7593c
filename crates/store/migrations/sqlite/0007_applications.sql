-- Applications of the regulation-driven services and their history. The state of an
-- application is rebuilt by replaying its events through the step machine
-- (kezek_domain::application); the columns of `applications` besides the route are a summary of
-- that state kept for lists and the overdue report.

CREATE TABLE applications (
    id INTEGER PRIMARY KEY,
    service_id TEXT NOT NULL,
    -- The edition (variant) of the definition, and the route the application follows: its steps,
    -- terms and offices' hours as JSON, kept so a later edit of the catalog never changes them.
    edition TEXT NOT NULL,
    version TEXT NOT NULL,
    route TEXT NOT NULL,
    channel TEXT NOT NULL,
    region_id INTEGER NOT NULL REFERENCES regions(id),
    provider_id INTEGER NOT NULL REFERENCES organizations(id),
    front_office_id INTEGER REFERENCES organizations(id),
    applicant_user_id INTEGER NOT NULL REFERENCES users(id),
    filed_by INTEGER REFERENCES users(id),
    filed_at TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN
        ('filed', 'registered', 'assigned', 'processing', 'prepared', 'signed', 'issued', 'refused')),
    -- The provider's registration journal: a number per provider and (Almaty local) year.
    journal_year INTEGER,
    journal_no INTEGER,
    -- The open step (index into the route), its due point in Almaty local time
    -- (YYYY-MM-DD or YYYY-MM-DDTHH:MM) and the UTC instant after which it is overdue.
    current_step INTEGER,
    current_due TEXT,
    overdue_after TEXT,
    closed_at TEXT,
    -- The document kind issued, or NULL; the refusal grounds of a refused application.
    result TEXT,
    grounds TEXT,
    CHECK ((journal_year IS NULL) = (journal_no IS NULL)),
    UNIQUE (provider_id, journal_year, journal_no)
);
CREATE INDEX applications_provider_open ON applications(provider_id, closed_at);
CREATE INDEX applications_front_office ON applications(front_office_id);
CREATE INDEX applications_applicant ON applications(applicant_user_id);

CREATE TABLE application_events (
    application_id INTEGER NOT NULL REFERENCES applications(id),
    seq INTEGER NOT NULL CHECK (seq >= 0),
    at TEXT NOT NULL,
    -- NULL where the information system made the step.
    actor_user_id INTEGER REFERENCES users(id),
    -- The role the actor acted under (`system` for the information system), and where.
    role TEXT NOT NULL,
    organization_id INTEGER REFERENCES organizations(id),
    action TEXT NOT NULL,
    -- The command as JSON (kezek_domain::application::Command), replayed to rebuild the state.
    payload TEXT NOT NULL,
    -- Two actions on the same state: the second one's seq is taken, and it is refused.
    PRIMARY KEY (application_id, seq)
);

-- The history is append-only, like the audit log.
CREATE TRIGGER application_events_no_update BEFORE UPDATE ON application_events
BEGIN SELECT RAISE(ABORT, 'application history is append-only'); END;
CREATE TRIGGER application_events_no_delete BEFORE DELETE ON application_events
BEGIN SELECT RAISE(ABORT, 'application history is append-only'); END;

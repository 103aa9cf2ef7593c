-- Every queue registration is an application of service S1: this links the application to the
-- queue entry it put in the queue (NULL for a refused registration) and keeps the document it
-- issued as JSON: the queue notification with the queue number (004 App. 11, 003 App. 4), or the
-- motivated refusal with the rule that was broken. Written in the transaction of the application.

CREATE TABLE queue_applications (
    application_id INTEGER PRIMARY KEY REFERENCES applications(id),
    region_id INTEGER NOT NULL REFERENCES regions(id),
    entry_id INTEGER UNIQUE REFERENCES queue_entries(id),
    document TEXT NOT NULL
);
CREATE INDEX queue_applications_region ON queue_applications(region_id);

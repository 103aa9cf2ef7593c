-- A per-region counter that moves with every change of a kindergarten group (capacity,
-- enrolled, band, language, a group added or removed). Position reads cache free places in
-- memory and compare this counter, with the queue-log head (referrals and enrolments append a
-- queue event), in one query: a trigger catches every writer, another server or the CLI too.
ALTER TABLE queue_settings ADD COLUMN places_version INTEGER NOT NULL DEFAULT 0;

CREATE TRIGGER kindergarten_groups_places_insert AFTER INSERT ON kindergarten_groups
BEGIN
    UPDATE queue_settings SET places_version = places_version + 1
    WHERE region_id = (SELECT region_id FROM organizations WHERE id = NEW.organization_id);
END;
CREATE TRIGGER kindergarten_groups_places_update AFTER UPDATE ON kindergarten_groups
BEGIN
    UPDATE queue_settings SET places_version = places_version + 1
    WHERE region_id IN (SELECT region_id FROM organizations WHERE id IN (OLD.organization_id, NEW.organization_id));
END;
CREATE TRIGGER kindergarten_groups_places_delete AFTER DELETE ON kindergarten_groups
BEGIN
    UPDATE queue_settings SET places_version = places_version + 1
    WHERE region_id = (SELECT region_id FROM organizations WHERE id = OLD.organization_id);
END;

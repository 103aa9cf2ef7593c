-- A per-region counter that moves with every change of a kindergarten group (capacity,
-- enrolled, band, language, a group added or removed). Position reads cache free places in
-- memory and compare this counter, with the queue-log head (referrals and enrolments append a
-- queue event), in one query: a trigger catches every writer, another server or the CLI too.
ALTER TABLE queue_settings ADD COLUMN places_version BIGINT NOT NULL DEFAULT 0;

CREATE FUNCTION kindergarten_groups_bump_places_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE queue_settings SET places_version = places_version + 1
        WHERE region_id = (SELECT region_id FROM organizations WHERE id = OLD.organization_id);
    END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.organization_id <> OLD.organization_id) THEN
        UPDATE queue_settings SET places_version = places_version + 1
        WHERE region_id = (SELECT region_id FROM organizations WHERE id = NEW.organization_id);
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER kindergarten_groups_places_version AFTER INSERT OR UPDATE OR DELETE ON kindergarten_groups
FOR EACH ROW EXECUTE FUNCTION kindergarten_groups_bump_places_version();

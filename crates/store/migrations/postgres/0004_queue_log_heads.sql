-- The queue log head of each region as signed once a day by the region's key (P-256 ECDSA over
-- the canonical head statement). Published heads never change: a later root that no longer
-- extends one of them shows the history was rewritten.
CREATE TABLE queue_log_heads_published (
    region_id BIGINT NOT NULL REFERENCES regions(id),
    -- Almaty date the head belongs to.
    day DATE NOT NULL,
    size BIGINT NOT NULL CHECK (size >= 0),
    -- Merkle root (RFC 6962) over the first `size` entry hashes, hex.
    root TEXT NOT NULL,
    signed_at TIMESTAMPTZ NOT NULL,
    -- DER-encoded ECDSA signature, hex.
    signature TEXT NOT NULL,
    -- The region's public key (SPKI PEM) that verifies the signature.
    public_key TEXT NOT NULL,
    PRIMARY KEY (region_id, day)
);
CREATE FUNCTION queue_log_heads_published_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'published queue log heads are append-only';
END;
$$;
CREATE TRIGGER queue_log_heads_published_no_change BEFORE UPDATE OR DELETE ON queue_log_heads_published
FOR EACH ROW EXECUTE FUNCTION queue_log_heads_published_append_only();

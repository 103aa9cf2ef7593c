-- A priority category whose right ends on a day its evidence fixes: confirming a claim of it
-- names that last day (catalog/queue/priority-categories.toml, `expires`). The default catalog
-- marks the large family's right so; regions seeded from it get the same.
ALTER TABLE priority_categories ADD COLUMN expires BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE priority_categories SET expires = TRUE WHERE code = 'large-family';

-- A priority category whose right ends on a day its evidence fixes: confirming a claim of it
-- names that last day (catalog/queue/priority-categories.toml, `expires`). The default catalog
-- marks the large family's right so; regions seeded from it get the same.
ALTER TABLE priority_categories ADD COLUMN expires INTEGER NOT NULL DEFAULT 0 CHECK (expires IN (0, 1));
UPDATE priority_categories SET expires = 1 WHERE code = 'large-family';

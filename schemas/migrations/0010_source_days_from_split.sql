-- dmarc-report SQLite schema, migration 10: subdomain mail per source.
--
-- The part of a source's mail on a day whose From (header_from) is a
-- subdomain of the policy domain, beside the totals it is part of: `sp`
-- governs that mail, not `p`, and the readiness verdict judges the two
-- apart. Same rows, same key. After this script the program rebuilds the
-- rollups from the stored records, in the same transaction, which fills
-- these columns.

ALTER TABLE source_days ADD COLUMN sub_messages          INTEGER NOT NULL DEFAULT 0;
ALTER TABLE source_days ADD COLUMN sub_dmarc_pass        INTEGER NOT NULL DEFAULT 0;
ALTER TABLE source_days ADD COLUMN sub_spf_aligned_pass  INTEGER NOT NULL DEFAULT 0;
ALTER TABLE source_days ADD COLUMN sub_dkim_aligned_pass INTEGER NOT NULL DEFAULT 0;
ALTER TABLE source_days ADD COLUMN sub_authenticated     INTEGER NOT NULL DEFAULT 0;

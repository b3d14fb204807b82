-- dmarc-report PostgreSQL schema, migration 3: subdomain mail per source
-- (the same as SQLite's migration 10).
--
-- The part of a source's mail on a day whose From (header_from) is a
-- subdomain of the policy domain, beside the totals it is part of: `sp`
-- governs that mail, not `p`. After this script the program rebuilds the
-- rollups from the stored records, in the same transaction.

ALTER TABLE source_days
    ADD COLUMN sub_messages          bigint NOT NULL DEFAULT 0,
    ADD COLUMN sub_dmarc_pass        bigint NOT NULL DEFAULT 0,
    ADD COLUMN sub_spf_aligned_pass  bigint NOT NULL DEFAULT 0,
    ADD COLUMN sub_dkim_aligned_pass bigint NOT NULL DEFAULT 0,
    ADD COLUMN sub_authenticated     bigint NOT NULL DEFAULT 0;

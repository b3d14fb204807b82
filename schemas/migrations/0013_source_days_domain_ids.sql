-- dmarc-report SQLite schema, migration 13: source_days refers to its
-- policy domain by id.
--
-- `source_days` holds one row per policy domain, source and day, and every
-- row repeated the domain's text (for a mailbox of small reports, a large
-- share of the table). The domain is now an id in `strings`, as the
-- records' strings are; the rows, their key order within a domain and
-- every other column stay as they were. The view `source_days_v` gives the
-- rows with the domain as text, the columns of the table before.

INSERT OR IGNORE INTO strings (value) SELECT DISTINCT domain FROM source_days;

CREATE TABLE source_days_by_id (
    domain_id              INTEGER NOT NULL,   -- strings.id of reports.policy_domain
    source_ip              TEXT    NOT NULL,
    day                    INTEGER NOT NULL,
    messages               INTEGER NOT NULL,
    dmarc_pass             INTEGER NOT NULL,
    spf_aligned_pass       INTEGER NOT NULL,
    dkim_aligned_pass      INTEGER NOT NULL,
    authenticated          INTEGER NOT NULL,
    disposition_none       INTEGER NOT NULL,
    disposition_quarantine INTEGER NOT NULL,
    disposition_reject     INTEGER NOT NULL,
    first_begin            INTEGER NOT NULL,
    last_end               INTEGER NOT NULL,
    dkim_domains           TEXT,
    spf_domains            TEXT,
    reasons                TEXT,
    envelope_from          TEXT,
    sub_messages           INTEGER NOT NULL DEFAULT 0,
    sub_dmarc_pass         INTEGER NOT NULL DEFAULT 0,
    sub_spf_aligned_pass   INTEGER NOT NULL DEFAULT 0,
    sub_dkim_aligned_pass  INTEGER NOT NULL DEFAULT 0,
    sub_authenticated      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (domain_id, source_ip, day)
) WITHOUT ROWID;

INSERT INTO source_days_by_id
    SELECT s.id, d.source_ip, d.day, d.messages, d.dmarc_pass, d.spf_aligned_pass,
           d.dkim_aligned_pass, d.authenticated, d.disposition_none,
           d.disposition_quarantine, d.disposition_reject, d.first_begin, d.last_end,
           d.dkim_domains, d.spf_domains, d.reasons, d.envelope_from, d.sub_messages,
           d.sub_dmarc_pass, d.sub_spf_aligned_pass, d.sub_dkim_aligned_pass,
           d.sub_authenticated
    FROM source_days d JOIN strings s ON s.value = d.domain
    ORDER BY s.id, d.source_ip, d.day;

DROP TABLE source_days;
ALTER TABLE source_days_by_id RENAME TO source_days;

CREATE VIEW source_days_v AS
    SELECT (SELECT value FROM strings WHERE id = d.domain_id) AS domain,
           d.source_ip, d.day, d.messages, d.dmarc_pass, d.spf_aligned_pass,
           d.dkim_aligned_pass, d.authenticated, d.disposition_none,
           d.disposition_quarantine, d.disposition_reject, d.first_begin, d.last_end,
           d.dkim_domains, d.spf_domains, d.reasons, d.envelope_from, d.sub_messages,
           d.sub_dmarc_pass, d.sub_spf_aligned_pass, d.sub_dkim_aligned_pass,
           d.sub_authenticated
    FROM source_days d;

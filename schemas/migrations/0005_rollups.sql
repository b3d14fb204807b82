-- dmarc-report SQLite schema, migration 5: rollups.
--
-- What the summary needs, added up per policy domain and UTC day (of the
-- report's begin) as reports are stored, so that a summary reads one row
-- per source and day instead of every record (src/store/rollup.rs keeps
-- them). After this script, the program fills them from the records
-- already stored, in the same transaction.
--
-- Set columns hold a sorted list without repeats, joined by U+001F (a
-- character XML cannot carry); NULL when empty.

CREATE TABLE source_days (
    domain                 TEXT    NOT NULL,   -- reports.policy_domain
    source_ip              TEXT    NOT NULL,   -- records.source_ip, as reported
    day                    INTEGER NOT NULL,   -- Unix seconds at 00:00 UTC of the report's begin
    messages               INTEGER NOT NULL,
    dmarc_pass             INTEGER NOT NULL,   -- aligned DKIM or aligned SPF passed
    spf_aligned_pass       INTEGER NOT NULL,
    dkim_aligned_pass      INTEGER NOT NULL,
    authenticated          INTEGER NOT NULL,   -- some DKIM or SPF result passed, aligned or not
    disposition_none       INTEGER NOT NULL,   -- none, pass, or anything but the two below
    disposition_quarantine INTEGER NOT NULL,
    disposition_reject     INTEGER NOT NULL,
    first_begin            INTEGER NOT NULL,   -- earliest begin of the reports that mention it
    last_end               INTEGER NOT NULL,   -- latest end of the reports that mention it
    dkim_domains           TEXT,               -- set: passing DKIM d= domains
    spf_domains            TEXT,               -- set: passing SPF domains
    reasons                TEXT,               -- set: override reason labels
    envelope_from          TEXT,               -- set: envelope-from domains as reported
    PRIMARY KEY (domain, source_ip, day)
) WITHOUT ROWID;

CREATE TABLE domain_days (
    domain                 TEXT    NOT NULL,
    day                    INTEGER NOT NULL,
    kind                   TEXT    NOT NULL CHECK (kind IN ('disposition', 'subdomain')),
    key                    TEXT    NOT NULL,   -- the disposition as written, or the header-from domain
    messages               INTEGER NOT NULL,
    dmarc_pass             INTEGER NOT NULL,   -- the four below: subdomains only (0 for dispositions)
    spf_aligned_pass       INTEGER NOT NULL,
    dkim_aligned_pass      INTEGER NOT NULL,
    authenticated          INTEGER NOT NULL,
    PRIMARY KEY (domain, day, kind, key)
) WITHOUT ROWID;

-- The summary's "seen before" looks at source_days now; this index cost
-- every record insert a random B-tree write.
DROP INDEX records_source_ip;

-- dmarc-report SQLite schema, migration 1: aggregate reports.
-- Applied in order by src/store/migrations.rs; PRAGMA user_version records
-- the last applied migration. Never edit a released migration: add a new one.

-- One row per aggregate report. A report is identified by who sent it, for
-- which domain, its id and its period: the same report arriving twice (as
-- another file, or in another email) is stored once.
CREATE TABLE reports (
    id                  INTEGER PRIMARY KEY,
    org_name            TEXT    NOT NULL,
    policy_domain       TEXT    NOT NULL,      -- lower-cased policy_published/domain
    report_id           TEXT    NOT NULL,
    begin_ts            INTEGER NOT NULL,      -- date_range/begin, Unix seconds UTC
    end_ts              INTEGER NOT NULL,      -- date_range/end, Unix seconds UTC
    schema              TEXT    NOT NULL CHECK (schema IN ('rfc7489', 'rfc9990')),
    version             TEXT,
    email               TEXT,
    extra_contact_info  TEXT,
    generator           TEXT,                  -- RFC 9990
    errors              TEXT,                  -- JSON array of report_metadata/error
    -- policy_published
    adkim               TEXT,
    aspf                TEXT,
    p                   TEXT,
    sp                  TEXT,
    np                  TEXT,                  -- RFC 9990
    pct                 INTEGER,               -- RFC 7489
    fo                  TEXT,
    testing             TEXT,                  -- RFC 9990 (t=)
    discovery_method    TEXT,                  -- RFC 9990
    extensions          TEXT,                  -- JSON array of <extension> XML
    -- provenance and totals
    source              TEXT    NOT NULL,      -- where it was first read from
    ingested_at         INTEGER NOT NULL,      -- Unix seconds
    warnings            TEXT,                  -- JSON array, what the parser tolerated
    record_count        INTEGER NOT NULL DEFAULT 0,
    message_count       INTEGER NOT NULL DEFAULT 0,
    UNIQUE (org_name, policy_domain, report_id, begin_ts, end_ts)
);
CREATE INDEX reports_domain_period ON reports (policy_domain, begin_ts, end_ts);

-- The report exactly as received (decompressed XML, then gzip), so that
-- `dmarc-report reparse` can rebuild every table after a parser fix. The
-- gzip stream is stored in pieces of about 1 MiB (report_raw_chunks, in
-- `seq` order) so that no copy of a large report is ever held whole.
CREATE TABLE report_raw (
    report         INTEGER PRIMARY KEY REFERENCES reports (id) ON DELETE CASCADE,
    compression    TEXT    NOT NULL CHECK (compression IN ('gzip')),
    file_name      TEXT,                       -- attachment or entry name (date-range fallback)
    known_utf8     INTEGER NOT NULL DEFAULT 0, -- 1: the mail parser had decoded it to UTF-8
    size           INTEGER NOT NULL            -- bytes of the gzip stream
);
CREATE TABLE report_raw_chunks (
    report         INTEGER NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
    seq            INTEGER NOT NULL,
    data           BLOB    NOT NULL,
    PRIMARY KEY (report, seq)
);

-- One row per <record>.
CREATE TABLE records (
    id             INTEGER PRIMARY KEY,
    report         INTEGER NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
    source_ip      TEXT    NOT NULL,           -- as reported; may be empty
    count          INTEGER NOT NULL,
    disposition    TEXT,                       -- none|quarantine|reject|pass (RFC 9990) or as written
    dkim           TEXT,                       -- policy_evaluated/dkim (aligned): pass|fail
    spf            TEXT,                       -- policy_evaluated/spf (aligned): pass|fail
    header_from    TEXT,
    envelope_from  TEXT,
    envelope_to    TEXT,
    extensions     TEXT                        -- JSON array of <extension> XML
);
CREATE INDEX records_report ON records (report);
CREATE INDEX records_source_ip ON records (source_ip);

-- policy_evaluated/reason, several per record.
CREATE TABLE record_reasons (
    record         INTEGER NOT NULL REFERENCES records (id) ON DELETE CASCADE,
    type           TEXT,
    comment        TEXT
);
CREATE INDEX record_reasons_record ON record_reasons (record);

-- auth_results/dkim, several per record.
CREATE TABLE dkim_results (
    record         INTEGER NOT NULL REFERENCES records (id) ON DELETE CASCADE,
    domain         TEXT    NOT NULL,
    selector       TEXT,
    result         TEXT,
    human_result   TEXT
);
CREATE INDEX dkim_results_record ON dkim_results (record);

-- auth_results/spf, several per record.
CREATE TABLE spf_results (
    record         INTEGER NOT NULL REFERENCES records (id) ON DELETE CASCADE,
    domain         TEXT    NOT NULL,
    scope          TEXT,
    result         TEXT,
    human_result   TEXT
);
CREATE INDEX spf_results_record ON spf_results (record);

-- Inputs that could not be stored, kept with their bytes so that
-- `dmarc-report ingest --retry-failed` can try them again after a fix.
CREATE TABLE failed_inputs (
    id             INTEGER PRIMARY KEY,
    name           TEXT    NOT NULL,           -- file path, message, ...
    sha256         BLOB    UNIQUE,             -- of data; NULL when data was too large to keep
    data           BLOB,
    error          TEXT    NOT NULL,
    first_seen     INTEGER NOT NULL,
    last_seen      INTEGER NOT NULL,
    attempts       INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX failed_inputs_name ON failed_inputs (name);

-- dmarc-report PostgreSQL schema, migration 1: everything the SQLite schema
-- holds at its version 7, in PostgreSQL's dialect.
-- Applied in order by src/store/pg/migrations.rs, under an advisory lock,
-- and recorded in dmarc_report_migrations. Never edit a released migration:
-- add a new one.
--
-- Text that is sorted or compared (domains, addresses, names) uses the "C"
-- collation: byte order, the same order as SQLite's, whatever the
-- database's locale.

-- One row per aggregate report, stored once: several workers inserting the
-- same report at once meet on the unique key (INSERT .. ON CONFLICT).
CREATE TABLE reports (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_name            text COLLATE "C" NOT NULL,
    policy_domain       text COLLATE "C" NOT NULL,  -- lower-cased policy_published/domain
    report_id           text COLLATE "C" NOT NULL,
    begin_ts            bigint NOT NULL,            -- date_range/begin, Unix seconds UTC
    end_ts              bigint NOT NULL,            -- date_range/end, Unix seconds UTC
    schema              text NOT NULL CHECK (schema IN ('rfc7489', 'rfc9990')),
    version             text,
    email               text,
    extra_contact_info  text,
    generator           text,                       -- RFC 9990
    errors              text,                       -- JSON array of report_metadata/error
    adkim               text,
    aspf                text,
    p                   text,
    sp                  text,
    np                  text,                       -- RFC 9990
    pct                 bigint,                     -- RFC 7489
    fo                  text,
    testing             text,                       -- RFC 9990 (t=)
    discovery_method    text,                       -- RFC 9990
    extensions          text,                       -- JSON array of <extension> XML
    source              text NOT NULL,              -- where it was first read from
    ingested_at         bigint NOT NULL,            -- Unix seconds
    warnings            text,                       -- JSON array, what the parser tolerated
    record_count        bigint NOT NULL DEFAULT 0,
    message_count       bigint NOT NULL DEFAULT 0,
    UNIQUE (org_name, policy_domain, report_id, begin_ts, end_ts)
);
CREATE INDEX reports_domain_period ON reports (policy_domain, begin_ts, end_ts);

-- The report as received (decompressed XML, then gzip), in pieces of about
-- 1 MiB, for `reparse`.
CREATE TABLE report_raw (
    report         bigint PRIMARY KEY REFERENCES reports (id) ON DELETE CASCADE,
    compression    text NOT NULL CHECK (compression IN ('gzip')),
    file_name      text,
    known_utf8     boolean NOT NULL DEFAULT false,
    size           bigint NOT NULL
);
CREATE TABLE report_raw_chunks (
    report         bigint NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
    seq            integer NOT NULL,
    data           bytea NOT NULL,
    PRIMARY KEY (report, seq)
);

-- One row per <record>; its lists as JSON arrays (the same shapes as in
-- SQLite, see schemas/migrations/0004_record_lists.sql).
CREATE TABLE records (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    report         bigint NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
    source_ip      text COLLATE "C" NOT NULL,
    count          bigint NOT NULL,
    disposition    text,
    dkim           text,
    spf            text,
    header_from    text COLLATE "C",
    envelope_from  text COLLATE "C",
    envelope_to    text,
    extensions     text,
    reasons        json,
    dkim_auth      json,
    spf_auth       json
);
CREATE INDEX records_report ON records (report);

CREATE VIEW record_reasons AS
    SELECT r.id AS record, (j.n - 1)::integer AS seq,
           j.value ->> 'type' AS type, j.value ->> 'comment' AS comment
    FROM records r, json_array_elements(r.reasons) WITH ORDINALITY AS j(value, n)
    WHERE r.reasons IS NOT NULL;

CREATE VIEW dkim_results AS
    SELECT r.id AS record, (j.n - 1)::integer AS seq,
           j.value ->> 'domain' AS domain, j.value ->> 'selector' AS selector,
           j.value ->> 'result' AS result, j.value ->> 'human_result' AS human_result
    FROM records r, json_array_elements(r.dkim_auth) WITH ORDINALITY AS j(value, n)
    WHERE r.dkim_auth IS NOT NULL;

CREATE VIEW spf_results AS
    SELECT r.id AS record, (j.n - 1)::integer AS seq,
           j.value ->> 'domain' AS domain, j.value ->> 'scope' AS scope,
           j.value ->> 'result' AS result, j.value ->> 'human_result' AS human_result
    FROM records r, json_array_elements(r.spf_auth) WITH ORDINALITY AS j(value, n)
    WHERE r.spf_auth IS NOT NULL;

-- Inputs that could not be stored, with their bytes. The same bytes
-- failing in two workers at once meet on sha256.
CREATE TABLE failed_inputs (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name           text NOT NULL,
    sha256         bytea UNIQUE,
    data           bytea,
    error          text NOT NULL,
    first_seen     bigint NOT NULL,
    last_seen      bigint NOT NULL,
    attempts       bigint NOT NULL DEFAULT 1
);
CREATE INDEX failed_inputs_name ON failed_inputs (name);

-- What `fetch` has done with each IMAP message.
CREATE TABLE imap_messages (
    account        text NOT NULL,
    folder         text NOT NULL,
    uidvalidity    bigint NOT NULL,
    uid            bigint NOT NULL,
    outcome        text NOT NULL CHECK (outcome IN ('stored', 'failed', 'too_large')),
    done           boolean NOT NULL DEFAULT false,
    first_seen     bigint NOT NULL,
    PRIMARY KEY (account, folder, uidvalidity, uid)
);

-- The reverse DNS cache of `summary --resolve`.
CREATE TABLE rdns_cache (
    ip             text COLLATE "C" PRIMARY KEY,
    name           text,
    resolved_at    bigint NOT NULL,
    status         text NOT NULL CHECK (status IN ('ok', 'none', 'timeout', 'error')),
    CHECK ((status = 'ok') = (name IS NOT NULL))
);

-- Rollups (see schemas/migrations/0005_rollups.sql): per domain, source
-- and UTC day of the report's begin. Set columns hold a sorted list without
-- repeats joined by U+001F; NULL when empty.
CREATE TABLE source_days (
    domain                 text COLLATE "C" NOT NULL,
    source_ip              text COLLATE "C" NOT NULL,
    day                    bigint NOT NULL,
    messages               bigint NOT NULL,
    dmarc_pass             bigint NOT NULL,
    spf_aligned_pass       bigint NOT NULL,
    dkim_aligned_pass      bigint NOT NULL,
    authenticated          bigint NOT NULL,
    disposition_none       bigint NOT NULL,
    disposition_quarantine bigint NOT NULL,
    disposition_reject     bigint NOT NULL,
    first_begin            bigint NOT NULL,
    last_end               bigint NOT NULL,
    dkim_domains           text,
    spf_domains            text,
    reasons                text,
    envelope_from          text,
    PRIMARY KEY (domain, source_ip, day)
);

CREATE TABLE domain_days (
    domain                 text COLLATE "C" NOT NULL,
    day                    bigint NOT NULL,
    kind                   text COLLATE "C" NOT NULL CHECK (kind IN ('disposition', 'subdomain')),
    key                    text COLLATE "C" NOT NULL,
    messages               bigint NOT NULL,
    dmarc_pass             bigint NOT NULL,
    spf_aligned_pass       bigint NOT NULL,
    dkim_aligned_pass      bigint NOT NULL,
    authenticated          bigint NOT NULL,
    PRIMARY KEY (domain, day, kind, key)
);

-- The union of two sets as the rollups store them (sorted in byte order,
-- joined by U+001F, NULL when empty).
CREATE FUNCTION dmarc_report_union(a text, b text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN a IS NULL OR a = '' THEN NULLIF(b, '')
        WHEN b IS NULL OR b = '' OR a = b THEN a
        ELSE (SELECT string_agg(x, E'\x1f' ORDER BY x)
              FROM (SELECT DISTINCT item COLLATE "C" AS x
                    FROM unnest(string_to_array(a || E'\x1f' || b, E'\x1f')) AS item
                    WHERE item <> '') AS items)
    END
$$;

-- What `notify` has told, and the events waiting for delivery.
CREATE TABLE notify_state (
    kind           text COLLATE "C" NOT NULL,
    domain         text COLLATE "C" NOT NULL,
    subject        text COLLATE "C" NOT NULL,
    value          text NOT NULL,
    updated_at     bigint NOT NULL,
    PRIMARY KEY (kind, domain, subject)
);

CREATE TABLE notify_events (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_at     bigint NOT NULL,
    kind           text NOT NULL,
    domain         text,
    payload        text NOT NULL,
    delivered_to   text NOT NULL DEFAULT '',
    delivered_at   bigint
);
CREATE INDEX notify_events_pending ON notify_events (delivered_at) WHERE delivered_at IS NULL;

-- The findings of `check`, every run kept with its time.
CREATE TABLE record_checks (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    domain     text COLLATE "C" NOT NULL,
    checked_at bigint NOT NULL,
    code       text NOT NULL,
    severity   text NOT NULL,
    record     text NOT NULL,
    message    text NOT NULL,
    fix        text NOT NULL
);
CREATE INDEX record_checks_domain ON record_checks (domain, checked_at);

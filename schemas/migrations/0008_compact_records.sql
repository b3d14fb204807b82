-- dmarc-report SQLite schema, migration 8: a compact record layout.
--
-- A record's row held every string as text and its auth results as JSON:
-- about 200 bytes a record, most of them the same domains, selectors and
-- results again and again. Now:
--
-- - `strings` holds each distinct string once (domains, selectors,
--   results, dispositions, ...); a record refers to it by its small
--   integer id. The common values of the enumerations are seeded with ids
--   of one byte.
-- - an IPv4 source is stored as a 32-bit integer (signed: the address's
--   bits as two's complement); anything else (IPv6, a malformed or empty
--   address) as the text reported.
-- - the first two DKIM results and the first SPF result of a record are
--   columns of its row (a message signed by its author's domain and by the
--   service that sent it has two); any further results, a result's
--   human_result and record-level extensions (all rare) go to `more`, a
--   JSON object.
-- - a record is keyed by (report, seq): its report and its position in it
--   (from 0), without a rowid and without a separate index.
--
-- Every field stays as reported. Read the data through the views at the
-- end of this file (reports_v, records_v, dkim_results_v, spf_results_v,
-- reasons_v): they give readable columns and stay stable across releases;
-- the tables beneath them may change shape again.
--
-- After this script, the program copies the records of the old table into
-- the new one (so that both are encoded by the same code), then drops the
-- old table (renamed records_v7 below) (src/store/migrations.rs).

CREATE TABLE strings (
    id             INTEGER PRIMARY KEY,
    value          TEXT    NOT NULL UNIQUE
);
INSERT INTO strings (id, value) VALUES
    (1, 'none'), (2, 'pass'), (3, 'fail'), (4, 'quarantine'), (5, 'reject'),
    (6, 'softfail'), (7, 'neutral'), (8, 'temperror'), (9, 'permerror'), (10, 'policy'),
    (11, 'mfrom'), (12, 'helo'), (13, 'forwarded'), (14, 'sampled_out'),
    (15, 'trusted_forwarder'), (16, 'mailing_list'), (17, 'local_policy'), (18, 'other'),
    (19, '');

DROP VIEW record_reasons;
DROP VIEW dkim_results;
DROP VIEW spf_results;
DROP INDEX records_report;
ALTER TABLE records RENAME TO records_v7;

-- The record layout. Integer columns but `count` and `seq` are ids in
-- `strings`; NULL where the report had no such element.
CREATE TABLE records (
    report         INTEGER NOT NULL,           -- reports.id
    seq            INTEGER NOT NULL,           -- position in the report, from 0
    ip                     NOT NULL,           -- IPv4: integer; otherwise the text reported
    count          INTEGER NOT NULL,
    disposition    INTEGER,                    -- policy_evaluated/disposition
    dkim           INTEGER,                    -- policy_evaluated/dkim (aligned)
    spf            INTEGER,                    -- policy_evaluated/spf (aligned)
    header_from    INTEGER,
    envelope_from  INTEGER,
    envelope_to    INTEGER,
    dkim_domain    INTEGER,                    -- first auth_results/dkim: d=
    dkim_selector  INTEGER,
    dkim_result    INTEGER,
    dkim2_domain   INTEGER,                    -- second auth_results/dkim
    dkim2_selector INTEGER,
    dkim2_result   INTEGER,
    spf_domain     INTEGER,                    -- first auth_results/spf
    spf_scope      INTEGER,
    spf_result     INTEGER,
    reasons        TEXT,                       -- JSON array [{"type": .., "comment": ..}]
    more           TEXT,                       -- JSON object, see below
    PRIMARY KEY (report, seq)
) WITHOUT ROWID;
-- `more` keys, each left out when it has no value:
--   dkim_human_result, dkim2_human_result, spf_human_result
--                the human_result of the results in columns
--   dkim         the DKIM results after the second, [{"domain", "selector", "result", "human_result"}]
--   spf          the SPF results after the first, [{"domain", "scope", "result", "human_result"}]
--   extensions   record-level <extension> XML, an array of strings

CREATE VIEW reports_v AS
    SELECT id AS report, org_name, policy_domain, report_id,
           begin_ts, end_ts,
           strftime('%Y-%m-%d %H:%M:%S', begin_ts, 'unixepoch') AS begin_utc,
           strftime('%Y-%m-%d %H:%M:%S', end_ts, 'unixepoch') AS end_utc,
           schema, version, email, extra_contact_info, generator, errors,
           adkim, aspf, p, sp, np, pct, fo, testing, discovery_method, extensions,
           source, ingested_at, warnings, record_count, message_count
    FROM reports;

CREATE VIEW records_v AS
    SELECT c.report, c.seq AS record,
           CASE typeof(c.ip) WHEN 'integer'
               THEN ((c.ip >> 24) & 255) || '.' || ((c.ip >> 16) & 255) || '.'
                    || ((c.ip >> 8) & 255) || '.' || (c.ip & 255)
               ELSE c.ip END AS source_ip,
           c.count,
           (SELECT value FROM strings WHERE id = c.disposition) AS disposition,
           (SELECT value FROM strings WHERE id = c.dkim) AS dkim,
           (SELECT value FROM strings WHERE id = c.spf) AS spf,
           (SELECT value FROM strings WHERE id = c.header_from) AS header_from,
           (SELECT value FROM strings WHERE id = c.envelope_from) AS envelope_from,
           (SELECT value FROM strings WHERE id = c.envelope_to) AS envelope_to,
           c.more ->> '$.extensions' AS extensions
    FROM records c;

CREATE VIEW dkim_results_v AS
    SELECT c.report, c.seq AS record, 0 AS seq,
           (SELECT value FROM strings WHERE id = c.dkim_domain) AS domain,
           (SELECT value FROM strings WHERE id = c.dkim_selector) AS selector,
           (SELECT value FROM strings WHERE id = c.dkim_result) AS result,
           c.more ->> '$.dkim_human_result' AS human_result
    FROM records c WHERE c.dkim_domain IS NOT NULL
    UNION ALL
    SELECT c.report, c.seq, 1,
           (SELECT value FROM strings WHERE id = c.dkim2_domain),
           (SELECT value FROM strings WHERE id = c.dkim2_selector),
           (SELECT value FROM strings WHERE id = c.dkim2_result),
           c.more ->> '$.dkim2_human_result'
    FROM records c WHERE c.dkim2_domain IS NOT NULL
    UNION ALL
    SELECT c.report, c.seq, 2 + j.key,
           j.value ->> '$.domain', j.value ->> '$.selector', j.value ->> '$.result',
           j.value ->> '$.human_result'
    FROM records c, json_each(c.more, '$.dkim') j WHERE c.more IS NOT NULL;

CREATE VIEW spf_results_v AS
    SELECT c.report, c.seq AS record, 0 AS seq,
           (SELECT value FROM strings WHERE id = c.spf_domain) AS domain,
           (SELECT value FROM strings WHERE id = c.spf_scope) AS scope,
           (SELECT value FROM strings WHERE id = c.spf_result) AS result,
           c.more ->> '$.spf_human_result' AS human_result
    FROM records c WHERE c.spf_domain IS NOT NULL
    UNION ALL
    SELECT c.report, c.seq, 1 + j.key,
           j.value ->> '$.domain', j.value ->> '$.scope', j.value ->> '$.result',
           j.value ->> '$.human_result'
    FROM records c, json_each(c.more, '$.spf') j WHERE c.more IS NOT NULL;

CREATE VIEW reasons_v AS
    SELECT c.report, c.seq AS record, j.key AS seq,
           j.value ->> '$.type' AS type, j.value ->> '$.comment' AS comment
    FROM records c, json_each(c.reasons) j WHERE c.reasons IS NOT NULL;

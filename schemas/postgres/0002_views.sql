-- dmarc-report PostgreSQL schema, migration 2: the documented views.
--
-- The same views, with the same columns, as the SQLite schema's
-- (schemas/migrations/0008_compact_records.sql): read the data through
-- them; the tables beneath may change shape between releases. A record is
-- named by its report and its position in it (`record`, from 0).

CREATE VIEW reports_v AS
    SELECT id AS report, org_name, policy_domain, report_id,
           begin_ts, end_ts,
           to_char(to_timestamp(begin_ts) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') AS begin_utc,
           to_char(to_timestamp(end_ts) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') AS end_utc,
           schema, version, email, extra_contact_info, generator, errors,
           adkim, aspf, p, sp, np, pct, fo, testing, discovery_method, extensions,
           source, ingested_at, warnings, record_count, message_count
    FROM reports;

-- Records with their position in the report.
CREATE VIEW records_numbered AS
    SELECT r.*, row_number() OVER (PARTITION BY r.report ORDER BY r.id) - 1 AS record
    FROM records r;

CREATE VIEW records_v AS
    SELECT report, record, source_ip, count, disposition, dkim, spf, header_from,
           envelope_from, envelope_to, extensions
    FROM records_numbered;

CREATE VIEW dkim_results_v AS
    SELECT c.report, c.record, j.n - 1 AS seq,
           j.value ->> 'domain' AS domain, j.value ->> 'selector' AS selector,
           j.value ->> 'result' AS result, j.value ->> 'human_result' AS human_result
    FROM records_numbered c, json_array_elements(c.dkim_auth) WITH ORDINALITY AS j(value, n)
    WHERE c.dkim_auth IS NOT NULL;

CREATE VIEW spf_results_v AS
    SELECT c.report, c.record, j.n - 1 AS seq,
           j.value ->> 'domain' AS domain, j.value ->> 'scope' AS scope,
           j.value ->> 'result' AS result, j.value ->> 'human_result' AS human_result
    FROM records_numbered c, json_array_elements(c.spf_auth) WITH ORDINALITY AS j(value, n)
    WHERE c.spf_auth IS NOT NULL;

CREATE VIEW reasons_v AS
    SELECT c.report, c.record, j.n - 1 AS seq,
           j.value ->> 'type' AS type, j.value ->> 'comment' AS comment
    FROM records_numbered c, json_array_elements(c.reasons) WITH ORDINALITY AS j(value, n)
    WHERE c.reasons IS NOT NULL;

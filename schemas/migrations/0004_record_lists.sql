-- dmarc-report SQLite schema, migration 4: a record's lists live in its row.
--
-- A record's override reasons and its raw DKIM and SPF results are read and
-- written with the record, never on their own. Kept in three side tables
-- they tripled the rows of an ingest (and their indexes) and cost every
-- summary three joins; as JSON arrays in the record's row, an ingest of
-- 100,000 records writes 100,000 rows instead of about 300,000, and a
-- summary reads one table. `dkim_results`, `spf_results` and
-- `record_reasons` stay queryable under their old names and columns, as
-- views (plus `seq`, the position in the record).
--
-- JSON shapes (new rows leave out keys with no value, migrated rows hold
-- null there; readers treat the two alike):
--   reasons    [{"type": "forwarded", "comment": "..."}]
--   dkim_auth  [{"domain": "example.com", "selector": "s1", "result": "pass", "human_result": "..."}]
--   spf_auth   [{"domain": "example.com", "scope": "mfrom", "result": "pass", "human_result": "..."}]
-- NULL when the record has none.

ALTER TABLE records ADD COLUMN reasons TEXT;
ALTER TABLE records ADD COLUMN dkim_auth TEXT;
ALTER TABLE records ADD COLUMN spf_auth TEXT;

UPDATE records SET reasons = (
    SELECT json_group_array(json_object('type', type, 'comment', comment) ORDER BY rowid)
    FROM record_reasons WHERE record = records.id
) WHERE id IN (SELECT record FROM record_reasons);

UPDATE records SET dkim_auth = (
    SELECT json_group_array(json_object('domain', domain, 'selector', selector, 'result', result,
                                        'human_result', human_result) ORDER BY rowid)
    FROM dkim_results WHERE record = records.id
) WHERE id IN (SELECT record FROM dkim_results);

UPDATE records SET spf_auth = (
    SELECT json_group_array(json_object('domain', domain, 'scope', scope, 'result', result,
                                        'human_result', human_result) ORDER BY rowid)
    FROM spf_results WHERE record = records.id
) WHERE id IN (SELECT record FROM spf_results);

DROP TABLE record_reasons;
DROP TABLE dkim_results;
DROP TABLE spf_results;

CREATE VIEW record_reasons AS
    SELECT r.id AS record, CAST(j.key AS INTEGER) AS seq,
           j.value ->> 'type' AS type, j.value ->> 'comment' AS comment
    FROM records r, json_each(r.reasons) j
    WHERE r.reasons IS NOT NULL;

CREATE VIEW dkim_results AS
    SELECT r.id AS record, CAST(j.key AS INTEGER) AS seq,
           j.value ->> 'domain' AS domain, j.value ->> 'selector' AS selector,
           j.value ->> 'result' AS result, j.value ->> 'human_result' AS human_result
    FROM records r, json_each(r.dkim_auth) j
    WHERE r.dkim_auth IS NOT NULL;

CREATE VIEW spf_results AS
    SELECT r.id AS record, CAST(j.key AS INTEGER) AS seq,
           j.value ->> 'domain' AS domain, j.value ->> 'scope' AS scope,
           j.value ->> 'result' AS result, j.value ->> 'human_result' AS human_result
    FROM records r, json_each(r.spf_auth) j
    WHERE r.spf_auth IS NOT NULL;

-- dmarc-report PostgreSQL schema, migration 5: failed inputs keep their
-- kind and can be dismissed (the same as SQLite's migration 12).
--
-- `kind` says what kind of failure each kept input is (not-a-report,
-- tls-report, failure-report, malformed, corrupt, limit, unreadable,
-- internal): `ingest --retry-failed` passes over the kinds a retry cannot
-- change. `dismissed_at` (Unix seconds) marks an input the user dismissed
-- with `errors --dismiss`: it leaves `errors` and is never retried, its
-- bytes are deleted, and its sha256 (or, kept without bytes, its name)
-- stays, so the same input failing again stays dismissed.

ALTER TABLE failed_inputs
    ADD COLUMN kind text NOT NULL DEFAULT 'malformed',
    ADD COLUMN dismissed_at bigint;

-- An input kept without its bytes (too large to keep) was a new row on
-- every run that read it: it is one row per name now (the newest), with
-- the attempts of all added up and the first and last time of all.
UPDATE failed_inputs SET
    attempts = (SELECT sum(o.attempts) FROM failed_inputs o
                WHERE o.sha256 IS NULL AND o.name = failed_inputs.name),
    first_seen = (SELECT min(o.first_seen) FROM failed_inputs o
                  WHERE o.sha256 IS NULL AND o.name = failed_inputs.name),
    last_seen = (SELECT max(o.last_seen) FROM failed_inputs o
                 WHERE o.sha256 IS NULL AND o.name = failed_inputs.name)
WHERE sha256 IS NULL
  AND id = (SELECT max(o.id) FROM failed_inputs o
            WHERE o.sha256 IS NULL AND o.name = failed_inputs.name);
DELETE FROM failed_inputs
WHERE sha256 IS NULL
  AND id <> (SELECT max(o.id) FROM failed_inputs o
             WHERE o.sha256 IS NULL AND o.name = failed_inputs.name);
CREATE UNIQUE INDEX failed_inputs_unkept_name ON failed_inputs (name) WHERE sha256 IS NULL;

-- The kind of each kept failure, from its error text: the words each kind
-- of error has been written with. This is the only place the text is read
-- for its kind; inputs that fail from now on are stored with theirs. An
-- input with several problems is given a kind a retry can change when one
-- of its problems has one (those come first), as the program does.
UPDATE failed_inputs SET kind = CASE
    WHEN error LIKE '%internal error: the parser stopped%'
        OR error LIKE '%cannot start a parser thread%' THEN 'internal'
    WHEN error LIKE '%larger than the limit of%'
        OR error LIKE '%more than the limit of%'
        OR error LIKE '%over the limit of%'
        OR error LIKE '%nested more than%' THEN 'limit'
    WHEN error LIKE '%data is corrupt%'
        OR error LIKE '%data is truncated%' THEN 'corrupt'
    WHEN error LIKE '%cannot read%'
        OR error LIKE '%read error:%' THEN 'unreadable'
    WHEN error LIKE '%malformed XML%'
        OR error LIKE '%expected %' THEN 'malformed'
    WHEN error LIKE '%DMARC failure (ruf) report%' THEN 'failure-report'
    WHEN error LIKE '%SMTP TLS report%' THEN 'tls-report'
    WHEN error LIKE '%not a DMARC aggregate report%'
        OR error LIKE '%no DMARC aggregate report in this message%'
        OR error LIKE '%empty input%'
        OR error LIKE '%empty document%' THEN 'not-a-report'
    ELSE 'malformed'
END;

-- Every row written from now on says its kind.
ALTER TABLE failed_inputs ALTER COLUMN kind DROP DEFAULT;

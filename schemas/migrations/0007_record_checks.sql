-- The findings of `check`: one row per finding, every run kept with its
-- time; `summary` and `report` show the newest run per domain.
CREATE TABLE record_checks (
    domain     TEXT NOT NULL,
    checked_at INTEGER NOT NULL,   -- Unix seconds
    code       TEXT NOT NULL,
    severity   TEXT NOT NULL,      -- error | warning | info
    record     TEXT NOT NULL,      -- dmarc | spf | dkim | mx
    message    TEXT NOT NULL,
    fix        TEXT NOT NULL
);
CREATE INDEX record_checks_domain ON record_checks (domain, checked_at);

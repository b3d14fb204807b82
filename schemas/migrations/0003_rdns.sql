-- dmarc-report SQLite schema, migration 3: the reverse DNS cache of
-- `summary --resolve`, so that a rerun asks the resolver nothing it already
-- knows. Names are forward-confirmed (FCrDNS) before they are stored.

CREATE TABLE rdns_cache (
    ip             TEXT    PRIMARY KEY,        -- canonical text form (std::net::IpAddr)
    name           TEXT,                       -- confirmed PTR name, lower case; NULL = no (confirmed) name
    resolved_at    INTEGER NOT NULL,           -- Unix seconds
    status         TEXT    NOT NULL CHECK (status IN ('ok', 'none', 'timeout', 'error')),
    CHECK ((status = 'ok') = (name IS NOT NULL))
) WITHOUT ROWID;

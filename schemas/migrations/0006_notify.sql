-- dmarc-report SQLite schema, migration 6: what `notify` has told, so that
-- each event is told once, and the events waiting for delivery.

-- What the last notification knew: one row per fact, e.g. the verdict told
-- for a domain, a sender already announced, a sender below the pass-rate
-- threshold, a domain whose reports stopped, the newest failed input told.
CREATE TABLE notify_state (
    kind           TEXT    NOT NULL,           -- 'verdict', 'sender', 'degraded', 'stopped', 'failed', 'digest'
    domain         TEXT    NOT NULL,           -- '' when not about one domain
    subject        TEXT    NOT NULL,           -- a sender's name, or ''
    value          TEXT    NOT NULL,
    updated_at     INTEGER NOT NULL,           -- Unix seconds
    PRIMARY KEY (kind, domain, subject)
) WITHOUT ROWID;

-- Every event found, as JSON. delivered_to lists the channels ('stdout',
-- 'smtp', 'webhook') that have it; delivered_at stays NULL until every
-- configured channel has it, so a failed delivery leaves it pending for the
-- next run and a channel that succeeded is not told again.
CREATE TABLE notify_events (
    id             INTEGER PRIMARY KEY,
    created_at     INTEGER NOT NULL,           -- Unix seconds
    kind           TEXT    NOT NULL,
    domain         TEXT,
    payload        TEXT    NOT NULL,           -- the event as JSON
    delivered_to   TEXT    NOT NULL DEFAULT '', -- channels done, space-separated
    delivered_at   INTEGER                     -- Unix seconds; NULL = pending
);
CREATE INDEX notify_events_pending ON notify_events (delivered_at) WHERE delivered_at IS NULL;

-- dmarc-report SQLite schema, migration 2: what `fetch` has done with each
-- IMAP message, so that a rerun downloads nothing twice and finishes moving
-- or flagging messages whose reports were committed before a crash.

CREATE TABLE imap_messages (
    account        TEXT    NOT NULL,           -- user@host:port
    folder         TEXT    NOT NULL,
    uidvalidity    INTEGER NOT NULL,           -- UIDs mean nothing across validities
    uid            INTEGER NOT NULL,
    outcome        TEXT    NOT NULL CHECK (outcome IN ('stored', 'failed', 'too_large')),
    done           INTEGER NOT NULL DEFAULT 0, -- 1 once moved or flagged on the server
    first_seen     INTEGER NOT NULL,           -- Unix seconds
    PRIMARY KEY (account, folder, uidvalidity, uid)
) WITHOUT ROWID;

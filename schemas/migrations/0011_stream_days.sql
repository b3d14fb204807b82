-- dmarc-report SQLite schema, migration 11: streams per source.
--
-- A source's mail on a day, split by the identity it authenticated with
-- (its stream): the DKIM domain (d=) of the signature that aligned, else
-- the first that passed ('' when none passed), and the envelope-from
-- domain (else the first domain SPF passed for; '' when neither), apart
-- for mail From the policy domain and mail From its subdomains. The
-- readiness verdict judges each stream of a legitimate sender on its own:
-- a service's new stream that does not align must not hide inside the
-- service's aligned volume. After this script the program rebuilds the
-- rollups from the stored records, in the same transaction, which fills
-- this table.

CREATE TABLE stream_days (
    domain            TEXT    NOT NULL,   -- reports.policy_domain
    source_ip         TEXT    NOT NULL,   -- records.source_ip, as reported
    day               INTEGER NOT NULL,   -- Unix seconds at 00:00 UTC of the report's begin
    subdomain         INTEGER NOT NULL,   -- 1: From (header_from) a subdomain of the policy domain
    dkim_domain       TEXT    NOT NULL,   -- d= of the aligned, else first passing signature; '' none
    spf_domain        TEXT    NOT NULL,   -- envelope-from domain, else first passing SPF domain; '' none
    messages          INTEGER NOT NULL,
    dmarc_pass        INTEGER NOT NULL,
    spf_aligned_pass  INTEGER NOT NULL,
    dkim_aligned_pass INTEGER NOT NULL,
    authenticated     INTEGER NOT NULL,   -- some DKIM or SPF result passed, aligned or not
    PRIMARY KEY (domain, source_ip, day, subdomain, dkim_domain, spf_domain)
) WITHOUT ROWID;

-- dmarc-report PostgreSQL schema, migration 4: streams per source (the
-- same as SQLite's migration 11).
--
-- A source's mail on a day, split by the identity it authenticated with:
-- the DKIM domain (d=) of the signature that aligned, else the first that
-- passed ('' when none passed), and the envelope-from domain (else the
-- first domain SPF passed for; '' when neither), apart for mail From the
-- policy domain and mail From its subdomains. After this script the
-- program rebuilds the rollups from the stored records, in the same
-- transaction, which fills this table.

CREATE TABLE stream_days (
    domain            text COLLATE "C" NOT NULL,
    source_ip         text COLLATE "C" NOT NULL,
    day               bigint   NOT NULL,
    subdomain         smallint NOT NULL,
    dkim_domain       text COLLATE "C" NOT NULL,
    spf_domain        text COLLATE "C" NOT NULL,
    messages          bigint   NOT NULL,
    dmarc_pass        bigint   NOT NULL,
    spf_aligned_pass  bigint   NOT NULL,
    dkim_aligned_pass bigint   NOT NULL,
    authenticated     bigint   NOT NULL,
    PRIMARY KEY (domain, source_ip, day, subdomain, dkim_domain, spf_domain)
);

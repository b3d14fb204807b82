//! Numbered schema migrations, applied in order and recorded in
//! `PRAGMA user_version`, so that a newer dmarc-report upgrades an existing
//! database in place.

use rusqlite::Connection;

use super::StoreError;

/// The migrations, in order; migration `i` (1-based) moves the schema from
/// version `i - 1` to `i`.
const MIGRATIONS: &[&str] = &[
    include_str!("../../schemas/migrations/0001_initial.sql"),
    include_str!("../../schemas/migrations/0002_imap.sql"),
    include_str!("../../schemas/migrations/0003_rdns.sql"),
    include_str!("../../schemas/migrations/0004_record_lists.sql"),
    include_str!("../../schemas/migrations/0005_rollups.sql"),
    include_str!("../../schemas/migrations/0006_notify.sql"),
    include_str!("../../schemas/migrations/0007_record_checks.sql"),
    COMPACT_RECORDS,
    SUBDOMAIN_SPLIT,
    STREAMS,
    include_str!("../../schemas/migrations/0012_failed_kinds.sql"),
    include_str!("../../schemas/migrations/0013_source_days_domain_ids.sql"),
];

/// The version whose migration adds the rollups, which the program then
/// fills from the stored records (once every migration is applied, so that
/// it reads the records in the layout this build knows).
const ROLLUPS: i64 = 5;

/// The migration that adds the subdomain part of each source's day to the
/// rollups, which the program then fills by rebuilding them.
const SUBDOMAIN_SPLIT: &str =
    include_str!("../../schemas/migrations/0010_source_days_from_split.sql");

/// The migration that adds the streams of each source's day, which the
/// program then fills by rebuilding the rollups.
const STREAMS: &str = include_str!("../../schemas/migrations/0011_stream_days.sql");

/// The migration that makes the record layout compact; the program then
/// copies the records over.
const COMPACT_RECORDS: &str = include_str!("../../schemas/migrations/0008_compact_records.sql");

/// The schema version this build creates.
pub const LATEST: i64 = MIGRATIONS.len() as i64;

/// Brings the database up to [`LATEST`].
pub fn apply(conn: &Connection) -> Result<(), StoreError> {
    apply_up_to(conn, LATEST)
}

/// Brings the database up to `target` (at most [`LATEST`]), all migrations
/// in one exclusive transaction: of several processes opening a new or old
/// database at once, one migrates while the others wait for it, then find
/// the version it left and have nothing to do.
pub fn apply_up_to(conn: &Connection, target: i64) -> Result<(), StoreError> {
    let version = |conn: &Connection| -> Result<i64, StoreError> {
        let v: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if v > LATEST {
            return Err(StoreError::TooNew { found: v, known: LATEST });
        }
        Ok(v)
    };
    let target = target.min(LATEST);
    if version(conn)? >= target {
        return Ok(());
    }
    conn.execute_batch("BEGIN EXCLUSIVE")?;
    let migrated = (|| -> Result<(), StoreError> {
        // Read again under the lock: another process may have migrated.
        let current = version(conn)?;
        // The rollups are rebuilt once, after the last migration, by the
        // code that reads the records in their latest shape.
        let mut rebuild = false;
        for v in current + 1..=target {
            let Some(sql) = usize::try_from(v - 1).ok().and_then(|i| MIGRATIONS.get(i)) else {
                break;
            };
            conn.execute_batch(sql)?;
            if *sql == COMPACT_RECORDS {
                super::copy_v7_records(conn)?;
            }
            rebuild |= v == ROLLUPS || *sql == SUBDOMAIN_SPLIT || *sql == STREAMS;
            conn.execute_batch(&format!("PRAGMA user_version = {v}"))?;
        }
        // A database made for an older release (tests of upgrades) is left
        // as that release's migrations made it: empty rollups.
        if rebuild && target == LATEST {
            super::rollup::register(conn)?;
            super::rollup::rebuild_all(conn)?;
        }
        Ok(())
    })();
    match migrated {
        Ok(()) => {
            conn.execute_batch("COMMIT")?;
            Ok(())
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_bring_a_new_database_to_latest_and_rerun_as_noop() {
        let conn = Connection::open_in_memory().unwrap();
        apply(&conn).unwrap();
        apply(&conn).unwrap();
        let v: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(v, LATEST);
        let n: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master WHERE name = 'reports'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn a_version_1_database_is_upgraded_in_place_keeping_its_data() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(&format!("BEGIN; {} PRAGMA user_version = 1; COMMIT;", MIGRATIONS[0]))
            .unwrap();
        conn.execute(
            "INSERT INTO failed_inputs (name, error, first_seen, last_seen) VALUES ('x', 'e', 1, 1)",
            [],
        )
        .unwrap();
        apply(&conn).unwrap();
        let v: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(v, LATEST);
        let kept: i64 =
            conn.query_row("SELECT count(*) FROM failed_inputs", [], |r| r.get(0)).unwrap();
        assert_eq!(kept, 1);
        conn.execute_batch("SELECT * FROM imap_messages").unwrap();
    }

    #[test]
    fn a_version_2_database_is_upgraded_in_place_keeping_its_data() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(&format!(
            "BEGIN; {} {} PRAGMA user_version = 2; COMMIT;",
            MIGRATIONS[0], MIGRATIONS[1]
        ))
        .unwrap();
        conn.execute(
            "INSERT INTO imap_messages (account, folder, uidvalidity, uid, outcome, first_seen)
             VALUES ('a', 'INBOX', 1, 7, 'stored', 1)",
            [],
        )
        .unwrap();
        apply(&conn).unwrap();
        let v: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(v, LATEST);
        let kept: i64 =
            conn.query_row("SELECT count(*) FROM imap_messages", [], |r| r.get(0)).unwrap();
        assert_eq!(kept, 1);
        conn.execute(
            "INSERT INTO rdns_cache (ip, name, resolved_at, status) VALUES ('192.0.2.1', NULL, 1, 'none')",
            [],
        )
        .unwrap();
        // A name without status ok (or ok without a name) is refused.
        assert!(
            conn.execute(
                "INSERT INTO rdns_cache (ip, name, resolved_at, status) VALUES ('192.0.2.2', NULL, 1, 'ok')",
                [],
            )
            .is_err()
        );
    }

    #[test]
    fn a_version_3_database_keeps_its_reasons_and_auth_results_in_order_as_views() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(&format!(
            "BEGIN; {} {} {} PRAGMA user_version = 3; COMMIT;",
            MIGRATIONS[0], MIGRATIONS[1], MIGRATIONS[2]
        ))
        .unwrap();
        conn.execute_batch(
            "INSERT INTO reports (id, org_name, policy_domain, report_id, begin_ts, end_ts, schema,
                 source, ingested_at) VALUES (1, 'o', 'example.com', 'r', 0, 86400, 'rfc7489', 's', 0);
             INSERT INTO records (id, report, source_ip, count) VALUES (10, 1, '192.0.2.1', 3);
             INSERT INTO records (id, report, source_ip, count) VALUES (11, 1, '192.0.2.2', 1);
             INSERT INTO record_reasons (record, type, comment) VALUES (10, 'forwarded', NULL);
             INSERT INTO record_reasons (record, type, comment) VALUES (10, 'local_policy', 'arc=pass');
             INSERT INTO dkim_results (record, domain, selector, result, human_result)
                 VALUES (10, 'b.example', 's2', 'fail', NULL);
             INSERT INTO dkim_results (record, domain, selector, result, human_result)
                 VALUES (10, 'a.example', 's1', 'pass', 'good \"sig\"');
             INSERT INTO spf_results (record, domain, scope, result, human_result)
                 VALUES (11, 'example.com', 'mfrom', 'softfail', NULL);",
        )
        .unwrap();
        apply(&conn).unwrap();
        let rows = |sql: &str| -> Vec<String> {
            let mut stmt = conn.prepare(sql).unwrap();
            let mut rows = stmt.query([]).unwrap();
            let mut out = Vec::new();
            while let Some(row) = rows.next().unwrap() {
                let cells: Vec<String> = (0..row.as_ref().column_count())
                    .map(|i| match row.get_ref(i).unwrap() {
                        rusqlite::types::ValueRef::Null => "NULL".to_owned(),
                        rusqlite::types::ValueRef::Integer(n) => n.to_string(),
                        v => v.as_str().unwrap().to_owned(),
                    })
                    .collect();
                out.push(cells.join("|"));
            }
            out
        };
        // Records 10 and 11 of report 1 are its records 0 and 1 now.
        assert_eq!(
            rows("SELECT * FROM reasons_v ORDER BY report, record, seq"),
            ["1|0|0|forwarded|NULL", "1|0|1|local_policy|arc=pass"]
        );
        assert_eq!(
            rows("SELECT * FROM dkim_results_v ORDER BY report, record, seq"),
            ["1|0|0|b.example|s2|fail|NULL", "1|0|1|a.example|s1|pass|good \"sig\""]
        );
        assert_eq!(
            rows("SELECT * FROM spf_results_v ORDER BY report, record, seq"),
            ["1|1|0|example.com|mfrom|softfail|NULL"]
        );
        assert_eq!(
            rows("SELECT record, source_ip, count FROM records_v ORDER BY report, record"),
            ["0|192.0.2.1|3", "1|192.0.2.2|1"]
        );
        // The rollups were built from the records, in the layout they
        // ended in.
        assert_eq!(
            rows("SELECT source_ip, messages, dkim_domains FROM source_days ORDER BY 1"),
            ["192.0.2.1|3|a.example", "192.0.2.2|1|NULL"]
        );
    }

    #[test]
    fn a_database_from_a_newer_version_is_refused() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(&format!("PRAGMA user_version = {}", LATEST + 1)).unwrap();
        assert!(matches!(apply(&conn), Err(StoreError::TooNew { .. })));
    }
}

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
];

/// The schema version this build creates.
pub const LATEST: i64 = MIGRATIONS.len() as i64;

/// Brings the database up to [`LATEST`], each migration in its own
/// transaction.
pub fn apply(conn: &Connection) -> Result<(), StoreError> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current > LATEST {
        return Err(StoreError::TooNew { found: current, known: LATEST });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = index as i64 + 1;
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version = {version};\nCOMMIT;"
        ))
        .inspect_err(|_| {
            let _ = conn.execute_batch("ROLLBACK");
        })?;
    }
    Ok(())
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
    fn a_database_from_a_newer_version_is_refused() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(&format!("PRAGMA user_version = {}", LATEST + 1)).unwrap();
        assert!(matches!(apply(&conn), Err(StoreError::TooNew { .. })));
    }
}

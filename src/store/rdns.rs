//! The reverse DNS cache (`rdns_cache`).

use rusqlite::{OptionalExtension, params};

use super::backend::RdnsCache;
use super::{SqliteStore, StoreError};

/// What a lookup found, as the cache keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RdnsStatus {
    /// A forward-confirmed name.
    Ok,
    /// No name, or one that did not confirm.
    None,
    /// The lookup was abandoned.
    Timeout,
    /// The resolver failed.
    Error,
}

impl RdnsStatus {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            RdnsStatus::Ok => "ok",
            RdnsStatus::None => "none",
            RdnsStatus::Timeout => "timeout",
            RdnsStatus::Error => "error",
        }
    }

    pub(super) fn parse(s: &str) -> RdnsStatus {
        match s {
            "ok" => RdnsStatus::Ok,
            "none" => RdnsStatus::None,
            "timeout" => RdnsStatus::Timeout,
            _ => RdnsStatus::Error,
        }
    }
}

/// One cached answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RdnsEntry {
    /// The address, canonical text form.
    pub ip: String,
    /// The confirmed name (`Some` exactly when the status is `Ok`).
    pub name: Option<String>,
    /// When it was resolved, Unix seconds.
    pub resolved_at: i64,
    /// What the lookup found.
    pub status: RdnsStatus,
}

impl RdnsCache for SqliteStore {
    fn rdns_get(&self, ip: &str) -> Result<Option<RdnsEntry>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT name, resolved_at, status FROM rdns_cache WHERE ip = ?1")?;
        Ok(stmt
            .query_row([ip], |r| {
                Ok(RdnsEntry {
                    ip: ip.to_owned(),
                    name: r.get(0)?,
                    resolved_at: r.get(1)?,
                    status: RdnsStatus::parse(&r.get::<_, String>(2)?),
                })
            })
            .optional()?)
    }

    fn rdns_put(&self, entries: &[RdnsEntry]) -> Result<(), StoreError> {
        // A savepoint, so that the caller may have a batch open.
        let undo = super::Undo::start(self, "rdns")?;
        let mut stmt = self.conn.prepare_cached(
            "INSERT INTO rdns_cache (ip, name, resolved_at, status) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (ip) DO UPDATE SET name = excluded.name,
                 resolved_at = excluded.resolved_at, status = excluded.status",
        )?;
        for e in entries {
            stmt.execute(params![e.ip, e.name, e.resolved_at, e.status.as_str()])?;
        }
        drop(stmt);
        undo.keep()
    }

    fn rdns_entries(&self) -> Result<Vec<RdnsEntry>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT ip, name, resolved_at, status FROM rdns_cache ORDER BY ip")?;
        let rows = stmt.query_map([], |r| {
            Ok(RdnsEntry {
                ip: r.get(0)?,
                name: r.get(1)?,
                resolved_at: r.get(2)?,
                status: RdnsStatus::parse(&r.get::<_, String>(3)?),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

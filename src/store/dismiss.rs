//! Dismissing failed inputs: the user has seen them (an invoice, a TLS
//! report) and wants them gone from `errors` and from `--retry-failed`.
//!
//! A dismissed input keeps its row without its bytes: its sha256 (or, for
//! one kept without bytes, its name) recognises the same input when it
//! fails again, and it stays dismissed.

use super::{SqliteStore, StoreError};
use crate::model::FailureKind;

/// The kind stored in a `kind` column. A name this build does not know
/// (written by a newer one) reads as `malformed`: an input of that kind is
/// then retried, which is harmless, rather than hidden.
pub fn kind_named(name: &str) -> FailureKind {
    FailureKind::from_name(name).unwrap_or(FailureKind::Malformed)
}

impl SqliteStore {
    /// Dismisses the failed inputs `ids` at `now` and deletes their kept
    /// bytes; returns the ids that were not there or dismissed already.
    pub fn dismiss_failures(&self, ids: &[i64], now: i64) -> Result<Vec<i64>, StoreError> {
        let mut missing = Vec::new();
        let mut stmt = self.conn.prepare_cached(
            "UPDATE failed_inputs SET dismissed_at = ?2, data = NULL
             WHERE id = ?1 AND dismissed_at IS NULL",
        )?;
        for &id in ids {
            if stmt.execute([id, now])? == 0 {
                missing.push(id);
            }
        }
        Ok(missing)
    }

    /// Dismisses every listed failed input at `now`; returns how many there
    /// were.
    pub fn dismiss_all_failures(&self, now: i64) -> Result<usize, StoreError> {
        Ok(self.conn.execute(
            "UPDATE failed_inputs SET dismissed_at = ?1, data = NULL WHERE dismissed_at IS NULL",
            [now],
        )?)
    }
}

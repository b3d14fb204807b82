//! Dismissing failed inputs: the user has seen them (an invoice, a TLS
//! report) and wants them gone from `errors` and from `--retry-failed`.

use super::{SqliteStore, StoreError};

impl SqliteStore {
    /// Forgets the failed inputs `ids`, bytes and all; returns the ids that
    /// were not there.
    pub fn dismiss_failures(&self, ids: &[i64]) -> Result<Vec<i64>, StoreError> {
        let mut missing = Vec::new();
        let mut stmt = self.conn.prepare_cached("DELETE FROM failed_inputs WHERE id = ?1")?;
        for &id in ids {
            if stmt.execute([id])? == 0 {
                missing.push(id);
            }
        }
        Ok(missing)
    }

    /// Forgets every failed input; returns how many there were.
    pub fn dismiss_all_failures(&self) -> Result<usize, StoreError> {
        Ok(self.conn.execute("DELETE FROM failed_inputs", [])?)
    }
}

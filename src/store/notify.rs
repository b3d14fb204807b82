//! What `notify` has told and what waits for delivery (migration 6): a
//! table of facts (`notify_state`) and an outbox of events
//! (`notify_events`). The notify stage decides what the rows mean; this
//! file only reads and writes them.

use rusqlite::params;

use super::{SqliteStore, StoreError};

/// One fact the last notification knew (see `0006_notify.sql`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct NotifyFact {
    /// What kind of fact (`verdict`, `sender`, ...).
    pub kind: String,
    /// The domain it is about, or `""`.
    pub domain: String,
    /// The sender it is about, or `""`.
    pub subject: String,
    /// Its value (a verdict, a rate, a time).
    pub value: String,
}

/// A change to the facts.
#[derive(Debug, Clone, PartialEq)]
pub enum FactChange {
    /// Insert or replace a fact.
    Set(NotifyFact),
    /// Forget a fact (kind, domain, subject).
    Remove {
        /// The kind of fact (which event it remembers).
        kind: String,
        /// Domain or `""`.
        domain: String,
        /// Subject or `""`.
        subject: String,
    },
}

/// An event waiting for delivery, or delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Row id.
    pub id: i64,
    /// When it was found (Unix seconds).
    pub created_at: i64,
    /// The event as JSON.
    pub payload: String,
    /// When it was delivered; `None` while pending.
    pub delivered_at: Option<i64>,
    /// The channels that have it already.
    pub delivered_to: Vec<String>,
}

/// An event to keep: its kind, domain and JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// Kind (`verdict-changed`, ...).
    pub kind: String,
    /// The domain, when it is about one.
    pub domain: Option<String>,
    /// The event as JSON.
    pub payload: String,
}

impl SqliteStore {
    /// Every fact `notify` keeps.
    pub fn notify_facts(&self) -> Result<Vec<NotifyFact>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT kind, domain, subject, value FROM notify_state ORDER BY kind, domain, subject",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(NotifyFact {
                kind: r.get(0)?,
                domain: r.get(1)?,
                subject: r.get(2)?,
                value: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Applies `changes` to the facts and keeps `events` as pending, in one
    /// transaction: either both happen or neither.
    pub fn record_notifications(
        &self,
        changes: &[FactChange],
        events: &[NewEvent],
        now: i64,
    ) -> Result<(), StoreError> {
        let tx = self.conn.unchecked_transaction()?;
        {
            let mut set = tx.prepare_cached(
                "INSERT INTO notify_state (kind, domain, subject, value, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (kind, domain, subject)
                 DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            )?;
            let mut remove = tx.prepare_cached(
                "DELETE FROM notify_state WHERE kind = ?1 AND domain = ?2 AND subject = ?3",
            )?;
            for change in changes {
                match change {
                    FactChange::Set(f) => {
                        set.execute(params![f.kind, f.domain, f.subject, f.value, now])?;
                    }
                    FactChange::Remove { kind, domain, subject } => {
                        remove.execute(params![kind, domain, subject])?;
                    }
                }
            }
            let mut insert = tx.prepare_cached(
                "INSERT INTO notify_events (created_at, kind, domain, payload) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for e in events {
                insert.execute(params![now, e.kind, e.domain, e.payload])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The events not delivered yet, oldest first.
    pub fn pending_notifications(&self) -> Result<Vec<StoredEvent>, StoreError> {
        self.events_where("delivered_at IS NULL", &[])
    }

    /// The events found at or after `since` (Unix seconds) with an id above
    /// `after_id`, delivered or not, oldest first.
    pub fn notifications_since(
        &self,
        since: i64,
        after_id: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.events_where("created_at >= ?1 AND id > ?2", &[since, after_id])
    }

    /// The id of the newest event (0 when there is none).
    pub fn newest_notification_id(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT COALESCE(max(id), 0) FROM notify_events", [], |r| r.get(0))?)
    }

    fn events_where(&self, condition: &str, args: &[i64]) -> Result<Vec<StoredEvent>, StoreError> {
        let sql = format!(
            "SELECT id, created_at, payload, delivered_at, delivered_to FROM notify_events
             WHERE {condition} ORDER BY id"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| {
            Ok(StoredEvent {
                id: r.get(0)?,
                created_at: r.get(1)?,
                payload: r.get(2)?,
                delivered_at: r.get(3)?,
                delivered_to: r
                    .get::<_, String>(4)?
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect(),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Notes that `channel` has delivered the events `ids`.
    pub fn mark_delivered_to(&self, ids: &[i64], channel: &str) -> Result<(), StoreError> {
        let tx = self.conn.unchecked_transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "UPDATE notify_events SET delivered_to = trim(delivered_to || ' ' || ?2)
                 WHERE id = ?1 AND instr(' ' || delivered_to || ' ', ' ' || ?2 || ' ') = 0",
            )?;
            for id in ids {
                stmt.execute(params![id, channel])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Marks events as delivered (by every channel) at `now`.
    pub fn mark_notified(&self, ids: &[i64], now: i64) -> Result<(), StoreError> {
        let tx = self.conn.unchecked_transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "UPDATE notify_events SET delivered_at = ?2 WHERE id = ?1 AND delivered_at IS NULL",
            )?;
            for id in ids {
                stmt.execute(params![id, now])?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fact(kind: &str, domain: &str, value: &str) -> NotifyFact {
        NotifyFact {
            kind: kind.into(),
            domain: domain.into(),
            subject: String::new(),
            value: value.into(),
        }
    }

    #[test]
    fn facts_and_events_are_kept_together_and_events_stay_pending_until_marked() {
        let store = crate::store::Store::open_in_memory().unwrap();
        let event = NewEvent {
            kind: "verdict-changed".into(),
            domain: Some("example.com".into()),
            payload: "{}".into(),
        };
        store
            .record_notifications(
                &[FactChange::Set(fact("verdict", "example.com", "not-ready"))],
                &[event.clone(), event],
                100,
            )
            .unwrap();
        store
            .record_notifications(
                &[FactChange::Set(fact("verdict", "example.com", "ready-for-quarantine"))],
                &[],
                200,
            )
            .unwrap();
        assert_eq!(
            store.notify_facts().unwrap(),
            [fact("verdict", "example.com", "ready-for-quarantine")]
        );
        let pending = store.pending_notifications().unwrap();
        assert_eq!(pending.len(), 2);
        store.mark_delivered_to(&[pending[0].id], "smtp").unwrap();
        store.mark_delivered_to(&[pending[0].id], "smtp").unwrap();
        store.mark_delivered_to(&[pending[0].id], "webhook").unwrap();
        assert_eq!(store.pending_notifications().unwrap()[0].delivered_to, ["smtp", "webhook"]);
        store.mark_notified(&[pending[0].id], 300).unwrap();
        assert_eq!(store.pending_notifications().unwrap().len(), 1);
        assert_eq!(store.notifications_since(100, 0).unwrap().len(), 2);
        assert_eq!(store.notifications_since(101, 0).unwrap().len(), 0);
        assert_eq!(store.notifications_since(0, pending[0].id).unwrap().len(), 1);
        assert_eq!(store.newest_notification_id().unwrap(), pending[1].id);
        store
            .record_notifications(
                &[FactChange::Remove {
                    kind: "verdict".into(),
                    domain: "example.com".into(),
                    subject: String::new(),
                }],
                &[],
                400,
            )
            .unwrap();
        assert!(store.notify_facts().unwrap().is_empty());
    }
}

//! The streams of a legitimate sender: its mail split by the identity it
//! authenticated with (the DKIM `d=` it signed as, the envelope-from it
//! was sent as), from the store's `stream_days`. A service's aligned
//! stream and a new sub-account of it that signs as the service itself
//! come from the same addresses; the readiness verdict judges them apart.
//!
//! Bounded: per sender, the streams of its busiest addresses (those it
//! keeps, at most [`super::classify::KEPT_IPS`]), at most [`GATHERED`]
//! identities while reading and the [`KEPT`] busiest of them after.

use std::collections::BTreeMap;

use super::classify::Sender;
use super::summary::{DayTotals, Totals, Window};
use crate::store::{StoreError, SummaryReads};
use crate::units::DAY;

/// Identities gathered per sender while reading; mail of further ones is
/// left out of the streams (it stays in the sender's totals).
pub const GATHERED: usize = 64;
/// Streams kept per sender, busiest first.
pub const KEPT: usize = 8;

/// One stream of a sender.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stream {
    /// The DKIM domain it signed as (the aligned signature's, else the
    /// first passing one's); empty when no signature passed.
    pub dkim: String,
    /// Its envelope-from domain (else the first domain SPF passed for);
    /// empty when neither is known.
    pub spf: String,
    /// Its totals per day, with the part From subdomains, in day order.
    pub daily: Vec<DayTotals>,
}

impl Stream {
    /// Its totals over all its days.
    pub fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for d in &self.daily {
            t.merge(&d.totals);
        }
        t
    }

    /// How people name it: `d=esp.example, envelope esp.example`.
    pub fn describe(&self) -> String {
        match (self.dkim.is_empty(), self.spf.is_empty()) {
            (false, false) => format!("signing d={} (envelope {})", self.dkim, self.spf),
            (false, true) => format!("signing d={}", self.dkim),
            (true, false) => format!("sent as {} without a passing DKIM signature", self.spf),
            (true, true) => "without a passing DKIM signature or envelope domain".to_owned(),
        }
    }
}

/// The streams of each legitimate sender of `domain` over the whole days
/// of `window`, in the order of `senders` (empty for the others, and for
/// a sender with a single stream: it is its own stream).
pub fn of_senders(
    store: &dyn SummaryReads,
    domain: &str,
    window: Window,
    senders: &[Sender],
) -> Result<Vec<Vec<Stream>>, StoreError> {
    let first_day = window.begin.div_euclid(DAY) * DAY;
    let end_day = (window.end + DAY - 1).div_euclid(DAY) * DAY;
    let mut out = Vec::with_capacity(senders.len());
    for s in senders {
        if !s.class.is_legitimate() || s.totals.authenticated == 0 {
            out.push(Vec::new());
            continue;
        }
        let mut gathered: BTreeMap<(String, String), BTreeMap<i64, DayTotals>> = BTreeMap::new();
        store.scan_streams(domain, &s.busiest_ips, first_day, end_day, &mut |d| {
            let key = (d.dkim.to_owned(), d.spf.to_owned());
            if !gathered.contains_key(&key) && gathered.len() >= GATHERED {
                return;
            }
            let day = gathered
                .entry(key)
                .or_default()
                .entry(d.day)
                .or_insert(DayTotals { day: d.day, ..DayTotals::default() });
            let t = Totals::from_sums(d.sums);
            day.totals.merge(&t);
            if d.subdomain {
                day.subdomain.merge(&t);
            }
        })?;
        let mut streams: Vec<Stream> = gathered
            .into_iter()
            .map(|((dkim, spf), days)| Stream { dkim, spf, daily: days.into_values().collect() })
            .collect();
        if streams.len() < 2 {
            out.push(Vec::new());
            continue;
        }
        streams.sort_by(|a, b| {
            b.totals()
                .messages
                .cmp(&a.totals().messages)
                .then_with(|| (&a.dkim, &a.spf).cmp(&(&b.dkim, &b.spf)))
        });
        streams.truncate(KEPT);
        out.push(streams);
    }
    Ok(out)
}

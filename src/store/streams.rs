//! Streams: a source's mail on a day split by the identity it
//! authenticated with (`stream_days`), gathered beside the other rollups
//! (see `rollup.rs`) as reports are stored.
//!
//! A stream is keyed by
//! - whether the mail is From a subdomain of the policy domain (`sp`
//!   governs it, not `p`);
//! - the DKIM domain (`d=`) of the signature that aligned, else of the
//!   first that passed, else none: what the mail was signed as;
//! - the envelope-from domain as reported, else the first domain SPF
//!   passed for, else none: what it was sent as.
//!
//! One service's aligned mail and a sub-account of it that signs with the
//! service's own domain come from the same addresses but are two streams,
//! which the readiness verdict judges apart.

use std::collections::BTreeMap;

use super::StoreError;
use super::rollup::{RecordKeys, SEP, Sums, from_subdomain};

/// One record's stream: (From a subdomain, DKIM domain, SPF domain).
pub(super) fn stream_of<'a>(r: &RecordKeys<'a>, domain: &str) -> (bool, &'a str, &'a str) {
    let sub = r.header_from.is_some_and(|from| from_subdomain(from, domain));
    let mut passing = r.dkim_pass.split(SEP).filter(|d| !d.is_empty());
    let dkim = if r.dkim_aligned {
        let from = r.header_from.unwrap_or(domain);
        r.dkim_pass
            .split(SEP)
            .find(|d| !d.is_empty() && (related(d, from) || related(d, domain)))
            .or_else(|| passing.next())
    } else {
        passing.next()
    };
    let envelope =
        r.envelope_from.map(|e| e.rsplit('@').next().unwrap_or(e).trim()).filter(|e| !e.is_empty());
    let spf = envelope.or_else(|| r.spf_pass.split(SEP).find(|d| !d.is_empty()));
    (sub, dkim.unwrap_or(""), spf.unwrap_or(""))
}

/// Whether one name is the other or under it (case-insensitive).
fn related(a: &str, b: &str) -> bool {
    let under = |long: &str, short: &str| {
        long.len() > short.len()
            && long.as_bytes()[long.len() - short.len() - 1] == b'.'
            && long[long.len() - short.len()..].eq_ignore_ascii_case(short)
    };
    a.eq_ignore_ascii_case(b) || under(a, b) || under(b, a)
}

/// A report's streams before they are written: keyed by the address, the
/// subdomain flag (`0`/`1`), the DKIM and the SPF domain joined by
/// [`SEP`] (a character no domain or address holds), so that the key
/// order is the table's key order.
#[derive(Default)]
pub(super) struct Streams {
    map: BTreeMap<String, Sums>,
    key: String,
}

impl Streams {
    /// Adds a record of a report of `domain`.
    pub(super) fn add(&mut self, domain: &str, r: &RecordKeys<'_>) {
        let (sub, dkim, spf) = stream_of(r, domain);
        self.key.clear();
        for (i, part) in [r.ip, if sub { "1" } else { "0" }, dkim, spf].into_iter().enumerate() {
            if i > 0 {
                self.key.push(SEP);
            }
            self.key.push_str(part);
        }
        let sums = match self.map.get_mut(self.key.as_str()) {
            Some(sums) => sums,
            None => self.map.entry(self.key.clone()).or_default(),
        };
        let authenticated = !r.dkim_pass.is_empty() || !r.spf_pass.is_empty();
        let flags = [
            true,
            r.dkim_aligned || r.spf_aligned,
            r.spf_aligned,
            r.dkim_aligned,
            authenticated || r.dkim_aligned || r.spf_aligned,
        ];
        for (slot, on) in sums.iter_mut().zip(flags) {
            if on {
                *slot = slot.saturating_add(r.count);
            }
        }
    }

    /// Adds the entries of `other` (another report's, of the same domain
    /// and day).
    pub(super) fn merge(&mut self, other: Streams) {
        for (key, sums) in other.map {
            let slot = self.map.entry(key).or_default();
            for (a, b) in slot.iter_mut().zip(sums) {
                *a = a.saturating_add(b);
            }
        }
    }

    /// Entries gathered.
    pub(super) fn len(&self) -> usize {
        self.map.len()
    }

    /// The gathered entries, in key order: (address, subdomain, DKIM
    /// domain, SPF domain, sums); empties the map.
    pub(super) fn drain(&mut self) -> impl Iterator<Item = (String, i16, String, String, Sums)> {
        std::mem::take(&mut self.map).into_iter().map(|(key, sums)| {
            let mut parts = key.split(SEP);
            let mut next = || parts.next().unwrap_or_default().to_owned();
            let ip = next();
            let sub = i16::from(next() == "1");
            let (dkim, spf) = (next(), next());
            (ip, sub, dkim, spf, sums)
        })
    }

    /// Adds what was gathered to `stream_days` of `domain` on `day`
    /// (SQLite).
    pub(super) fn write_sqlite(
        &mut self,
        conn: &rusqlite::Connection,
        domain: &str,
        day: i64,
    ) -> Result<(), StoreError> {
        if self.map.is_empty() {
            return Ok(());
        }
        let mut stmt = conn.prepare_cached(
            "INSERT INTO stream_days (domain, source_ip, day, subdomain, dkim_domain, spf_domain,
                 messages, dmarc_pass, spf_aligned_pass, dkim_aligned_pass, authenticated)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT DO UPDATE SET
                 messages = messages + excluded.messages,
                 dmarc_pass = dmarc_pass + excluded.dmarc_pass,
                 spf_aligned_pass = spf_aligned_pass + excluded.spf_aligned_pass,
                 dkim_aligned_pass = dkim_aligned_pass + excluded.dkim_aligned_pass,
                 authenticated = authenticated + excluded.authenticated",
        )?;
        for (ip, sub, dkim, spf, s) in self.drain() {
            stmt.execute(rusqlite::params![
                domain,
                ip,
                day,
                sub,
                dkim,
                spf,
                n(s[0]),
                n(s[1]),
                n(s[2]),
                n(s[3]),
                n(s[4]),
            ])?;
        }
        Ok(())
    }
}

fn n(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys<'a>(
        header_from: &'a str,
        envelope: Option<&'a str>,
        dkim_aligned: bool,
        dkim_pass: &'a str,
        spf_pass: &'a str,
    ) -> RecordKeys<'a> {
        RecordKeys {
            ip: "192.0.2.1",
            count: 1,
            disposition: None,
            dkim_aligned,
            spf_aligned: false,
            header_from: Some(header_from),
            envelope_from: envelope,
            dkim_pass,
            spf_pass,
            reasons: "",
        }
    }

    #[test]
    fn a_stream_is_the_aligned_signature_else_the_first_passing_and_the_envelope() {
        let both = format!("esp.example{SEP}example.com");
        let r = keys("example.com", Some("bounce.esp.example"), true, &both, "");
        assert_eq!(stream_of(&r, "example.com"), (false, "example.com", "bounce.esp.example"));
        let r = keys("news.example.com", None, false, &both, "esp.example");
        assert_eq!(stream_of(&r, "example.com"), (true, "esp.example", "esp.example"));
        let r = keys("example.com", Some("user@mail.example.com"), false, "", "");
        assert_eq!(stream_of(&r, "example.com"), (false, "", "mail.example.com"));
    }

    #[test]
    fn the_key_order_is_the_order_of_address_then_flag_then_domains() {
        let mut s = Streams::default();
        for (ip, dkim) in
            [("192.0.2.10", "a.example"), ("192.0.2.1", "ab.example"), ("192.0.2.1", "a")]
        {
            let r = RecordKeys { ip, ..keys("example.com", None, false, dkim, "") };
            s.add("example.com", &r);
        }
        let order: Vec<(String, String)> = s.drain().map(|(ip, _, d, _, _)| (ip, d)).collect();
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(order, sorted);
        assert_eq!(order.len(), 3);
    }
}

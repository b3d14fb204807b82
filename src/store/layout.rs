//! The compact record layout of `schemas/migrations/0008_compact_records.sql`:
//! strings kept once in `strings` and referred to by id, an IPv4 source as
//! an integer, the first DKIM and SPF results in the record's row and the
//! rare rest in `more` (JSON).

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::Ipv4Addr;

use rusqlite::{Connection, OptionalExtension};

use super::StoreError;

/// The id of `pass` in `strings` (seeded by the migration; values are
/// unique, so every `pass` is this id).
pub(super) const PASS: i64 = 2;

/// The integer an IPv4 source is stored as (its 32 bits, signed so that it
/// takes 4 bytes), when `ip` is an IPv4 address in canonical form; `None`
/// for anything else (IPv6, a malformed or empty address, leading zeros),
/// which is stored as the text reported.
pub(super) fn ipv4_key(ip: &str) -> Option<i32> {
    // Canonical dotted quads are 7 to 15 bytes of digits and dots.
    if !(7..=15).contains(&ip.len()) || !ip.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let addr: Ipv4Addr = ip.parse().ok()?;
    let canonical = addr.octets().iter().map(|o| decimal_len(*o)).sum::<usize>() + 3;
    // The same length as the canonical form with the same value: the same
    // text (no leading zeros).
    (canonical == ip.len()).then(|| u32::from(addr) as i32)
}

fn decimal_len(n: u8) -> usize {
    match n {
        0..=9 => 1,
        10..=99 => 2,
        _ => 3,
    }
}

/// The text of a stored IPv4 integer.
pub(super) fn ipv4_text(key: i64, out: &mut String) {
    use std::fmt::Write as _;
    out.clear();
    // The column holds the 32 bits sign-extended; the cast takes them back.
    let _ = write!(out, "{}", Ipv4Addr::from(key as u32));
}

/// Ids of the strings written so far, so that a record's strings cost a
/// hash lookup, not a query. Ids learnt in the open transaction are kept
/// apart until it commits: a rollback may take their rows away.
#[derive(Default)]
pub(super) struct Interner {
    committed: HashMap<Box<str>, i64>,
    fresh: HashMap<Box<str>, i64>,
}

/// Strings remembered at most (a database of millions of spoofed domains
/// must not grow the memory of an ingest without bound).
const REMEMBER: usize = 100_000;

impl Interner {
    /// The id of `s` in `strings`, adding it when new.
    pub(super) fn id(&mut self, conn: &Connection, s: &str) -> Result<i64, StoreError> {
        if let Some(&id) = self.committed.get(s).or_else(|| self.fresh.get(s)) {
            return Ok(id);
        }
        let found: Option<i64> = conn
            .prepare_cached("SELECT id FROM strings WHERE value = ?1")?
            .query_row([s], |r| r.get(0))
            .optional()?;
        let id = match found {
            Some(id) => id,
            None => {
                conn.prepare_cached("INSERT INTO strings (value) VALUES (?1)")?.execute([s])?;
                conn.last_insert_rowid()
            }
        };
        if self.fresh.len() >= REMEMBER {
            self.fresh.clear();
        }
        self.fresh.insert(s.into(), id);
        Ok(id)
    }

    /// The transaction committed: what it learnt holds for good (strings
    /// are never deleted).
    pub(super) fn committed(&mut self) {
        if self.committed.len() + self.fresh.len() > REMEMBER {
            self.committed.clear();
        }
        self.committed.extend(self.fresh.drain());
    }

    /// Something was rolled back: forget what was learnt since the last
    /// commit.
    pub(super) fn rolled_back(&mut self) {
        self.fresh.clear();
    }
}

/// A DKIM or SPF result as `more` holds it (the same shape as in
/// `reasons`' neighbours of earlier versions).
#[derive(serde::Serialize)]
pub(super) struct AuthJson<'a> {
    pub domain: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub human_result: Option<&'a str>,
}

/// The `more` column: what a record rarely has.
#[derive(serde::Serialize, Default)]
pub(super) struct More<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dkim_human_result: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dkim2_human_result: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spf_human_result: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dkim: Vec<AuthJson<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub spf: Vec<AuthJson<'a>>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub extensions: &'a [String],
}

impl More<'_> {
    /// Nothing to keep: the column is NULL.
    pub(super) fn is_empty(&self) -> bool {
        self.dkim_human_result.is_none()
            && self.dkim2_human_result.is_none()
            && self.spf_human_result.is_none()
            && self.dkim.is_empty()
            && self.spf.is_empty()
            && self.extensions.is_empty()
    }
}

/// A further result in `more`, as the readers need it.
#[derive(serde::Deserialize)]
struct MoreAuth<'a> {
    #[serde(borrow, default)]
    domain: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    result: Option<Cow<'a, str>>,
}

/// The further results of `more`, as the readers need them.
#[derive(serde::Deserialize, Default)]
struct MoreRead<'a> {
    #[serde(borrow, default)]
    dkim: Vec<MoreAuth<'a>>,
    #[serde(borrow, default)]
    spf: Vec<MoreAuth<'a>>,
}

/// Appends the domains of the passing DKIM and SPF results in `more` to
/// `dkim` and `spf`.
pub(super) fn more_passing(more: Option<&str>, dkim: &mut Vec<String>, spf: &mut Vec<String>) {
    let Some(more) = more.filter(|l| memchr::memmem::find(l.as_bytes(), b"\"pass\"").is_some())
    else {
        return;
    };
    // Written by this program; a value that does not parse (edited by
    // hand) counts as no further result.
    let read: MoreRead<'_> = serde_json::from_str(more).unwrap_or_default();
    let passing = |items: Vec<MoreAuth<'_>>, out: &mut Vec<String>| {
        out.extend(
            items
                .into_iter()
                .filter(|a| a.result.as_deref() == Some("pass"))
                .filter_map(|a| a.domain.map(Cow::into_owned)),
        );
    };
    passing(read.dkim, dkim);
    passing(read.spf, spf);
}

/// Reads a report's records whole, in order (with [`decode_record`]).
pub(super) const RECORDS: &str = "\
    SELECT c.ip, c.count, s1.value, s2.value, s3.value, s4.value, s5.value, s6.value,
           s7.value, s8.value, s9.value, s10.value, s11.value, s12.value, s13.value,
           s14.value, s15.value, c.reasons, c.more
    FROM records c
    LEFT JOIN strings s1 ON s1.id = c.disposition
    LEFT JOIN strings s2 ON s2.id = c.dkim
    LEFT JOIN strings s3 ON s3.id = c.spf
    LEFT JOIN strings s4 ON s4.id = c.header_from
    LEFT JOIN strings s5 ON s5.id = c.envelope_from
    LEFT JOIN strings s6 ON s6.id = c.envelope_to
    LEFT JOIN strings s7 ON s7.id = c.dkim_domain
    LEFT JOIN strings s8 ON s8.id = c.dkim_selector
    LEFT JOIN strings s9 ON s9.id = c.dkim_result
    LEFT JOIN strings s10 ON s10.id = c.dkim2_domain
    LEFT JOIN strings s11 ON s11.id = c.dkim2_selector
    LEFT JOIN strings s12 ON s12.id = c.dkim2_result
    LEFT JOIN strings s13 ON s13.id = c.spf_domain
    LEFT JOIN strings s14 ON s14.id = c.spf_scope
    LEFT JOIN strings s15 ON s15.id = c.spf_result
    WHERE c.report = ?1 ORDER BY c.seq";

/// A further result in `more`, whole.
#[derive(serde::Deserialize)]
struct MoreAuthFull {
    #[serde(default)]
    domain: Option<String>,
    #[serde(default)]
    selector: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    result: Option<String>,
    #[serde(default)]
    human_result: Option<String>,
}

/// `more`, whole.
#[derive(serde::Deserialize, Default)]
struct MoreFull {
    #[serde(default)]
    dkim_human_result: Option<String>,
    #[serde(default)]
    dkim2_human_result: Option<String>,
    #[serde(default)]
    spf_human_result: Option<String>,
    #[serde(default)]
    dkim: Vec<MoreAuthFull>,
    #[serde(default)]
    spf: Vec<MoreAuthFull>,
    #[serde(default)]
    extensions: Vec<String>,
}

/// A reason as `reasons` holds it.
#[derive(serde::Deserialize)]
struct ReasonFull {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    comment: Option<String>,
}

/// A record of report `report` from a row of [`RECORDS`], every field as
/// stored; `ip` is a buffer for the address's text.
pub(super) fn decode_record(
    report: i64,
    r: &rusqlite::Row<'_>,
    ip: &mut String,
) -> Result<crate::model::Record, StoreError> {
    use crate::model::{
        Disposition, DkimAuth, DkimResult, DmarcResult, OverrideReason, Reason, Record, SpfAuth,
        SpfResult, SpfScope,
    };
    let text = |i: usize| -> Result<Option<String>, StoreError> { Ok(r.get(i)?) };
    let unreadable = |what: &str, e: serde_json::Error| {
        StoreError::Database(format!(
            "stored report #{report}: a record's {what} cannot be read: {e}"
        ))
    };
    let source_ip = match r.get_ref(0)? {
        rusqlite::types::ValueRef::Integer(key) => {
            ipv4_text(key, ip);
            ip.clone()
        }
        other => other.as_str().unwrap_or_default().to_owned(),
    };
    let more: MoreFull = match text(18)? {
        Some(m) => serde_json::from_str(&m).map_err(|e| unreadable("more", e))?,
        None => MoreFull::default(),
    };
    let reasons: Vec<ReasonFull> = match text(17)? {
        Some(m) => serde_json::from_str(&m).map_err(|e| unreadable("reasons", e))?,
        None => Vec::new(),
    };
    let mut dkim_results = Vec::new();
    for (at, human) in [(8, more.dkim_human_result), (11, more.dkim2_human_result)] {
        if let Some(domain) = text(at)? {
            dkim_results.push(DkimAuth {
                domain,
                selector: text(at + 1)?,
                result: text(at + 2)?.as_deref().map(DkimResult::from_canonical),
                human_result: human,
            });
        }
    }
    dkim_results.extend(more.dkim.into_iter().map(|a| DkimAuth {
        domain: a.domain.unwrap_or_default(),
        selector: a.selector,
        result: a.result.as_deref().map(DkimResult::from_canonical),
        human_result: a.human_result,
    }));
    let mut spf_results = Vec::new();
    if let Some(domain) = text(14)? {
        spf_results.push(SpfAuth {
            domain,
            scope: text(15)?.as_deref().map(SpfScope::from_canonical),
            result: text(16)?.as_deref().map(SpfResult::from_canonical),
            human_result: more.spf_human_result,
        });
    }
    spf_results.extend(more.spf.into_iter().map(|a| SpfAuth {
        domain: a.domain.unwrap_or_default(),
        scope: a.scope.as_deref().map(SpfScope::from_canonical),
        result: a.result.as_deref().map(SpfResult::from_canonical),
        human_result: a.human_result,
    }));
    Ok(Record {
        source_ip,
        count: u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
        disposition: text(2)?.as_deref().map(Disposition::from_canonical),
        dkim: text(3)?.as_deref().map(DmarcResult::from_canonical),
        spf: text(4)?.as_deref().map(DmarcResult::from_canonical),
        reasons: reasons
            .into_iter()
            .map(|x| Reason {
                kind: x.kind.as_deref().map(OverrideReason::from_canonical),
                comment: x.comment,
            })
            .collect(),
        header_from: text(5)?,
        envelope_from: text(6)?,
        envelope_to: text(7)?,
        dkim_results,
        spf_results,
        extensions: more.extensions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_canonical_ipv4_text_becomes_an_integer_and_reads_back_the_same() {
        let mut back = String::new();
        for ip in ["192.0.2.1", "0.0.0.0", "255.255.255.255", "10.20.30.40", "128.0.0.1"] {
            let key = ipv4_key(ip).unwrap();
            ipv4_text(i64::from(key), &mut back);
            assert_eq!(back, ip);
        }
        for ip in
            ["", "192.0.2.01", "192.0.2", "2001:db8::1", " 192.0.2.1", "192.0.2.256", "1.2.3.4.5"]
        {
            assert_eq!(ipv4_key(ip), None, "{ip}");
        }
    }
}

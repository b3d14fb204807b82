//! The DMARC policy a domain publishes, as the reports saw it, and when it
//! changed.
//!
//! Every report repeats the record the receiver found in DNS
//! (`policy_published`), but receivers cache DNS for different times and
//! leave out tags they do not know: Yahoo writes no `<sp>`, RFC 9990
//! reporters no `<pct>`, RFC 7489 reporters no `<testing>` or `<np>`. So
//! each tag is read on its own: per UTC day, the value most reports that
//! state the tag agree on; a day on which no report states it keeps the
//! previous day's value. A change is a day whose value differs from the one
//! before.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::store::{PolicyReport, StoreError, SummaryReads};
use crate::units::DAY;

/// The published policy, tag by tag, as stated by the reports. A tag no
/// report stated is `None`; [`PublishedPolicy::effective`] applies the
/// defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PublishedPolicy {
    /// `p=`: none, quarantine or reject.
    pub p: Option<String>,
    /// `sp=`: the policy for subdomains (defaults to `p`).
    pub sp: Option<String>,
    /// `np=`: the policy for non-existent subdomains (RFC 9989; defaults to `sp`).
    pub np: Option<String>,
    /// `pct=` (RFC 7489; defaults to 100).
    pub pct: Option<u32>,
    /// `t=` (RFC 9989 testing mode: `y` or `n`, defaults to `n`).
    pub testing: Option<String>,
    /// `adkim=`: `r` (relaxed, the default) or `s` (strict).
    pub adkim: Option<String>,
    /// `aspf=`: `r` (relaxed, the default) or `s` (strict).
    pub aspf: Option<String>,
    /// `fo=`: failure reporting options.
    pub fo: Option<String>,
}

/// How strictly a policy is enforced, in the order a domain tightens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Enforcement {
    /// `p=none` (or nothing known).
    None,
    /// `p=quarantine` with `pct` below 100 or `t=y`.
    QuarantineRamp,
    /// `p=quarantine` for every message.
    Quarantine,
    /// `p=reject` with `pct` below 100 or `t=y`.
    RejectRamp,
    /// `p=reject` for every message.
    Reject,
}

impl PublishedPolicy {
    /// The `p=` value in lower case, `none` when unknown.
    pub fn p(&self) -> &str {
        self.p.as_deref().unwrap_or("none")
    }

    /// `pct`, defaulting to 100.
    pub fn pct(&self) -> u32 {
        self.pct.unwrap_or(100)
    }

    /// `t=y` is published.
    pub fn testing(&self) -> bool {
        self.testing.as_deref() == Some("y")
    }

    /// How strictly the policy is enforced.
    pub fn enforcement(&self) -> Enforcement {
        let partial = self.pct() < 100 || self.testing();
        match (self.p(), partial) {
            ("reject", false) => Enforcement::Reject,
            ("reject", true) => Enforcement::RejectRamp,
            ("quarantine", false) => Enforcement::Quarantine,
            ("quarantine", true) => Enforcement::QuarantineRamp,
            _ => Enforcement::None,
        }
    }

    /// The record as a TXT value, with the tags the reports stated (minus
    /// `rua`/`ruf`, which reports do not carry).
    pub fn record(&self) -> String {
        let mut out = format!("v=DMARC1; p={}", self.p());
        let tags: [(&str, Option<String>); 7] = [
            ("sp", self.sp.clone()),
            ("np", self.np.clone()),
            ("adkim", self.adkim.clone()),
            ("aspf", self.aspf.clone()),
            ("pct", self.pct.map(|p| p.to_string())),
            ("t", self.testing.clone()),
            ("fo", self.fo.clone()),
        ];
        for (tag, value) in tags {
            if let Some(v) = value {
                out.push_str(&format!("; {tag}={v}"));
            }
        }
        out
    }
}

/// One tag changing value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyChange {
    /// The first UTC day (Unix seconds at 00:00) with the new value.
    pub day: i64,
    /// The tag (`p`, `sp`, `pct`, ...).
    pub tag: String,
    /// The value before (`None`: not stated).
    pub from: Option<String>,
    /// The value after.
    pub to: Option<String>,
}

/// The policy as of the newest report, and its history.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PolicyHistory {
    /// As of the newest report up to the window's end.
    pub current: PublishedPolicy,
    /// Every change, oldest first.
    pub changes: Vec<PolicyChange>,
    /// The first day of the current `p`/`pct`/`t` combination (its
    /// enforcement level), Unix seconds; `None` without reports.
    pub enforcement_since: Option<i64>,
}

const TAGS: [&str; 8] = ["p", "sp", "np", "pct", "testing", "adkim", "aspf", "fo"];

/// Reads the published policy of `domain` from every report that began
/// before `until`.
pub fn history(
    store: &dyn SummaryReads,
    domain: &str,
    until: i64,
) -> Result<PolicyHistory, StoreError> {
    Ok(history_of(&store.policy_reports(domain, until)?))
}

/// The policy and its changes, from what each report stated.
pub fn history_of(reports: &[PolicyReport]) -> PolicyHistory {
    // day -> tag -> value -> number of reports stating it
    type Votes = BTreeMap<i64, [BTreeMap<String, u32>; 8]>;
    let mut votes: Votes = BTreeMap::new();
    for report in reports {
        let day = report.begin.div_euclid(DAY) * DAY;
        let slot = votes.entry(day).or_default();
        for (i, value) in report.tags.iter().enumerate() {
            let Some(value) = value.as_deref().map(|v| v.trim().to_ascii_lowercase()) else {
                continue;
            };
            if value.is_empty() {
                continue;
            }
            *slot[i].entry(value).or_default() += 1;
        }
    }

    let mut state: [Option<String>; 8] = Default::default();
    let mut changes = Vec::new();
    let mut enforcement_since = None;
    let mut last_level = None;
    for (day, tags) in &votes {
        for (i, counts) in tags.iter().enumerate() {
            // The value most reports stated; ties go to the smaller value,
            // so the result does not depend on row order.
            let Some(winner) = counts
                .iter()
                .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
                .map(|(v, _)| v.clone())
            else {
                continue;
            };
            if state[i].as_ref() != Some(&winner) {
                // A tag stated for the first time is not a change.
                if state[i].is_some() {
                    changes.push(PolicyChange {
                        day: *day,
                        tag: TAGS[i].to_owned(),
                        from: state[i].clone(),
                        to: Some(winner.clone()),
                    });
                }
                state[i] = Some(winner);
            }
        }
        let level = to_policy(&state).enforcement();
        if last_level != Some(level) {
            enforcement_since = Some(*day);
            last_level = Some(level);
        }
    }
    PolicyHistory { current: to_policy(&state), changes, enforcement_since }
}

fn to_policy(state: &[Option<String>; 8]) -> PublishedPolicy {
    PublishedPolicy {
        p: state[0].clone(),
        sp: state[1].clone(),
        np: state[2].clone(),
        pct: state[3].as_deref().and_then(|v| v.parse().ok()),
        testing: state[4].clone(),
        adkim: state[5].clone(),
        aspf: state[6].clone(),
        fo: state[7].clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enforcement_reads_pct_and_testing() {
        let mut p = PublishedPolicy { p: Some("quarantine".into()), ..Default::default() };
        assert_eq!(p.enforcement(), Enforcement::Quarantine);
        p.pct = Some(25);
        assert_eq!(p.enforcement(), Enforcement::QuarantineRamp);
        p.pct = None;
        p.testing = Some("y".into());
        assert_eq!(p.enforcement(), Enforcement::QuarantineRamp);
        p.p = Some("reject".into());
        p.testing = Some("n".into());
        assert_eq!(p.enforcement(), Enforcement::Reject);
        assert_eq!(PublishedPolicy::default().enforcement(), Enforcement::None);
        assert_eq!(p.record(), "v=DMARC1; p=reject; t=n");
    }
}

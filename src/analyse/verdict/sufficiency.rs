//! Step 1: is there enough data to judge? Days covered, large reporters
//! and volume, each stated with its numbers whether met or missing.

use super::Context;
use crate::units::{count, plural};

/// What the data covers.
pub(super) struct Sufficiency {
    /// Requirements met, with their numbers.
    pub met: Vec<String>,
    /// Requirements missing, with their numbers.
    pub missing: Vec<String>,
}

impl Sufficiency {
    pub fn is_sufficient(&self) -> bool {
        self.missing.is_empty()
    }
}

/// Checks days, reporters and volume. A parked domain (only spoofing seen)
/// needs no volume: no mail is what it is expected to have.
pub(super) fn check(ctx: &Context<'_>) -> Sufficiency {
    let (d, c) = (ctx.d, ctx.c);
    let mut s = Sufficiency { met: Vec::new(), missing: Vec::new() };
    let mut record = |ok: bool, text: String| {
        if ok { s.met.push(text) } else { s.missing.push(text) }
    };
    record(
        d.days_covered >= u64::from(c.min_days_quarantine),
        format!(
            "{} covered ({} needed for quarantine, {} for reject)",
            plural(d.days_covered, "day", "days"),
            c.min_days_quarantine,
            c.min_days_reject
        ),
    );
    let large: Vec<&str> = d
        .reporting_orgs
        .iter()
        .map(|r| r.org_name.as_str())
        .filter(|o| {
            let o = o.to_lowercase();
            c.large_reporters.iter().any(|l| o.contains(&l.to_lowercase()))
        })
        .collect();
    record(
        large.len() as u64 >= u64::from(c.min_large_reporters),
        format!(
            "reports from {}, {} of them large{} ({} needed)",
            plural(d.reporting_orgs.len() as u64, "organisation", "organisations"),
            large.len(),
            if large.is_empty() { String::new() } else { format!(": {}", large.join(", ")) },
            c.min_large_reporters
        ),
    );
    if ctx.parked {
        record(
            true,
            format!(
                "{}, none of them legitimate: a domain that sends no mail needs no volume",
                plural(d.totals.messages, "message", "messages")
            ),
        );
    } else {
        record(
            d.totals.messages >= c.min_messages,
            format!(
                "{} (at least {} needed)",
                plural(d.totals.messages, "message", "messages"),
                count(c.min_messages)
            ),
        );
    }
    s
}

//! Step 4: had the policy of the verdict been in force during the window.

use super::blocking::Found;
use super::tally::Tallies;
use super::{Context, Stake, WhatIf};
use crate::analyse::classify::SenderClass;

/// The what-if of `policy`. Legitimate failures split into losses (the
/// blocking senders') and tolerated ones, so that a ready verdict never
/// comes with losses. When the step leaves mail From subdomains under `sp`
/// as it is, their failing messages are counted apart, as not affected.
pub(super) fn compute(ctx: &Context<'_>, policy: Stake, t: &Tallies, found: &Found) -> WhatIf {
    // Failing messages From subdomains, per class, when the step leaves them.
    let kept = |classes: &[SenderClass]| -> u64 {
        if !found.domain_only {
            return 0;
        }
        ctx.senders
            .iter()
            .zip(&ctx.recent)
            .filter(|(s, _)| classes.contains(&s.class))
            .map(|(_, r)| r.window_sub.messages.saturating_sub(r.window_sub.dmarc_pass))
            .fold(0u64, u64::saturating_add)
    };
    let failing = |class: SenderClass| t.of(class).failing.saturating_sub(kept(&[class]));
    let legit = failing(SenderClass::Authorized) + failing(SenderClass::Misconfigured);
    let already: u64 = ["quarantine", "reject"]
        .iter()
        .map(|k| ctx.d.disposition.get(*k).copied().unwrap_or(0))
        .sum();
    WhatIf {
        policy: policy.as_str().to_owned(),
        authorized_affected: found.losses.min(legit),
        authorized_tolerated: legit.saturating_sub(found.losses),
        authorized_at_risk: if policy == Stake::Reject { found.at_risk } else { 0 },
        forwarded_affected: failing(SenderClass::Forwarder),
        unclassified_affected: failing(SenderClass::Unclassified),
        unauthorized_stopped: failing(SenderClass::Unauthorized),
        subdomains_unaffected: kept(&SenderClass::ALL),
        already_quarantined_or_rejected: already,
    }
}

//! Step 4: had the policy of the verdict been in force during the window.

use super::blocking::Found;
use super::tally::Tallies;
use super::{Context, Stake, WhatIf};
use crate::analyse::classify::SenderClass;

/// The what-if of `policy`. Legitimate failures split into losses (the
/// blocking senders') and tolerated ones, so that a ready verdict never
/// comes with losses.
pub(super) fn compute(ctx: &Context<'_>, policy: Stake, t: &Tallies, found: &Found) -> WhatIf {
    let legit = t.of(SenderClass::Authorized).failing + t.of(SenderClass::Misconfigured).failing;
    let already: u64 = ["quarantine", "reject"]
        .iter()
        .map(|k| ctx.d.disposition.get(*k).copied().unwrap_or(0))
        .sum();
    WhatIf {
        policy: policy.as_str().to_owned(),
        authorized_affected: found.losses.min(legit),
        authorized_tolerated: legit.saturating_sub(found.losses),
        authorized_at_risk: if policy == Stake::Reject { found.at_risk } else { 0 },
        forwarded_affected: t.of(SenderClass::Forwarder).failing,
        unclassified_affected: t.of(SenderClass::Unclassified).failing,
        unauthorized_stopped: t.of(SenderClass::Unauthorized).failing,
        already_quarantined_or_rejected: already,
    }
}

//! Step 2: the senders by class, with their messages and failures.

use super::Context;
use crate::analyse::classify::{Sender, SenderClass};
use crate::units::{percent, percent_rate};

/// Senders, messages and failing messages of one class.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Tally {
    pub senders: u64,
    pub messages: u64,
    pub failing: u64,
}

/// One [`Tally`] per class, in [`SenderClass::ALL`] order.
pub(super) struct Tallies(pub [Tally; 5]);

impl Tallies {
    pub fn of(&self, class: SenderClass) -> Tally {
        let i = SenderClass::ALL.iter().position(|c| *c == class).unwrap_or(0);
        self.0[i]
    }
}

pub(super) fn by_class(senders: &[Sender]) -> Tallies {
    let mut out = [Tally::default(); 5];
    for (i, class) in SenderClass::ALL.iter().enumerate() {
        for s in senders.iter().filter(|s| s.class == *class) {
            out[i].senders += 1;
            out[i].messages = out[i].messages.saturating_add(s.totals.messages);
            out[i].failing = out[i].failing.saturating_add(s.failing());
        }
    }
    Tallies(out)
}

/// One reason per class present.
pub(super) fn reasons(ctx: &Context<'_>, t: &Tallies) -> Vec<String> {
    let domain = ctx.domain;
    let mut out = Vec::new();
    let a = t.of(SenderClass::Authorized);
    if a.senders > 0 {
        out.push(format!(
            "{} authorized sender(s): {} messages, {} pass DMARC overall ({} needed per sender, on its last {} days when it has mail there)",
            a.senders,
            a.messages,
            percent(a.messages - a.failing, a.messages),
            percent_rate(ctx.c.pass_rate),
            ctx.c.recent_days
        ));
    }
    let m = t.of(SenderClass::Misconfigured);
    if m.senders > 0 {
        out.push(format!(
            "{} legitimate service(s) not aligned with {domain}: {} messages, {} failing DMARC",
            m.senders, m.messages, m.failing
        ));
    }
    let f = t.of(SenderClass::Forwarder);
    if f.senders > 0 {
        out.push(format!(
            "{} forwarder(s) and mailing list(s): {} messages, {} failing; explained, they do not block",
            f.senders, f.messages, f.failing
        ));
    }
    let u = t.of(SenderClass::Unclassified);
    if u.senders > 0 {
        out.push(format!(
            "{} unclassified sender(s) that authenticate as another domain: {} messages, {} failing",
            u.senders, u.messages, u.failing
        ));
    }
    let b = t.of(SenderClass::Unauthorized);
    if b.senders > 0 {
        out.push(format!(
            "{} unauthorized source group(s): {} messages, {} failing; spoofing, which a stricter policy stops",
            b.senders, b.messages, b.failing
        ));
    }
    out
}

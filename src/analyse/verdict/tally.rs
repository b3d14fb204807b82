//! Step 2: the senders by class, with their messages and failures.

use super::Context;
use crate::analyse::classify::{Sender, SenderClass};
use crate::units::{count, percent, percent_rate, plural};

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
            "{}: {}, {} pass DMARC overall ({} needed per sender, on its last {} days when it has mail there)",
            plural(a.senders, "authorized sender", "authorized senders"),
            plural(a.messages, "message", "messages"),
            percent(a.messages - a.failing, a.messages),
            percent_rate(ctx.c.pass_rate),
            ctx.c.recent_days
        ));
    }
    let m = t.of(SenderClass::Misconfigured);
    if m.senders > 0 {
        out.push(format!(
            "{} not aligned with {domain}: {}, {} failing DMARC",
            plural(m.senders, "legitimate service", "legitimate services"),
            plural(m.messages, "message", "messages"),
            count(m.failing)
        ));
    }
    let f = t.of(SenderClass::Forwarder);
    if f.senders > 0 {
        out.push(format!(
            "{}: {}, {} failing; explained, they do not block",
            plural(f.senders, "forwarder or mailing list", "forwarders and mailing lists"),
            plural(f.messages, "message", "messages"),
            count(f.failing)
        ));
    }
    let u = t.of(SenderClass::Unclassified);
    if u.senders > 0 {
        out.push(format!(
            "{} as another domain: {}, {} failing",
            plural(
                u.senders,
                "unclassified sender that authenticates",
                "unclassified senders that authenticate"
            ),
            plural(u.messages, "message", "messages"),
            count(u.failing)
        ));
    }
    let b = t.of(SenderClass::Unauthorized);
    if b.senders > 0 {
        out.push(format!(
            "{}: {}, {} failing; spoofing, which a stricter policy stops",
            plural(b.senders, "unauthorized source group", "unauthorized source groups"),
            plural(b.messages, "message", "messages"),
            count(b.failing)
        ));
    }
    out
}

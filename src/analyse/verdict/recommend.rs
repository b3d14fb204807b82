//! Step 5: the record to publish next, the ramp after it, and advice.
//!
//! The record starts from the published one without the values reports
//! echo back for tags that were not published (`sp` equal to `p`, `np`
//! equal to `sp`, `pct=100`, `t=n`, `adkim=r`, `aspf=r`, `fo=0`), so a
//! default is never written down as if the owner had chosen it. It is never
//! weaker than the published policy, tag by tag: `p` (with its ramp), and
//! the effective `sp` and `np`.

use super::blocking::Found;
use super::{Context, Verdict};
use crate::analyse::policy::PublishedPolicy;

/// The next record, the steps after it, and advice.
pub(super) struct Next {
    pub record: String,
    pub ramp: Vec<String>,
    pub advice: Vec<String>,
}

/// 0 for none, 1 for quarantine, 2 for reject.
fn level(p: &str) -> u8 {
    match p {
        "reject" => 2,
        "quarantine" => 1,
        _ => 0,
    }
}

/// The effective `sp` and `np` of a policy (RFC 9989: `sp` defaults to
/// `p`, `np` to `sp`).
fn sub_policies(p: &PublishedPolicy) -> (String, String) {
    let sp = p.sp.clone().unwrap_or_else(|| p.p().to_owned());
    let np = p.np.clone().unwrap_or_else(|| sp.clone());
    (sp, np)
}

/// The published record without echoed defaults.
pub(crate) fn normalized(current: &PublishedPolicy) -> PublishedPolicy {
    let mut p = current.clone();
    if p.sp.as_deref() == Some(current.p()) {
        p.sp = None;
    }
    let sp = p.sp.clone().unwrap_or_else(|| p.p().to_owned());
    if p.np.as_deref() == Some(sp.as_str()) {
        p.np = None;
    }
    if p.pct == Some(100) {
        p.pct = None;
    }
    if p.testing.as_deref() == Some("n") {
        p.testing = None;
    }
    for tag in [&mut p.adkim, &mut p.aspf] {
        if tag.as_deref() == Some("r") {
            *tag = None;
        }
    }
    if p.fo.as_deref() == Some("0") {
        p.fo = None;
    }
    p
}

/// `next` is at least as strict as `current`: `p` with its ramp, and the
/// effective `sp` and `np`.
pub fn not_weaker(next: &PublishedPolicy, current: &PublishedPolicy) -> bool {
    let (nsp, nnp) = sub_policies(next);
    let (csp, cnp) = sub_policies(current);
    next.enforcement() >= current.enforcement()
        && level(&nsp) >= level(&csp)
        && level(&nnp) >= level(&cnp)
}

pub(super) fn next_record(ctx: &Context<'_>, verdict: Verdict, found: &Found) -> Next {
    let domain = ctx.domain;
    let current = ctx.current;
    let base = normalized(current);
    let mut advice = Vec::new();
    let (cur_sp, _) = sub_policies(current);

    let mut chain: Vec<PublishedPolicy> = Vec::new();
    if ctx.parked {
        let mut next = base.clone();
        next.p = Some("reject".into());
        next.sp = Some("reject".into());
        next.np = Some("reject".into());
        next.pct = None;
        next.testing = None;
        chain.push(next);
        advice.push(format!(
            "{domain} sends no mail: publish \"v=spf1 -all\" as its SPF record and a null MX (\"0 .\", RFC 7505), and no DKIM keys; no ramp is needed, since no legitimate mail can be lost"
        ));
    } else {
        // The ramp: 25%, 50%, then everything. `pct` is read by RFC 7489
        // receivers; RFC 9989 receivers ignore it and read `t=y` as "apply
        // the next weaker policy", so the partial steps carry both.
        const STEPS: [u32; 3] = [25, 50, 100];
        let target = match verdict {
            Verdict::ReadyForQuarantine => Some("quarantine"),
            Verdict::ReadyForReject => Some("reject"),
            _ => None,
        };
        match target {
            Some(p) => {
                let now = if current.p() == p {
                    if current.testing() && current.pct() >= 100 { 99 } else { current.pct() }
                } else {
                    0
                };
                for pct in STEPS.into_iter().filter(|s| *s > now) {
                    let mut next = base.clone();
                    next.p = Some(p.to_owned());
                    if pct < 100 {
                        next.pct = Some(pct);
                        next.testing = Some("y".into());
                    } else {
                        next.pct = None;
                        next.testing = None;
                    }
                    chain.push(next);
                }
                if chain.is_empty() {
                    let mut next = base.clone();
                    next.p = Some(p.to_owned());
                    chain.push(next);
                }
                if chain.len() > 1 {
                    advice.push(
                        "move one step at a time; re-run the summary after a week at each step before the next"
                            .to_owned(),
                    );
                }
            }
            None => chain.push(base.clone()),
        }
        // sp: held where it is while legitimate subdomain mail would fail;
        // otherwise it follows p, but never drops below its published value.
        for next in &mut chain {
            let p = next.p().to_owned();
            next.sp = if level(&cur_sp) > level(&p) || (!found.held.is_empty() && cur_sp != p) {
                Some(cur_sp.clone())
            } else {
                None
            };
        }
        let enforcing = chain.first().is_some_and(|p| p.p() != "none");
        if enforcing && !found.held.is_empty() {
            advice.push(format!(
                "sp={cur_sp} stays: legitimate mail From {} fails DMARC or relies on SPF alone; raise sp once it is fixed",
                found.held.join(", ")
            ));
        } else if enforcing
            && current.sp.as_deref().is_some_and(|sp| level(sp) < level(current.p()))
        {
            advice.push(format!(
                "the published sp={} leaves subdomains of {domain} unprotected; no legitimate subdomain mail fails, so sp can follow p",
                current.sp.as_deref().unwrap_or_default()
            ));
        }
        // np (RFC 9989): non-existent subdomains send no legitimate mail.
        if enforcing {
            let mut added = false;
            for next in &mut chain {
                let (_, np) = sub_policies(next);
                if level(&np) < 2 {
                    next.np = Some("reject".into());
                    added = true;
                }
            }
            if added {
                advice.push(
                    "np=reject: non-existent subdomains send no legitimate mail (RFC 9989); RFC 7489 receivers ignore it"
                        .to_owned(),
                );
            }
        }
    }
    // Never weaker than what is published.
    for next in &mut chain {
        if !not_weaker(next, current) {
            let (csp, cnp) = sub_policies(current);
            let (nsp, _) = sub_policies(next);
            if level(&nsp) < level(&csp) {
                next.sp = Some(csp);
            }
            let (_, nnp) = sub_policies(next);
            if level(&nnp) < level(&cnp) {
                next.np = Some(cnp);
            }
            if next.enforcement() < current.enforcement() {
                *next = normalized(current);
            }
        }
    }
    // Reports do not carry rua and ruf: the config's rua, else the live
    // record's; the live ruf either way.
    let live = |tag: &str| ctx.live_record.and_then(|r| tag_value(r, tag));
    let live_rua = live("rua");
    let rua = ctx.rua.or(live_rua);
    let ruf = live("ruf");
    let with_rua = |p: &PublishedPolicy| {
        let mut record = p.record();
        if let Some(rua) = rua {
            record.push_str(&format!("; rua={rua}"));
        }
        if let Some(ruf) = ruf {
            record.push_str(&format!("; ruf={ruf}"));
        }
        record
    };
    match (ctx.rua, live_rua) {
        (Some(_), _) => {}
        (None, Some(live)) => advice.push(format!(
            "rua={live}{} kept from the record published at _dmarc.{domain} (as the last `check` found it): reports do not say where they are sent",
            ruf.map(|f| format!(" and ruf={f}")).unwrap_or_default()
        )),
        (None, None) => advice.push(format!(
            "reports do not say where they are sent: the next record needs your rua= tag; set rua for {domain} in the config, or run `dmarc-report check {domain}` so that the published record's rua is kept"
        )),
    }
    let record = chain.first().map(with_rua).unwrap_or_default();
    let ramp = chain.iter().skip(1).map(with_rua).collect();
    Next { record, ramp, advice }
}

/// The value of `tag` in a DMARC record (`k=v; ...`, tag names
/// case-insensitive), when present and not empty.
fn tag_value<'r>(record: &'r str, tag: &str) -> Option<&'r str> {
    record
        .split(';')
        .filter_map(|part| part.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case(tag))
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(p: &str, sp: Option<&str>, np: Option<&str>) -> PublishedPolicy {
        PublishedPolicy {
            p: Some(p.into()),
            sp: sp.map(Into::into),
            np: np.map(Into::into),
            ..PublishedPolicy::default()
        }
    }

    #[test]
    fn a_tag_is_found_whatever_its_case_and_spacing() {
        let r = "v=DMARC1; p=none;RUA = mailto:a@example.com,mailto:b@example.net; ruf=";
        assert_eq!(tag_value(r, "rua"), Some("mailto:a@example.com,mailto:b@example.net"));
        assert_eq!(tag_value(r, "ruf"), None);
        assert_eq!(tag_value(r, "sp"), None);
    }

    #[test]
    fn echoed_defaults_are_not_written_back() {
        let mut p = policy("none", Some("none"), None);
        p.adkim = Some("r".into());
        p.pct = Some(100);
        assert_eq!(normalized(&p).record(), "v=DMARC1; p=none");
        let p = policy("quarantine", Some("reject"), Some("reject"));
        assert_eq!(normalized(&p).record(), "v=DMARC1; p=quarantine; sp=reject");
    }

    #[test]
    fn weaker_means_any_of_p_sp_np_lower() {
        let cur = policy("quarantine", Some("reject"), None);
        assert!(!not_weaker(&policy("quarantine", None, None), &cur));
        assert!(not_weaker(&policy("reject", None, None), &cur));
        assert!(!not_weaker(&policy("reject", Some("none"), Some("reject")), &cur));
        let mut ramp = policy("reject", Some("reject"), None);
        ramp.pct = Some(25);
        assert!(not_weaker(&ramp, &cur));
        assert!(!not_weaker(&cur, &policy("reject", None, None)));
    }
}

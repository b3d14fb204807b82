//! Every tolerance for what real reporters send, in one place.
//!
//! The schemas (see `schemas/`) are strict; reporters are not. Each rule
//! below names the quirk and, where known, who sends it. Values are always
//! trimmed first (several reporters pad values with whitespace or newlines).
//!
//! | quirk | who | what we do |
//! |---|---|---|
//! | mixed-case enum values (`Pass`, `NONE`, `Fail`) | hand-rolled reporters, old Hotmail | compare case-insensitively |
//! | `hardfail` for SPF | some Exchange-based reporters | read as `fail` |
//! | `soft-fail`, `soft_fail` | rare | read as `softfail` |
//! | `temp-error`, `temp_error`, `permerror` spellings, `error` | Mail.Ru, others | read as `temperror` / `permerror` |
//! | `unknown` for DKIM/SPF result | old reporters | read as `permerror` (RFC 7208 renamed it) |
//! | `quarantine `/` reject` with padding | several | trimmed |
//! | empty elements (`<sp/>`, `<reason><type/></reason>`, `<human_result/>`) | Orange, Mimecast, Google | absent value (`None`) |
//! | `pct` written as `100.0` or with `%` | rare | integer part, clamped to 0..=100 |
//! | `adkim`/`aspf` written as `relaxed`/`strict` | rare | `r` / `s` |
//! | date range begin/end as a float (`1700000000.0`) | rare | integer part |
//! | invalid UTF-8 bytes | anonymising scripts, broken MTAs | replaced by U+FFFD, with a warning (see `parse::input`) |
//! | a declared non-UTF-8 encoding (`windows-1252`) | 2012-era AOL | transcoded (see `parse::input`) |
//! | a UTF-8 byte-order mark | Hotmail (2015) | skipped (see `parse::input`) |
//! | junk around `<feedback>` (an unclosed `<xs:schema>`) | IKEA's reporter | `<feedback>` is found at any depth; reading stops at `</feedback>` |
//! | `<data_range>` instead of `<date_range>` | KDDI | accepted as `date_range` |
//! | no or unreadable date range | several | taken from the file name `receiver!domain!begin!end[!id]`, with a warning |
//! | empty `<source_ip>` | hand-edited reports | kept empty, with a warning |
//! | several `<spf>` results per record | Google, Yahoo | all kept |
//! | `<policy_evaluated>` without `<dkim>`/`<spf>` | 2012-era AOL | those results absent |
//! | a `<count>` above 10^12 | hostile or broken reporters | refused: the report is kept as failed ([`MAX_COUNT`]) |
//! | namespaces and prefixes (`xmlns:xsd`, `ns1:`, the RFC 9990 namespace) | Microsoft, AOL, GMX | element local names are used |

use crate::model::{
    Alignment, Disposition, DkimResult, DmarcResult, OverrideReason, Policy, SpfResult, SpfScope,
};

/// Trims a raw value; `None` when nothing is left (empty element).
pub fn text(raw: &str) -> Option<String> {
    let t = raw.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

/// Trims and lower-cases a value (domains, enumerations).
pub fn lower(raw: &str) -> Option<String> {
    let t = raw.trim();
    (!t.is_empty()).then(|| t.to_ascii_lowercase())
}

/// `adkim` / `aspf`.
pub fn alignment(raw: &str) -> Option<Alignment> {
    let v = lower(raw)?;
    Some(match v.as_str() {
        "relaxed" => Alignment::Relaxed,
        "strict" => Alignment::Strict,
        other => Alignment::from_canonical(other),
    })
}

/// `p` / `sp` / `np`.
pub fn policy(raw: &str) -> Option<Policy> {
    lower(raw).map(|v| Policy::from_canonical(&v))
}

/// `policy_evaluated/disposition`.
pub fn disposition(raw: &str) -> Option<Disposition> {
    lower(raw).map(|v| Disposition::from_canonical(&v))
}

/// `policy_evaluated/dkim|spf`.
pub fn dmarc_result(raw: &str) -> Option<DmarcResult> {
    let v = lower(raw)?;
    Some(match v.as_str() {
        // A few reporters write the raw result here instead of pass/fail.
        "hardfail" | "softfail" | "none" | "neutral" | "temperror" | "permerror" => {
            DmarcResult::Fail
        }
        other => DmarcResult::from_canonical(other),
    })
}

/// `reason/type`.
pub fn override_reason(raw: &str) -> Option<OverrideReason> {
    let v = lower(raw)?.replace(['-', ' '], "_");
    Some(OverrideReason::from_canonical(&v))
}

/// Normalises the common misspellings of error results shared by DKIM and SPF.
fn error_spelling(v: &str) -> Option<&'static str> {
    Some(match v {
        "temp-error" | "temp_error" | "error" | "temperr" => "temperror",
        "perm-error" | "perm_error" | "permerr" | "unknown" => "permerror",
        _ => return None,
    })
}

/// `auth_results/dkim/result`.
pub fn dkim_result(raw: &str) -> Option<DkimResult> {
    let v = lower(raw)?;
    let canonical = match v.as_str() {
        "hardfail" => "fail",
        other => error_spelling(other).unwrap_or(other),
    };
    Some(DkimResult::from_canonical(canonical))
}

/// `auth_results/spf/result`.
pub fn spf_result(raw: &str) -> Option<SpfResult> {
    let v = lower(raw)?;
    let canonical = match v.as_str() {
        "hardfail" => "fail",
        "soft-fail" | "soft_fail" => "softfail",
        other => error_spelling(other).unwrap_or(other),
    };
    Some(SpfResult::from_canonical(canonical))
}

/// `auth_results/spf/scope`.
pub fn spf_scope(raw: &str) -> Option<SpfScope> {
    let v = lower(raw)?;
    Some(match v.as_str() {
        "mailfrom" | "mail_from" | "mail-from" => SpfScope::MailFrom,
        other => SpfScope::from_canonical(other),
    })
}

/// `pct`: an integer 0..=100; `Err` with the value when it is not a number.
pub fn pct(raw: &str) -> Result<Option<u32>, String> {
    let Some(v) = text(raw) else { return Ok(None) };
    let digits = v.trim_end_matches('%').trim();
    let whole = digits.split('.').next().unwrap_or(digits);
    match whole.parse::<u64>() {
        Ok(n) => Ok(Some(n.min(100) as u32)),
        Err(_) => Err(v),
    }
}

/// The largest `<count>` believed: 10^12 messages from one source in one
/// report is eleven million a second for a whole day. Anyone can send a
/// report to an rua address, so a larger count is refused rather than
/// stored, where it would overflow every sum over it (SQLite integers are
/// 64-bit; nine million records at this bound still fit).
pub const MAX_COUNT: u64 = 1_000_000_000_000;

/// `row/count`: a whole number from 0 to [`MAX_COUNT`]; `Err` with the
/// value otherwise.
pub fn count(raw: &str) -> Result<u64, String> {
    let v = raw.trim();
    v.parse::<u64>().ok().filter(|n| *n <= MAX_COUNT).ok_or_else(|| v.to_owned())
}

/// `date_range/begin|end`: seconds since the epoch; a float is truncated.
pub fn timestamp(raw: &str) -> Option<i64> {
    let v = raw.trim();
    if let Ok(n) = v.parse::<i64>() {
        return Some(n);
    }
    let whole = v.split_once('.').map(|(w, f)| (w, f.bytes().all(|b| b.is_ascii_digit())));
    match whole {
        Some((w, true)) => w.parse::<i64>().ok(),
        _ => None,
    }
}

/// Dates from a report file name, as reporters name their attachments
/// (RFC 7489 section 7.2.1.1): `receiver!policy-domain!begin!end[!unique-id].xml[.gz|.zip]`.
/// Returns `(policy_domain, begin, end)`.
pub fn dates_from_filename(name: &str) -> Option<(String, i64, i64)> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let mut parts = base.split('!');
    let _receiver = parts.next()?;
    let domain = parts.next()?;
    let begin = parts.next()?;
    let end = parts.next()?;
    let end = end.split('.').next().unwrap_or(end);
    let begin: i64 = begin.parse().ok()?;
    let end: i64 = end.parse().ok()?;
    (begin <= end && !domain.is_empty()).then(|| (domain.to_ascii_lowercase(), begin, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixed_case_and_padding_are_accepted() {
        assert_eq!(dkim_result(" Pass\n"), Some(DkimResult::Pass));
        assert_eq!(disposition("NONE"), Some(Disposition::None));
        assert_eq!(policy("Reject "), Some(Policy::Reject));
    }

    #[test]
    fn spf_variants_map_to_rfc7208_names() {
        assert_eq!(spf_result("hardfail"), Some(SpfResult::Fail));
        assert_eq!(spf_result("SoftFail"), Some(SpfResult::SoftFail));
        assert_eq!(spf_result("temp-error"), Some(SpfResult::TempError));
        assert_eq!(spf_result("unknown"), Some(SpfResult::PermError));
        assert_eq!(spf_result("policy"), Some(SpfResult::Policy));
        assert_eq!(spf_result("bogus"), Some(SpfResult::Other("bogus".into())));
    }

    #[test]
    fn empty_elements_are_absent_values() {
        assert_eq!(policy(""), None);
        assert_eq!(override_reason("  "), None);
        assert_eq!(pct(""), Ok(None));
    }

    #[test]
    fn numbers_are_strict_but_tolerate_floats_and_percent() {
        assert_eq!(count(" 12 "), Ok(12));
        assert_eq!(count("abc"), Err("abc".into()));
        assert_eq!(count("-1"), Err("-1".into()));
        assert_eq!(count("1000000000000"), Ok(MAX_COUNT));
        assert_eq!(count("1000000000001"), Err("1000000000001".into()));
        assert_eq!(pct("100%"), Ok(Some(100)));
        assert_eq!(pct("50.0"), Ok(Some(50)));
        assert_eq!(timestamp("1700000000.0"), Some(1_700_000_000));
        assert_eq!(timestamp("17e8"), None);
    }

    #[test]
    fn dates_come_from_rfc7489_file_names() {
        assert_eq!(
            dates_from_filename("dir/google.com!Example.com!1700000000!1700086399.xml.gz"),
            Some(("example.com".into(), 1_700_000_000, 1_700_086_399))
        );
        assert_eq!(
            dates_from_filename("x!example.com!1!2!abc.xml"),
            Some(("example.com".into(), 1, 2))
        );
        assert_eq!(dates_from_filename("report.xml"), None);
        assert_eq!(dates_from_filename("a!b!9!1.xml"), None);
    }
}

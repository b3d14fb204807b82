//! The domain model of a DMARC aggregate report: plain owned types that the
//! parser produces and that storage and analysis consume.
//!
//! These types cover every field of both schema generations (RFC 7489
//! Appendix C and RFC 9990). Enumerated values are lenient: a value the
//! schemas do not define is kept verbatim in an `Other` variant instead of
//! rejecting the whole report (see `parse::lenient` for the accepted
//! spellings).
//!
//! [`FailureKind`] says why an input yielded no report; the store keeps it
//! with each failed input, so that it is here, before every stage.

use serde::Serialize;

/// Which schema generation a report follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Schema {
    /// RFC 7489 Appendix C (no namespace, or a reporter's private one).
    Rfc7489,
    /// RFC 9990 (`urn:ietf:params:xml:ns:dmarc-2.0`).
    Rfc9990,
}

impl Schema {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Schema::Rfc7489 => "rfc7489",
            Schema::Rfc9990 => "rfc9990",
        }
    }
}

/// Declares a lenient string-valued enumeration: known values map to
/// variants, anything else is kept as `Other(text)`.
macro_rules! lenient_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum $name {
            $($(#[$vmeta])* #[doc = concat!("`", $text, "`")] $variant,)+
            /// A value neither schema defines, kept as the reporter wrote it.
            Other(String),
        }

        impl $name {
            /// The canonical (lower-case) text of the value.
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $text,)+
                    $name::Other(s) => s,
                }
            }

            /// Maps a canonical lower-case value; anything else becomes `Other`.
            pub fn from_canonical(s: &str) -> Self {
                match s {
                    $($text => $name::$variant,)+
                    _ => $name::Other(s.to_owned()),
                }
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

lenient_enum! {
    /// DKIM/SPF identifier alignment mode (`adkim`, `aspf`).
    Alignment { Relaxed => "r", Strict => "s" }
}

lenient_enum! {
    /// A published policy (`p`, `sp`, `np`).
    Policy { None => "none", Quarantine => "quarantine", Reject => "reject" }
}

lenient_enum! {
    /// The disposition the receiver applied (`policy_evaluated/disposition`).
    Disposition {
        None => "none",
        Quarantine => "quarantine",
        Reject => "reject",
        /// RFC 9990: the message passed DMARC.
        Pass => "pass",
    }
}

lenient_enum! {
    /// The DMARC-aligned result of DKIM or SPF (`policy_evaluated/dkim|spf`).
    DmarcResult { Pass => "pass", Fail => "fail" }
}

lenient_enum! {
    /// Why a receiver's disposition differs from the published policy.
    OverrideReason {
        Forwarded => "forwarded",
        SampledOut => "sampled_out",
        TrustedForwarder => "trusted_forwarder",
        MailingList => "mailing_list",
        LocalPolicy => "local_policy",
        /// The reporter said `other`.
        OtherReason => "other",
        /// RFC 9990: the policy was in test mode (`t=y`).
        PolicyTestMode => "policy_test_mode",
    }
}

lenient_enum! {
    /// A raw DKIM verification result (`auth_results/dkim/result`).
    DkimResult {
        None => "none",
        Pass => "pass",
        Fail => "fail",
        Policy => "policy",
        Neutral => "neutral",
        TempError => "temperror",
        PermError => "permerror",
    }
}

lenient_enum! {
    /// A raw SPF result (`auth_results/spf/result`).
    SpfResult {
        None => "none",
        Neutral => "neutral",
        Pass => "pass",
        Fail => "fail",
        SoftFail => "softfail",
        TempError => "temperror",
        PermError => "permerror",
        /// RFC 9990: the receiver's local policy overrode the SPF result.
        Policy => "policy",
    }
}

lenient_enum! {
    /// The SPF identity that was checked (`auth_results/spf/scope`).
    SpfScope { Helo => "helo", MailFrom => "mfrom" }
}

/// Report-level data: metadata and the published policy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportHeader {
    /// Schema generation, from the namespace of `<feedback>`.
    pub schema: Schema,
    /// `<version>` as written (optional in both schemas in practice).
    pub version: Option<String>,
    /// `report_metadata/org_name`: the reporting organisation.
    pub org_name: String,
    /// `report_metadata/email`.
    pub email: Option<String>,
    /// `report_metadata/extra_contact_info`.
    pub extra_contact_info: Option<String>,
    /// `report_metadata/report_id`.
    pub report_id: String,
    /// `date_range/begin`, seconds since the Unix epoch (UTC).
    pub begin: i64,
    /// `date_range/end`, seconds since the Unix epoch (UTC).
    pub end: i64,
    /// `report_metadata/error` (repeatable).
    pub errors: Vec<String>,
    /// RFC 9990 `report_metadata/generator`.
    pub generator: Option<String>,
    /// `policy_published`.
    pub policy: PolicyPublished,
    /// RFC 9990 report-level `<extension>` blocks, as XML text.
    pub extensions: Vec<String>,
}

/// The DMARC record the receiver found (`policy_published`).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct PolicyPublished {
    /// The policy domain, lower-cased.
    pub domain: String,
    /// `adkim`.
    pub adkim: Option<Alignment>,
    /// `aspf`.
    pub aspf: Option<Alignment>,
    /// `p`.
    pub p: Option<Policy>,
    /// `sp`.
    pub sp: Option<Policy>,
    /// RFC 9990 `np` (policy for non-existent subdomains).
    pub np: Option<Policy>,
    /// RFC 7489 `pct`.
    pub pct: Option<u32>,
    /// `fo` (failure reporting options), as written.
    pub fo: Option<String>,
    /// RFC 9990 `testing` (`y`/`n`, the `t=` tag).
    pub testing: Option<String>,
    /// RFC 9990 `discovery_method` (`psl` or `treewalk`).
    pub discovery_method: Option<String>,
}

/// One `<record>`: a group of messages from one source with one outcome.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Record {
    /// `row/source_ip`, as written (trimmed); empty when the reporter left it empty.
    pub source_ip: String,
    /// `row/count`: the number of messages.
    pub count: u64,
    /// `policy_evaluated/disposition`.
    pub disposition: Option<Disposition>,
    /// `policy_evaluated/dkim` (aligned DKIM result).
    pub dkim: Option<DmarcResult>,
    /// `policy_evaluated/spf` (aligned SPF result).
    pub spf: Option<DmarcResult>,
    /// `policy_evaluated/reason` (repeatable).
    pub reasons: Vec<Reason>,
    /// `identifiers/header_from`, lower-cased.
    pub header_from: Option<String>,
    /// `identifiers/envelope_from`.
    pub envelope_from: Option<String>,
    /// `identifiers/envelope_to`.
    pub envelope_to: Option<String>,
    /// `auth_results/dkim` (repeatable).
    pub dkim_results: Vec<DkimAuth>,
    /// `auth_results/spf` (repeatable in practice, though RFC 7489 says one).
    pub spf_results: Vec<SpfAuth>,
    /// RFC 9990 record-level `<extension>` blocks, as XML text.
    pub extensions: Vec<String>,
}

/// A policy override reason.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reason {
    /// `type`; `None` when the reporter sent an empty `<type/>`.
    pub kind: Option<OverrideReason>,
    /// `comment`.
    pub comment: Option<String>,
}

/// One DKIM signature's raw result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DkimAuth {
    /// `d=` domain, lower-cased.
    pub domain: String,
    /// `s=` selector.
    pub selector: Option<String>,
    /// Verification result.
    pub result: Option<DkimResult>,
    /// `human_result`.
    pub human_result: Option<String>,
}

/// One SPF check's raw result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpfAuth {
    /// The checked domain, lower-cased.
    pub domain: String,
    /// `scope` (`helo` or `mfrom`).
    pub scope: Option<SpfScope>,
    /// SPF result.
    pub result: Option<SpfResult>,
    /// RFC 9990 `human_result`.
    pub human_result: Option<String>,
}

impl Record {
    /// DMARC passes when either aligned DKIM or aligned SPF passed.
    pub fn dmarc_pass(&self) -> bool {
        self.dkim == Some(DmarcResult::Pass) || self.spf == Some(DmarcResult::Pass)
    }
}

/// What kind of problem made an input fail: kept with each failed input
/// (the `kind` column of `failed_inputs`), shown by `errors`, matched on by
/// `ingest --retry-failed`, notify and `--format json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// Not a report at all: a message without a report (an invoice), an
    /// empty input, an unknown format, XML that is not `<feedback>`.
    NotAReport,
    /// An SMTP TLS report (RFC 8460), not a DMARC aggregate report.
    TlsReport,
    /// A DMARC failure (ruf) report (RFC 6591), not an aggregate report.
    FailureReport,
    /// An aggregate report that cannot be read as one: malformed XML, a
    /// missing or wrong required value, a construct refused for safety.
    Malformed,
    /// Compressed data (gzip, zip) that is corrupt or cut short.
    Corrupt,
    /// A limit (`--max-report-size`, `--max-message-size`,
    /// `--max-zip-entries`) or the nesting limit was reached.
    Limit,
    /// The input could not be read (a file error, a broken mbox).
    Unreadable,
    /// Reading stopped on a bug (a panic in a parser or decoder).
    Internal,
}

impl FailureKind {
    /// Every kind, in the order `errors` and the documentation list them.
    pub const ALL: [FailureKind; 8] = [
        FailureKind::NotAReport,
        FailureKind::TlsReport,
        FailureKind::FailureReport,
        FailureKind::Malformed,
        FailureKind::Corrupt,
        FailureKind::Limit,
        FailureKind::Unreadable,
        FailureKind::Internal,
    ];

    /// Its name in the database, in JSON and on the command line
    /// (`not-a-report`, `tls-report`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::NotAReport => "not-a-report",
            FailureKind::TlsReport => "tls-report",
            FailureKind::FailureReport => "failure-report",
            FailureKind::Malformed => "malformed",
            FailureKind::Corrupt => "corrupt",
            FailureKind::Limit => "limit",
            FailureKind::Unreadable => "unreadable",
            FailureKind::Internal => "internal",
        }
    }

    /// The kind named `name` (as [`FailureKind::as_str`] writes it).
    pub fn from_name(name: &str) -> Option<FailureKind> {
        FailureKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// Whether trying the input again can make it work: after an upgrade
    /// (a parser fix), with a raised limit, once a file is readable. Not for
    /// another kind of report or no report at all: those stay what they are.
    pub fn can_change_on_retry(self) -> bool {
        !matches!(
            self,
            FailureKind::NotAReport | FailureKind::TlsReport | FailureKind::FailureReport
        )
    }

    /// The kind of an input from the kinds of the problems found in it, in
    /// order: the first that a retry can change (an email whose TLS report
    /// is refused and whose DMARC report is cut short is worth retrying),
    /// else the first; `None` without problems.
    pub fn of_problems(kinds: impl IntoIterator<Item = FailureKind>) -> Option<FailureKind> {
        let mut first = None;
        for kind in kinds {
            if kind.can_change_on_retry() {
                return Some(kind);
            }
            first = first.or(Some(kind));
        }
        first
    }
}

impl std::fmt::Display for FailureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::FailureKind;

    #[test]
    fn failure_kinds_have_one_name_in_the_database_json_and_the_command_line() {
        for kind in FailureKind::ALL {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(FailureKind::from_name(kind.as_str()), Some(kind));
        }
        assert_eq!(FailureKind::from_name("not a kind"), None);
    }

    #[test]
    fn an_input_is_worth_retrying_when_any_of_its_problems_may_change() {
        use FailureKind::*;
        assert_eq!(FailureKind::of_problems([TlsReport, Corrupt, Malformed]), Some(Corrupt));
        assert_eq!(FailureKind::of_problems([TlsReport, NotAReport]), Some(TlsReport));
        assert_eq!(FailureKind::of_problems([]), None);
        let kept: Vec<_> =
            FailureKind::ALL.into_iter().filter(|k| !k.can_change_on_retry()).collect();
        assert_eq!(kept, [NotAReport, TlsReport, FailureReport]);
    }
}

//! The domain model of a DMARC aggregate report: plain owned types that the
//! parser produces and that storage and analysis consume.
//!
//! These types cover every field of both schema generations (RFC 7489
//! Appendix C and RFC 9990). Enumerated values are lenient: a value the
//! schemas do not define is kept verbatim in an `Other` variant instead of
//! rejecting the whole report (see `parse::lenient` for the accepted
//! spellings).

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

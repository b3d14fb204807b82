//! The element names the parser knows, by local name.

use quick_xml::events::BytesStart;

/// The RFC 9990 namespace.
pub const RFC9990_NAMESPACE: &str = "urn:ietf:params:xml:ns:dmarc-2.0";

/// Element names the parser knows, by local name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum E {
    Feedback,
    Version,
    ReportMetadata,
    OrgName,
    Email,
    ExtraContactInfo,
    ReportId,
    DateRange,
    Begin,
    End,
    Error,
    Generator,
    PolicyPublished,
    Domain,
    Adkim,
    Aspf,
    P,
    Sp,
    Np,
    Pct,
    Fo,
    Testing,
    DiscoveryMethod,
    Record,
    Row,
    SourceIp,
    Count,
    PolicyEvaluated,
    Disposition,
    Dkim,
    Spf,
    Reason,
    Type,
    Comment,
    Identifiers,
    HeaderFrom,
    EnvelopeFrom,
    EnvelopeTo,
    AuthResults,
    Selector,
    Result,
    HumanResult,
    Scope,
    Extension,
    Other,
}

/// The element a local name (without its prefix) stands for.
pub(super) fn element(local: &[u8]) -> E {
    match local {
        b"feedback" => E::Feedback,
        b"version" => E::Version,
        b"report_metadata" => E::ReportMetadata,
        b"org_name" => E::OrgName,
        b"email" => E::Email,
        b"extra_contact_info" => E::ExtraContactInfo,
        b"report_id" => E::ReportId,
        // KDDI misspells date_range (see `lenient`).
        b"date_range" | b"data_range" => E::DateRange,
        b"begin" => E::Begin,
        b"end" => E::End,
        b"error" => E::Error,
        b"generator" => E::Generator,
        b"policy_published" => E::PolicyPublished,
        b"domain" => E::Domain,
        b"adkim" => E::Adkim,
        b"aspf" => E::Aspf,
        b"p" => E::P,
        b"sp" => E::Sp,
        b"np" => E::Np,
        b"pct" => E::Pct,
        b"fo" => E::Fo,
        b"testing" => E::Testing,
        b"discovery_method" => E::DiscoveryMethod,
        b"record" => E::Record,
        b"row" => E::Row,
        b"source_ip" => E::SourceIp,
        b"count" => E::Count,
        b"policy_evaluated" => E::PolicyEvaluated,
        b"disposition" => E::Disposition,
        b"dkim" => E::Dkim,
        b"spf" => E::Spf,
        b"reason" => E::Reason,
        b"type" => E::Type,
        b"comment" => E::Comment,
        b"identifiers" => E::Identifiers,
        b"header_from" => E::HeaderFrom,
        b"envelope_from" => E::EnvelopeFrom,
        b"envelope_to" => E::EnvelopeTo,
        b"auth_results" => E::AuthResults,
        b"selector" => E::Selector,
        b"result" => E::Result,
        b"human_result" => E::HumanResult,
        b"scope" => E::Scope,
        // `extensions` (a wrapper of `extension` elements) is what drafts of
        // RFC 9990 had; stalwart's samples still use it.
        b"extension" | b"extensions" => E::Extension,
        _ => E::Other,
    }
}

/// Whether a `<feedback>` start tag declares the RFC 9990 namespace
/// (as the default namespace or under any prefix).
pub(super) fn declares_rfc9990(start: &BytesStart<'_>) -> bool {
    start.attributes().flatten().any(|a| {
        let key: &[u8] = a.key.as_ref().as_bytes();
        let value: &[u8] = a.value.as_ref().as_bytes();
        (key == b"xmlns" || key.starts_with(b"xmlns:")) && value == RFC9990_NAMESPACE.as_bytes()
    })
}

//! Aggregate report XML (RFC 7489 Appendix C), built in code.
//!
//! [`Report`] holds a header and [`Record`]s and writes them as a reporter
//! would, indented; [`report_xml`] is the short form most tests need. A
//! generator that writes millions of records writes them one at a time:
//! [`Report::head`], then [`Record::write`] for each, then [`TAIL`].
//!
//! Values are written as given, without escaping: a test about escaping
//! writes the entity itself (`&amp;`).

use std::fmt::Write as _;

/// What ends every document.
pub const TAIL: &str = "</feedback>\n";

/// One `<auth_results><dkim>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Dkim {
    /// `<domain>`: the signature's `d=`.
    pub domain: String,
    /// `<selector>`, left out when `None` (many reporters omit it).
    pub selector: Option<String>,
    /// `<result>`.
    pub result: String,
}

/// One `<auth_results><spf>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Spf {
    /// `<domain>`: the checked domain.
    pub domain: String,
    /// `<scope>` (`mfrom`, `helo`), left out when `None`.
    pub scope: Option<String>,
    /// `<result>`.
    pub result: String,
}

/// One `<policy_evaluated><reason>`: why the receiver overrode the policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Reason {
    /// `<type>` (`forwarded`, `mailing_list`, `local_policy`, ...).
    pub kind: String,
    /// `<comment>`, left out when `None`.
    pub comment: Option<String>,
}

/// One `<record>`.
#[derive(Debug, Clone)]
pub struct Record {
    /// `<source_ip>`, as written (it may be anything).
    pub source_ip: String,
    /// `<count>`.
    pub count: u64,
    /// `<disposition>`.
    pub disposition: String,
    /// The DMARC evaluation of DKIM (`<policy_evaluated><dkim>`): pass or fail.
    pub dkim: bool,
    /// The DMARC evaluation of SPF: pass or fail.
    pub spf: bool,
    /// `<policy_evaluated><reason>`s, in order.
    pub reasons: Vec<Reason>,
    /// `<header_from>`; the report's domain when `None`.
    pub header_from: Option<String>,
    /// `<envelope_from>`, left out when `None`.
    pub envelope_from: Option<String>,
    /// `<auth_results><dkim>` entries, in order.
    pub dkim_auth: Vec<Dkim>,
    /// `<auth_results><spf>` entries, in order.
    pub spf_auth: Vec<Spf>,
}

impl Record {
    /// `count` messages from `source_ip`, delivered, with no results yet
    /// (both evaluations fail, no `<auth_results>` entries).
    pub fn new(source_ip: impl Into<String>, count: u64) -> Self {
        Record {
            source_ip: source_ip.into(),
            count,
            disposition: "none".to_owned(),
            dkim: false,
            spf: false,
            reasons: Vec::new(),
            header_from: None,
            envelope_from: None,
            dkim_auth: Vec::new(),
            spf_auth: Vec::new(),
        }
    }

    /// The DMARC evaluations of DKIM and SPF.
    pub fn evaluated(mut self, dkim: bool, spf: bool) -> Self {
        self.dkim = dkim;
        self.spf = spf;
        self
    }

    /// The receiver's `<disposition>` (`none`, `quarantine`, `reject`).
    pub fn disposition(mut self, disposition: &str) -> Self {
        disposition.clone_into(&mut self.disposition);
        self
    }

    /// A policy override reason of `kind`, with an optional comment.
    pub fn reason(mut self, kind: &str, comment: Option<&str>) -> Self {
        self.reasons.push(Reason { kind: kind.to_owned(), comment: comment.map(str::to_owned) });
        self
    }

    /// `<header_from>` other than the report's domain.
    pub fn header_from(mut self, domain: &str) -> Self {
        self.header_from = Some(domain.to_owned());
        self
    }

    /// `<envelope_from>`.
    pub fn envelope_from(mut self, domain: &str) -> Self {
        self.envelope_from = Some(domain.to_owned());
        self
    }

    /// A DKIM signature of `domain` (selector `s1`) with `result`.
    pub fn dkim(self, domain: &str, result: &str) -> Self {
        self.dkim_signed(domain, Some("s1"), result)
    }

    /// A DKIM signature of `domain` with `selector` (none written when
    /// `None`) and `result`.
    pub fn dkim_signed(mut self, domain: &str, selector: Option<&str>, result: &str) -> Self {
        self.dkim_auth.push(Dkim {
            domain: domain.to_owned(),
            selector: selector.map(str::to_owned),
            result: result.to_owned(),
        });
        self
    }

    /// An SPF check of `domain` with `result`, without a scope.
    pub fn spf(self, domain: &str, result: &str) -> Self {
        self.spf_scoped(domain, None, result)
    }

    /// An SPF check of `domain` in `scope` (`mfrom`, `helo`) with `result`.
    pub fn spf_scoped(mut self, domain: &str, scope: Option<&str>, result: &str) -> Self {
        self.spf_auth.push(Spf {
            domain: domain.to_owned(),
            scope: scope.map(str::to_owned),
            result: result.to_owned(),
        });
        self
    }

    /// Appends the `<record>` element to `xml`; `domain` is the report's
    /// policy domain (the `<header_from>` unless one was set).
    pub fn write(&self, xml: &mut String, domain: &str) {
        let word = |pass: bool| if pass { "pass" } else { "fail" };
        let _ = write!(
            xml,
            "  <record>\n    <row>\n      <source_ip>{}</source_ip>\n      \
             <count>{}</count>\n      <policy_evaluated>\n        \
             <disposition>{}</disposition>\n        <dkim>{}</dkim>\n        \
             <spf>{}</spf>\n",
            self.source_ip,
            self.count,
            self.disposition,
            word(self.dkim),
            word(self.spf),
        );
        for reason in &self.reasons {
            let _ = write!(xml, "        <reason>\n          <type>{}</type>\n", reason.kind);
            if let Some(comment) = &reason.comment {
                let _ = writeln!(xml, "          <comment>{comment}</comment>");
            }
            xml.push_str("        </reason>\n");
        }
        let _ = write!(
            xml,
            "      </policy_evaluated>\n    </row>\n    <identifiers>\n      \
             <header_from>{}</header_from>\n",
            self.header_from.as_deref().unwrap_or(domain)
        );
        if let Some(envelope_from) = &self.envelope_from {
            let _ = writeln!(xml, "      <envelope_from>{envelope_from}</envelope_from>");
        }
        xml.push_str("    </identifiers>\n    <auth_results>\n");
        for dkim in &self.dkim_auth {
            let _ = write!(xml, "      <dkim>\n        <domain>{}</domain>\n", dkim.domain);
            if let Some(selector) = &dkim.selector {
                let _ = writeln!(xml, "        <selector>{selector}</selector>");
            }
            let _ = write!(xml, "        <result>{}</result>\n      </dkim>\n", dkim.result);
        }
        for spf in &self.spf_auth {
            let _ = write!(xml, "      <spf>\n        <domain>{}</domain>\n", spf.domain);
            if let Some(scope) = &spf.scope {
                let _ = writeln!(xml, "        <scope>{scope}</scope>");
            }
            let _ = write!(xml, "        <result>{}</result>\n      </spf>\n", spf.result);
        }
        xml.push_str("    </auth_results>\n  </record>\n");
    }
}

/// One aggregate report.
#[derive(Debug, Clone)]
pub struct Report {
    /// `<org_name>`.
    pub org: String,
    /// `<email>`; `noreply-dmarc@` the org when `None`.
    pub email: Option<String>,
    /// `<extra_contact_info>`, left out when `None`.
    pub extra_contact_info: Option<String>,
    /// `<policy_published><domain>`.
    pub domain: String,
    /// `<report_id>`.
    pub report_id: String,
    /// `<date_range><begin>`, Unix seconds.
    pub begin: i64,
    /// `<date_range><end>`, Unix seconds.
    pub end: i64,
    /// The tags of `<policy_published>` after `<domain>`, as
    /// `(name, value)` in order (`("p", "none")`).
    pub policy: Vec<(String, String)>,
    /// The records, in order.
    pub records: Vec<Record>,
}

impl Report {
    /// A report of `org` for `domain` over `begin..=end`, publishing
    /// `adkim=r; aspf=r; p=none; sp=none; pct=100`, without records.
    pub fn new(org: &str, domain: &str, report_id: &str, begin: i64, end: i64) -> Self {
        Report {
            org: org.to_owned(),
            email: None,
            extra_contact_info: None,
            domain: domain.to_owned(),
            report_id: report_id.to_owned(),
            begin,
            end,
            policy: Vec::new(),
            records: Vec::new(),
        }
        .policy("adkim=r; aspf=r; p=none; sp=none; pct=100")
    }

    /// Replaces the published tags after `<domain>` by those of a DMARC
    /// record, `v=` left out: `"p=reject; sp=none"` writes
    /// `<p>reject</p><sp>none</sp>` and nothing else.
    ///
    /// # Panics
    ///
    /// When a part is not `tag=value`: the fixture itself is wrong.
    pub fn policy(mut self, record: &str) -> Self {
        self.policy = record
            .split(';')
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .map(|part| match part.split_once('=') {
                Some((tag, value)) if !tag.trim().is_empty() => {
                    (tag.trim().to_owned(), value.trim().to_owned())
                }
                _ => panic!("policy {record:?}: {part:?} is not tag=value"),
            })
            .collect();
        self
    }

    /// `<email>`.
    pub fn email(mut self, email: &str) -> Self {
        self.email = Some(email.to_owned());
        self
    }

    /// `<extra_contact_info>`.
    pub fn extra_contact_info(mut self, info: &str) -> Self {
        self.extra_contact_info = Some(info.to_owned());
        self
    }

    /// Adds a record.
    pub fn record(mut self, record: Record) -> Self {
        self.records.push(record);
        self
    }

    /// The document up to the first record: declaration, metadata and
    /// published policy.
    pub fn head(&self) -> String {
        let org = &self.org;
        let mut xml = String::with_capacity(600);
        let _ = write!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<feedback>\n  <version>1.0</version>\n  \
             <report_metadata>\n    <org_name>{org}</org_name>\n"
        );
        match &self.email {
            Some(email) => _ = writeln!(xml, "    <email>{email}</email>"),
            None => _ = writeln!(xml, "    <email>noreply-dmarc@{org}</email>"),
        }
        if let Some(info) = &self.extra_contact_info {
            let _ = writeln!(xml, "    <extra_contact_info>{info}</extra_contact_info>");
        }
        let _ = write!(
            xml,
            "    <report_id>{}</report_id>\n    <date_range>\n      <begin>{}</begin>\n      \
             <end>{}</end>\n    </date_range>\n  </report_metadata>\n  <policy_published>\n    \
             <domain>{}</domain>\n",
            self.report_id, self.begin, self.end, self.domain
        );
        for (tag, value) in &self.policy {
            let _ = writeln!(xml, "    <{tag}>{value}</{tag}>");
        }
        xml.push_str("  </policy_published>\n");
        xml
    }

    /// The document.
    pub fn xml(&self) -> String {
        let mut xml = self.head();
        xml.reserve(700 * self.records.len() + TAIL.len());
        for record in &self.records {
            record.write(&mut xml, &self.domain);
        }
        xml.push_str(TAIL);
        xml
    }
}

/// A minimal report: `records` are `(source_ip, count)`, the first passing
/// DKIM and SPF (aligned, so DMARC passes), the second failing both, and so
/// on.
pub fn report_xml(
    org: &str,
    domain: &str,
    report_id: &str,
    begin: i64,
    end: i64,
    records: &[(&str, u64)],
) -> String {
    let mut report = Report::new(org, domain, report_id, begin, end);
    for (i, (ip, count)) in records.iter().enumerate() {
        let result = if i % 2 == 0 { "pass" } else { "fail" };
        report = report.record(
            Record::new(*ip, *count)
                .evaluated(result == "pass", result == "pass")
                .dkim(domain, result)
                .spf(domain, result),
        );
    }
    report.xml()
}

#[cfg(test)]
mod tests {
    use super::*;
    use dmarc_report::model;
    use dmarc_report::parse::{ParseOptions, ReportReader};

    /// Reads `xml` with the crate's parser: header, records, warnings.
    fn parse(xml: &str) -> (model::ReportHeader, Vec<model::Record>, Vec<String>) {
        let (mut reader, header) =
            ReportReader::open(xml.as_bytes(), &ParseOptions::default()).expect("the header");
        let mut records = Vec::new();
        while let Some(record) = reader.next_record().expect("a record") {
            records.push(record);
        }
        let warnings = reader.warnings();
        (header, records, warnings)
    }

    #[test]
    fn every_field_set_in_the_builder_is_read_back_by_the_parser() {
        let report =
            Report::new("Mail.example", "example.com", "id-7", 1_700_000_000, 1_700_086_399)
                .email("dmarc@mail.example")
                .extra_contact_info("https://mail.example/dmarc")
                .policy("adkim=s; aspf=r; p=quarantine; sp=reject; np=none; pct=50; fo=1")
                .record(
                    Record::new("192.0.2.1", 12)
                        .evaluated(true, false)
                        .disposition("quarantine")
                        .reason("forwarded", None)
                        .reason("local_policy", Some("arc=pass"))
                        .header_from("news.example.com")
                        .envelope_from("bounce.example.com")
                        .dkim("example.com", "pass")
                        .dkim_signed("esp.example", Some("k2"), "fail")
                        .dkim_signed("lists.example.net", None, "temperror")
                        .spf("bounce.example.com", "softfail")
                        .spf_scoped("mx.example.com", Some("helo"), "pass"),
                )
                .record(Record::new("2001:db8::1", 3));
        let (header, records, warnings) = parse(&report.xml());
        assert!(warnings.is_empty(), "{warnings:?}");

        assert_eq!(header.version.as_deref(), Some("1.0"));
        assert_eq!(header.org_name, "Mail.example");
        assert_eq!(header.email.as_deref(), Some("dmarc@mail.example"));
        assert_eq!(header.extra_contact_info.as_deref(), Some("https://mail.example/dmarc"));
        assert_eq!(
            (header.report_id.as_str(), header.begin, header.end),
            ("id-7", 1_700_000_000, 1_700_086_399)
        );
        let p = &header.policy;
        assert_eq!(p.domain, "example.com");
        assert_eq!(p.adkim.as_ref().map(|a| a.as_str()), Some("s"));
        assert_eq!(p.aspf.as_ref().map(|a| a.as_str()), Some("r"));
        assert_eq!(p.p.as_ref().map(|x| x.as_str()), Some("quarantine"));
        assert_eq!(p.sp.as_ref().map(|x| x.as_str()), Some("reject"));
        assert_eq!(p.np.as_ref().map(|x| x.as_str()), Some("none"));
        assert_eq!((p.pct, p.fo.as_deref()), (Some(50), Some("1")));

        assert_eq!(records.len(), 2);
        let r = &records[0];
        assert_eq!((r.source_ip.as_str(), r.count), ("192.0.2.1", 12));
        assert_eq!(r.disposition.as_ref().map(|d| d.as_str()), Some("quarantine"));
        assert_eq!(r.dkim.as_ref().map(|d| d.as_str()), Some("pass"));
        assert_eq!(r.spf.as_ref().map(|d| d.as_str()), Some("fail"));
        let reasons: Vec<(Option<&str>, Option<&str>)> = r
            .reasons
            .iter()
            .map(|x| (x.kind.as_ref().map(|k| k.as_str()), x.comment.as_deref()))
            .collect();
        assert_eq!(reasons, [(Some("forwarded"), None), (Some("local_policy"), Some("arc=pass"))]);
        assert_eq!(r.header_from.as_deref(), Some("news.example.com"));
        assert_eq!(r.envelope_from.as_deref(), Some("bounce.example.com"));
        let dkim: Vec<(&str, Option<&str>, Option<&str>)> = r
            .dkim_results
            .iter()
            .map(|d| {
                (d.domain.as_str(), d.selector.as_deref(), d.result.as_ref().map(|x| x.as_str()))
            })
            .collect();
        assert_eq!(
            dkim,
            [
                ("example.com", Some("s1"), Some("pass")),
                ("esp.example", Some("k2"), Some("fail")),
                ("lists.example.net", None, Some("temperror")),
            ]
        );
        let spf: Vec<(&str, Option<&str>, Option<&str>)> = r
            .spf_results
            .iter()
            .map(|s| {
                (
                    s.domain.as_str(),
                    s.scope.as_ref().map(|x| x.as_str()),
                    s.result.as_ref().map(|x| x.as_str()),
                )
            })
            .collect();
        assert_eq!(
            spf,
            [
                ("bounce.example.com", None, Some("softfail")),
                ("mx.example.com", Some("helo"), Some("pass"))
            ]
        );

        // The defaults: the report's domain as header_from, delivered,
        // nothing passing, no envelope_from, no results.
        let r = &records[1];
        assert_eq!((r.source_ip.as_str(), r.count), ("2001:db8::1", 3));
        assert_eq!(r.header_from.as_deref(), Some("example.com"));
        assert_eq!(r.disposition.as_ref().map(|d| d.as_str()), Some("none"));
        assert!(!r.dmarc_pass());
        assert!(r.reasons.is_empty() && r.envelope_from.is_none());
        assert!(r.dkim_results.is_empty() && r.spf_results.is_empty());
    }

    #[test]
    fn a_new_report_publishes_p_none_with_relaxed_alignment_and_a_default_email() {
        let (header, records, _) =
            parse(&Report::new("r.example", "example.org", "1", 0, 86_399).xml());
        assert!(records.is_empty());
        assert_eq!(header.email.as_deref(), Some("noreply-dmarc@r.example"));
        assert_eq!(header.extra_contact_info, None);
        let p = &header.policy;
        assert_eq!(p.p.as_ref().map(|x| x.as_str()), Some("none"));
        assert_eq!(p.sp.as_ref().map(|x| x.as_str()), Some("none"));
        assert_eq!(p.adkim.as_ref().map(|x| x.as_str()), Some("r"));
        assert_eq!(p.pct, Some(100));
    }

    #[test]
    fn policy_writes_only_the_tags_it_is_given() {
        let report = Report::new("r.example", "example.org", "1", 0, 86_399).policy(" p=reject ;");
        assert_eq!(report.policy, [("p".to_owned(), "reject".to_owned())]);
        let (header, _, _) = parse(&report.xml());
        assert_eq!(header.policy.p.as_ref().map(|x| x.as_str()), Some("reject"));
        assert_eq!((header.policy.sp.as_ref(), header.policy.adkim.as_ref()), (None, None));
    }

    #[test]
    #[should_panic(expected = "is not tag=value")]
    fn a_policy_part_without_a_value_is_refused() {
        let _ = Report::new("r.example", "example.org", "1", 0, 86_399).policy("<p>none</p>");
    }

    #[test]
    fn head_records_and_tail_written_one_by_one_make_the_same_document() {
        let report = Report::new("r.example", "example.org", "1", 0, 86_399)
            .record(Record::new("192.0.2.1", 1).dkim("example.org", "pass"))
            .record(Record::new("192.0.2.2", 2).spf("example.org", "fail"));
        let mut streamed = report.head();
        for record in &report.records {
            record.write(&mut streamed, &report.domain);
        }
        streamed.push_str(TAIL);
        assert_eq!(streamed, report.xml());
    }

    #[test]
    fn report_xml_alternates_passing_and_failing_records() {
        let xml = report_xml(
            "r.example",
            "example.org",
            "1",
            0,
            86_399,
            &[("192.0.2.1", 5), ("192.0.2.2", 7)],
        );
        let (_, records, _) = parse(&xml);
        let pass: Vec<(u64, bool)> = records.iter().map(|r| (r.count, r.dmarc_pass())).collect();
        assert_eq!(pass, [(5, true), (7, false)]);
    }
}

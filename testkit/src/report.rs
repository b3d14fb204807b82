//! Aggregate report XML (RFC 7489 Appendix C), built in code.
//!
//! [`Report`] holds a header and [`Record`]s and writes them as a reporter
//! would, indented; [`report_xml`] is the short form most tests need.

use std::fmt::Write as _;

/// One `<record>`.
#[derive(Debug, Clone)]
pub struct Record {
    /// `<source_ip>`, as written (it may be anything).
    pub source_ip: String,
    /// `<count>`.
    pub count: u64,
    /// `<disposition>`.
    pub disposition: &'static str,
    /// The DMARC evaluation of DKIM (`<policy_evaluated><dkim>`): pass or fail.
    pub dkim: bool,
    /// The DMARC evaluation of SPF: pass or fail.
    pub spf: bool,
    /// `<header_from>`; the report's domain when `None`.
    pub header_from: Option<String>,
    /// `<auth_results><dkim>`: `(domain, selector, result)`.
    pub dkim_auth: Vec<(String, String, &'static str)>,
    /// `<auth_results><spf>`: `(domain, result)`.
    pub spf_auth: Vec<(String, &'static str)>,
}

impl Record {
    /// `count` messages from `source_ip`, delivered, with no results yet
    /// (both evaluations fail, no `<auth_results>` entries).
    pub fn new(source_ip: impl Into<String>, count: u64) -> Self {
        Record {
            source_ip: source_ip.into(),
            count,
            disposition: "none",
            dkim: false,
            spf: false,
            header_from: None,
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

    /// A DKIM signature of `domain` (selector `s1`) with `result`.
    pub fn dkim(mut self, domain: &str, result: &'static str) -> Self {
        self.dkim_auth.push((domain.to_owned(), "s1".to_owned(), result));
        self
    }

    /// An SPF check of `domain` with `result`.
    pub fn spf(mut self, domain: &str, result: &'static str) -> Self {
        self.spf_auth.push((domain.to_owned(), result));
        self
    }
}

/// One aggregate report.
#[derive(Debug, Clone)]
pub struct Report {
    /// `<org_name>` (the email is `noreply-dmarc@` it).
    pub org: String,
    /// `<policy_published><domain>`.
    pub domain: String,
    /// `<report_id>`.
    pub report_id: String,
    /// `<date_range><begin>`, Unix seconds.
    pub begin: i64,
    /// `<date_range><end>`, Unix seconds.
    pub end: i64,
    /// The tags of `<policy_published>` after `<domain>`, as XML.
    pub policy: String,
    /// The records, in order.
    pub records: Vec<Record>,
}

impl Report {
    /// A report of `org` for `domain` over `begin..=end`, publishing
    /// `p=none` with relaxed alignment, without records.
    pub fn new(org: &str, domain: &str, report_id: &str, begin: i64, end: i64) -> Self {
        Report {
            org: org.to_owned(),
            domain: domain.to_owned(),
            report_id: report_id.to_owned(),
            begin,
            end,
            policy: "<adkim>r</adkim><aspf>r</aspf><p>none</p><sp>none</sp><pct>100</pct>".into(),
            records: Vec::new(),
        }
    }

    /// Replaces the published tags after `<domain>` (`<p>reject</p>` ...).
    pub fn policy(mut self, tags: &str) -> Self {
        self.policy = tags.to_owned();
        self
    }

    /// Adds a record.
    pub fn record(mut self, record: Record) -> Self {
        self.records.push(record);
        self
    }

    /// The document.
    pub fn xml(&self) -> String {
        let (org, domain) = (&self.org, &self.domain);
        let mut xml = String::with_capacity(600 + 700 * self.records.len());
        let _ = write!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<feedback>\n  <version>1.0</version>\n  \
             <report_metadata>\n    <org_name>{org}</org_name>\n    \
             <email>noreply-dmarc@{org}</email>\n    <report_id>{}</report_id>\n    \
             <date_range>\n      <begin>{}</begin>\n      <end>{}</end>\n    </date_range>\n  \
             </report_metadata>\n  <policy_published>\n    <domain>{domain}</domain>\n    \
             {}\n  </policy_published>\n",
            self.report_id, self.begin, self.end, self.policy
        );
        let word = |pass: bool| if pass { "pass" } else { "fail" };
        for r in &self.records {
            let _ = write!(
                xml,
                "  <record>\n    <row>\n      <source_ip>{}</source_ip>\n      \
                 <count>{}</count>\n      <policy_evaluated>\n        \
                 <disposition>{}</disposition>\n        <dkim>{}</dkim>\n        \
                 <spf>{}</spf>\n      </policy_evaluated>\n    </row>\n    <identifiers>\n      \
                 <header_from>{}</header_from>\n    </identifiers>\n    <auth_results>\n",
                r.source_ip,
                r.count,
                r.disposition,
                word(r.dkim),
                word(r.spf),
                r.header_from.as_deref().unwrap_or(domain)
            );
            for (d, selector, result) in &r.dkim_auth {
                let _ = write!(
                    xml,
                    "      <dkim>\n        <domain>{d}</domain>\n        \
                     <selector>{selector}</selector>\n        <result>{result}</result>\n      \
                     </dkim>\n"
                );
            }
            for (d, result) in &r.spf_auth {
                let _ = write!(
                    xml,
                    "      <spf>\n        <domain>{d}</domain>\n        \
                     <result>{result}</result>\n      </spf>\n"
                );
            }
            xml.push_str("    </auth_results>\n  </record>\n");
        }
        xml.push_str("</feedback>\n");
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

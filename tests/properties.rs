//! Property tests: the pipeline never panics on any input, and what a
//! report says survives parsing and storage whatever casing, padding and
//! escaping the reporter used.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;

use dmarc_report::ingest::{FailureKind, Ingester};
use dmarc_report::limits::Limits;
use dmarc_report::parse::{ParseOptions, ReportReader};
use dmarc_report::store::Store;
use dmarc_report::unpack::Hints;
use proptest::prelude::*;

fn ingest(bytes: &[u8]) -> (Store, dmarc_report::ingest::InputOutcome) {
    let store = Store::open_in_memory().unwrap();
    let outcome = {
        let mut ingester = Ingester::new(&store, Limits::default());
        let outcome = ingester.ingest_bytes("input", bytes, &Hints::default()).unwrap();
        ingester.finish().unwrap();
        outcome
    };
    (store, outcome)
}

/// The outcome is consistent with what was stored.
fn check_consistent(store: &Store, outcome: &dmarc_report::ingest::InputOutcome) {
    let reports = store.inspect().counts().unwrap().reports;
    assert_eq!(reports, outcome.reports_new);
    let failures = store.failures().unwrap().len();
    assert_eq!(failures, usize::from(!outcome.is_ok()));
    if !outcome.is_ok() {
        assert!(
            outcome.errors.iter().all(|e| e.location.starts_with("input")),
            "{:?}",
            outcome.errors
        );
    }
}

/// Plain XML of some sample reports, as seeds for mutation.
fn seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for path in [
        "sample-reports/quirks",
        "sample-reports/example.org/google.com",
        "sample-reports/example.org/enterprise.protection.outlook.com",
    ] {
        for file in dmarc_report::fetch::files::expand(std::path::Path::new(path), &[]) {
            let file = file.unwrap();
            let bytes = std::fs::read(&file).unwrap();
            if bytes.starts_with(&[0x1f, 0x8b]) {
                let mut xml = Vec::new();
                flate2::read::GzDecoder::new(&bytes[..]).read_to_end(&mut xml).unwrap();
                out.push(xml);
            } else if file.extension().is_some_and(|e| e == "xml") {
                out.push(bytes);
            }
        }
    }
    assert!(out.len() >= 3, "too few seeds");
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic_and_are_kept_when_refused(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let (store, outcome) = ingest(&bytes);
        check_consistent(&store, &outcome);
    }

    #[test]
    fn xml_looking_garbage_never_panics(
        parts in proptest::collection::vec(
            prop_oneof![
                Just("<feedback>".to_owned()), Just("</feedback>".to_owned()),
                Just("<record>".to_owned()), Just("</record>".to_owned()),
                Just("<row><count>1</count></row>".to_owned()),
                Just("<report_metadata><report_id>x</report_id><date_range><begin>1</begin><end>2</end></date_range></report_metadata>".to_owned()),
                Just("<policy_published><domain>a.example</domain></policy_published>".to_owned()),
                Just("<![CDATA[x]]>".to_owned()), Just("&amp;".to_owned()), Just("&#0;".to_owned()),
                Just("<?xml version='1.0' encoding='windows-1252'?>".to_owned()),
                Just("<extension>".to_owned()), Just("</extension>".to_owned()),
                "[a-z<>/ =\"']{0,12}",
            ],
            0..40,
        )
    ) {
        let doc = parts.concat();
        let (store, outcome) = ingest(doc.as_bytes());
        check_consistent(&store, &outcome);
    }

    #[test]
    fn mutated_real_reports_never_panic(seed in 0usize..64, edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..4), 1..8)) {
        let seeds = seeds();
        let mut doc = seeds[seed % seeds.len()].clone();
        for (at, byte, op) in edits {
            if doc.is_empty() { break; }
            let i = at.index(doc.len());
            match op {
                0 => doc[i] = byte,
                1 => { doc.remove(i); }
                2 => doc.insert(i, byte),
                _ => doc.truncate(i),
            }
        }
        let (store, outcome) = ingest(&doc);
        check_consistent(&store, &outcome);
    }
}

/// One generated record and how the reporter wrote it.
#[derive(Debug, Clone)]
struct GenRecord {
    ip: std::net::Ipv4Addr,
    count: u64,
    disposition: &'static str,
    dkim: &'static str,
    spf: &'static str,
    dkim_domains: Vec<String>,
    header_from: String,
}

fn gen_record() -> impl Strategy<Value = GenRecord> {
    (
        any::<[u8; 4]>(),
        0u64..=dmarc_report::parse::lenient::MAX_COUNT,
        prop::sample::select(vec!["none", "quarantine", "reject", "pass"]),
        prop::sample::select(vec!["pass", "fail"]),
        prop::sample::select(vec!["pass", "fail"]),
        proptest::collection::vec("[a-z]{1,8}\\.(example|test)", 0..3),
        "[a-z]{1,8}\\.example",
    )
        .prop_map(|(ip, count, disposition, dkim, spf, dkim_domains, header_from)| GenRecord {
            ip: ip.into(),
            count,
            disposition,
            dkim,
            spf,
            dkim_domains,
            header_from,
        })
}

/// Writes a value the way sloppy reporters do: random case and padding.
fn sloppy(value: &str, style: u8) -> String {
    let cased = match style % 3 {
        0 => value.to_owned(),
        1 => value.to_ascii_uppercase(),
        _ => {
            let mut c = value.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
        }
    };
    if style & 4 != 0 { format!("\n  {cased}\t") } else { cased }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn what_a_report_says_survives_casing_padding_and_escaping(
        org in "[ -~]{1,30}",
        records in proptest::collection::vec(gen_record(), 0..20),
        style in any::<u8>(),
    ) {
        // Written by hand on purpose: padded, re-cased values in every
        // element, which the shared report builder does not write.
        let mut xml = format!(
            "<?xml version=\"1.0\"?><feedback><report_metadata><org_name>{}</org_name>\
             <report_id>r1</report_id><date_range><begin>100</begin><end>200</end></date_range>\
             </report_metadata><policy_published><domain>{}</domain><p>{}</p></policy_published>",
            escape(&org),
            sloppy("example.com", style),
            sloppy("quarantine", style)
        );
        for r in &records {
            xml.push_str(&format!(
                "<record><row><source_ip> {} </source_ip><count>{}</count><policy_evaluated>\
                 <disposition>{}</disposition><dkim>{}</dkim><spf>{}</spf></policy_evaluated></row>\
                 <identifiers><header_from>{}</header_from></identifiers><auth_results>",
                r.ip, r.count, sloppy(r.disposition, style), sloppy(r.dkim, style),
                sloppy(r.spf, style), sloppy(&r.header_from, style)
            ));
            for d in &r.dkim_domains {
                xml.push_str(&format!("<dkim><domain>{d}</domain><result>{}</result></dkim>", sloppy("pass", style)));
            }
            xml.push_str("<spf><domain>example.com</domain><result>none</result></spf></auth_results></record>");
        }
        xml.push_str("</feedback>");
        let (mut reader, header) = ReportReader::open(xml.as_bytes(), &ParseOptions::default()).unwrap();
        prop_assert_eq!(header.org_name, org.trim());
        prop_assert_eq!(header.policy.domain, "example.com");
        prop_assert_eq!(header.policy.p.as_ref().unwrap().as_str(), "quarantine");
        for want in &records {
            let got = reader.next_record().unwrap().unwrap();
            prop_assert_eq!(got.source_ip, want.ip.to_string());
            prop_assert_eq!(got.count, want.count);
            prop_assert_eq!(got.disposition.as_ref().unwrap().as_str(), want.disposition);
            prop_assert_eq!(got.dkim.as_ref().unwrap().as_str(), want.dkim);
            prop_assert_eq!(got.spf.as_ref().unwrap().as_str(), want.spf);
            prop_assert_eq!(got.header_from.unwrap(), want.header_from.clone());
            let domains: Vec<String> = got.dkim_results.iter().map(|d| d.domain.clone()).collect();
            prop_assert_eq!(&domains, &want.dkim_domains);
        }
        prop_assert!(reader.next_record().unwrap().is_none());

        // And through the store: the totals are the sums.
        let (store, outcome) = ingest(xml.as_bytes());
        prop_assert!(outcome.is_ok(), "{:?}", outcome.errors);
        let counts = store.inspect().counts().unwrap();
        let (n, sum) = (counts.records, counts.messages);
        prop_assert_eq!(n as usize, records.len());
        prop_assert_eq!(sum as u128, records.iter().map(|r| r.count as u128).sum::<u128>());
    }
}

/// A reader that gives `good` and then panics, as a decoder bug would.
struct PanicsAfter {
    good: Vec<u8>,
    at: usize,
}

impl Read for PanicsAfter {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.at >= self.good.len() {
            panic!("a decoder bug (injected by the test)");
        }
        let n = buf.len().min(self.good.len() - self.at).min(100);
        buf[..n].copy_from_slice(&self.good[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[test]
fn a_panic_while_reading_one_input_fails_that_input_and_the_batch_goes_on() {
    let samples = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("sample-reports/example.org/google.com");
    let mut files: Vec<_> = std::fs::read_dir(&samples)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .collect();
    files.sort();
    assert!(files.len() >= 2, "need two plain XML samples in {}", samples.display());
    let store = Store::open_in_memory().unwrap();
    let mut ingester = Ingester::new(&store, Limits::default());
    let first = std::fs::read(&files[0]).unwrap();
    assert!(ingester.ingest_bytes("first.xml", &first, &Hints::default()).unwrap().is_ok());
    let second = std::fs::read(&files[1]).unwrap();
    // A panic while the input is sniffed (on the calling thread), and one
    // half-way through the report (on the parser thread, inside the
    // report's savepoint).
    for (name, good) in [("panics-early.xml", 200), ("panics.xml", second.len() / 2)] {
        let broken = PanicsAfter { good: second[..good].to_vec(), at: 0 };
        let outcome = ingester.ingest_reader(name, broken, &Hints::default()).unwrap();
        assert_eq!(outcome.errors.len(), 1, "{outcome:?}");
        assert_eq!(outcome.errors[0].kind, FailureKind::Internal, "{outcome:?}");
        assert!(outcome.errors[0].message.contains("internal error"), "{outcome:?}");
    }
    // The batch goes on, and the whole second report can still be stored.
    assert!(ingester.ingest_bytes("second.xml", &second, &Hints::default()).unwrap().is_ok());
    let summary = ingester.finish().unwrap();
    assert_eq!(summary.reports_new, 2, "{summary:?}");
    let reports = store.inspect().counts().unwrap().reports;
    assert_eq!(reports, 2);
    let failed: Vec<String> = store.failures().unwrap().into_iter().map(|f| f.name).collect();
    assert_eq!(failed, ["panics-early.xml", "panics.xml"]);
}

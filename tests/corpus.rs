//! The real-world corpus in `../shared/corpus` (outside this repository):
//! every file listed in its
//! `expected.json` with aggregate reports must yield exactly those reports
//! and totals; every file listed without must be refused with a clear error
//! or recognised as another report type. Nothing may panic.
//!
//! The corpus path can be overridden with `DMARC_REPORT_CORPUS`. Without
//! the corpus the tests say SKIPPED and pass, except under CI (`CI` set to
//! anything but `false` or `0`), where a missing corpus fails them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::totals;

use std::path::PathBuf;

use dmarc_report::ingest::Ingester;
use dmarc_report::limits::Limits;
use dmarc_report::store::Store;

/// The corpus folder; `None` (after saying so) when it is absent outside
/// CI. Under CI an absent corpus is a failure, not a skip.
fn corpus_dir(test: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("DMARC_REPORT_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    if dir.join("expected.json").is_file() {
        return Some(dir);
    }
    let in_ci = std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "false" | "0"));
    assert!(
        !in_ci,
        "{test}: the corpus is not at {} (no expected.json there); under CI it must be present: \
         set DMARC_REPORT_CORPUS to its folder",
        dir.display()
    );
    eprintln!(
        "SKIPPED {test}: the corpus is not at {} (set DMARC_REPORT_CORPUS to run it)",
        dir.display()
    );
    None
}

#[test]
fn every_corpus_file_yields_exactly_its_expected_reports_or_a_clear_error() {
    let Some(dir) = corpus_dir("every_corpus_file_yields_exactly_its_expected_reports") else {
        return;
    };
    let expected = totals::load(&dir.join("expected.json"));
    let (mut with_reports, mut without) = (0, 0);
    let mut problems = Vec::new();
    for (rel, entry) in &expected {
        let path = dir.join(rel);
        let store = Store::open_in_memory().unwrap();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut ingester = Ingester::new(&store, Limits::default());
            ingester.ingest_file(&path).unwrap();
            ingester.finish().unwrap()
        }));
        let summary = match outcome {
            Ok(summary) => summary,
            Err(_) => {
                problems.push(format!("{rel}: PANICKED"));
                continue;
            }
        };
        let want = totals::expected(entry);
        let mut got = totals::stored(&store);
        if want.is_empty() {
            without += 1;
            if !got.is_empty() {
                problems.push(format!("{rel}: holds no aggregate report, but {got:?} was stored"));
            } else if summary.failed.is_empty() || summary.failed.iter().any(|f| f.error.is_empty())
            {
                problems.push(format!("{rel}: not refused with an error"));
            }
            continue;
        }
        with_reports += 1;
        // Where the report has no <policy_published><domain>, the domain is
        // taken from the attachment name (receiver!domain!begin!end), with a
        // warning; the independent reader leaves it empty.
        for (g, w) in got.iter_mut().zip(&want) {
            if w.policy_domain.is_empty()
                && summary.warnings.iter().any(|x| x.contains("has no <domain>; took"))
            {
                g.policy_domain.clear();
            }
        }
        got.sort();
        if got != want {
            problems.push(format!("{rel}:\n  expected {want:?}\n  stored   {got:?}"));
        }
        if !summary.failed.is_empty() {
            problems
                .push(format!("{rel}: reports stored, but also failures: {:?}", summary.failed));
        }
    }
    eprintln!("corpus: {with_reports} files with reports, {without} without");
    assert!(with_reports >= 50 && without >= 5, "too few corpus cases ran");
    assert!(problems.is_empty(), "{} corpus problem(s):\n{}", problems.len(), problems.join("\n"));
}

#[test]
fn non_aggregate_reports_are_named_for_what_they_are() {
    let Some(dir) = corpus_dir("non_aggregate_reports_are_named_for_what_they_are") else {
        return;
    };
    // A forensic mail in plain text, without the standard ARF part, cannot
    // be told from any other mail: "no aggregate report" is right for it.
    const PLAIN_FORENSIC: &str = "exim_plain_text_only_no_arf_part.eml";
    for (sub, says) in
        [("parsedmarc/failure", "failure (ruf) report"), ("parsedmarc/smtp_tls", "SMTP TLS report")]
    {
        let store = Store::open_in_memory().unwrap();
        let mut ingester = Ingester::new(&store, Limits::default());
        ingester.ingest_paths(&[dir.join(sub).display().to_string()]).unwrap();
        let summary = ingester.finish().unwrap();
        assert!(summary.inputs >= 3, "{sub}: too few inputs");
        assert_eq!(summary.failed.len() as u64, summary.inputs, "{sub}: every input fails");
        for f in &summary.failed {
            let explained = f.error.contains(says)
                || (f.input.ends_with(PLAIN_FORENSIC)
                    && f.error.contains("no DMARC aggregate report in this message"));
            assert!(explained, "{sub}: {} is not named a {says}: {}", f.input, f.error);
        }
        assert_eq!(summary.reports_new, 0);
    }
}

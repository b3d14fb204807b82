//! `check` against a real DNS server: dnsmasq on loopback, started here,
//! serving one zone case per finding code (DKIM keys made with openssl at
//! test time), then the comparison with stored reports and the findings
//! shown by `summary`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::dnsmasq::{Dnsmasq, Rr, dkim_key};
use common::{Backend, both_backends, command, run, temp_dir, write_file};
use dmarc_report_testkit::report::{Record, Report};

const GOOD_SPF: &str = "v=spf1 ip4:192.0.2.10 -all";

/// `check` with a database that does not exist: the records alone.
fn check(server: &Dnsmasq, dir: &Path, args: &[&str]) -> common::Run {
    check_with(server, dir, Path::new("check.db"), args)
}

/// `check` with the database `db`: the records against the stored reports.
fn check_with(server: &Dnsmasq, dir: &Path, db: &Path, args: &[&str]) -> common::Run {
    let mut cmd = command(dir);
    cmd.arg("--db").arg(db);
    cmd.args(["check", "--resolver", &server.addr, "--timeout", "2"]);
    cmd.args(args);
    run(&mut cmd)
}

/// The codes found for each domain of a JSON run.
fn codes(json: &serde_json::Value, domain: &str) -> Vec<(String, String)> {
    json["domains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["domain"] == domain)
        .unwrap_or_else(|| panic!("no {domain} in {json:#}"))["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (f["code"].as_str().unwrap().to_owned(), f["severity"].as_str().unwrap().to_owned())
        })
        .collect()
}

#[test]
fn every_finding_code_is_found_in_its_own_zone_case() {
    let k2048 = dkim_key(2048);
    let k1024 = dkim_key(1024);
    let k768 = dkim_key(768);
    let good_dkim = format!("v=DKIM1; k=rsa; p={k2048}");
    let dkim_1024 = format!("v=DKIM1; k=rsa; p={k1024}");
    let dkim_768 = format!("v=DKIM1; k=rsa; p={k768}");
    let dkim_testing = format!("v=DKIM1; t=y; k=rsa; p={k2048}");
    // (domain, expected code, expected severity)
    let cases: &[(&str, &str, &str)] = &[
        ("nodmarc.test", "dmarc-missing", "error"),
        ("multi.test", "dmarc-multiple", "error"),
        ("syntax.test", "dmarc-syntax", "error"),
        ("rua.test", "dmarc-rua-unauthorized", "warning"),
        ("pct.test", "dmarc-pct-historic", "info"),
        ("nospf.test", "spf-missing", "error"),
        ("spfmulti.test", "spf-multiple", "error"),
        // Every record is linted, even when there are several.
        ("spfmulti2.test", "spf-multiple", "error"),
        ("spfmulti2.test", "spf-permissive-all", "error"),
        ("multi2.test", "dmarc-multiple", "error"),
        ("multi2.test", "dmarc-syntax", "error"),
        ("spfsyntax.test", "spf-syntax", "error"),
        ("lookups.test", "spf-too-many-lookups", "error"),
        ("void.test", "spf-void-lookups", "warning"),
        ("plusall.test", "spf-permissive-all", "error"),
        ("soft.test", "spf-softfail-all", "info"),
        ("incmiss.test", "spf-include-missing", "error"),
        ("ptr.test", "spf-ptr", "warning"),
        ("keys.test", "dkim-missing", "error"),
        ("keys.test", "dkim-weak-key", "warning"),
        ("keys.test", "dkim-weak-key", "error"),
        ("keys.test", "dkim-revoked", "warning"),
        ("keys.test", "dkim-testing", "warning"),
        ("keys.test", "dkim-syntax", "error"),
        ("nomx.test", "mx-missing", "info"),
    ];
    let dmarc = "v=DMARC1; p=reject; rua=mailto:dmarc@ok.test";
    let mut records: Vec<Rr<'_>> = vec![
        // A clean domain: nothing to say but the facts.
        Rr::Txt("_dmarc.ok.test", dmarc),
        Rr::Txt("ok.test", GOOD_SPF),
        Rr::Txt("s1._domainkey.ok.test", &good_dkim),
        Rr::Mx("ok.test", "mx.ok.test", 10),
        // An external report address with its authorization record.
        Rr::Txt("_dmarc.rua-ok.test", "v=DMARC1; p=none; rua=mailto:r@reports.elsewhere.test"),
        Rr::Txt("rua-ok.test._report._dmarc.reports.elsewhere.test", "v=DMARC1"),
        Rr::Txt("rua-ok.test", GOOD_SPF),
        Rr::Mx("rua-ok.test", "mx.ok.test", 10),
        Rr::Txt("nodmarc.test", GOOD_SPF),
        Rr::Mx("nodmarc.test", "mx.ok.test", 10),
        Rr::Txt("_dmarc.multi.test", "v=DMARC1; p=none"),
        Rr::Txt("_dmarc.multi.test", "v=DMARC1; p=reject"),
        Rr::Txt("_dmarc.syntax.test", "v=DMARC1; p=maybe; adkim=x; rua=https://example.test/r"),
        Rr::Txt("_dmarc.rua.test", "v=DMARC1; p=none; rua=mailto:r@reports.elsewhere.test"),
        Rr::Txt("_dmarc.pct.test", "v=DMARC1; p=quarantine; pct=50"),
        Rr::Txt("_dmarc.nospf.test", dmarc),
        Rr::Txt("spfmulti.test", GOOD_SPF),
        Rr::Txt("spfmulti.test", "v=spf1 ip4:192.0.2.11 -all"),
        Rr::Txt("spfmulti2.test", GOOD_SPF),
        Rr::Txt("spfmulti2.test", "v=spf1 +all"),
        Rr::Txt("_dmarc.multi2.test", "v=DMARC1; p=none"),
        Rr::Txt("_dmarc.multi2.test", "v=DMARC1; p=bogus"),
        Rr::Txt("multi2.test", GOOD_SPF),
        Rr::Txt("spfsyntax.test", "v=spf1 ip4:999.1.1.1 frobnicate -all"),
        // 1 include + 5 a at the top, 5 a in the include: 11 lookups.
        Rr::Txt(
            "lookups.test",
            "v=spf1 include:chain.lookups.test a:h1.lookups.test a:h2.lookups.test a:h3.lookups.test a:h4.lookups.test a:h5.lookups.test -all",
        ),
        Rr::Txt(
            "chain.lookups.test",
            "v=spf1 a:h1.lookups.test a:h2.lookups.test a:h3.lookups.test a:h4.lookups.test a:h5.lookups.test -all",
        ),
        Rr::Txt("void.test", "v=spf1 a:n1.void.test a:n2.void.test a:n3.void.test -all"),
        Rr::Txt("plusall.test", "v=spf1 +all"),
        Rr::Txt("soft.test", "v=spf1 ip4:192.0.2.10 ~all"),
        Rr::Txt("incmiss.test", "v=spf1 include:gone.incmiss.test -all"),
        Rr::Txt("ptr.test", "v=spf1 ptr -all"),
        Rr::Txt("keys.test", GOOD_SPF),
        Rr::Txt("weak1024._domainkey.keys.test", &dkim_1024),
        Rr::Txt("weak768._domainkey.keys.test", &dkim_768),
        Rr::Txt("revoked._domainkey.keys.test", "v=DKIM1; k=rsa; p="),
        Rr::Txt("testing._domainkey.keys.test", &dkim_testing),
        Rr::Txt("broken._domainkey.keys.test", "v=DKIM1; k=rsa; p=not*base64"),
        Rr::Txt("_dmarc.nomx.test", dmarc),
        Rr::Txt("nomx.test", GOOD_SPF),
    ];
    for h in 1..=5 {
        records.push(Rr::A(
            [
                "h1.lookups.test",
                "h2.lookups.test",
                "h3.lookups.test",
                "h4.lookups.test",
                "h5.lookups.test",
            ][h - 1],
            "192.0.2.1",
        ));
    }
    let server = Dnsmasq::start(&records);
    let dir = temp_dir();
    let mut domains: Vec<&str> = cases.iter().map(|c| c.0).collect();
    domains.dedup();
    let mut args = vec!["--format", "json"];
    for s in ["nokey", "weak1024", "weak768", "revoked", "testing", "broken"] {
        args.extend(["--selector", s]);
    }
    args.extend(domains.iter().copied());
    let out = check(&server, dir.path(), &args);
    assert_eq!(out.code, Some(1), "{out:?}");
    let json = out.json();
    for (domain, code, severity) in cases {
        let found = codes(&json, domain);
        assert!(
            found.iter().any(|(c, s)| c == code && s == severity),
            "{domain}: expected {code} ({severity}), found {found:?}"
        );
    }
    // Every finding has exactly the documented keys.
    let f = &json["domains"][0]["findings"][0];
    let mut keys: Vec<&str> = f.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["code", "fix", "message", "record", "severity"]);
    // The findings quote the record.
    let pct = &json["domains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["domain"] == "pct.test")
        .unwrap()["findings"];
    assert!(pct.to_string().contains("v=DMARC1; p=quarantine; pct=50"), "{pct}");

    // The lookup count goes through the include: 11, not 6.
    let text = check(&server, dir.path(), &["lookups.test"]).stdout;
    assert!(text.contains("needs 11 DNS lookups"), "{text}");

    // A clean domain, and an external rua with its authorization: no error
    // or warning, exit 0.
    for args in [&["--selector", "s1", "ok.test"][..], &["rua-ok.test"][..]] {
        let mut args = args.to_vec();
        args.extend(["--format", "json"]);
        let out = check(&server, dir.path(), &args);
        assert_eq!(out.code, Some(0), "{out:?}");
        let d = args.iter().find(|a| a.ends_with(".test")).unwrap();
        let found = codes(&out.json(), d);
        assert!(found.iter().all(|(_, s)| s == "info"), "{d}: {found:?}");
    }
}

#[test]
fn timeouts_and_servfail_are_findings_and_bad_arguments_are_fatal() {
    // Nobody answers on this port: each lookup times out, the run goes on.
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let silent = socket.local_addr().unwrap().to_string();
    let dir = temp_dir();
    let out = run(command(dir.path()).args([
        "--db",
        "check.db",
        "check",
        "--resolver",
        &silent,
        "--timeout",
        "1",
        "--format",
        "json",
        "quiet.test",
    ]));
    assert_eq!(out.code, Some(1), "{out:?}");
    let found = codes(&out.json(), "quiet.test");
    assert!(found.iter().any(|(c, _)| c == "dns-timeout"), "{found:?}");
    drop(socket);

    // A server that answers SERVFAIL to everything: a finding per lookup.
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let failing = socket.local_addr().unwrap().to_string();
    socket.set_read_timeout(Some(std::time::Duration::from_millis(200))).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let server = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let Ok((n, from)) = socket.recv_from(&mut buf) else { continue };
                if n < 12 {
                    continue;
                }
                // The query back, as a response (QR, RD and RA) with RCODE 2.
                let mut answer = buf[..n].to_vec();
                answer[2] = 0x80 | (buf[2] & 0x01);
                answer[3] = 0x80 | 2;
                let _ = socket.send_to(&answer, from);
            }
        })
    };
    let out = run(command(dir.path()).args([
        "--db",
        "check.db",
        "check",
        "--resolver",
        &failing,
        "--timeout",
        "2",
        "--format",
        "json",
        "broken.test",
    ]));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    server.join().unwrap();
    assert_eq!(out.code, Some(1), "{out:?}");
    let found = codes(&out.json(), "broken.test");
    assert!(found.iter().any(|(c, s)| c == "dns-servfail" && s == "error"), "{found:?}");

    let out = run(command(dir.path()).args([
        "--db",
        "check.db",
        "check",
        "--resolver",
        "not-an-ip",
        "a.test",
    ]));
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("not-an-ip"), "{}", out.stderr);
}

/// 30 days of reports from two large receivers: the domain's own servers
/// (signing with selector `fromreport`) and SendGrid sending with an
/// envelope-from under the domain that fails SPF.
fn store_reports(dir: &Path, db: &Path) {
    store_reports_of(dir, db, "reports.test", "quarantine", true);
}

/// 30 days of reports for `domain` published at `p`: its own servers, and
/// SendGrid failing when `sendgrid`.
fn store_reports_of(dir: &Path, db: &Path, domain: &str, p: &str, sendgrid: bool) {
    let day0 = 1_792_454_400i64;
    let reports = dir.join("reports");
    std::fs::create_dir_all(&reports).unwrap();
    for day in 0..30 {
        for org in ["google.com", "Outlook.com"] {
            let begin = day0 + day * 86_400;
            let mut report =
                Report::new(org, domain, &format!("{org}-{day}"), begin, begin + 86_399)
                    .policy(&format!("p={p}"))
                    .record(
                        Record::new("192.0.2.10", 300)
                            .evaluated(true, true)
                            .envelope_from(domain)
                            .dkim_signed(domain, Some("fromreport"), "pass")
                            .spf(domain, "pass"),
                    );
            if sendgrid {
                report = report.record(sendgrid_record(domain));
            }
            let xml = report.xml();
            write_file(&reports, &format!("{org}-{day}.xml"), xml);
        }
    }
    let out = run(command(dir).arg("--db").arg(db).args(["ingest", "reports"]));
    assert_eq!(out.code, Some(0), "{out:?}");
}

/// SendGrid's record for `domain`: signed as itself, with an envelope-from
/// under the domain that fails SPF.
fn sendgrid_record(domain: &str) -> Record {
    Record::new("167.89.1.1", 40)
        .disposition("quarantine")
        .envelope_from(domain)
        .dkim_signed("sendgrid.net", None, "pass")
        .spf(domain, "fail")
}

both_backends!(a_live_policy_weaker_than_the_reports_support_is_noted_with_the_next_record);
fn a_live_policy_weaker_than_the_reports_support_is_noted_with_the_next_record(backend: Backend) {
    let dkim = format!("v=DKIM1; k=rsa; p={}", dkim_key(2048));
    let server = Dnsmasq::start(&[
        Rr::Txt("_dmarc.ready.test", "v=DMARC1; p=none; rua=mailto:d@ready.test"),
        Rr::Txt("ready.test", GOOD_SPF),
        Rr::Txt("fromreport._domainkey.ready.test", &dkim),
        Rr::Mx("ready.test", "mx.ready.test", 10),
    ]);
    let dir = temp_dir();
    let db = backend.db(dir.path());
    store_reports_of(dir.path(), &db, "ready.test", "none", false);
    let out = check_with(&server, dir.path(), &db, &["--format", "json", "ready.test"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let json = out.json();
    let found = codes(&json, "ready.test");
    assert!(
        found.iter().any(|(c, s)| c == "dmarc-policy-weaker-than-evidence" && s == "info"),
        "{found:?}"
    );
    // The next record is shown against the live one.
    let next = json["domains"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "dmarc-next-record")
        .unwrap_or_else(|| panic!("{json:#}"))
        .clone();
    let message = next["message"].as_str().unwrap();
    assert!(message.contains("live: \"v=DMARC1; p=none; rua=mailto:d@ready.test\""), "{message}");
    assert!(message.contains("next, from the reports: \"v=DMARC1; p=quarantine;"), "{message}");
    // The live report address goes on in the next record.
    assert!(message.ends_with("; rua=mailto:d@ready.test\""), "{message}");
    // summary shows it beside the verdict.
    let out = run(command(dir.path()).arg("--db").arg(&db).args(["summary", "--color", "never"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("READY-FOR-QUARANTINE"), "{}", out.stdout);
    assert!(out.stdout.contains("dmarc-next-record"), "{}", out.stdout);
    assert!(out.stdout.contains("dmarc-policy-weaker-than-evidence"), "{}", out.stdout);
}

both_backends!(the_next_record_keeps_the_rua_and_ruf_of_the_live_record_when_the_config_has_none);
fn the_next_record_keeps_the_rua_and_ruf_of_the_live_record_when_the_config_has_none(
    backend: Backend,
) {
    let dkim = format!("v=DKIM1; k=rsa; p={}", dkim_key(2048));
    let live = "v=DMARC1; p=none; rua=mailto:d@kept.test; ruf=mailto:f@kept.test";
    let server = Dnsmasq::start(&[
        Rr::Txt("_dmarc.kept.test", live),
        Rr::Txt("kept.test", GOOD_SPF),
        Rr::Txt("fromreport._domainkey.kept.test", &dkim),
        Rr::Mx("kept.test", "mx.kept.test", 10),
    ]);
    let dir = temp_dir();
    let db = backend.db(dir.path());
    store_reports_of(dir.path(), &db, "kept.test", "none", false);
    let readiness = |dir: &std::path::Path| {
        let out = run(command(dir).arg("--db").arg(&db).args(["summary", "--format", "json"]));
        assert_eq!(out.code, Some(0), "{out:?}");
        out.json()["domains"][0]["readiness"].clone()
    };
    // Before any check, nothing says where reports go: the record has no
    // rua, and the advice says it is needed.
    let before = readiness(dir.path());
    assert_eq!(before["recommended_record"], "v=DMARC1; p=quarantine; np=reject; pct=25; t=y");
    assert!(
        before["advice"].to_string().contains("the next record needs your rua= tag"),
        "{before:#}"
    );
    // After a check, the published rua and ruf go on in the next record
    // and every step of its ramp.
    let out = check_with(&server, dir.path(), &db, &["kept.test"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let after = readiness(dir.path());
    assert_eq!(
        after["recommended_record"],
        "v=DMARC1; p=quarantine; np=reject; pct=25; t=y; rua=mailto:d@kept.test; ruf=mailto:f@kept.test"
    );
    for step in after["ramp"].as_array().unwrap() {
        assert!(
            step.as_str().unwrap().ends_with("; rua=mailto:d@kept.test; ruf=mailto:f@kept.test"),
            "{step}"
        );
    }
    assert!(
        after["advice"].to_string().contains(
            "rua=mailto:d@kept.test and ruf=mailto:f@kept.test kept from the record published at _dmarc.kept.test"
        ),
        "{after:#}"
    );
}

// SQLite only: no database file is created.
#[test]
fn check_without_a_database_lints_the_live_records_and_creates_none() {
    let server = Dnsmasq::start(&[
        Rr::Txt("_dmarc.nodb.test", "v=DMARC1; p=none"),
        Rr::Txt("nodb.test", "v=spf1 +all"),
    ]);
    let dir = temp_dir();
    let out = run(command(dir.path()).args([
        "--db",
        "absent/dmarc.db",
        "check",
        "--resolver",
        &server.addr,
        "--timeout",
        "2",
        "--format",
        "json",
        "nodb.test",
    ]));
    assert_eq!(out.code, Some(1), "{out:?}");
    let found = codes(&out.json(), "nodb.test");
    assert!(found.iter().any(|(c, _)| c == "spf-permissive-all"), "{found:?}");
    assert!(!found.iter().any(|(c, _)| c.starts_with("dmarc-policy-")), "{found:?}");
    assert!(out.stderr.contains("no database at"), "{}", out.stderr);
    assert!(!dir.path().join("absent").exists(), "check created the database");
}

both_backends!(the_live_records_are_compared_with_the_reports_and_shown_by_summary);
fn the_live_records_are_compared_with_the_reports_and_shown_by_summary(backend: Backend) {
    let key = dkim_key(2048);
    let dkim = format!("v=DKIM1; k=rsa; p={key}");
    let server = Dnsmasq::start(&[
        Rr::Txt("_dmarc.reports.test", "v=DMARC1; p=quarantine; rua=mailto:d@reports.test"),
        Rr::Txt("reports.test", GOOD_SPF),
        Rr::Txt("fromreport._domainkey.reports.test", &dkim),
        Rr::Mx("reports.test", "mx.reports.test", 10),
    ]);
    let dir = temp_dir();
    let db = backend.db(dir.path());
    store_reports(dir.path(), &db);
    let out = check_with(&server, dir.path(), &db, &["--format", "json", "reports.test"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let found = codes(&out.json(), "reports.test");
    // SendGrid fails SPF with our envelope-from, and the record lacks its include.
    assert!(found.iter().any(|(c, _)| c == "spf-include-forgotten"), "{found:?}");
    assert!(found.iter().any(|(c, _)| c == "spf-report-passes"), "{found:?}");
    // The verdict is not-ready for quarantine, yet p=quarantine is live.
    assert!(found.iter().any(|(c, _)| c == "dmarc-policy-stricter-than-evidence"), "{found:?}");
    // It names the mail that is lost.
    assert!(
        out.stdout.contains("legitimate mail is being lost (SendGrid: 2,400 messages)"),
        "{}",
        out.stdout
    );
    // The selector seen in the reports was checked, and its key is fine.
    assert!(!found.iter().any(|(c, _)| c.starts_with("dkim-")), "{found:?}");
    let text = check_with(&server, dir.path(), &db, &["reports.test"]).stdout;
    assert!(text.contains("include:sendgrid.net"), "{text}");

    // The selector is looked up: remove its key and it is missing.
    drop(server);
    let server = Dnsmasq::start(&[
        Rr::Txt("_dmarc.reports.test", "v=DMARC1; p=quarantine"),
        Rr::Txt("reports.test", GOOD_SPF),
    ]);
    let out = check_with(&server, dir.path(), &db, &["--format", "json", "reports.test"]);
    let found = codes(&out.json(), "reports.test");
    assert!(found.iter().any(|(c, _)| c == "dkim-missing"), "{found:?}");
    assert_eq!(out.code, Some(1));

    // summary shows the newest check next to the verdict.
    let out = run(command(dir.path()).arg("--db").arg(&db).args(["summary", "--color", "never"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("Live records"), "{}", out.stdout);
    assert!(out.stdout.contains("dkim-missing"), "{}", out.stdout);
    let out = run(command(dir.path()).arg("--db").arg(&db).args(["summary", "--format", "json"]));
    let json = out.json();
    let check = &json["domains"][0]["record_check"];
    assert!(check["checked_at"].as_str().unwrap().ends_with('Z'), "{check}");
    assert!(check["findings"].to_string().contains("dkim-missing"), "{check}");
}

#[test]
fn each_dmarc_syntax_problem_is_named_in_its_finding() {
    // (domain, record, what the message says, severity)
    let cases: &[(&str, &str, &str, &str)] = &[
        // A record that does not start with v=DMARC1 is no DMARC record
        // (dmarc-missing above); a repeated tag is a syntax error.
        ("twice.test", "v=DMARC1; p=none; p=reject", "the tag p appears twice", "error"),
        ("nop.test", "v=DMARC1; rua=mailto:d@nop.test", "there is no p= tag", "error"),
        ("sp.test", "v=DMARC1; p=none; sp=maybe", "sp=maybe is not a policy", "error"),
        ("np.test", "v=DMARC1; p=none; np=drop", "np=drop is not a policy", "error"),
        ("aspf.test", "v=DMARC1; p=none; aspf=x", "aspf=x is not an alignment mode", "error"),
        ("tag.test", "v=DMARC1; p=none; pcx=5", "unknown tag pcx", "warning"),
        ("uri.test", "v=DMARC1; p=none; rua=dmarc@uri.test", "is not a mailto: URI", "error"),
        ("addr.test", "v=DMARC1; p=none; rua=mailto:nobody", "has no valid address", "error"),
        ("pair.test", "v=DMARC1; p=none; junk", "\"junk\" is not a tag=value pair", "error"),
    ];
    let mut records: Vec<Rr<'_>> = Vec::new();
    let names: Vec<String> = cases.iter().map(|c| format!("_dmarc.{}", c.0)).collect();
    for (case, name) in cases.iter().zip(&names) {
        records.push(Rr::Txt(name, case.1));
        records.push(Rr::Txt(case.0, GOOD_SPF));
    }
    let server = Dnsmasq::start(&records);
    let dir = temp_dir();
    let mut args = vec!["--format", "json"];
    args.extend(cases.iter().map(|c| c.0));
    let out = check(&server, dir.path(), &args);
    assert_eq!(out.code, Some(1), "{out:?}");
    let json = out.json();
    for (domain, record, says, severity) in cases {
        let findings = json["domains"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["domain"] == *domain)
            .unwrap()["findings"]
            .as_array()
            .unwrap()
            .clone();
        assert!(
            findings.iter().any(|f| f["code"] == "dmarc-syntax"
                && f["severity"] == *severity
                && f["message"].as_str().unwrap().contains(says)
                && f["message"].as_str().unwrap().contains(record)),
            "{domain}: expected dmarc-syntax ({severity}) saying {says:?}, found {findings:#?}"
        );
    }
}

//! `dmarc-report summary` end to end: the built binary over a database of
//! the bundled samples, in each output format, with the window flags, and
//! its errors.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::sync::OnceLock;

use common::{Backend, TestDb, both_backends, command, run, temp_dir};

/// One database of the samples per backend for the whole file (ingested
/// once).
fn samples_db(backend: Backend) -> &'static TestDb {
    static DB: [OnceLock<TestDb>; 2] = [OnceLock::new(), OnceLock::new()];
    DB[backend as usize].get_or_init(|| {
        let dir = temp_dir().keep();
        let db = backend.db_named(&dir, "samples");
        let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-reports");
        let out = run(command(&dir).arg("--db").arg(&db).arg("ingest").arg(&samples));
        // The malformed samples fail on purpose: exit 1.
        assert_eq!(out.code, Some(1), "{out:?}");
        db
    })
}

fn summary(backend: Backend, args: &[&str]) -> common::Run {
    let dir = temp_dir();
    run(command(dir.path()).arg("--db").arg(samples_db(backend)).arg("summary").args(args))
}

both_backends!(json_output_keeps_the_contract_and_tells_the_samples_story);
fn json_output_keeps_the_contract_and_tells_the_samples_story(backend: Backend) {
    let out = summary(backend, &["--format", "json"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let v = out.json();
    assert_eq!(v["window"]["begin"], "2026-10-20T00:00:00Z");
    assert_eq!(v["window"]["end"], "2026-11-19T00:00:00Z");
    let domains = v["domains"].as_array().unwrap();
    assert_eq!(domains.len(), 2);
    for d in domains {
        for key in [
            "domain",
            "reports",
            "reporters",
            "messages",
            "dmarc_pass",
            "spf_aligned_pass",
            "dkim_aligned_pass",
            "disposition",
            "published_policy",
            "senders",
            "sources",
            "readiness",
        ] {
            assert!(d.get(key).is_some(), "{key} missing in {}", d["domain"]);
        }
        for key in ["none", "quarantine", "reject"] {
            assert!(d["disposition"][key].is_u64(), "{key}");
        }
        for key in ["verdict", "reasons", "blocking", "what_if", "recommended_record"] {
            assert!(d["readiness"].get(key).is_some(), "readiness.{key}");
        }
        let sources = d["sources"].as_array().unwrap();
        let sum: u64 = sources.iter().map(|s| s["messages"].as_u64().unwrap()).sum();
        assert_eq!(sum, d["messages"].as_u64().unwrap());
        for s in sources {
            for key in [
                "ip",
                "sender",
                "class",
                "messages",
                "dmarc_pass",
                "spf_aligned_pass",
                "dkim_aligned_pass",
            ] {
                assert!(s.get(key).is_some(), "source.{key}");
            }
        }
    }
    let com = &domains[0];
    assert_eq!(com["domain"], "example.com");
    assert_eq!(com["messages"], 70_400);
    assert_eq!(com["dmarc_pass"], 67_563);
    assert_eq!(com["readiness"]["verdict"], "ready-for-quarantine");
    assert_eq!(com["published_policy"]["p"], "none");
    assert_eq!(com["published_policy"]["changes"][0]["tag"], "testing");
    assert_eq!(com["published_policy"]["changes"][0]["day"], "2026-11-17");
    let org = &domains[1];
    assert_eq!(org["domain"], "example.org");
    assert_eq!(org["readiness"]["verdict"], "not-ready");
    let blocking = org["readiness"]["blocking"].as_array().unwrap();
    let names: Vec<&str> = blocking.iter().map(|b| b["sender"].as_str().unwrap()).collect();
    assert_eq!(names, ["SendGrid", "Zendesk"]);
    assert_eq!(blocking[0]["messages"], 10_806);
    assert_eq!(blocking[1]["messages"], 146);
    assert_eq!(org["readiness"]["what_if"]["authorized_affected"], 10_806 + 146);
    let zendesk =
        org["senders"].as_array().unwrap().iter().find(|s| s["name"] == "Zendesk").unwrap();
    assert_eq!(zendesk["new"], true);
    assert_eq!(zendesk["class"], "misconfigured");
}

both_backends!(json_and_csv_list_every_source_in_address_order_with_its_sender_and_class);
fn json_and_csv_list_every_source_in_address_order_with_its_sender_and_class(backend: Backend) {
    let json = summary(backend, &["--format", "json"]).json();
    let mut all = Vec::new();
    for d in json["domains"].as_array().unwrap() {
        let senders: std::collections::BTreeMap<&str, &str> = d["senders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["name"].as_str().unwrap(), s["class"].as_str().unwrap()))
            .collect();
        let sources = d["sources"].as_array().unwrap();
        let ips: Vec<&str> = sources.iter().map(|s| s["ip"].as_str().unwrap()).collect();
        let mut sorted = ips.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(ips, sorted, "{}: sources in byte order of the address", d["domain"]);
        for s in sources {
            let sender = s["sender"].as_str().unwrap();
            assert_eq!(senders.get(sender), Some(&s["class"].as_str().unwrap()), "{s}");
        }
        all.extend(ips.iter().map(|ip| format!("{},{ip}", d["domain"].as_str().unwrap())));
    }
    let csv = summary(backend, &["--format", "csv"]);
    let rows: Vec<String> = csv
        .stdout
        .lines()
        .skip(1)
        .map(|l| l.splitn(3, ',').take(2).collect::<Vec<_>>().join(","))
        .collect();
    assert_eq!(rows, all, "CSV rows in the order of the JSON sources");
}

both_backends!(csv_has_one_row_per_source_and_domain);
fn csv_has_one_row_per_source_and_domain(backend: Backend) {
    let out = summary(backend, &["--format", "csv"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let mut lines = out.stdout.lines();
    let header = lines.next().unwrap();
    assert!(
        header.starts_with("domain,ip,reverse_dns,sender,class,messages,dmarc_pass"),
        "{header}"
    );
    let json = summary(backend, &["--format", "json"]).json();
    let sources: usize = json["domains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["sources"].as_array().unwrap().len())
        .sum();
    assert_eq!(lines.count(), sources);
    assert!(out.stdout.contains("example.org,167.89."), "SendGrid rows");
}

both_backends!(the_table_fits_100_columns_and_colours_only_when_asked);
fn the_table_fits_100_columns_and_colours_only_when_asked(backend: Backend) {
    let plain = summary(backend, &["--color", "never"]);
    assert_eq!(plain.code, Some(0), "{plain:?}");
    for line in plain.stdout.lines() {
        assert!(line.chars().count() <= 100, "{} columns: {line}", line.chars().count());
    }
    assert!(!plain.stdout.contains('\x1b'));
    assert!(plain.stdout.contains("READY-FOR-QUARANTINE  example.com can move to p=quarantine"));
    assert!(plain.stdout.contains("NOT-READY  example.org is not ready"));
    assert!(plain.stdout.contains("fix: Authenticate example.org in SendGrid"));
    // Not a terminal: auto means no colour; always forces it.
    assert!(!summary(backend, &[]).stdout.contains('\x1b'));
    let coloured = summary(backend, &["--color", "always"]);
    assert!(coloured.stdout.contains("\x1b["), "no escape codes");
    let dir = temp_dir();
    let out = run(command(dir.path())
        .env("NO_COLOR", "1")
        .arg("--db")
        .arg(samples_db(backend))
        .args(["summary", "--color", "auto"]));
    assert!(!out.stdout.contains('\x1b'));
}

both_backends!(window_flags_select_the_days);
fn window_flags_select_the_days(backend: Backend) {
    let week =
        summary(backend, &["--domain", "example.org", "--days", "7", "--format", "json"]).json();
    let d = &week["domains"][0];
    assert_eq!(d["window"]["begin"], "2026-11-12T00:00:00Z");
    assert_eq!(d["days_covered"], 7);
    let range = summary(
        backend,
        &[
            "--domain",
            "EXAMPLE.ORG",
            "--since",
            "2026-11-01",
            "--until",
            "2026-11-03",
            "--format",
            "json",
        ],
    )
    .json();
    let d = &range["domains"][0];
    assert_eq!(d["window"]["begin"], "2026-11-01T00:00:00Z");
    assert_eq!(d["window"]["end"], "2026-11-04T00:00:00Z");
    assert_eq!(d["days_covered"], 3);
    assert_eq!(d["readiness"]["verdict"], "insufficient-data");
    let all = summary(backend, &["--all", "--format", "json", "--domain", "example.com"]).json();
    assert_eq!(all["domains"][0]["messages"], 70_400);
}

both_backends!(every_output_writes_a_span_with_its_last_day_included);
fn every_output_writes_a_span_with_its_last_day_included(backend: Backend) {
    // The whole history is whole days, the same as the default 30 here.
    let table = summary(backend, &["--all", "--domain", "example.org", "--color", "never"]);
    assert_eq!(table.code, Some(0), "{table:?}");
    let first = table.stdout.lines().next().unwrap();
    assert_eq!(first, "example.org  2026-10-20 .. 2026-11-18 (30 days)");
    let all = summary(backend, &["--all", "--format", "json"]).json();
    let default = summary(backend, &["--format", "json"]).json();
    assert_eq!(all["window"], default["window"]);
    assert_eq!(all["window"]["end"], "2026-11-19T00:00:00Z", "the first second after");

    // JSON gives instants (the end of the last report); the CSV gives the
    // day of that end's last second, whether the report ended at 23:59:59
    // or at the next midnight.
    let mut last_days = std::collections::BTreeMap::new();
    let mut at_midnight = 0;
    for d in all["domains"].as_array().unwrap() {
        for s in d["sources"].as_array().unwrap() {
            let end = s["last_seen"].as_str().unwrap();
            let day = if let Some(day) = end.strip_suffix("T00:00:00Z") {
                at_midnight += 1;
                let date = time::Date::parse(
                    day,
                    time::macros::format_description!("[year]-[month]-[day]"),
                );
                date.unwrap().previous_day().unwrap().to_string()
            } else {
                end[..10].to_owned()
            };
            let key =
                (d["domain"].as_str().unwrap().to_owned(), s["ip"].as_str().unwrap().to_owned());
            last_days.insert(key, day);
        }
    }
    assert!(at_midnight > 0, "the samples have reports that end at midnight");
    let csv = summary(backend, &["--all", "--format", "csv"]);
    let mut rows = csv.stdout.lines();
    let header: Vec<&str> = rows.next().unwrap().split(',').collect();
    let column = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (domain, ip, last) = (column("domain"), column("ip"), column("last_seen"));
    let mut checked = 0;
    for row in rows {
        let cells: Vec<&str> = row.split(',').collect();
        let key = (cells[domain].to_owned(), cells[ip].to_owned());
        assert_eq!(cells[last], last_days[&key], "{row}");
        assert!(cells[last] <= "2026-11-18", "{row}");
        checked += 1;
    }
    assert_eq!(checked, last_days.len());
}

both_backends!(bad_requests_fail_with_one_clear_line);
fn bad_requests_fail_with_one_clear_line(backend: Backend) {
    let out = summary(backend, &["--domain", "nope.example"]);
    assert_eq!(out.code, Some(2));
    assert_eq!(out.stderr.trim(), "dmarc-report: error: no reports stored for nope.example");
    let out = summary(backend, &["--days", "7", "--all"]);
    assert_eq!(out.code, Some(2));
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
    let out = summary(backend, &["--since", "yesterday"]);
    assert_eq!(out.code, Some(2));
    assert!(out.stderr.contains("is not a date (YYYY-MM-DD)"), "{}", out.stderr);
    let dir = temp_dir();
    let out = run(command(dir.path()).args(["--db", "missing.db", "summary"]));
    assert_eq!(out.code, Some(2));
    assert!(out.stderr.contains("no database at missing.db"), "{}", out.stderr);
    assert!(!dir.path().join("missing.db").exists(), "summary must not create a database");
    // An output folder that cannot be made: one line, the cause said once.
    let blocker = common::write_file(dir.path(), "a-file", "x");
    let out = run(command(dir.path())
        .arg("--db")
        .arg(samples_db(backend))
        .args(["report", "--out"])
        .arg(blocker.join("sub")));
    assert_eq!(out.code, Some(2));
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
    assert!(out.stderr.contains("cannot create the output folder"), "{}", out.stderr);
    assert_eq!(out.stderr.matches("Not a directory").count(), 1, "{}", out.stderr);
}

both_backends!(a_config_declares_senders_thresholds_and_the_rua_address);
fn a_config_declares_senders_thresholds_and_the_rua_address(backend: Backend) {
    let dir = temp_dir();
    let config = common::write_file(
        dir.path(),
        "config.toml",
        r#"
[readiness]
min_days_quarantine = 40

[rua]
"example.com" = "mailto:dmarc@example.com"

[[known_sender]]
name = "Newsletter (SendGrid)"
dkim = ["sendgrid.net"]
class = "authorized"
"#,
    );
    let out = run(command(dir.path())
        .arg("--db")
        .arg(samples_db(backend))
        .args(["summary", "--format", "json", "--config"])
        .arg(&config));
    assert_eq!(out.code, Some(0), "{out:?}");
    let v = out.json();
    let com = &v["domains"][0];
    assert_eq!(com["readiness"]["verdict"], "insufficient-data");
    assert!(
        com["readiness"]["recommended_record"]
            .as_str()
            .unwrap()
            .ends_with("rua=mailto:dmarc@example.com")
    );
    let org = &v["domains"][1];
    let sg = org["senders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "Newsletter (SendGrid)")
        .unwrap();
    assert_eq!(sg["class"], "authorized");
    assert_eq!(sg["declared"], true);
    let bad = common::write_file(dir.path(), "bad.toml", "[readiness]\npass_rate = 2\n");
    let out = run(command(dir.path())
        .arg("--db")
        .arg(samples_db(backend))
        .args(["summary", "--config"])
        .arg(&bad));
    assert_eq!(out.code, Some(2));
    assert!(out.stderr.contains("readiness.pass_rate must be between 0 and 1"), "{}", out.stderr);
}

both_backends!(resolve_names_sources_by_forward_confirmed_reverse_dns_and_caches_them);
fn resolve_names_sources_by_forward_confirmed_reverse_dns_and_caches_them(backend: Backend) {
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    if !hosts.lines().any(|l| l.split_whitespace().next() == Some("127.0.0.1")) {
        eprintln!("skipping: /etc/hosts has no entry for 127.0.0.1");
        return;
    }
    let dir = temp_dir();
    let xml = common::report_xml(
        "google.com",
        "example.com",
        "r1",
        1_792_454_400,
        1_792_540_799,
        &[("127.0.0.1", 5), ("not-an-address", 2)],
    );
    let file = common::write_file(dir.path(), "r.xml", xml);
    let db = backend.db(dir.path());
    let out = run(command(dir.path()).arg("--db").arg(&db).arg("ingest").arg(&file));
    assert_eq!(out.code, Some(0), "{out:?}");
    let summary = |extra: &[&str]| {
        run(command(dir.path())
            .arg("--db")
            .arg(&db)
            .args(["summary", "--format", "json"])
            .args(extra))
    };
    // Not asked: no lookup, no name.
    let v = summary(&[]).json();
    assert!(v["domains"][0]["sources"][0].get("rdns").is_none());
    let v = summary(&["--resolve"]).json();
    let sources = v["domains"][0]["sources"].as_array().unwrap();
    let local = sources.iter().find(|s| s["ip"] == "127.0.0.1").unwrap();
    let name = local["rdns"].as_str().expect("a name for 127.0.0.1");
    assert!(!name.is_empty());
    let junk = sources.iter().find(|s| s["ip"] == "not-an-address").unwrap();
    assert!(junk.get("rdns").is_none());
    let store = db.store();
    let cached = dmarc_report::store::RdnsCache::rdns_entries(&store).unwrap();
    let cached: Vec<_> =
        cached.iter().map(|e| (e.ip.as_str(), e.name.as_deref(), e.status)).collect();
    assert_eq!(cached, [("127.0.0.1", Some(name), dmarc_report::store::RdnsStatus::Ok)]);
}

both_backends!(report_writes_the_page_and_charts_of_the_samples);
fn report_writes_the_page_and_charts_of_the_samples(backend: Backend) {
    let dir = temp_dir();
    let out_dir = dir.path().join("out");
    let out = run(command(dir.path())
        .arg("--db")
        .arg(samples_db(backend))
        .args(["report", "--out"])
        .arg(&out_dir));
    assert_eq!(out.code, Some(0), "{out:?}");
    let html = std::fs::read_to_string(out_dir.join("index.html")).unwrap();
    assert!(html.contains("example.org</a>: not ready for p=quarantine"), "verdict sentence");
    assert!(html.contains("can move to p=quarantine"));
    assert!(html.contains("Authenticate example.org in SendGrid"), "the fix");
    assert!(!html.contains("http://") && !html.contains("https://"), "no network reference");
    let pngs: Vec<_> = std::fs::read_dir(&out_dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "png"))
        .collect();
    assert_eq!(pngs.len(), 10, "five charts per domain");
    assert_eq!(out.stdout.lines().count(), 11, "{}", out.stdout);
    // One domain only.
    let one = dir.path().join("one");
    let out = run(command(dir.path())
        .arg("--db")
        .arg(samples_db(backend))
        .args(["report", "--domain", "example.com", "--days", "7", "--out"])
        .arg(&one));
    assert_eq!(out.code, Some(0), "{out:?}");
    let html = std::fs::read_to_string(one.join("index.html")).unwrap();
    assert!(!html.contains("example.org"), "only the chosen domain");
}

both_backends!(a_hostile_reporter_cannot_inject_markup_into_the_report);
fn a_hostile_reporter_cannot_inject_markup_into_the_report(backend: Backend) {
    let dir = temp_dir();
    // Escaped in the XML, so that the stored values are the raw markup.
    let xml = common::report_xml(
        "&lt;script&gt;alert(1)&lt;/script&gt;",
        "example.com",
        "&quot;&gt;&lt;img src=x onerror=alert(2)&gt;",
        1_792_454_400,
        1_792_540_799,
        &[("&lt;b&gt;192.0.2.1&lt;/b&gt;", 5)],
    );
    let file = common::write_file(dir.path(), "evil.xml", xml);
    let db = backend.db(dir.path());
    let out = run(command(dir.path()).arg("--db").arg(&db).arg("ingest").arg(&file));
    assert_eq!(out.code, Some(0), "{out:?}");
    let out_dir = dir.path().join("out");
    let out = run(command(dir.path()).arg("--db").arg(&db).args(["report", "--out"]).arg(&out_dir));
    assert_eq!(out.code, Some(0), "{out:?}");
    let html = std::fs::read_to_string(out_dir.join("index.html")).unwrap();
    assert!(!html.contains("<script>alert(1)"), "org_name must be escaped");
    assert!(!html.contains("<b>192.0.2.1"), "source_ip must be escaped");
    assert!(!html.contains("<img src=x"), "report_id must be escaped");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;") || html.contains("&#60;script"),
        "the name is still shown"
    );
}

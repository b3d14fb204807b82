//! The report page in a real browser: headless Chromium opens
//! `index.html` from disk, and the page must make no network request, log
//! nothing to the console (no script error, no CSP violation), run its own
//! pinned script, show the verdict, and never run a reporter's `<script>`.
//!
//! `scripts/test` installs Debian's `chromium` and sets
//! `DMARC_REPORT_REQUIRE_BROWSER=1`, so in CI a missing browser fails the
//! test. Elsewhere the test says it is skipping. `CHROMIUM=/path` picks the
//! binary; `DMARC_REPORT_RENDER_OUT=DIR` keeps the page and screenshots.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dmarc_report::render;
use dmarc_report_testkit::views::{hostile, not_ready, page, ready};

/// The Chromium binary, or `None` (after saying why) when the test may skip.
fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
            .find(|candidate| candidate.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var("DMARC_REPORT_REQUIRE_BROWSER").as_deref() != Ok("1"),
            "chromium is not installed, and DMARC_REPORT_REQUIRE_BROWSER=1 requires it \
             (apt-get install chromium; scripts/test does it)"
        );
        eprintln!("SKIPPED: chromium not found (apt-get install chromium, or set CHROMIUM=/path)");
    }
    found
}

/// What one headless run left behind.
struct Run {
    stdout: String,
    /// Console messages (`INFO:CONSOLE` lines of `--enable-logging=stderr`).
    console: Vec<String>,
    /// URLs the page itself asked for (not the browser's own traffic).
    page_requests: Vec<String>,
}

/// Runs headless Chromium on `page` with `extra` arguments, a fresh
/// profile, console logging and a network log.
fn headless(browser: &Path, work: &Path, page: &Path, extra: &[&str]) -> Run {
    let run = tempfile::Builder::new().prefix("chromium-").tempdir_in(work).expect("temp dir");
    let net_log = run.path().join("net-log.json");
    let (stdout_path, stderr_path) = (run.path().join("stdout"), run.path().join("stderr"));
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", run.path().join("profile").display()))
        .arg(format!("--log-net-log={}", net_log.display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        // Files, not pipes: nothing can block on a full pipe.
        .stdout(File::create(&stdout_path).expect("stdout file"))
        .stderr(File::create(&stderr_path).expect("stderr file"))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", browser.display()));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for chromium") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = fs::read_to_string(&stdout_path).expect("read stdout");
    let stderr = fs::read_to_string(&stderr_path).expect("read stderr");
    assert!(status.success(), "chromium failed ({status}):\n{stderr}");
    let console = stderr.lines().filter(|l| l.contains(":CONSOLE")).map(str::to_owned).collect();
    Run { stdout, console, page_requests: page_requests(&net_log) }
}

/// The network requests a `file://` page made, from Chromium's net log.
/// The browser's own traffic (update checks, account probes) is told apart
/// by its network isolation key: a page's requests carry the page's site,
/// `file://`.
fn page_requests(net_log: &Path) -> Vec<String> {
    let text = fs::read_to_string(net_log).expect("read the net log");
    // A net log cut short at exit lacks its closing brackets.
    let log: serde_json::Value = serde_json::from_str(&text)
        .or_else(|_| serde_json::from_str(&format!("{}]}}", text.trim_end().trim_end_matches(','))))
        .expect("a readable net log");
    let events = log["events"].as_array().expect("net log events");
    let mut urls: Vec<String> = events
        .iter()
        .filter_map(|event| {
            let params = event.get("params")?;
            let url = params.get("url")?.as_str()?;
            let key = params.get("network_isolation_key").and_then(|k| k.as_str()).unwrap_or("");
            let initiator = params.get("initiator").and_then(|k| k.as_str()).unwrap_or("");
            let from_page = key.contains("file://") || initiator.starts_with("file:");
            let local = url.starts_with("file:") || url.starts_with("data:");
            (from_page && !local).then(|| url.to_owned())
        })
        .collect();
    urls.dedup();
    urls
}

fn work_dir(name: &str) -> (Option<tempfile::TempDir>, PathBuf) {
    match std::env::var_os("DMARC_REPORT_RENDER_OUT") {
        Some(base) => {
            let dir = PathBuf::from(base).join(name);
            fs::create_dir_all(&dir).expect("create the output folder");
            (None, dir)
        }
        None => {
            let tmp = tempfile::tempdir().expect("temp dir");
            let path = tmp.path().to_owned();
            (Some(tmp), path)
        }
    }
}

#[test]
fn report_page_works_offline_in_chromium() {
    let Some(browser) = chromium() else { return };
    let (_guard, work) = work_dir("browser");
    let report = page(vec![not_ready(), ready(), hostile()]);
    let files = render::write_report(&report, &work.join("report")).expect("write the report");
    let index = fs::canonicalize(&files.index).expect("absolute path");

    let dom = headless(&browser, &work, &index, &["--dump-dom"]);
    assert!(dom.page_requests.is_empty(), "the page made requests: {:?}", dom.page_requests);
    assert!(dom.console.is_empty(), "console messages:\n{}", dom.console.join("\n"));
    // The verdicts are on the page, as text.
    for text in [
        "not ready for p=quarantine: 13,300 legitimate messages (19.6%) from Mailchimp and SendGrid would be lost.",
        "ready for p=reject: every authorized sender passed DMARC on 30 of 30 days.",
        "v=DMARC1; p=none; rua=mailto:dmarc@example.org; fo=1",
        "Not ready",
        "Ready for reject",
    ] {
        assert!(dom.stdout.contains(text), "{text:?} is not on the page");
    }
    // The pinned script ran: it turned headers into sort buttons and showed
    // the copy buttons.
    assert!(dom.stdout.contains("<th scope=\"col\"><button type=\"button\">Sender</button></th>"));
    assert!(!dom.stdout.contains("class=\"copy\" data-target=\"domain-1-record\" hidden"));
    // The reporter's script is text, not an element.
    assert!(!dom.stdout.contains("<script>alert"), "a hostile <script> became an element");
    assert!(dom.stdout.contains("evil.example&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert_eq!(dom.stdout.matches("<script").count(), 1, "only the page's own script");

    let screenshot = work.join("screenshot.png");
    let shot = headless(
        &browser,
        &work,
        &index,
        &[&format!("--screenshot={}", screenshot.display()), "--window-size=1280,2400"],
    );
    assert!(shot.page_requests.is_empty(), "{:?}", shot.page_requests);
    assert!(shot.console.is_empty(), "{}", shot.console.join("\n"));
    let decoder =
        png::Decoder::new(std::io::BufReader::new(File::open(&screenshot).expect("a screenshot")));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut pixels = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut pixels).expect("PNG data");
    assert_eq!((info.width, info.height), (1280, 2400));
    let bytes = &pixels[..info.buffer_size()];
    let step = info.color_type.samples();
    let dark =
        bytes.chunks(step).filter(|p| p[..3].iter().map(|c| u32::from(*c)).sum::<u32>() < 200);
    assert!(dark.count() > 5_000, "the screenshot has hardly any text");
}

/// The checks above are not vacuous: a page that fetches an image and logs
/// an error is caught by both.
#[test]
fn browser_checks_catch_requests_and_console_errors() {
    let Some(browser) = chromium() else { return };
    let (_guard, work) = work_dir("browser-control");
    let bad = work.join("bad.html");
    fs::write(
        &bad,
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>bad</title></head><body>\
         <img src=\"http://192.0.2.1/pixel.png\"><script>console.error('boom')</script></body></html>",
    )
    .expect("write the page");
    let bad = fs::canonicalize(&bad).expect("absolute path");
    let run = headless(&browser, &work, &bad, &["--dump-dom"]);
    assert_eq!(run.page_requests, ["http://192.0.2.1/pixel.png"]);
    assert!(run.console.iter().any(|l| l.contains("boom")), "{:?}", run.console);
}

/// The report at phone width (420 px), measured in the browser: a page of
/// the test's own (not the report, whose policy allows only its pinned
/// script) loads the report in a 420 px frame and writes what it measures
/// into its own DOM, which `--dump-dom` prints.
#[test]
fn at_phone_width_tables_fit_their_box_the_fix_column_reads_and_chart_text_stays_legible() {
    let Some(browser) = chromium() else { return };
    let (_guard, work) = work_dir("browser-phone");
    let report = page(vec![not_ready(), ready()]);
    let files = render::write_report(&report, &work.join("report")).expect("write the report");
    let index = fs::canonicalize(&files.index).expect("absolute path");
    let harness = work.join("phone.html");
    fs::write(
        &harness,
        format!(
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>phone</title></head><body>\
             <iframe id=\"f\" src=\"file://{}\" style=\"width:420px;height:3000px;border:0\"></iframe>\
             <pre id=\"out\">pending</pre><script>\
             document.getElementById('f').addEventListener('load', function () {{\
               var d = this.contentDocument, out = [];\
               d.querySelectorAll('.table-wrap').forEach(function (w, i) {{\
                 out.push('wrap ' + i + ' ' + w.scrollWidth + ' ' + w.clientWidth);\
               }});\
               d.querySelectorAll('table.blocking td.fix').forEach(function (c) {{\
                 out.push('fix ' + Math.round(c.getBoundingClientRect().width));\
               }});\
               d.querySelectorAll('figure.chart svg text').forEach(function (t) {{\
                 var h = t.getBoundingClientRect().height;\
                 if (h > 0) out.push('text ' + h.toFixed(1));\
               }});\
               document.getElementById('out').textContent = out.join('\\n');\
             }});\
             </script></body></html>",
            index.display()
        ),
    )
    .expect("write the harness");
    let run = headless(
        &browser,
        &work,
        &harness,
        &["--allow-file-access-from-files", "--virtual-time-budget=10000", "--dump-dom"],
    );
    let measured =
        run.stdout.split("<pre id=\"out\">").nth(1).and_then(|s| s.split("</pre>").next());
    let measured = measured.expect("the harness's output");
    assert_ne!(measured, "pending", "the harness did not run: {}", run.console.join("\n"));
    let (mut wraps, mut fixes, mut texts) = (0, 0, Vec::new());
    for line in measured.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        match fields[..] {
            ["wrap", i, scroll, client] => {
                wraps += 1;
                let (scroll, client): (u32, u32) =
                    (scroll.parse().unwrap(), client.parse().unwrap());
                assert!(
                    scroll <= client + 1,
                    "table {i} is wider than its box: {scroll} > {client}"
                );
            }
            ["fix", width] => {
                fixes += 1;
                let width: u32 = width.parse().unwrap();
                assert!(width >= 250, "the Fix column is squeezed to {width} px");
            }
            ["text", height] => texts.push(height.parse::<f64>().unwrap()),
            _ => panic!("unexpected line {line:?}"),
        }
    }
    assert!(wraps >= 4, "tables measured: {wraps}\n{measured}");
    assert!(fixes >= 2, "Fix cells measured: {fixes}\n{measured}");
    assert!(texts.len() > 20, "chart texts measured: {}", texts.len());
    // A chart laid out 1,000 units wide and shrunk to a phone's 400 px
    // draws its 13.7-unit legend text about 6 px tall; legible is 9 or more.
    let smallest = texts.iter().copied().fold(f64::INFINITY, f64::min);
    assert!(smallest >= 9.0, "chart text drawn {smallest:.1} px tall");
}

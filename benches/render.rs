//! Report rendering benchmark: what `write_report` costs for one domain
//! over 30 days (the target is the report of one domain in at most 2 s,
//! database queries included; this measures the rendering share).
//!
//! ```sh
//! cargo bench --bench render              # median of 5 runs
//! cargo bench --bench render -- --runs 9
//! ```
//!
//! The view model is the testkit's not-ready domain (30 days, the one
//! `tests/render.rs` renders) with 2,000 extra senders and 40 extra reporters, the
//! shape a busy domain has. Rendering never sees records, so the database's
//! size does not enter; only the days and senders shown do.

use dmarc_report_testkit::views;

use std::time::{Duration, Instant};

use dmarc_report::render;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runs = args
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(5usize);

    let mut domain = views::not_ready();
    let template = domain.senders[5].clone();
    for i in 0..2_000u32 {
        let mut sender = template.clone();
        sender.name = format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255);
        sender.messages = u64::from(2_000 - i);
        sender.sources = vec![sender.name.clone()];
        domain.senders.push(sender);
    }
    for i in 0..40u64 {
        domain.reporters.push(render::ReporterView {
            org: format!("reporter-{i}.example"),
            reports: 30,
            messages: 1_000 + i,
        });
    }
    let page = views::page(vec![domain]);

    let out = tempfile::tempdir().expect("a temp dir");
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            render::write_report(&page, out.path()).expect("write the report");
            started.elapsed()
        })
        .collect();
    times.sort();
    let median = times[times.len() / 2];
    let html = std::fs::metadata(out.path().join(render::INDEX)).map(|m| m.len()).unwrap_or(0);
    println!(
        "render: 1 domain, 30 days, {} senders, {} reporters: median {:.0} ms of {runs} runs \
         (min {:.0} ms, max {:.0} ms); index.html {} KiB",
        page.domains[0].senders.len(),
        page.domains[0].reporters.len(),
        median.as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3,
        html / 1024
    );
}

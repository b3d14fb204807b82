//! The report renderer: PNG charts decoded back and inspected,
//! the HTML page's escaping, offline-ness and empty states.
//!
//! `DMARC_REPORT_RENDER_OUT=DIR` keeps the rendered pages in `DIR` to look at.

use std::path::{Path, PathBuf};

use dmarc_report::render::{self, DomainView, ReportPage, SenderClass, format, palette};
use dmarc_report_testkit::views::{HOSTILE, empty, hostile, not_ready, one_day, page, ready};

/// A folder for `name`'s output: kept under `DMARC_REPORT_RENDER_OUT` when
/// set, else temporary.
fn out_dir(name: &str) -> (Option<tempfile::TempDir>, PathBuf) {
    match std::env::var_os("DMARC_REPORT_RENDER_OUT") {
        Some(base) => (None, PathBuf::from(base).join(name)),
        None => {
            let tmp = tempfile::tempdir().expect("temp dir");
            let path = tmp.path().to_owned();
            (Some(tmp), path)
        }
    }
}

fn write(
    name: &str,
    page: &ReportPage,
) -> (Option<tempfile::TempDir>, render::ReportFiles, String) {
    let (guard, dir) = out_dir(name);
    let files = render::write_report(page, &dir).expect("write the report");
    let html = std::fs::read_to_string(&files.index).expect("read index.html");
    (guard, files, html)
}

/// A decoded RGB picture.
struct Picture {
    width: u32,
    height: u32,
    rgb: Vec<u8>,
    /// One bit per 24-bit colour that occurs.
    colours: Vec<u64>,
    distinct: usize,
}

impl Picture {
    fn open(path: &Path) -> Picture {
        let decoder = png::Decoder::new(std::io::BufReader::new(
            std::fs::File::open(path).expect("open the PNG"),
        ));
        let mut reader = decoder.read_info().expect("a PNG header");
        let mut rgb = vec![0; reader.output_buffer_size().expect("a size")];
        let info = reader.next_frame(&mut rgb).expect("PNG data");
        assert_eq!(info.color_type, png::ColorType::Rgb, "{}", path.display());
        assert_eq!(info.bit_depth, png::BitDepth::Eight);
        rgb.truncate(info.buffer_size());
        let mut colours = vec![0u64; (1 << 24) / 64];
        let mut distinct = 0;
        for p in rgb.chunks(3) {
            let c = usize::from(p[0]) << 16 | usize::from(p[1]) << 8 | usize::from(p[2]);
            if colours[c / 64] & (1 << (c % 64)) == 0 {
                colours[c / 64] |= 1 << (c % 64);
                distinct += 1;
            }
        }
        Picture { width: info.width, height: info.height, rgb, colours, distinct }
    }

    fn pixel(&self, x: u32, y: u32) -> (u8, u8, u8) {
        let i = ((y * self.width + x) * 3) as usize;
        (self.rgb[i], self.rgb[i + 1], self.rgb[i + 2])
    }

    /// Dark (text-like) pixels in the rows `ys` and columns `xs`.
    fn dark_pixels(&self, xs: std::ops::Range<u32>, ys: std::ops::Range<u32>) -> usize {
        ys.flat_map(|y| xs.clone().map(move |x| (x, y)))
            .filter(|(x, y)| {
                let (r, g, b) = self.pixel(*x, *y);
                u32::from(r) + u32::from(g) + u32::from(b) < 3 * 90
            })
            .count()
    }

    /// Pixels of `colour` in the chart's body (below the title and legend,
    /// above the axis labels), in the columns `xs` (fractions of the width).
    fn body_pixels(&self, colour: palette::Rgb, xs: std::ops::Range<f64>) -> usize {
        let (w, h) = (f64::from(self.width), f64::from(self.height));
        let (x0, x1) = ((xs.start * w) as u32, ((xs.end * w) as u32).min(self.width));
        let (y0, y1) = ((0.25 * h) as u32, (0.85 * h) as u32);
        (y0..y1)
            .flat_map(|y| (x0..x1).map(move |x| (x, y)))
            .filter(|(x, y)| self.pixel(*x, *y) == (colour.0, colour.1, colour.2))
            .count()
    }

    fn has(&self, colour: palette::Rgb) -> bool {
        let c = usize::from(colour.0) << 16 | usize::from(colour.1) << 8 | usize::from(colour.2);
        self.colours[c / 64] & (1 << (c % 64)) != 0
    }
}

fn chart<'a>(files: &'a render::ReportFiles, suffix: &str) -> &'a Path {
    files
        .charts
        .iter()
        .find(|p| p.to_string_lossy().ends_with(suffix))
        .unwrap_or_else(|| panic!("no chart ending in {suffix} among {:?}", files.charts))
}

#[test]
fn pngs_have_size_text_and_class_colours() {
    let (_guard, files, _) = write("not-ready", &page(vec![not_ready()]));
    let names: Vec<String> = files
        .charts
        .iter()
        .map(|p| p.file_name().expect("a name").to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "01-example.org-daily.png",
            "01-example.org-pass-rate.png",
            "01-example.org-senders.png",
            "01-example.org-dispositions.png",
            "01-example.org-reporters.png",
        ]
    );
    for path in &files.charts {
        let pic = Picture::open(path);
        assert_eq!(pic.width, 1000, "{}", path.display());
        assert!((300..1000).contains(&pic.height), "{}: height {}", path.display(), pic.height);
        // Not blank: a white background plus bars, text and antialiasing.
        assert!(pic.distinct > 20, "{}: {} colours", path.display(), pic.distinct);
        assert_eq!(pic.pixel(2, 2), (255, 255, 255), "{}: white background", path.display());
        // The title (top 40 px) and the x-axis labels (bottom 70 px) are text.
        assert!(pic.dark_pixels(0..pic.width, 0..40) > 300, "{}: no title", path.display());
        let h = pic.height;
        assert!(
            pic.dark_pixels(100..pic.width, h - 70..h) > 300,
            "{}: no axis text",
            path.display()
        );
    }

    let daily = Picture::open(chart(&files, "-daily.png"));
    // The daily chart stacks the classes of the summary in their colours.
    for class in [SenderClass::Authorized, SenderClass::Forwarder, SenderClass::Unauthorized] {
        let colour = palette::class(class);
        assert!(daily.has(colour), "daily chart lacks {} ({})", class.as_str(), colour.hex());
    }
    // The y-axis labels and description, left of the plot.
    assert!(daily.dark_pixels(0..90, 100..daily.height - 70) > 300);

    let senders = Picture::open(chart(&files, "-senders.png"));
    for colour in [palette::DKIM_PASS, palette::SPF_ONLY, palette::FAIL] {
        assert!(senders.has(colour), "sender chart lacks {}", colour.hex());
    }
    // Same class, same colour: the swatches next to sender names.
    for class in SenderClass::ALL {
        assert!(senders.has(palette::class(class)), "no {} swatch", class.as_str());
    }
    // Sender names are drawn in the label column.
    assert!(senders.dark_pixels(0..280, 120..senders.height - 70) > 1000);

    let rate = Picture::open(chart(&files, "-pass-rate.png"));
    assert!(rate.has(palette::RATE));
    let dispositions = Picture::open(chart(&files, "-dispositions.png"));
    assert!(dispositions.has(palette::DISPOSITION_NONE));
    assert!(dispositions.has(palette::DISPOSITION_QUARANTINE));
}

#[test]
fn class_colours_are_the_same_in_the_page() {
    let (_guard, _, html) = write("classes", &page(vec![not_ready()]));
    for class in SenderClass::ALL {
        let var = format!("--class-{}:{};", class.as_str(), palette::class(class).hex());
        assert!(html.contains(&var), "missing {var}");
    }
    // The daily chart's SVG uses the same colours as the PNG.
    assert!(html.contains(&format!("fill=\"{}\"", palette::PASS.hex())));
}

#[test]
fn hostile_values_are_escaped_in_html_and_svg() {
    let (_guard, files, html) = write("hostile", &page(vec![hostile(), ready()]));
    // The only script element is the page's own.
    assert_eq!(html.matches("<script").count(), 1, "a raw <script> got through");
    assert!(!html.contains("alert(1)</script>"));
    assert!(!html.contains("\"&<>"));
    // In the page, escaped by askama (numeric entities) ...
    let body_hits =
        html.matches("&#60;script&#62;alert(1)&#60;/script&#62;&#34;&#38;&#60;&#62;").count();
    assert!(body_hits > 20, "{body_hits} escaped copies");
    // ... and inside the inline SVG charts, escaped by plotters (named
    // entities): sender and reporter names are chart labels.
    let svgs: Vec<&str> = html.split("<svg").skip(1).collect();
    assert_eq!(svgs.len(), 5 + 5, "the charts of both domains");
    assert!(
        svgs.iter().any(|svg| svg.split("</svg>").next().expect("svg").contains("&lt;script&gt;")),
        "no escaped label in any SVG"
    );
    // Names from reports never become file names as they are.
    for path in &files.charts {
        let name = path.file_name().expect("name").to_string_lossy().into_owned();
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || "-._".contains(c)), "{name}");
        assert_eq!(path.parent(), files.index.parent());
    }
    assert!(HOSTILE.contains('<'));
}

#[test]
fn page_is_self_contained_with_a_strict_csp() {
    let (_guard, _, html) = write("offline", &page(vec![not_ready(), ready()]));
    assert!(html.starts_with("<!DOCTYPE html>"));
    let csp = html
        .split("http-equiv=\"Content-Security-Policy\" content=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a CSP meta element");
    assert!(csp.starts_with("default-src &#39;none&#39;"), "{csp}");
    assert!(!csp.contains("unsafe"), "{csp}");
    // No reference to anything on the network, not even an XML namespace.
    assert!(!html.contains("http://") && !html.contains("https://"));
    assert!(!html.contains("src=") && !html.contains("<link"), "no external resources");
    assert!(!html.contains("@import") && !html.contains("url("), "no CSS fetches");
    // Print styles, the copyable record, the sortable table.
    assert!(html.contains("@media print"));
    assert!(html.contains("v=DMARC1; p=none; rua=mailto:dmarc@example.org; fo=1"));
    assert!(html.contains("class=\"senders sortable\""));
    assert!(html.contains("Ready for reject") && html.contains("Not ready"));
}

#[test]
fn empty_and_tiny_windows_say_so() {
    let (_guard, files, html) = write("empty", &page(vec![empty(), one_day()]));
    assert!(html.contains("No messages were reported for quiet.example in this window"));
    assert!(html.contains("Only one day of the window has mail"));
    // One day still gets the sender and reporter bars, no daily charts.
    let names: Vec<String> = files
        .charts
        .iter()
        .map(|p| p.file_name().expect("a name").to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["02-new.example-senders.png", "02-new.example-reporters.png"]);
    for path in &files.charts {
        let pic = Picture::open(path);
        assert!(pic.distinct > 20);
    }

    let (_guard, files, html) = write("nothing", &page(Vec::new()));
    assert!(files.charts.is_empty());
    assert!(html.contains("There are no reports in this window"));
}

#[test]
fn days_without_reports_are_gaps_not_errors() {
    let full = not_ready();
    let mut d = full.clone();
    // Only the first and the last day of the 30 have data.
    let last = d.days.len() - 1;
    d.days = vec![d.days[0], d.days[last]];
    let (_guard, files, _) = write("gaps", &page(vec![d]));
    assert_eq!(files.charts.len(), 5, "every chart is drawn: {:?}", files.charts);
    let (_full_guard, full_files, _) = write("no-gaps", &page(vec![full]));

    // The middle of the window (days 10 to 20) holds bars and the pass-rate
    // line when every day has data, and nothing when none has: the axis
    // keeps the whole window and the line does not bridge the gap.
    let middle = 0.35..0.65;
    for (suffix, colour) in [("-daily.png", palette::PASS), ("-pass-rate.png", palette::RATE)] {
        let with_data = Picture::open(chart(&full_files, suffix));
        assert!(with_data.body_pixels(colour, middle.clone()) > 50, "{suffix}: control");
        let gaps = Picture::open(chart(&files, suffix));
        assert_eq!(gaps.body_pixels(colour, middle.clone()), 0, "{suffix}: drawn into the gap");
        assert!(gaps.body_pixels(colour, 0.0..0.2) > 0, "{suffix}: first day missing");
        assert!(gaps.body_pixels(colour, 0.8..1.0) > 0, "{suffix}: last day missing");
    }
}

/// Odd values from a reporter must not break drawing: counts that do not
/// add up, huge counts, a pass rate above 100 %, dates outside the window.
#[test]
fn inconsistent_numbers_still_render() {
    let mut d: DomainView = not_ready();
    d.days[0].authorized_pass = d.days[0].authorized_messages * 3;
    d.days[1].pass = 1_000_000_000_000;
    d.days[2].date = time::macros::date!(2020 - 01 - 01);
    d.senders[0].dmarc_pass = d.senders[0].messages * 2;
    d.senders[1].dkim_aligned_pass = u64::MAX;
    d.days[3].by_class[4] = u64::MAX;
    d.days[4].disposition_reject = u64::MAX;
    d.reporters[0].messages = u64::MAX;
    d.threshold = 1.5;
    let mut e = ready();
    e.threshold = f64::NAN;
    e.senders[0].messages = 0;
    let (_guard, files, _) = write("inconsistent", &page(vec![d, e]));
    assert_eq!(files.charts.len(), 10);
}

/// A busy domain, 5,000 senders more than the fixture's: what the page and
/// the charts hold stays bounded. The table lists the 500 senders with the
/// most messages and sums up the rest exactly; the sender chart keeps its
/// ten rows and its height. (How long rendering takes is measured by
/// `cargo bench --bench render`, not asserted here.)
#[test]
fn thousands_of_senders_are_capped_in_the_table_and_the_chart() {
    let small = not_ready();
    let small_senders = small.senders.len();
    assert!(small_senders < 500);
    let mut d = small.clone();
    let template = d.senders[5].clone();
    for i in 0..5_000u32 {
        let mut s = template.clone();
        s.name = format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255);
        s.sources = vec![s.name.clone()];
        s.messages = 1 + u64::from(i % 97);
        d.senders.push(s);
    }
    let mut messages: Vec<u64> = d.senders.iter().map(|s| s.messages).collect();
    messages.sort_unstable_by(|a, b| b.cmp(a));
    let left_out = messages.len() - 500;
    let rest: u64 = messages[500..].iter().sum();

    let (_guard, files, html) = write("large", &page(vec![d]));
    let (_small_guard, small_files, small_html) = write("small", &page(vec![small]));

    let expected = format!(
        "{} more senders ({} messages) are not listed",
        format::count(left_out as u64),
        format::count(rest)
    );
    assert!(html.contains(&expected), "no \"{expected}\"");
    // Every listed sender has a class badge; the small page lists all of its
    // senders, the large one 500.
    let badges = |html: &str| html.matches("<span class=\"class class-").count();
    assert_eq!(badges(&html) - badges(&small_html), 500 - small_senders, "listed senders");
    let chart_height = |f: &render::ReportFiles| Picture::open(chart(f, "-senders.png")).height;
    assert_eq!(chart_height(&files), chart_height(&small_files), "sender chart height");
}

#[test]
fn the_live_records_check_renders_beside_the_verdict_with_severity_and_fix() {
    let mut d = not_ready();
    d.live_check = Some(render::LiveCheckView {
        checked_at: "2026-11-19T08:00:00Z".to_owned(),
        findings: vec![render::LiveFindingView {
            severity: "warning".to_owned(),
            record: "spf".to_owned(),
            code: "spf-permissive-all".to_owned(),
            message: "\"v=spf1 ?all\" ends with ?all".to_owned(),
            fix: "end the record with -all".to_owned(),
        }],
    });
    d.what_if[1].legitimate_at_risk = 3_000;
    let (_guard, _, html) = write("live", &page(vec![d, ready()]));
    let verdicts = html.split("<section class=\"domain\"").next().expect("verdicts");
    assert!(verdicts.contains("Live records"), "the check is shown with the verdict");
    assert!(verdicts.contains("2026-11-19T08:00:00Z"));
    assert!(verdicts.contains(
        "<li class=\"finding finding-warning\"><span class=\"severity\">warning</span> <code>spf-permissive-all</code> (spf)"
    ));
    assert!(verdicts.contains("Fix: end the record with -all"));
    // Only the domain that was checked has the block.
    assert_eq!(verdicts.matches("Live records").count(), 1);
    // Mail passing by SPF alone is shown as at risk under reject.
    assert!(
        verdicts.contains("3,000 legitimate messages that pass today by SPF alone are at risk")
    );
}

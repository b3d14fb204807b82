//! The charts of one domain. Each is drawn by one function onto any plotters
//! backend: once as SVG (inlined in the page) and once as PNG (a file beside
//! it), so both always show the same thing.
//!
//! Only the view model's per-day and per-sender rows are drawn: the cost
//! depends on the days and senders shown, never on the records behind them.
//! Text reaches the SVG through plotters' SVG backend, which escapes `<`,
//! `>`, `&`, `"` and `'` in text and attributes (plotters-svg 0.3.7,
//! `escape_and_push`); `tests/render.rs` checks it with hostile names.

use plotters::coord::Shift;
use plotters::coord::ranged1d::{KeyPointHint, Ranged};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::font;
use super::format::{compact, count, day_label, plural, total, truncate};
use super::palette::{self, Rgb};
use super::raster::PngBackend;
use super::view::{DateRange, DayView, DomainView, ReporterView, SenderClass, SenderView};
use crate::units::{percent, percent_rate};

/// Chart width in pixels: readable at 100 % and within a laptop screen.
const WIDTH: u32 = 1000;
/// Senders (and reporters) drawn one by one; the rest share one bar.
pub const TOP_ROWS: usize = 10;
/// Text sizes (plotters units: the font's full height in pixels).
const TITLE_SIZE: f64 = 22.0;
const LABEL_SIZE: f64 = 17.0;

/// One finished chart.
#[derive(Debug, Clone)]
pub(crate) struct Chart {
    /// Short name, used in file names (`daily`).
    pub slug: &'static str,
    /// Its title, also drawn in the picture.
    pub title: String,
    /// What it shows, in one sentence (a text alternative).
    pub summary: String,
    /// The SVG document.
    pub svg: String,
    /// The PNG file's bytes.
    pub png: Vec<u8>,
}

/// A chart that could not be drawn.
#[derive(Debug)]
pub(crate) struct ChartError {
    pub slug: &'static str,
    pub message: String,
}

/// The charts of a domain and notes on charts left out (too little data).
pub(crate) fn domain_charts(d: &DomainView) -> Result<(Vec<Chart>, Vec<String>), ChartError> {
    let mut charts = Vec::new();
    let mut notes = Vec::new();
    let days_with_mail = d.days.iter().filter(|day| day.messages() > 0).count();
    let range = d.window.or_else(|| span(&d.days));

    match range {
        Some(range) if days_with_mail >= 2 => {
            let daily = daily_chart(range, &d.days);
            charts.push(finish("daily", &daily, daily_summary(&d.days))?);
            let authorized = total(d.days.iter().map(|day| day.authorized_messages));
            if authorized > 0 {
                let rate = RateChart { range, days: &d.days, threshold: d.threshold };
                let summary = rate_summary(&d.days, d.threshold);
                charts.push(finish("pass-rate", &rate, summary)?);
            } else {
                notes.push(
                    "No mail from authorized senders in the window, so there is no pass rate to draw."
                        .to_owned(),
                );
            }
        }
        _ if days_with_mail == 1 => notes.push(
            "Only one day of the window has mail: the daily charts start at two days.".to_owned(),
        ),
        _ => {}
    }

    if d.senders.iter().any(|s| s.messages > 0) {
        let senders = sender_chart(&d.senders);
        let shown = if d.senders.len() > TOP_ROWS + 1 { TOP_ROWS } else { d.senders.len() };
        let summary = if shown == d.senders.len() {
            format!("{}, each drawn.", plural(d.senders.len() as u64, "sender", "senders"))
        } else {
            format!(
                "{}; the {shown} with the most messages are drawn one by one, the rest together.",
                plural(d.senders.len() as u64, "sender", "senders")
            )
        };
        charts.push(finish("senders", &senders, summary)?);
    }

    if let Some(range) = range.filter(|_| days_with_mail >= 2) {
        let applied = total(d.days.iter().map(|day| {
            total([day.disposition_none, day.disposition_quarantine, day.disposition_reject])
        }));
        if applied > 0 {
            let chart = disposition_chart(range, &d.days);
            charts.push(finish("dispositions", &chart, disposition_summary(&d.days))?);
        }
    }

    if d.reporters.iter().any(|r| r.messages > 0) {
        let chart = reporter_chart(&d.reporters);
        let summary = format!(
            "{}.",
            plural(d.reporters.len() as u64, "reporting organisation", "reporting organisations")
        );
        charts.push(finish("reporters", &chart, summary)?);
    }
    Ok((charts, notes))
}

/// The first and last day of `days`.
fn span(days: &[DayView]) -> Option<DateRange> {
    let first = days.iter().map(|d| d.date).min()?;
    let last = days.iter().map(|d| d.date).max()?;
    Some(DateRange { first, last })
}

type DrawResult<T, DB> = Result<T, DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// A chart drawable on any backend.
trait Draw {
    fn title(&self) -> &str;
    fn size(&self) -> (u32, u32);
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<(), DB>;
}

/// Draws `chart` as SVG and as PNG.
fn finish<D: Draw>(slug: &'static str, chart: &D, summary: String) -> Result<Chart, ChartError> {
    let fail = |message: String| ChartError { slug, message };
    font::ensure_registered().map_err(|m| fail(m.to_owned()))?;
    let (width, height) = chart.size();

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        chart.draw(&root).map_err(|e| fail(e.to_string()))?;
        root.present().map_err(|e| fail(e.to_string()))?;
    }

    let mut rgb = vec![255u8; width as usize * height as usize * 3];
    {
        let backend = PngBackend::new(&mut rgb, (width, height)).map_err(|m| fail(m.to_owned()))?;
        let root = backend.into_drawing_area();
        chart.draw(&root).map_err(|e| fail(e.to_string()))?;
        root.present().map_err(|e| fail(e.to_string()))?;
    }
    let png = encode_png(&rgb, width, height).map_err(|e| fail(e.to_string()))?;
    // Inline SVG in HTML needs no namespace; without it the page names no URL at all.
    let svg = svg.replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1);
    Ok(Chart { slug, title: chart.title().to_owned(), summary, svg, png })
}

fn encode_png(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>, png::EncodingError> {
    let mut out = Vec::with_capacity(rgb.len() / 8);
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    // Flat colours compress well even with the fast (fdeflate) setting.
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(rgb)?;
    writer.finish()?;
    Ok(out)
}

fn text_style(size: f64) -> TextStyle<'static> {
    (font::FAMILY, size).into_font().color(&palette::INK.plotters())
}

/// One row of a legend: an optional lead-in, then colour swatches with labels.
struct LegendRow {
    lead: Option<&'static str>,
    items: Vec<(String, Rgb)>,
    /// How the items are drawn: squares for bars, line samples for lines.
    mark: Mark,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mark {
    Square,
    /// The first item a solid line, the others dashed.
    Lines,
}

impl LegendRow {
    fn squares(items: Vec<(String, Rgb)>) -> Self {
        Self { lead: None, items, mark: Mark::Square }
    }
}

/// White background, the title, and the legend rows; returns the area below.
fn header<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    legend: &[LegendRow],
) -> DrawResult<DrawingArea<DB, Shift>, DB> {
    root.fill(&WHITE)?;
    let (width, _) = root.dim_in_pixel();
    let right = i32::try_from(width).unwrap_or(i32::MAX) - 16;
    root.draw_text(title, &text_style(TITLE_SIZE), (16, 12))?;
    let label = text_style(LABEL_SIZE);
    let mut y = 48;
    for row in legend {
        let mut x = 16;
        if let Some(lead) = row.lead {
            root.draw_text(lead, &label, (x, y))?;
            x += text_width(root, lead, &label)? + 10;
        }
        for (i, (text, colour)) in row.items.iter().enumerate() {
            let mark_width = if row.mark == Mark::Lines { 34 } else { 22 };
            let w = text_width(root, text, &label)?;
            if x + mark_width + w > right && x > 16 {
                x = 16;
                y += 26;
            }
            match row.mark {
                Mark::Square => swatch(root, (x, y + 1), *colour)?,
                Mark::Lines => {
                    let style = colour.plotters().stroke_width(3);
                    if i == 0 {
                        root.draw(&PathElement::new([(x, y + 9), (x + 26, y + 9)], style))?;
                    } else {
                        for start in [x, x + 16] {
                            root.draw(&PathElement::new(
                                [(start, y + 9), (start + 10, y + 9)],
                                style,
                            ))?;
                        }
                    }
                }
            }
            root.draw_text(text, &label, (x + mark_width, y))?;
            x += mark_width + w + 24;
        }
        y += 26;
    }
    Ok(root.split_vertically(y + 4).1)
}

fn text_width<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    text: &str,
    style: &TextStyle,
) -> DrawResult<i32, DB> {
    let (w, _) = root.estimate_text_size(text, style)?;
    Ok(i32::try_from(w).unwrap_or(i32::MAX / 4))
}

/// `text`, shortened with `…` until it is at most `max` pixels wide.
fn fit<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    text: &str,
    style: &TextStyle,
    max: i32,
) -> DrawResult<String, DB> {
    let mut chars = text.chars().count();
    let mut candidate = text.to_owned();
    while chars > 1 && text_width(root, &candidate, style)? > max {
        chars -= 1;
        candidate = truncate(text, chars);
    }
    Ok(candidate)
}

/// A 16 px square of `colour` with a thin outline (yellow on white needs one).
fn swatch<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    (x, y): (i32, i32),
    colour: Rgb,
) -> DrawResult<(), DB> {
    area.draw(&Rectangle::new([(x, y), (x + 16, y + 16)], colour.plotters().filled()))?;
    area.draw(&Rectangle::new([(x, y), (x + 16, y + 16)], palette::INK.plotters().stroke_width(1)))
}

/// The day axis: day `i` of the window is centred on `i`, and labels sit on
/// whole days only (plotters' own `f64` axis would put some between days).
struct DayAxis {
    days: i64,
}

impl Ranged for DayAxis {
    type FormatOption = plotters::coord::ranged1d::DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let fraction = (value + 0.5) / self.days as f64;
        limit.0 + (fraction * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        let wanted = i64::try_from(hint.max_num_points()).unwrap_or(10).clamp(1, 10);
        let step = [1, 2, 7, 14, 28, 56, 91, 182, 364, 728]
            .into_iter()
            .find(|step| self.days / step < wanted)
            .unwrap_or(self.days.max(1));
        (0..self.days).step_by(usize::try_from(step).unwrap_or(1)).map(|d| d as f64).collect()
    }

    fn range(&self) -> std::ops::Range<f64> {
        -0.5..self.days as f64 - 0.5
    }
}

/// The top of a value axis: a little above the highest value, never zero.
fn axis_top(max: f64) -> f64 {
    if max <= 0.0 { 1.0 } else { max * 1.08 }
}

/// Per-day stacked bars.
struct Stacked {
    title: String,
    range: DateRange,
    series: Vec<(&'static str, Rgb)>,
    /// Day offset from `range.first`, then one value per series.
    values: Vec<(i64, Vec<u64>)>,
    y_desc: &'static str,
}

fn stacked_values(
    range: DateRange,
    days: &[DayView],
    pick: impl Fn(&DayView) -> Vec<u64>,
) -> Vec<(i64, Vec<u64>)> {
    days.iter()
        .map(|d| ((d.date - range.first).whole_days(), pick(d)))
        .filter(|(offset, _)| (0..range.days()).contains(offset))
        .collect()
}

/// Messages per day by sender class: the classes, names and colours of the
/// summary, the page's tables and the sender chart's squares.
fn daily_chart(range: DateRange, days: &[DayView]) -> Stacked {
    // Only the classes the window has, so the legend lists what is drawn.
    let present: Vec<usize> =
        (0..SenderClass::ALL.len()).filter(|&i| days.iter().any(|d| d.by_class[i] > 0)).collect();
    Stacked {
        title: "Messages per day, by sender class".to_owned(),
        range,
        series: present
            .iter()
            .map(|&i| (SenderClass::ALL[i].as_str(), palette::class(SenderClass::ALL[i])))
            .collect(),
        values: stacked_values(range, days, |d| present.iter().map(|&i| d.by_class[i]).collect()),
        y_desc: "Messages per day",
    }
}

fn disposition_chart(range: DateRange, days: &[DayView]) -> Stacked {
    Stacked {
        title: "What receivers did with the messages (applied disposition)".to_owned(),
        range,
        series: vec![
            ("delivered (none)", palette::DISPOSITION_NONE),
            ("quarantined", palette::DISPOSITION_QUARANTINE),
            ("rejected", palette::DISPOSITION_REJECT),
        ],
        values: stacked_values(range, days, |d| {
            vec![d.disposition_none, d.disposition_quarantine, d.disposition_reject]
        }),
        y_desc: "Messages per day",
    }
}

fn daily_summary(days: &[DayView]) -> String {
    let messages = total(days.iter().map(DayView::messages));
    let pass = total(days.iter().map(|d| d.pass));
    format!(
        "{} over {} with reports; {} passed DMARC.",
        plural(messages, "message", "messages"),
        plural(days.iter().filter(|d| d.messages() > 0).count() as u64, "day", "days"),
        percent(pass, messages)
    )
}

fn disposition_summary(days: &[DayView]) -> String {
    let none = total(days.iter().map(|d| d.disposition_none));
    let quarantine = total(days.iter().map(|d| d.disposition_quarantine));
    let reject = total(days.iter().map(|d| d.disposition_reject));
    format!(
        "Delivered {}, quarantined {}, rejected {} messages.",
        count(none),
        count(quarantine),
        count(reject)
    )
}

/// Configures the day axis shared by the daily charts.
/// A chart with one column per day of `range` and `y` upwards, its grid,
/// labels and axis titles drawn (the daily, disposition and rate charts).
fn day_chart<'a, DB: DrawingBackend>(
    body: &'a DrawingArea<DB, Shift>,
    range: DateRange,
    y: std::ops::Range<f64>,
    y_desc: &str,
    y_label: &dyn Fn(&f64) -> String,
) -> DrawResult<
    ChartContext<'a, DB, Cartesian2d<DayAxis, plotters::coord::types::RangedCoordf64>>,
    DB,
> {
    let first = range.first;
    let x_label = move |x: &f64| day_label(first, x.round() as i64);
    let mut chart = ChartBuilder::on(body)
        .margin_left(8)
        .margin_right(28)
        .margin_bottom(8)
        .x_label_area_size(60)
        .y_label_area_size(90)
        .build_cartesian_2d(DayAxis { days: range.days() }, y)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .bold_line_style(palette::GRID.plotters())
        .light_line_style(TRANSPARENT)
        .y_labels(6)
        .x_label_formatter(&x_label)
        .y_label_formatter(y_label)
        .x_desc(day_axis_desc(range))
        .y_desc(y_desc)
        .label_style(text_style(LABEL_SIZE))
        .axis_desc_style(text_style(LABEL_SIZE))
        .axis_style(palette::INK.plotters())
        .draw()?;
    Ok(chart)
}

fn day_axis_desc(range: DateRange) -> String {
    format!("Day (UTC), {} to {}", range.first, range.last)
}

impl Draw for Stacked {
    fn title(&self) -> &str {
        &self.title
    }

    fn size(&self) -> (u32, u32) {
        (WIDTH, 440)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<(), DB> {
        let legend =
            LegendRow::squares(self.series.iter().map(|(l, c)| ((*l).to_owned(), *c)).collect());
        let body = header(root, &self.title, &[legend])?;
        let days = self.range.days();
        let max = self.values.iter().map(|(_, v)| total(v.iter().copied())).max().unwrap_or(0);
        let y_label = |y: &f64| compact(*y);
        let mut chart =
            day_chart(&body, self.range, 0f64..axis_top(max as f64), self.y_desc, &y_label)?;
        let per_day = f64::from(chart.plotting_area().dim_in_pixel().0) / days as f64;
        // Gaps between bars while they are wide enough to afford them.
        let half = if per_day >= 5.0 { 0.36 } else { 0.5 };
        for (k, (_, colour)) in self.series.iter().enumerate() {
            let style = colour.plotters().filled();
            chart.draw_series(self.values.iter().filter(|(_, v)| v[k] > 0).map(
                |(offset, v)| {
                    let low = total(v[..k].iter().copied());
                    let x = *offset as f64;
                    Rectangle::new(
                        [(x - half, low as f64), (x + half, low.saturating_add(v[k]) as f64)],
                        style,
                    )
                },
            ))?;
        }
        Ok(())
    }
}

/// The daily DMARC pass rate of authorized senders, with the threshold.
struct RateChart<'a> {
    range: DateRange,
    days: &'a [DayView],
    threshold: f64,
}

fn rate_points(range: DateRange, days: &[DayView]) -> Vec<(i64, f64)> {
    let mut points: Vec<(i64, f64)> = days
        .iter()
        .filter(|d| d.authorized_messages > 0)
        .map(|d| {
            let pass = d.authorized_pass.min(d.authorized_messages);
            (
                (d.date - range.first).whole_days(),
                100.0 * pass as f64 / d.authorized_messages as f64,
            )
        })
        .filter(|(offset, _)| (0..range.days()).contains(offset))
        .collect();
    points.sort_by_key(|(offset, _)| *offset);
    points
}

fn rate_summary(days: &[DayView], threshold: f64) -> String {
    let below = days
        .iter()
        .filter(|d| {
            d.authorized_messages > 0
                && (d.authorized_pass as f64) < threshold * d.authorized_messages as f64
        })
        .count();
    let with = days.iter().filter(|d| d.authorized_messages > 0).count();
    format!(
        "{below} of {} with authorized mail {} below the {} threshold.",
        plural(with as u64, "day", "days"),
        if below == 1 { "was" } else { "were" },
        percent_rate(threshold)
    )
}

impl Draw for RateChart<'_> {
    fn title(&self) -> &str {
        "DMARC pass rate of authorized senders, per day"
    }

    fn size(&self) -> (u32, u32) {
        (WIDTH, 400)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<(), DB> {
        // A threshold is a fraction; anything else is drawn at the nearest end.
        let threshold = if self.threshold.is_nan() { 100.0 } else { self.threshold * 100.0 };
        let threshold = threshold.clamp(0.0, 100.0);
        let legend = LegendRow {
            lead: None,
            items: vec![
                ("pass rate (days without authorized mail are gaps)".to_owned(), palette::RATE),
                (format!("readiness threshold ({})", percent_rate(self.threshold)), palette::INK),
            ],
            mark: Mark::Lines,
        };
        let body = header(root, self.title(), &[legend])?;
        let days = self.range.days();
        let points = rate_points(self.range, self.days);
        let lowest = points.iter().map(|(_, r)| *r).fold(threshold, f64::min);
        // Zoom in on the interesting band, in steps of 5 points, at least 10 points tall.
        let bottom = (((lowest - 2.0) / 5.0).floor() * 5.0).clamp(0.0, 90.0);
        let y_label = |y: &f64| format!("{y:.0}%");
        let mut chart =
            day_chart(&body, self.range, bottom..100.5, "Pass rate (% of messages)", &y_label)?;
        chart.draw_series(DashedLineSeries::new(
            [(-0.5, threshold), (days as f64 - 0.5, threshold)],
            10,
            6,
            palette::INK.plotters().stroke_width(2),
        ))?;
        // One line per run of consecutive days: a missing day is a gap, not a slope.
        let mut run: Vec<(f64, f64)> = Vec::new();
        let line = palette::RATE.plotters().stroke_width(3);
        for (i, (offset, rate)) in points.iter().enumerate() {
            run.push((*offset as f64, *rate));
            let next = points.get(i + 1).map(|(o, _)| *o);
            if next != Some(offset + 1) {
                chart.draw_series(LineSeries::new(run.drain(..), line))?;
            }
        }
        chart.draw_series(
            points
                .iter()
                .map(|(o, r)| Circle::new((*o as f64, *r), 4, palette::RATE.plotters().filled())),
        )?;
        Ok(())
    }
}

/// Horizontal stacked bars, one row per sender or reporter.
struct HBars {
    title: &'static str,
    legend: Vec<LegendRow>,
    rows: Vec<HRow>,
    x_desc: &'static str,
}

struct HRow {
    label: String,
    swatch: Option<Rgb>,
    parts: Vec<(u64, Rgb)>,
    note: String,
}

/// Label width on the left of the bars.
const HBAR_LABELS: u32 = 300;
const HBAR_ROW: u32 = 34;

fn sender_parts(s: &SenderView) -> Vec<(u64, Rgb)> {
    let dkim = s.dkim_aligned_pass.min(s.messages);
    let pass = s.dmarc_pass.max(dkim).min(s.messages);
    vec![
        (dkim, palette::DKIM_PASS),
        (pass - dkim, palette::SPF_ONLY),
        (s.messages - pass, palette::FAIL),
    ]
}

fn sender_chart(senders: &[SenderView]) -> HBars {
    let mut sorted: Vec<&SenderView> = senders.iter().collect();
    sorted.sort_by_key(|s| std::cmp::Reverse(s.messages));
    let mut rows: Vec<HRow> = Vec::new();
    let shown = if sorted.len() > TOP_ROWS + 1 { TOP_ROWS } else { sorted.len() };
    for s in &sorted[..shown] {
        rows.push(HRow {
            label: truncate(&s.name, 60),
            swatch: Some(palette::class(s.class)),
            parts: sender_parts(s),
            note: format!("{} ({} pass)", count(s.messages), percent(s.dmarc_pass, s.messages)),
        });
    }
    let rest = &sorted[shown..];
    if !rest.is_empty() {
        let mut parts =
            vec![(0u64, palette::DKIM_PASS), (0, palette::SPF_ONLY), (0, palette::FAIL)];
        let (mut messages, mut pass) = (0u64, 0u64);
        for s in rest {
            for (sum, (v, _)) in parts.iter_mut().zip(sender_parts(s)) {
                sum.0 = sum.0.saturating_add(v);
            }
            messages = messages.saturating_add(s.messages);
            pass = pass.saturating_add(s.dmarc_pass.min(s.messages));
        }
        rows.push(HRow {
            label: format!("other ({})", plural(rest.len() as u64, "sender", "senders")),
            swatch: None,
            parts,
            note: format!("{} ({} pass)", count(messages), percent(pass, messages)),
        });
    }
    let mut classes: Vec<SenderClass> = sorted[..shown].iter().map(|s| s.class).collect();
    classes.sort();
    classes.dedup();
    HBars {
        title: "Messages per sender, by how they authenticate",
        legend: vec![
            LegendRow::squares(vec![
                ("aligned DKIM pass".to_owned(), palette::DKIM_PASS),
                ("SPF-only pass".to_owned(), palette::SPF_ONLY),
                ("DMARC fail".to_owned(), palette::FAIL),
            ]),
            LegendRow {
                lead: Some("Sender class (left squares):"),
                items: classes
                    .iter()
                    .map(|c| (c.as_str().to_owned(), palette::class(*c)))
                    .collect(),
                mark: Mark::Square,
            },
        ],
        rows,
        x_desc: "Messages in the window",
    }
}

fn reporter_chart(reporters: &[ReporterView]) -> HBars {
    let mut sorted: Vec<&ReporterView> = reporters.iter().collect();
    sorted.sort_by_key(|s| std::cmp::Reverse(s.messages));
    let shown = if sorted.len() > TOP_ROWS + 1 { TOP_ROWS } else { sorted.len() };
    let mut rows: Vec<HRow> = sorted[..shown]
        .iter()
        .map(|r| HRow {
            label: truncate(&r.org, 60),
            swatch: None,
            parts: vec![(r.messages, palette::REPORTER)],
            note: format!("{} ({})", count(r.messages), plural(r.reports, "report", "reports")),
        })
        .collect();
    let rest = &sorted[shown..];
    if !rest.is_empty() {
        let messages = total(rest.iter().map(|r| r.messages));
        let reports = total(rest.iter().map(|r| r.reports));
        rows.push(HRow {
            label: format!("other ({})", plural(rest.len() as u64, "reporter", "reporters")),
            swatch: None,
            parts: vec![(messages, palette::REPORTER)],
            note: format!("{} ({})", count(messages), plural(reports, "report", "reports")),
        });
    }
    HBars {
        title: "Messages per reporting organisation",
        legend: Vec::new(),
        rows,
        x_desc: "Messages in the window",
    }
}

impl Draw for HBars {
    fn title(&self) -> &str {
        self.title
    }

    fn size(&self) -> (u32, u32) {
        let legend = 26 * u32::try_from(self.legend.len()).unwrap_or(4);
        let rows = HBAR_ROW * u32::try_from(self.rows.len()).unwrap_or(20);
        (WIDTH, 60 + legend + rows + 90)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<(), DB> {
        let body = header(root, self.title, &self.legend)?;
        let n = self.rows.len().max(1);
        let max = self.rows.iter().map(|r| total(r.parts.iter().map(|p| p.0))).max();
        // Room on the right for the note after the longest bar.
        let top = axis_top(max.unwrap_or(0) as f64) * 1.3;
        let x_label = |x: &f64| compact(*x);
        let mut chart = ChartBuilder::on(&body)
            .margin_left(8)
            .margin_right(28)
            .margin_bottom(8)
            .x_label_area_size(60)
            .y_label_area_size(HBAR_LABELS)
            .build_cartesian_2d(0f64..top, -0.5..n as f64 - 0.5)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(0)
            .bold_line_style(palette::GRID.plotters())
            .light_line_style(TRANSPARENT)
            .x_labels(8)
            .x_label_formatter(&x_label)
            .x_desc(self.x_desc)
            .label_style(text_style(LABEL_SIZE))
            .axis_desc_style(text_style(LABEL_SIZE))
            .axis_style(palette::INK.plotters())
            .draw()?;
        let label_style = text_style(LABEL_SIZE).pos(Pos::new(HPos::Right, VPos::Center));
        let note_style = text_style(LABEL_SIZE - 1.0).pos(Pos::new(HPos::Left, VPos::Center));
        for (i, row) in self.rows.iter().enumerate() {
            // The first row at the top.
            let y = (n - 1 - i) as f64;
            let mut low = 0u64;
            for (value, colour) in &row.parts {
                if *value > 0 {
                    chart.draw_series(std::iter::once(Rectangle::new(
                        [(low as f64, y - 0.36), (low.saturating_add(*value) as f64, y + 0.36)],
                        colour.plotters().filled(),
                    )))?;
                }
                low = low.saturating_add(*value);
            }
            chart.draw_series(std::iter::once(
                EmptyElement::at((low as f64, y))
                    + Text::new(row.note.clone(), (8, 0), note_style.clone()),
            ))?;
            let (x0, y0) = chart.backend_coord(&(0.0, y));
            let (ox, oy) = root.get_base_pixel();
            let (x0, y0) = (x0 - ox, y0 - oy);
            let label = fit(root, &row.label, &label_style, x0 - 34 - 8)?;
            root.draw_text(&label, &label_style, (x0 - 34, y0))?;
            if let Some(colour) = row.swatch {
                swatch(root, (x0 - 26, y0 - 8), colour)?;
            }
        }
        Ok(())
    }
}

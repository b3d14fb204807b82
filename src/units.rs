//! Small units every stage shares, and how they are written: the day in
//! seconds, a date, a count, a share and a percentage. One definition each, so that
//! the explanations of the analysis, the page and the command line agree.
//! It depends on nothing else in the crate.

use time::OffsetDateTime;
use time::macros::format_description;

/// Seconds in a day. Report windows and days are counted in UTC, where
/// every day has exactly this many seconds.
pub const DAY: i64 = 86_400;

/// The UTC date of a Unix time, `2026-11-18` (the number itself when it is
/// out of the range dates can be written in).
pub fn format_date(ts: i64) -> String {
    OffsetDateTime::from_unix_timestamp(ts)
        .ok()
        .and_then(|t| t.format(format_description!("[year]-[month]-[day]")).ok())
        .unwrap_or_else(|| ts.to_string())
}

/// The last second of a span that starts at `begin` and ends just before
/// `end` (a report's or a window's end is the first second after it): the
/// day of this second is the span's last day, as every output writes it
/// (`2026-10-20 .. 2026-11-18`, never the exclusive `2026-11-19`).
pub fn last_second(begin: i64, end: i64) -> i64 {
    end.saturating_sub(1).max(begin)
}

/// `1234567` → `1,234,567`: every count in text has separators.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `n` and the noun, singular or plural, `n` with separators: `1 day`,
/// `1,200 messages`.
pub fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", count(n), if n == 1 { one } else { many })
}

/// `part / whole`, capped at 1; `None` when `whole` is zero.
pub fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part.min(whole) as f64 / whole as f64)
}

/// `part` of `whole` as a percentage with one decimal (`96.4%`, `100.0%`);
/// `–` when `whole` is zero, since there is nothing to divide.
pub fn percent(part: u64, whole: u64) -> String {
    match ratio(part, whole) {
        Some(r) => format!("{:.1}%", r * 100.0),
        None => "–".to_owned(),
    }
}

/// A rate (`0.98`) as a percentage, as short as it can be written with at
/// most one decimal: `98%`, `97.5%`. For thresholds and settings, which are
/// round numbers; measured shares use [`percent`].
pub fn percent_rate(rate: f64) -> String {
    let tenths = (rate * 1000.0).round() / 10.0;
    if tenths.fract() == 0.0 { format!("{tenths:.0}%") } else { format!("{tenths:.1}%") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_days_and_out_of_range_times_stay_numbers() {
        assert_eq!(format_date(0), "1970-01-01");
        assert_eq!(format_date(1_763_424_000 + DAY - 1), "2025-11-18");
        assert_eq!(format_date(i64::MAX), i64::MAX.to_string());
    }

    #[test]
    fn percentages_have_one_decimal_and_nothing_to_divide_is_a_dash() {
        assert_eq!(percent(964, 1000), "96.4%");
        assert_eq!(percent(1, 1), "100.0%");
        assert_eq!(percent(0, 3), "0.0%");
        assert_eq!(percent(5, 0), "–");
        // A part larger than the whole (inconsistent counts) is capped.
        assert_eq!(percent(7, 5), "100.0%");
        assert_eq!(ratio(1, 4), Some(0.25));
        assert_eq!(ratio(1, 0), None);
    }

    #[test]
    fn rates_are_written_as_short_as_they_can_be() {
        assert_eq!(percent_rate(0.98), "98%");
        assert_eq!(percent_rate(0.975), "97.5%");
        assert_eq!(percent_rate(1.0), "100%");
        assert_eq!(percent_rate(0.0), "0%");
        assert_eq!(percent_rate(0.12345), "12.3%");
    }
}

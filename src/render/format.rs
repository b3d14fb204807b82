//! How numbers, dates and names are written in charts and in the page.

use time::{Date, Duration};

pub use crate::units::{count, plural};

/// An axis value, short: `950`, `2.5k`, `12k`, `1.5M` (up to `E`, 10^18).
pub fn compact(v: f64) -> String {
    let a = v.abs();
    let (scaled, unit) = if a >= 1e18 {
        (v / 1e18, "E")
    } else if a >= 1e15 {
        (v / 1e15, "P")
    } else if a >= 1e12 {
        (v / 1e12, "T")
    } else if a >= 1e9 {
        (v / 1e9, "G")
    } else if a >= 1e6 {
        (v / 1e6, "M")
    } else if a >= 1e3 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    if unit.is_empty() {
        if (scaled - scaled.round()).abs() < 1e-6 {
            count(scaled.round() as u64)
        } else {
            format!("{scaled:.1}")
        }
    } else if (scaled - scaled.round()).abs() < 0.05 {
        format!("{:.0}{unit}", scaled)
    } else {
        format!("{scaled:.1}{unit}")
    }
}

/// The day `offset` days after `first`, short (`Oct 20`).
pub fn day_label(first: Date, offset: i64) -> String {
    match first.checked_add(Duration::days(offset)) {
        Some(day) => format!("{} {}", &day.month().to_string()[..3], day.day()),
        None => String::new(),
    }
}

/// At most `max` characters, with `…` when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The sum of `values`, saturating (counts come from reporters).
pub fn total(values: impl IntoIterator<Item = u64>) -> u64 {
    values.into_iter().fold(0, u64::saturating_add)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn counts_have_separators() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(1234567), "1,234,567");
        assert_eq!(count(u64::MAX), "18,446,744,073,709,551,615");
        assert_eq!(plural(1, "day", "days"), "1 day");
        assert_eq!(plural(1200, "message", "messages"), "1,200 messages");
    }

    #[test]
    fn compact_axis_values() {
        assert_eq!(compact(0.0), "0");
        assert_eq!(compact(950.0), "950");
        assert_eq!(compact(2500.0), "2.5k");
        assert_eq!(compact(5000.0), "5k");
        assert_eq!(compact(12000.0), "12k");
        assert_eq!(compact(12500.0), "12.5k");
        assert_eq!(compact(1_500_000.0), "1.5M");
        assert_eq!(compact(u64::MAX as f64), "18.4E");
        assert_eq!(compact(0.5), "0.5");
    }

    #[test]
    fn day_labels_and_truncation() {
        assert_eq!(day_label(date!(2026 - 10 - 30), 3), "Nov 2");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
        assert_eq!(total([u64::MAX, 1]), u64::MAX);
    }
}

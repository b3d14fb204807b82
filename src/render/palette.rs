//! The colours of the report: the Okabe-Ito palette, which stays tellable
//! apart with the common colour-vision deficiencies. One meaning, one colour,
//! in every chart and in the page.
//!
//! | colour | meaning |
//! |---|---|
//! | bluish green `#009E73` | DMARC pass; authorized senders |
//! | sky blue `#56B4E9` | forwarders |
//! | orange `#E69F00` | misconfigured senders |
//! | vermillion `#D55E00` | unauthorized senders; DMARC fail |
//! | reddish purple `#CC79A7` | unclassified senders |
//! | blue `#0072B2` | aligned DKIM pass; the pass-rate line; reporters |
//! | yellow `#F0E442` | SPF-only pass; quarantined |

use plotters::style::RGBColor;

use super::view::SenderClass;

/// A colour, 8 bits per channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    /// `#RRGGBB`.
    pub fn hex(self) -> String {
        format!("#{:02X}{:02X}{:02X}", self.0, self.1, self.2)
    }

    pub(crate) fn plotters(self) -> RGBColor {
        RGBColor(self.0, self.1, self.2)
    }
}

/// Okabe-Ito bluish green.
pub const BLUISH_GREEN: Rgb = Rgb(0x00, 0x9E, 0x73);
/// Okabe-Ito sky blue.
pub const SKY_BLUE: Rgb = Rgb(0x56, 0xB4, 0xE9);
/// Okabe-Ito orange.
pub const ORANGE: Rgb = Rgb(0xE6, 0x9F, 0x00);
/// Okabe-Ito vermillion.
pub const VERMILLION: Rgb = Rgb(0xD5, 0x5E, 0x00);
/// Okabe-Ito reddish purple.
pub const REDDISH_PURPLE: Rgb = Rgb(0xCC, 0x79, 0xA7);
/// Okabe-Ito blue.
pub const BLUE: Rgb = Rgb(0x00, 0x72, 0xB2);
/// Okabe-Ito yellow.
pub const YELLOW: Rgb = Rgb(0xF0, 0xE4, 0x42);
/// Text and axes.
pub const INK: Rgb = Rgb(0x1A, 0x1A, 0x1A);
/// Grid lines.
pub const GRID: Rgb = Rgb(0xE4, 0xE4, 0xE4);
/// Delivered normally (disposition `none`): a neutral grey.
pub const GREY: Rgb = Rgb(0x9E, 0x9E, 0x9E);

/// Messages passing DMARC.
pub const PASS: Rgb = BLUISH_GREEN;
/// Failing messages that were forwarded.
pub const FORWARDED: Rgb = SKY_BLUE;
/// Failing messages from authorized senders.
pub const FAILING_AUTHORIZED: Rgb = ORANGE;
/// Failing messages from unauthorized sources.
pub const FAILING_UNAUTHORIZED: Rgb = VERMILLION;
/// Aligned DKIM pass.
pub const DKIM_PASS: Rgb = BLUE;
/// Aligned SPF pass without aligned DKIM.
pub const SPF_ONLY: Rgb = YELLOW;
/// DMARC fail.
pub const FAIL: Rgb = VERMILLION;
/// Disposition `none`.
pub const DISPOSITION_NONE: Rgb = GREY;
/// Disposition `quarantine`.
pub const DISPOSITION_QUARANTINE: Rgb = YELLOW;
/// Disposition `reject`.
pub const DISPOSITION_REJECT: Rgb = Rgb(0x33, 0x33, 0x33);
/// The pass-rate line.
pub const RATE: Rgb = BLUE;
/// Messages per reporter.
pub const REPORTER: Rgb = BLUE;

/// The colour of a sender class, in the daily chart, the sender chart's
/// squares and the page's tables.
pub fn class(class: SenderClass) -> Rgb {
    match class {
        SenderClass::Authorized => PASS,
        SenderClass::Misconfigured => FAILING_AUTHORIZED,
        SenderClass::Forwarder => FORWARDED,
        SenderClass::Unclassified => REDDISH_PURPLE,
        SenderClass::Unauthorized => FAILING_UNAUTHORIZED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_have_distinct_colours() {
        let seen: std::collections::HashSet<Rgb> =
            SenderClass::ALL.iter().map(|c| class(*c)).collect();
        assert_eq!(seen.len(), SenderClass::ALL.len());
        assert_eq!(PASS.hex(), "#009E73");
    }
}

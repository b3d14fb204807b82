//! The font the PNG charts are drawn with, embedded so that text renders on
//! a machine without fontconfig or any system font.
//!
//! DejaVu Sans (Bitstream Vera licence, permissive: see
//! `fonts/LICENSE-DejaVu.txt`, Debian's copyright file of `fonts-dejavu-core`).
//! The SVG charts carry text as `<text font-family="sans-serif">`, which the
//! browser draws with its own sans-serif font.

use std::sync::OnceLock;

use plotters::style::FontStyle;

/// DejaVu Sans, as shipped by Debian's `fonts-dejavu-core` 2.37.
static DEJAVU_SANS: &[u8] = include_bytes!("fonts/DejaVuSans.ttf");

/// The family name the charts ask for.
pub(crate) const FAMILY: &str = "sans-serif";

/// Registers the embedded font with plotters once per process; later calls
/// return the first outcome.
pub(crate) fn ensure_registered() -> Result<(), &'static str> {
    static REGISTERED: OnceLock<Result<(), &'static str>> = OnceLock::new();
    *REGISTERED.get_or_init(|| {
        plotters::style::register_font(FAMILY, FontStyle::Normal, DEJAVU_SANS)
            .map_err(|_| "the embedded DejaVu Sans font could not be read")
    })
}

/// The embedded font, for the PNG backend's own text drawing.
pub(crate) fn font() -> Result<ab_glyph::FontRef<'static>, &'static str> {
    ab_glyph::FontRef::try_from_slice(DEJAVU_SANS)
        .map_err(|_| "the embedded DejaVu Sans font could not be read")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_font_registers() {
        assert_eq!(ensure_registered(), Ok(()));
        assert_eq!(ensure_registered(), Ok(()));
    }
}

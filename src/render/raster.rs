//! The PNG backend: plotters' bitmap backend with our own text drawing.
//!
//! plotters 0.3.7 draws `ab_glyph` text without each glyph's left side
//! bearing and rounds the pen to whole pixels per glyph, so digits come out
//! unevenly spaced (`Oct 2 0`, `19 8.51`). Everything but text goes to
//! [`BitMapBackend`] unchanged; text is laid out here from the embedded
//! font: kerning, bearings and sub-pixel pen positions kept, anchors and
//! rotations as plotters defines them.

use ab_glyph::{Font, FontRef, PxScale, ScaleFont, point};
use plotters::prelude::BitMapBackend;
use plotters::style::text_anchor::{HPos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingBackend, DrawingErrorKind,
};

use super::font;

type Error = DrawingErrorKind<<BitMapBackend<'static> as DrawingBackend>::ErrorType>;

/// [`BitMapBackend`] with correct text.
pub(crate) struct PngBackend<'a> {
    inner: BitMapBackend<'a>,
    font: FontRef<'static>,
}

impl<'a> PngBackend<'a> {
    /// Draws into `rgb` (3 bytes per pixel, `width * height` pixels).
    pub(crate) fn new(rgb: &'a mut [u8], size: (u32, u32)) -> Result<Self, &'static str> {
        Ok(Self { inner: BitMapBackend::with_buffer(rgb, size), font: font::font()? })
    }
}

/// A line of text laid out from the origin: the glyphs and the box
/// `(width, height)`, the baseline at `ascent`.
struct Layout {
    glyphs: Vec<ab_glyph::Glyph>,
    width: f32,
    height: f32,
}

fn layout(font: &FontRef<'static>, size: f64, text: &str) -> Layout {
    let scale = PxScale::from(size as f32);
    let scaled = font.as_scaled(scale);
    let ascent = scaled.ascent();
    let mut pen = 0.0f32;
    let mut previous = None;
    let mut glyphs = Vec::with_capacity(text.len());
    for c in text.chars() {
        let id = scaled.glyph_id(c);
        if let Some(previous) = previous {
            pen += scaled.kern(previous, id);
        }
        glyphs.push(id.with_scale_and_position(scale, point(pen, ascent)));
        pen += scaled.h_advance(id);
        previous = Some(id);
    }
    Layout { glyphs, width: pen, height: ascent - scaled.descent() }
}

impl DrawingBackend for PngBackend<'_> {
    type ErrorType = <BitMapBackend<'static> as DrawingBackend>::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.inner.get_size()
    }

    fn ensure_prepared(&mut self) -> Result<(), Error> {
        self.inner.ensure_prepared()
    }

    fn present(&mut self) -> Result<(), Error> {
        self.inner.present()
    }

    fn draw_pixel(&mut self, point: BackendCoord, color: BackendColor) -> Result<(), Error> {
        self.inner.draw_pixel(point, color)
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), Error> {
        self.inner.draw_line(from, to, style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), Error> {
        self.inner.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Result<(), Error> {
        self.inner.draw_path(path, style)
    }

    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Result<(), Error> {
        self.inner.draw_circle(center, radius, style, fill)
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Result<(), Error> {
        self.inner.fill_polygon(vert, style)
    }

    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        size: (u32, u32),
        src: &[u8],
    ) -> Result<(), Error> {
        self.inner.blit_bitmap(pos, size, src)
    }

    fn estimate_text_size<S: BackendTextStyle>(
        &self,
        text: &str,
        style: &S,
    ) -> Result<(u32, u32), Error> {
        let l = layout(&self.font, style.size(), text);
        Ok((l.width.ceil() as u32, l.height.ceil() as u32))
    }

    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> Result<(), Error> {
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        let l = layout(&self.font, style.size(), text);
        let dx = match style.anchor().h_pos {
            HPos::Left => 0.0,
            HPos::Center => -l.width / 2.0,
            HPos::Right => -l.width,
        };
        let dy = match style.anchor().v_pos {
            VPos::Top => 0.0,
            VPos::Center => -l.height / 2.0,
            VPos::Bottom => -l.height,
        };
        // Whole pixels: a fractional offset added per pixel and rounded
        // would map two rows of a glyph onto one and leave a gap.
        let (dx, dy) = (dx.round() as i32, dy.round() as i32);
        let transform = style.transform();
        let (width, height) = self.inner.get_size();
        for glyph in l.glyphs {
            let mut result = Ok(());
            let Some(outline) = self.font.outline_glyph(glyph) else { continue };
            let bounds = outline.px_bounds();
            outline.draw(|x, y, coverage| {
                if coverage <= 0.0 || result.is_err() {
                    return;
                }
                // Position relative to the anchor, then rotated about it.
                let gx = bounds.min.x as i32 + x as i32 + dx;
                let gy = bounds.min.y as i32 + y as i32 + dy;
                let (rx, ry) = transform.transform(gx, gy);
                let (px, py) = (pos.0 + rx, pos.1 + ry);
                if px >= 0 && py >= 0 && (px as u32) < width && (py as u32) < height {
                    let alpha = color.alpha * f64::from(coverage.min(1.0));
                    result =
                        self.inner.draw_pixel((px, py), BackendColor { alpha, rgb: color.rgb });
                }
            });
            result?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plotters::prelude::*;
    use plotters::style::text_anchor::Pos;

    /// Rows and columns with ink, drawing `text` anchored at (110, 15).
    fn ink(text: &str, h: HPos, v: VPos) -> (Vec<u32>, Vec<u32>) {
        let (w, height) = (120u32, 30u32);
        let mut rgb = vec![255u8; (w * height * 3) as usize];
        {
            let root = PngBackend::new(&mut rgb, (w, height)).expect("font").into_drawing_area();
            let style = (font::FAMILY, 17.0).into_font().color(&BLACK).pos(Pos::new(h, v));
            root.draw_text(text, &style, (110, 15)).expect("draw");
        }
        let dark = |x: u32, y: u32| rgb[((y * w + x) * 3) as usize] < 255;
        let rows = (0..height).filter(|y| (0..w).any(|x| dark(x, *y))).collect();
        let cols = (0..w).filter(|x| (0..height).any(|y| dark(*x, y))).collect();
        (rows, cols)
    }

    /// Regression: a fractional anchor offset rounded per pixel left a
    /// blank row through right-aligned labels.
    #[test]
    fn anchored_text_has_no_gaps() {
        for v in [VPos::Top, VPos::Center, VPos::Bottom] {
            let (rows, cols) = ink("Mailchimp 2,000", HPos::Right, v);
            let (first, last) = (rows[0], rows[rows.len() - 1]);
            assert_eq!(rows.len() as u32, last - first + 1, "a blank row: {rows:?}");
            // Right-aligned: the ink ends at the anchor.
            assert!((108..=111).contains(&cols[cols.len() - 1]), "{cols:?}");
        }
        // Centred vertically on y = 15.
        let (rows, _) = ink("Mailchimp", HPos::Right, VPos::Center);
        assert!(rows[0] < 15 && rows[rows.len() - 1] > 15, "{rows:?}");
    }
}

//! The one mapping from a model to its colour and marker, used by every plot
//! and by the page's legend, so that a model looks the same everywhere.
//!
//! The colours are Okabe and Ito's colour-blind-safe set, with its yellow
//! (hard to see on white) replaced by grey; every model also has a marker
//! shape of its own, so no line depends on its colour alone.

use plotters::element::{Drawable, PointCollection};
use plotters::prelude::*;
use plotters_backend::{BackendCoord, DrawingErrorKind};

/// The shape drawn at each measured point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Marker {
    /// A filled circle.
    Circle,
    /// An open circle.
    Ring,
    /// A filled square.
    Square,
    /// An open square.
    Box,
    /// A filled triangle.
    Triangle,
    /// An open triangle.
    OpenTriangle,
    /// A diagonal cross.
    Cross,
    /// A filled diamond.
    Diamond,
    /// An open diamond.
    OpenDiamond,
    /// An upright cross.
    Plus,
}

/// How one model is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Look {
    /// Red, green, blue.
    pub rgb: (u8, u8, u8),
    /// The marker shape.
    pub marker: Marker,
}

/// The models in the lab's order, with their looks.
const LOOKS: &[(&str, Look)] = &[
    ("blocking", look((0xD5, 0x5E, 0x00), Marker::Square)), // vermillion
    (
        "nonblocking",
        look((0x99, 0x99, 0x99), Marker::OpenTriangle),
    ), // grey
    ("select", look((0xE6, 0x9F, 0x00), Marker::Cross)),    // orange
    ("poll", look((0xCC, 0x79, 0xA7), Marker::Triangle)),   // reddish purple
    ("epoll-lt", look((0x00, 0x72, 0xB2), Marker::Circle)), // blue
    ("epoll-et", look((0x56, 0xB4, 0xE9), Marker::Ring)),   // sky blue
    ("sigio", look((0x00, 0x00, 0x00), Marker::Box)),       // black
    ("uring", look((0x00, 0x9E, 0x73), Marker::Diamond)),   // bluish green
    // The runtime, opt-in (`--models rt,rt-uring`).
    ("rt", look((0x8B, 0x45, 0x13), Marker::Plus)), // brown
    ("rt-uring", look((0x6A, 0x3D, 0x9A), Marker::OpenDiamond)), // purple
];

/// A model the table does not know (a future variant) still gets a look
/// that is the same in every plot.
const UNKNOWN: Look = look((0x66, 0x66, 0x66), Marker::Cross);

const fn look(rgb: (u8, u8, u8), marker: Marker) -> Look {
    Look { rgb, marker }
}

/// How `model` is drawn.
pub fn look_of(model: &str) -> Look {
    LOOKS
        .iter()
        .find(|(m, _)| *m == model)
        .map_or(UNKNOWN, |(_, l)| *l)
}

impl Look {
    /// The colour as plotters draws it.
    pub fn color(self) -> RGBColor {
        RGBColor(self.rgb.0, self.rgb.1, self.rgb.2)
    }

    /// The colour as `#RRGGBB`, upper case, as plotters writes it in SVG.
    pub fn hex(self) -> String {
        format!("#{:02X}{:02X}{:02X}", self.rgb.0, self.rgb.1, self.rgb.2)
    }

    /// The marker at `at`, `r` pixels in radius.
    pub fn marker<C>(self, at: C, r: i32) -> Point<C> {
        Point { at, r, look: self }
    }
}

/// A model's marker as a plotters element.
pub struct Point<C> {
    at: C,
    r: i32,
    look: Look,
}

impl<'a, C> PointCollection<'a, C> for &'a Point<C> {
    type Point = &'a C;
    type IntoIter = std::iter::Once<&'a C>;
    fn point_iter(self) -> Self::IntoIter {
        std::iter::once(&self.at)
    }
}

impl<C, DB: DrawingBackend> Drawable<DB> for Point<C> {
    fn draw<I: Iterator<Item = BackendCoord>>(
        &self,
        mut points: I,
        backend: &mut DB,
        _: (u32, u32),
    ) -> Result<(), DrawingErrorKind<DB::ErrorType>> {
        let Some((x, y)) = points.next() else {
            return Ok(());
        };
        let r = self.r;
        let c = self.look.color();
        let (fill, line) = (c.filled(), c.stroke_width(2));
        let triangle = vec![(x, y - r - 1), (x + r + 1, y + r), (x - r - 1, y + r)];
        match self.look.marker {
            Marker::Circle => backend.draw_circle((x, y), r as u32, &fill, true),
            Marker::Ring => backend.draw_circle((x, y), r as u32, &line, false),
            Marker::Square => backend.draw_rect((x - r, y - r), (x + r, y + r), &fill, true),
            Marker::Box => backend.draw_rect((x - r, y - r), (x + r, y + r), &line, false),
            Marker::Triangle => backend.fill_polygon(triangle, &fill),
            Marker::OpenTriangle => {
                let mut closed = triangle.clone();
                closed.push(triangle[0]);
                backend.draw_path(closed, &line)
            }
            Marker::Cross => {
                backend.draw_line((x - r, y - r), (x + r, y + r), &line)?;
                backend.draw_line((x - r, y + r), (x + r, y - r), &line)
            }
            Marker::Diamond => {
                let d = r + 1;
                backend.fill_polygon(vec![(x, y - d), (x + d, y), (x, y + d), (x - d, y)], &fill)
            }
            Marker::OpenDiamond => {
                let d = r + 1;
                let corners = vec![(x, y - d), (x + d, y), (x, y + d), (x - d, y), (x, y - d)];
                backend.draw_path(corners, &line)
            }
            Marker::Plus => {
                backend.draw_line((x - r, y), (x + r, y), &line)?;
                backend.draw_line((x, y - r), (x, y + r), &line)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_lab_model_has_a_look_of_its_own() {
        for v in super::super::matrix::all_variants() {
            assert_ne!(look_of(v.name), UNKNOWN, "{} has a look", v.name);
        }
        for (i, (a, la)) in LOOKS.iter().enumerate() {
            for (b, lb) in &LOOKS[i + 1..] {
                assert_ne!(la.rgb, lb.rgb, "{a} and {b} share a colour");
                assert_ne!(la.marker, lb.marker, "{a} and {b} share a marker");
            }
        }
    }

    #[test]
    fn hex_is_written_as_plotters_writes_it() {
        assert_eq!(look_of("blocking").hex(), "#D55E00");
        assert_eq!(look_of("a future model").hex(), "#666666");
    }
}

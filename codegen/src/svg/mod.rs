//! SVG output in pure Rust (no Graphviz), drawn like figure 8-9 (see
//! [`crate::figure`]).
//!
//! The layout is a small layered (Sugiyama-style) one, deterministic and
//! without hand-tuned positions:
//!
//! 1. rows come from [`Figure::rows`]: state row `r` is layer `2r`; the odd
//!    layers between hold the arrows' labels, so a label never sits on a box
//!    and always sits on its own arrow;
//! 2. parallel thin arrows are bundled (one arrow, one label line each); an
//!    arrow that skips layers gets a pass-through node in each, its label
//!    in the least crowded odd layer near the middle; a sideways arrow (both
//!    ends in one row) dips under the row over its label; self-loops sit
//!    beside their box;
//! 3. the order within each layer comes from barycenter sweeps and adjacent
//!    swaps, keeping the order with the fewest crossings; a crossing with a
//!    path arrow counts more than one between thin arrows, and the sweeps
//!    start three times (nodes as made, and each typical path kept to one
//!    side, first path left or right), so that thin arrows keep off the
//!    bold paths and the paths off each other;
//! 4. x positions: repeated sweeps that pull each node toward its
//!    neighbours (long arrows and path arrows pull harder), solved per layer
//!    as an isotonic regression so nodes keep their order and spacing (a
//!    line leaving a sideways arrow's end is held beyond the port of its
//!    dip, which sits at the box's end nearer the other end, so that it
//!    does not cross the dip); then labels in the left half move to the
//!    left of their line, and swaps that straighten the links without
//!    adding crossings are kept;
//! 5. y positions: each gap grows with the sideways travel across it, so
//!    that lines converging on one box stay apart;
//! 6. arrows are cubic Hermite curves through their nodes (Catmull-Rom,
//!    but vertical at the boxes and along the labels), with the arrowhead
//!    drawn as a triangle; in a layer where a curve would cut another
//!    arrow's label or a box, every line runs vertically through the
//!    layer's band and bends only in the gaps, which hold no labels; step
//!    markers are drawn circles and boxes.
//!
//! [`collisions`] measures the result: labels crossed by other arrows,
//! labels on labels or boxes, lines crossing, thin lines running along
//! bold ones.
//!
//! Every state and every (transition, source state) pair carries a stable
//! id, for pages and animations that find them: a state's box is
//! `<g id="state-CLOSED" data-state="CLOSED"><g class="state">…` ([`state_id`]); an arrow's line is
//! `<g class="arrow" id="edge-7-CLOSED" data-edges="…">` ([`edge_id`]:
//! the transition's index in [`Model::transitions`] and the source state),
//! with `data-edges` listing every pair a bundled line carries (its id is
//! its first pair's); each pair's label lines sit in
//! `<g class="label" data-edge="edge-7-CLOSED">`; and a row of the "In
//! several states" box is `<text id="row-12" data-edges="…">`, listing its
//! pairs. So `[data-edges~="edge-7-CLOSED"], [data-edge="edge-7-CLOSED"]`
//! selects all that shows a pair.
//!
//! Text widths are estimated from character classes (CJK characters are a
//! full em), generously, since the viewer's font is unknown.

use crate::figure::{DrawOptions, Figure, Heat, INK, Line, NEVER, Provenance, StepMark};
use crate::model::Model;
use crate::syntax::{LineStyle, Marker};

/// Fonts in order of preference; the CJK ones cover `--lang zh`. (The
/// sequence charts of `crate::msc` use them too.)
pub(crate) const FONTS: &str =
    "Helvetica, Arial, 'Noto Sans CJK SC', 'PingFang SC', 'Microsoft YaHei', sans-serif";

const MARGIN: f64 = 24.0;
const TITLE_SIZE: f64 = 20.0;
const STATE_SIZE: f64 = 13.0;
const LABEL_SIZE: f64 = 11.0;
const LINE_H: f64 = 15.0;
const BOX_H: f64 = 32.0;
const BOX_PAD: f64 = 14.0;
const MARK: f64 = 14.0;
const GAP_X: f64 = 14.0;
const GAP_Y: f64 = 28.0;
const PASS: f64 = 5.0;
const LOOP: f64 = 30.0;
const THIN_W: f64 = 1.2;
const BOLD_W: f64 = 2.6;

/// The id of a (transition, source state) pair in the SVG figures:
/// `edge-7-CLOSED` for transition 7 (its index in [`Model::transitions`])
/// taken from CLOSED; the same for an arrow, a label and a row of the
/// "In several states" box (see the module docs).
pub fn edge_id(transition: usize, from: &str) -> String {
    format!("edge-{transition}-{from}")
}

/// The id of a state's box in the SVG figures: `state-CLOSED`.
pub fn state_id(name: &str) -> String {
    format!("state-{name}")
}

/// Renders the model as SVG, with a header naming the `fsm svg` command.
pub fn render(model: &Model, opts: &DrawOptions) -> String {
    render_with(model, opts, &Provenance::cli(model, "svg", opts))
}

/// Renders the model as SVG, with a header naming `provenance`.
pub fn render_with(model: &Model, opts: &DrawOptions, provenance: &Provenance) -> String {
    let fig = Figure::new(model, opts);
    let layout = Layout::new(&fig);
    Drawing::new(&fig, &layout).finish(provenance)
}

/// How the arrows and labels of the model's SVG figure get in each
/// other's way: the measure the layout is judged by (see
/// `codegen/tests/layout.rs`).
pub fn collisions(model: &Model, opts: &DrawOptions) -> Collisions {
    let fig = Figure::new(model, opts);
    Layout::new(&fig).collisions(&fig)
}

mod draw;
mod layout;
mod route;
mod text;

pub(crate) use text::text_width;

pub use route::Collisions;
pub use text::xml;

use draw::Drawing;
use layout::Layout;

#[cfg(test)]
mod tests {
    use super::layout::spaced_fit;
    use super::text::text_width;
    use super::*;

    #[test]
    fn spaced_fit_keeps_order_and_gaps() {
        let xs = spaced_fit(&[(10.0, 1.0), (10.0, 1.0), (10.0, 1.0)], &[4.0, 4.0]);
        assert_eq!(xs, vec![6.0, 10.0, 14.0]);
        let xs = spaced_fit(&[(0.0, 1.0), (100.0, 1.0)], &[10.0]);
        assert_eq!(xs, vec![0.0, 100.0]);
    }

    #[test]
    fn wide_characters_count_a_full_em() {
        assert_eq!(text_width("连接", 10.0, false), 20.0);
        assert!(text_width("CLOSED", 10.0, false) < 60.0);
    }

    #[test]
    fn xml_escapes_markup() {
        assert_eq!(xml("<a & \"b\">"), "&lt;a &amp; &quot;b&quot;&gt;");
    }
}

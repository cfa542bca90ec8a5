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
//!    swaps, keeping the order with the fewest crossings;
//! 4. x positions: repeated sweeps that pull each node toward its
//!    neighbours (long arrows and path arrows pull harder), solved per layer
//!    as an isotonic regression so nodes keep their order and spacing; then
//!    labels in the left half move to the left of their line, and swaps that
//!    straighten the links without adding crossings are kept;
//! 5. y positions: each gap grows with the sideways travel across it;
//! 6. arrows are cubic Hermite curves through their nodes (Catmull-Rom,
//!    but vertical at the boxes and along the labels), with the arrowhead
//!    drawn as a triangle; step markers are drawn circles and boxes.
//!
//! Text widths are estimated from character classes (CJK characters are a
//! full em), generously, since the viewer's font is unknown.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::figure::{DrawOptions, Figure, Heat, INK, Line, NEVER, Provenance, StepMark};
use crate::model::Model;
use crate::syntax::{LineStyle, Marker};

/// Fonts in order of preference; the CJK ones cover `--lang zh`.
const FONTS: &str =
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

// ---- Text ------------------------------------------------------------------

/// The estimated width of `s` at `size` px.
fn text_width(s: &str, size: f64, bold: bool) -> f64 {
    let em: f64 = s.chars().map(char_em).sum();
    em * size * if bold { 1.1 } else { 1.0 }
}

fn char_em(c: char) -> f64 {
    match c {
        'i' | 'j' | 'l' | '\'' | '|' | '.' | ',' | ':' | ';' | '!' => 0.3,
        'f' | 't' | 'r' | 'I' | ' ' | '(' | ')' | '[' | ']' | '/' | '-' => 0.4,
        'm' | 'w' | 'M' | 'W' => 0.92,
        'a'..='z' => 0.6,
        'A'..='Z' => 0.72,
        '0'..='9' => 0.64,
        '_' => 0.55,
        '→' | '…' => 1.0,
        c if is_wide(c) => 1.0,
        _ => 0.7,
    }
}

/// Whether `c` is drawn a full em wide (CJK, full-width forms, circled
/// numbers).
fn is_wide(c: char) -> bool {
    matches!(u32::from(c),
        0x1100..=0x115F | 0x2460..=0x24FF | 0x2E80..=0x303E | 0x3041..=0x33FF
        | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xA000..=0xA4CF | 0xAC00..=0xD7A3
        | 0xF900..=0xFAFF | 0xFE30..=0xFE4F | 0xFF00..=0xFF60 | 0xFFE0..=0xFFE6)
}

/// `s` escaped for XML text and attribute values.
pub fn xml(s: &str) -> String {
    let mut e = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => e.push_str("&amp;"),
            '<' => e.push_str("&lt;"),
            '>' => e.push_str("&gt;"),
            '"' => e.push_str("&quot;"),
            '\'' => e.push_str("&#39;"),
            '\r' => {}
            c => e.push(c),
        }
    }
    e
}

/// A coordinate, with one decimal and no `-0.0`.
fn n(v: f64) -> String {
    let s = format!("{v:.1}");
    if s == "-0.0" { "0.0".to_owned() } else { s }
}

/// Labels wider than this are broken between words.
const WRAP: f64 = 190.0;

/// One line of a label: step markers (on a label's first line), text, and
/// how far the text is indented past the markers of the line it continues.
#[derive(Clone, Debug)]
struct LabelLine {
    marks: Vec<StepMark>,
    text: String,
    indent: f64,
}

/// A label: lines of markers and text.
#[derive(Clone, Debug)]
struct Label {
    lines: Vec<LabelLine>,
    w: f64,
    h: f64,
}

impl Label {
    fn new() -> Label {
        Label {
            lines: Vec::new(),
            w: 0.0,
            h: 0.0,
        }
    }

    /// Adds one arrow's "condition / action", wrapped.
    fn push(&mut self, marks: &[StepMark], text: &str) {
        let indent = marks_width(marks);
        for (i, line) in wrap(text, WRAP - indent).into_iter().enumerate() {
            let first = i == 0;
            self.lines.push(LabelLine {
                marks: if first { marks.to_vec() } else { Vec::new() },
                text: line,
                indent: if first { 0.0 } else { indent },
            });
        }
        self.w = self
            .lines
            .iter()
            .map(|l| l.indent + marks_width(&l.marks) + text_width(&l.text, LABEL_SIZE, false))
            .fold(0.0, f64::max);
        self.h = self.lines.len() as f64 * LINE_H;
    }
}

/// `text` in lines no wider than `max` where possible, broken between
/// words, never right after the " / " between condition and action.
fn wrap(text: &str, max: f64) -> Vec<String> {
    let fits = |s: &str| text_width(s, LABEL_SIZE, false) <= max;
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let candidate = if line.is_empty() {
            word.to_owned()
        } else {
            format!("{line} {word}")
        };
        if fits(&candidate) || line.is_empty() {
            line = candidate;
        } else if let Some(kept) = line.strip_suffix(" /") {
            lines.push(kept.to_owned());
            line = format!("/ {word}");
        } else {
            lines.push(std::mem::replace(&mut line, word.to_owned()));
        }
    }
    lines.push(line);
    lines
}

/// Length of an arrowhead.
fn head_len(line: Line) -> f64 {
    if line == Line::Thin { 9.0 } else { 12.0 }
}

fn marks_width(marks: &[StepMark]) -> f64 {
    marks.len() as f64 * (MARK + 3.0)
}

// ---- Layout ----------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Both ends in one state.
    Loop,
    /// Both ends in one row.
    Flat,
    /// Down the figure.
    Down,
    /// Up the figure.
    Up,
}

/// One drawn arrow: one or more of the figure's arrows with the same ends
/// and thin lines, or one path arrow.
#[derive(Clone, Debug)]
struct Bundle {
    from: usize,
    to: usize,
    line: Line,
    arrows: Vec<usize>,
    label: Label,
    kind: Kind,
    /// Nodes from source to target, the states included.
    chain: Vec<usize>,
    /// The node that carries the label (none for loops).
    label_node: Option<usize>,
    /// Whether the label sits left of the line (else right).
    label_left: bool,
    /// For loops: drawn on the right (else left), and how far out the
    /// sides' earlier loops reach.
    loop_right: bool,
    loop_base: f64,
}

/// A box, a label, or a point an arrow passes through, in one layer.
#[derive(Clone, Debug)]
struct Node {
    layer: usize,
    /// Extent left and right of `x`.
    left: f64,
    right: f64,
    h: f64,
    x: f64,
}

struct Layout {
    nodes: Vec<Node>,
    layers: Vec<Vec<usize>>,
    bundles: Vec<Bundle>,
    /// Half width of each state's box.
    half: Vec<f64>,
    /// Offset from the box centre of the port where (state, neighbour) meet.
    ports: BTreeMap<(usize, usize), f64>,
    /// Neighbours in adjacent layers, with the pull of the link.
    adj: Vec<Vec<(usize, f64)>>,
    layer_y: Vec<f64>,
    layer_h: Vec<f64>,
    width: f64,
    height: f64,
}

impl Layout {
    fn new(fig: &Figure) -> Layout {
        let rows = fig.rows();
        let n = fig.states.len();
        let mut bundles = bundle(fig, &rows);
        let last_row = rows.iter().copied().max().unwrap_or(0);
        let mut layers: Vec<Vec<usize>> = vec![Vec::new(); 2 * last_row + 2];

        // States.
        let mut nodes: Vec<Node> = Vec::new();
        let mut half = Vec::new();
        for (i, s) in fig.states.iter().enumerate() {
            let w = text_width(&s.name, STATE_SIZE, true) + marks_width(&s.marks) + 2.0 * BOX_PAD;
            half.push(w / 2.0);
            nodes.push(Node {
                layer: 2 * rows[i],
                left: w / 2.0,
                right: w / 2.0,
                h: BOX_H,
                x: 0.0,
            });
        }
        // Each arrow's label goes into an odd layer it crosses: the only one
        // for arrows between adjacent rows; for longer arrows the one with
        // the least label width so far, near the middle.
        let between = |bu: &Bundle| -> Vec<usize> {
            let (ra, rz) = (2 * rows[bu.from], 2 * rows[bu.to]);
            if ra < rz {
                (ra + 1..rz).collect()
            } else {
                (rz + 1..ra).rev().collect()
            }
        };
        let mut load = vec![0.0f64; layers.len()];
        let mut label_layer = vec![0usize; bundles.len()];
        let candidates = |bu: &Bundle| -> Vec<usize> {
            match bu.kind {
                Kind::Loop => Vec::new(),
                Kind::Flat => vec![2 * rows[bu.from] + 1],
                Kind::Down | Kind::Up => between(bu).into_iter().filter(|l| l % 2 == 1).collect(),
            }
        };
        for fixed in [true, false] {
            for (b, bu) in bundles.iter().enumerate() {
                let odd = candidates(bu);
                if odd.is_empty() || (odd.len() == 1) != fixed {
                    continue;
                }
                let mid = (odd.len() as f64 - 1.0) / 2.0;
                let cost = |i: usize| load[odd[i]] + 40.0 * (i as f64 - mid).abs();
                let best = (0..odd.len())
                    .min_by(|&i, &j| cost(i).total_cmp(&cost(j)))
                    .unwrap_or(0);
                label_layer[b] = odd[best];
                load[odd[best]] += bu.label.w;
            }
        }

        // Loops widen their state; the rest get nodes in the layers between.
        let mut loops_on = vec![0usize; n];
        for (b, bu) in bundles.iter_mut().enumerate() {
            let (a, z) = (bu.from, bu.to);
            let ra = 2 * rows[a];
            match bu.kind {
                Kind::Loop => {
                    let k = loops_on[a];
                    loops_on[a] += 1;
                    bu.loop_right = k.is_multiple_of(2);
                    let node = &mut nodes[a];
                    let side = if bu.loop_right {
                        &mut node.right
                    } else {
                        &mut node.left
                    };
                    bu.loop_base = *side - half[a];
                    *side += LOOP * 0.8 + 6.0 + bu.label.w;
                    node.h = node.h.max(bu.label.h + 8.0);
                    bu.chain = vec![a, a];
                }
                Kind::Flat => {
                    let id = nodes.len();
                    nodes.push(Node {
                        layer: ra + 1,
                        left: bu.label.w / 2.0 + 4.0,
                        right: bu.label.w / 2.0 + 4.0,
                        h: bu.label.h + 8.0,
                        x: 0.0,
                    });
                    bu.chain = vec![a, id, z];
                    bu.label_node = Some(id);
                }
                Kind::Down | Kind::Up => {
                    bu.chain = vec![a];
                    for l in between(bu) {
                        let id = nodes.len();
                        let is_label = l == label_layer[b];
                        nodes.push(Node {
                            layer: l,
                            left: PASS,
                            right: if is_label {
                                6.0 + bu.label.w + 4.0
                            } else {
                                PASS
                            },
                            h: if is_label { bu.label.h + 4.0 } else { 0.0 },
                            x: 0.0,
                        });
                        if is_label {
                            bu.label_node = Some(id);
                        }
                        bu.chain.push(id);
                    }
                    bu.chain.push(z);
                }
            }
        }
        for (id, node) in nodes.iter().enumerate() {
            layers[node.layer].push(id);
        }
        while layers.last().is_some_and(Vec::is_empty) {
            layers.pop();
        }

        // Links between adjacent layers; path arrows and long arrows pull harder.
        let mut adj: Vec<Vec<(usize, f64)>> = vec![Vec::new(); nodes.len()];
        for bu in &bundles {
            if bu.kind == Kind::Loop {
                continue;
            }
            let bold = if bu.line == Line::Thin { 1.0 } else { 3.0 };
            for pair in bu.chain.windows(2) {
                let (p, q) = (pair[0], pair[1]);
                let states = usize::from(p < n) + usize::from(q < n);
                let w = bold * if states == 0 { 20.0 } else { 1.0 };
                adj[p].push((q, w));
                adj[q].push((p, w));
            }
        }

        let mut layout = Layout {
            nodes,
            layers,
            bundles,
            half,
            ports: BTreeMap::new(),
            adj,
            layer_y: Vec::new(),
            layer_h: Vec::new(),
            width: 0.0,
            height: 0.0,
        };
        layout.order();
        layout.place_ports(n);
        layout.place_x();
        // Labels on the left half go left of their line, so that they push
        // their neighbours outward rather than across the figure; then
        // place again.
        let middle = layout.width / 2.0;
        for bu in &mut layout.bundles {
            if let (Kind::Down | Kind::Up, Some(id)) = (bu.kind, bu.label_node)
                && layout.nodes[id].x < middle
            {
                let node = &mut layout.nodes[id];
                std::mem::swap(&mut node.left, &mut node.right);
                bu.label_left = true;
            }
        }
        layout.place_x();
        layout.improve(n);
        layout.place_y();
        layout
    }

    /// How far the links are from vertical: the sum over links of pull
    /// times squared horizontal offset.
    fn link_cost(&self) -> f64 {
        let mut cost = 0.0;
        for (p, links) in self.adj.iter().enumerate() {
            for &(q, w) in links {
                if p < q {
                    let dx = self.nodes[p].x + self.port(p, q) - self.nodes[q].x - self.port(q, p);
                    cost += w * dx * dx;
                }
            }
        }
        cost
    }

    /// Swaps neighbours in a layer where that straightens the links without
    /// adding crossings (crossing counts often tie, e.g. between two labels).
    fn improve(&mut self, n: usize) {
        let mut cost = self.link_cost();
        for _ in 0..4 {
            let mut improved = false;
            for l in 0..self.layers.len() {
                for i in 0..self.layers[l].len().saturating_sub(1) {
                    let before = self.crossings_around(l);
                    let xs: Vec<f64> = self.nodes.iter().map(|nd| nd.x).collect();
                    let (ports, width) = (self.ports.clone(), self.width);
                    self.layers[l].swap(i, i + 1);
                    if self.crossings_around(l) <= before {
                        self.place_ports(n);
                        self.place_x();
                        let c = self.link_cost();
                        if c < cost * 0.995 {
                            cost = c;
                            improved = true;
                            continue;
                        }
                    }
                    self.layers[l].swap(i, i + 1);
                    for (nd, x) in self.nodes.iter_mut().zip(xs) {
                        nd.x = x;
                    }
                    self.ports = ports;
                    self.width = width;
                }
            }
            if !improved {
                break;
            }
        }
    }

    /// Position of each node within its layer.
    fn positions(&self) -> Vec<usize> {
        let mut pos = vec![0; self.nodes.len()];
        for layer in &self.layers {
            for (i, &id) in layer.iter().enumerate() {
                pos[id] = i;
            }
        }
        pos
    }

    fn crossings(&self) -> usize {
        let pos = self.positions();
        (0..self.layers.len().saturating_sub(1))
            .map(|l| self.crossings_between(l, &pos))
            .sum()
    }

    /// Crossings between layer `l` and layer `l + 1`.
    fn crossings_between(&self, l: usize, pos: &[usize]) -> usize {
        let mut segs: Vec<(usize, usize)> = Vec::new();
        for &a in &self.layers[l] {
            for &(b, _) in &self.adj[a] {
                if self.nodes[b].layer == l + 1 {
                    segs.push((pos[a], pos[b]));
                }
            }
        }
        let mut c = 0;
        for (i, &(a1, b1)) in segs.iter().enumerate() {
            for &(a2, b2) in &segs[i + 1..] {
                if (a1 < a2 && b1 > b2) || (a1 > a2 && b1 < b2) {
                    c += 1;
                }
            }
        }
        c
    }

    /// Orders each layer: barycenter sweeps, then adjacent swaps; keeps the
    /// best order seen.
    fn order(&mut self) {
        let mut best = self.layers.clone();
        let mut best_c = self.crossings();
        for sweep in 0..16u32 {
            let down = sweep.is_multiple_of(2);
            let ls: Vec<usize> = if down {
                (1..self.layers.len()).collect()
            } else {
                (0..self.layers.len().saturating_sub(1)).rev().collect()
            };
            for l in ls {
                let pos = self.positions();
                let from = if down { l - 1 } else { l + 1 };
                let mut keyed: Vec<(f64, usize)> = self.layers[l]
                    .iter()
                    .map(|&id| {
                        let near: Vec<f64> = self.adj[id]
                            .iter()
                            .filter(|(m, _)| self.nodes[*m].layer == from)
                            .map(|(m, _)| pos[*m] as f64)
                            .collect();
                        let key = if near.is_empty() {
                            pos[id] as f64
                        } else {
                            near.iter().sum::<f64>() / near.len() as f64
                        };
                        (key, id)
                    })
                    .collect();
                keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
                self.layers[l] = keyed.into_iter().map(|(_, id)| id).collect();
            }
            self.transpose();
            let c = self.crossings();
            if c < best_c {
                best_c = c;
                best = self.layers.clone();
            }
        }
        self.layers = best;
    }

    /// Swaps neighbours in a layer while that removes crossings.
    fn transpose(&mut self) {
        for _ in 0..8 {
            let mut improved = false;
            for l in 0..self.layers.len() {
                for i in 0..self.layers[l].len().saturating_sub(1) {
                    let before = self.crossings_around(l);
                    self.layers[l].swap(i, i + 1);
                    if self.crossings_around(l) < before {
                        improved = true;
                    } else {
                        self.layers[l].swap(i, i + 1);
                    }
                }
            }
            if !improved {
                break;
            }
        }
    }

    fn crossings_around(&self, l: usize) -> usize {
        let pos = self.positions();
        let above = if l > 0 {
            self.crossings_between(l - 1, &pos)
        } else {
            0
        };
        let below = if l + 1 < self.layers.len() {
            self.crossings_between(l, &pos)
        } else {
            0
        };
        above + below
    }

    /// Spreads the links of each state's top and bottom sides along the box,
    /// in the order of the nodes they lead to, and widens crowded boxes.
    fn place_ports(&mut self, n: usize) {
        let pos = self.positions();
        for s in 0..n {
            for side in [self.nodes[s].layer.wrapping_sub(1), self.nodes[s].layer + 1] {
                let mut links: Vec<usize> = self.adj[s]
                    .iter()
                    .map(|(m, _)| *m)
                    .filter(|m| self.nodes[*m].layer == side)
                    .collect();
                links.sort_by_key(|m| pos[*m]);
                links.dedup();
                let needed = (links.len() as f64 + 1.0) * 20.0 / 2.0 / 0.8;
                if needed > self.half[s] {
                    let grow = needed - self.half[s];
                    self.half[s] = needed;
                    self.nodes[s].left += grow;
                    self.nodes[s].right += grow;
                }
                let span = self.half[s] * 2.0 * 0.8;
                for (k, m) in links.iter().enumerate() {
                    let off = -span / 2.0 + span * (k as f64 + 1.0) / (links.len() as f64 + 1.0);
                    self.ports.insert((s, *m), off);
                }
            }
        }
    }

    /// Where `a`'s link to `b` meets `a`, relative to `a`'s x.
    fn port(&self, a: usize, b: usize) -> f64 {
        self.ports.get(&(a, b)).copied().unwrap_or(0.0)
    }

    fn place_x(&mut self) {
        // Start packed to the left.
        for layer in &self.layers {
            let mut x = 0.0;
            for (i, &id) in layer.iter().enumerate() {
                if i > 0 {
                    x += self.nodes[layer[i - 1]].right + GAP_X + self.nodes[id].left;
                }
                self.nodes[id].x = x;
            }
        }
        for sweep in 0..60u32 {
            let ls: Vec<usize> = if sweep.is_multiple_of(2) {
                (0..self.layers.len()).collect()
            } else {
                (0..self.layers.len()).rev().collect()
            };
            for l in ls {
                let layer = &self.layers[l];
                let mut want = Vec::with_capacity(layer.len());
                for &id in layer {
                    let (mut sum, mut weight) = (0.0, 0.0);
                    for &(m, w) in &self.adj[id] {
                        let target = self.nodes[m].x + self.port(m, id) - self.port(id, m);
                        sum += w * target;
                        weight += w;
                    }
                    if weight == 0.0 {
                        want.push((self.nodes[id].x, 0.01));
                    } else {
                        want.push((sum / weight, weight));
                    }
                }
                let gaps: Vec<f64> = layer
                    .windows(2)
                    .map(|p| self.nodes[p[0]].right + GAP_X + self.nodes[p[1]].left)
                    .collect();
                let xs = spaced_fit(&want, &gaps);
                for (&id, x) in layer.iter().zip(xs) {
                    self.nodes[id].x = x;
                }
            }
        }
        let min = self
            .nodes
            .iter()
            .map(|nd| nd.x - nd.left)
            .fold(f64::INFINITY, f64::min);
        let max = self
            .nodes
            .iter()
            .map(|nd| nd.x + nd.right)
            .fold(f64::NEG_INFINITY, f64::max);
        for nd in &mut self.nodes {
            nd.x -= min;
        }
        self.width = (max - min).max(0.0);
    }

    /// Layer tops: each gap grows with the sideways travel of the links
    /// across it, so that curves do not run flat.
    fn place_y(&mut self) {
        let mut y = 0.0;
        for l in 0..self.layers.len() {
            let h = self.layers[l]
                .iter()
                .map(|&id| self.nodes[id].h)
                .fold(0.0, f64::max);
            self.layer_y.push(y);
            self.layer_h.push(h);
            let travel = self.layers[l]
                .iter()
                .flat_map(|&p| self.adj[p].iter().map(move |&(q, _)| (p, q)))
                .filter(|&(_, q)| self.nodes[q].layer == l + 1)
                .map(|(p, q)| {
                    (self.nodes[p].x + self.port(p, q) - self.nodes[q].x - self.port(q, p)).abs()
                })
                .fold(0.0, f64::max);
            y += h + (travel * 0.2).clamp(GAP_Y, 3.0 * GAP_Y);
        }
        self.height = self
            .layer_y
            .last()
            .zip(self.layer_h.last())
            .map_or(0.0, |(y, h)| y + h);
    }

    /// Vertical centre of a node.
    fn cy(&self, id: usize) -> f64 {
        let l = self.nodes[id].layer;
        self.layer_y[l] + self.layer_h[l] / 2.0
    }

    /// Top and bottom of a state's box.
    fn box_y(&self, s: usize) -> (f64, f64) {
        let c = self.cy(s);
        (c - BOX_H / 2.0, c + BOX_H / 2.0)
    }
}

/// Groups the figure's arrows into drawn arrows: thin arrows with the same
/// ends share one, path arrows get one each.
fn bundle(fig: &Figure, rows: &[usize]) -> Vec<Bundle> {
    let mut bundles: Vec<Bundle> = Vec::new();
    for (i, a) in fig.arrows.iter().enumerate() {
        if a.line == Line::Thin
            && let Some(b) = bundles
                .iter_mut()
                .find(|b| b.line == Line::Thin && b.from == a.from && b.to == a.to)
        {
            b.arrows.push(i);
            b.label.push(&a.marks, &a.label);
            continue;
        }
        let mut label = Label::new();
        label.push(&a.marks, &a.label);
        let kind = if a.from == a.to {
            Kind::Loop
        } else if rows[a.from] == rows[a.to] {
            Kind::Flat
        } else if rows[a.from] < rows[a.to] {
            Kind::Down
        } else {
            Kind::Up
        };
        bundles.push(Bundle {
            from: a.from,
            to: a.to,
            line: a.line,
            arrows: vec![i],
            label,
            kind,
            chain: Vec::new(),
            label_node: None,
            label_left: false,
            loop_right: true,
            loop_base: 0.0,
        });
    }
    bundles
}

/// Positions as close as possible (weighted least squares) to `want`,
/// keeping each at least `gaps[i]` right of the one before: isotonic
/// regression by pooling adjacent violators.
fn spaced_fit(want: &[(f64, f64)], gaps: &[f64]) -> Vec<f64> {
    let mut offset = vec![0.0; want.len()];
    for i in 1..want.len() {
        offset[i] = offset[i - 1] + gaps[i - 1];
    }
    // Blocks of (total weight, weighted sum, count).
    let mut blocks: Vec<(f64, f64, usize)> = Vec::new();
    for (i, &(x, w)) in want.iter().enumerate() {
        blocks.push((w, w * (x - offset[i]), 1));
        while blocks.len() > 1 {
            let (w2, s2, c2) = blocks[blocks.len() - 1];
            let (w1, s1, c1) = blocks[blocks.len() - 2];
            if s1 / w1 <= s2 / w2 {
                break;
            }
            blocks.pop();
            *blocks.last_mut().expect("two blocks") = (w1 + w2, s1 + s2, c1 + c2);
        }
    }
    let mut xs = Vec::with_capacity(want.len());
    for (w, s, c) in blocks {
        for _ in 0..c {
            xs.push(s / w + offset[xs.len()]);
        }
    }
    xs
}

// ---- Drawing ---------------------------------------------------------------

struct Drawing<'a> {
    fig: &'a Figure,
    lay: &'a Layout,
    /// Where the graph starts (below the title).
    ox: f64,
    oy: f64,
    body: String,
    width: f64,
    height: f64,
}

impl<'a> Drawing<'a> {
    fn new(fig: &'a Figure, lay: &'a Layout) -> Drawing<'a> {
        let mut d = Drawing {
            fig,
            lay,
            ox: MARGIN,
            oy: MARGIN + TITLE_SIZE + 22.0,
            body: String::new(),
            width: 0.0,
            height: 0.0,
        };
        let legend_w = d.legend_width();
        let title_w = text_width(&fig.title, TITLE_SIZE, true);
        let content = lay.width.max(legend_w).max(title_w);
        d.ox = MARGIN + (content - lay.width) / 2.0;
        d.width = content + 2.0 * MARGIN;
        d.title();
        for b in 0..lay.bundles.len() {
            d.arrow(b);
        }
        for s in 0..fig.states.len() {
            d.state(s);
        }
        for b in 0..lay.bundles.len() {
            d.arrow_label(b);
        }
        let legend_y = d.oy + lay.height + 36.0;
        let legend_h = d.legend(MARGIN + (content - legend_w) / 2.0, legend_y);
        d.height = legend_y + legend_h + MARGIN;
        d
    }

    fn finish(self, provenance: &Provenance) -> String {
        let [generated, command] = provenance.lines();
        let mut out = String::new();
        // A comment cannot hold `--`, which commands often do: the command
        // goes into <desc>.
        let _ = writeln!(
            out,
            "<!-- {} The command that regenerates it is in <desc> below. -->",
            generated.replace("--", "- -")
        );
        let _ = writeln!(
            out,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" \
             viewBox=\"0 0 {w} {h}\" font-family=\"{}\">",
            xml(FONTS),
            w = n(self.width.ceil()),
            h = n(self.height.ceil()),
        );
        let _ = writeln!(out, "<title>{}</title>", xml(&self.fig.title));
        let _ = writeln!(out, "<desc>{} {}</desc>", xml(&generated), xml(&command));
        let _ = writeln!(
            out,
            "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>"
        );
        out.push_str(&self.body);
        out.push_str("</svg>\n");
        out
    }

    fn title(&mut self) {
        let _ = writeln!(
            self.body,
            "<text x=\"{}\" y=\"{}\" font-size=\"{TITLE_SIZE}\" font-weight=\"bold\" \
             text-anchor=\"middle\" fill=\"{INK}\">{}</text>",
            n(self.width / 2.0),
            n(MARGIN + TITLE_SIZE),
            xml(&self.fig.title)
        );
    }

    fn px(&self, x: f64) -> String {
        n(self.ox + x)
    }

    fn py(&self, y: f64) -> String {
        n(self.oy + y)
    }

    fn stroke(&self, line: Line) -> String {
        match line {
            Line::Thin => format!("stroke=\"{INK}\" stroke-width=\"{THIN_W}\""),
            Line::Bold { style, .. } => {
                let dash = match style {
                    LineStyle::Solid => "",
                    LineStyle::Dashed => " stroke-dasharray=\"8 5\"",
                };
                format!(
                    "stroke=\"{}\" stroke-width=\"{BOLD_W}\"{dash}",
                    self.fig.color(line)
                )
            }
        }
    }

    /// How often the arrows of a bundle fired, with a heat map.
    fn fired(&self, bu: &Bundle) -> Option<u64> {
        self.fig.fired_max?;
        Some(
            bu.arrows
                .iter()
                .filter_map(|&i| self.fig.arrows[i].fired)
                .sum(),
        )
    }

    /// The bundle's line: its path's or thin; with a heat map, coloured
    /// and widened by how often it fired (dashed grey if never). Returns
    /// the attributes and the colour of the head.
    fn bundle_stroke(&self, bu: &Bundle) -> (String, String) {
        let (Some(count), Some(max)) = (self.fired(bu), self.fig.fired_max) else {
            return (self.stroke(bu.line), self.fig.color(bu.line).to_owned());
        };
        let color = Heat::color(count, max);
        if count == 0 {
            return (
                format!("stroke=\"{color}\" stroke-width=\"{THIN_W}\" stroke-dasharray=\"4 3\""),
                color,
            );
        }
        let width = 1.6 + 4.4 * Heat::level(count, max);
        (
            format!("stroke=\"{color}\" stroke-width=\"{}\"", n(width)),
            color,
        )
    }

    /// The colour of a bundle's label text.
    fn label_color(&self, bu: &Bundle) -> &'static str {
        match self.fired(bu) {
            Some(0) => NEVER,
            Some(_) => INK,
            None => self.fig.color(bu.line),
        }
    }

    fn state(&mut self, s: usize) {
        let lay = self.lay;
        let st = &self.fig.states[s];
        let (fill, ink) = if st.reached == Some(false) {
            ("#efefef", NEVER)
        } else {
            ("#ffffff", INK)
        };
        let x = lay.nodes[s].x;
        let half = lay.half[s];
        let (top, _) = lay.box_y(s);
        let width = if st.initial { 2.2 } else { 1.3 };
        let _ = writeln!(
            self.body,
            "<g class=\"state\"><title>{}: {}</title>\
             <rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{BOX_H}\" rx=\"6\" fill=\"{fill}\" \
             stroke=\"{ink}\" stroke-width=\"{width}\"/>",
            xml(&st.name),
            xml(&st.description),
            self.px(x - half),
            self.py(top),
            n(2.0 * half),
        );
        let name_w = text_width(&st.name, STATE_SIZE, true);
        let content = name_w + marks_width(&st.marks);
        let left = x - content / 2.0;
        let base = lay.cy(s) + STATE_SIZE * 0.36;
        let _ = writeln!(
            self.body,
            "<text x=\"{}\" y=\"{}\" font-size=\"{STATE_SIZE}\" font-weight=\"bold\" \
             fill=\"{ink}\">{}</text>",
            self.px(left),
            self.py(base),
            xml(&st.name)
        );
        let marks = st.marks.clone();
        self.marks(&marks, left + name_w + 3.0, lay.cy(s));
        self.body.push_str("</g>\n");
    }

    /// Draws step markers from `x`, centred on `cy` (graph coordinates).
    fn marks(&mut self, marks: &[StepMark], x: f64, cy: f64) {
        for (i, m) in marks.iter().enumerate() {
            let cx = x + i as f64 * (MARK + 3.0) + MARK / 2.0;
            let color = self.fig.paths[m.path].color;
            let shape = match m.marker {
                Marker::Circled => format!(
                    "<circle cx=\"{}\" cy=\"{}\" r=\"{}\"",
                    self.px(cx),
                    self.py(cy),
                    MARK / 2.0
                ),
                Marker::Boxed => format!(
                    "<rect x=\"{}\" y=\"{}\" width=\"{MARK}\" height=\"{MARK}\"",
                    self.px(cx - MARK / 2.0),
                    self.py(cy - MARK / 2.0)
                ),
            };
            let _ = writeln!(
                self.body,
                "<g class=\"mark\" data-path=\"{}\" data-step=\"{}\">\
                 {shape} fill=\"#ffffff\" stroke=\"{color}\" stroke-width=\"1.3\"/>\
                 <text x=\"{}\" y=\"{}\" font-size=\"9.5\" font-weight=\"bold\" \
                 text-anchor=\"middle\" fill=\"{color}\">{}</text></g>",
                xml(&self.fig.paths[m.path].name),
                m.step,
                self.px(cx),
                self.py(cy + 3.4),
                m.step
            );
        }
    }

    /// The arrow's line and head.
    fn arrow(&mut self, b: usize) {
        let lay = self.lay;
        let bu = &lay.bundles[b];
        let (d, tip, dir) = match bu.kind {
            Kind::Loop => self.loop_path(bu),
            Kind::Flat => self.flat_path(bu),
            Kind::Down | Kind::Up => self.chain_path(bu),
        };
        let tooltip: Vec<String> = bu
            .arrows
            .iter()
            .map(|&i| {
                let a = &self.fig.arrows[i];
                let rfc = a
                    .rfc
                    .as_deref()
                    .map(|r| format!(" (rfc {r})"))
                    .unwrap_or_default();
                format!(
                    "{} → {}: {}{rfc}",
                    self.fig.states[a.from].name,
                    self.fig.states[a.to].name,
                    a.text_label()
                )
            })
            .collect();
        let (stroke, color) = self.bundle_stroke(bu);
        let (hl, hw) = (
            head_len(bu.line),
            if bu.line == Line::Thin { 3.6 } else { 5.0 },
        );
        let base = (tip.0 - dir.0 * hl, tip.1 - dir.1 * hl);
        let (nx, ny) = (-dir.1, dir.0);
        let path = match bu.line {
            Line::Thin => String::new(),
            Line::Bold { path, .. } => {
                format!(" data-path=\"{}\"", xml(&self.fig.paths[path].name))
            }
        };
        let _ = writeln!(
            self.body,
            "<g class=\"arrow\"{path}><title>{}</title><path d=\"{d}\" fill=\"none\" {stroke}/>\
             <path d=\"M{},{} L{},{} L{},{} Z\" fill=\"{color}\"/></g>",
            xml(&tooltip.join("\n")).replace('\n', "&#10;"),
            self.px(tip.0),
            self.py(tip.1),
            self.px(base.0 + nx * hw),
            self.py(base.1 + ny * hw),
            self.px(base.0 - nx * hw),
            self.py(base.1 - ny * hw),
        );
    }

    /// A smooth curve (Catmull-Rom, as cubics) from the source's port
    /// through each pass-through node's centre and along the left edge of
    /// the label, leaving and entering the boxes vertically. Returns the
    /// path, the tip and the direction there; the path stops where the head
    /// begins.
    fn chain_path(&self, bu: &Bundle) -> (String, (f64, f64), (f64, f64)) {
        let lay = self.lay;
        let down = bu.kind == Kind::Down;
        let sign = if down { 1.0 } else { -1.0 };
        let last = bu.chain.len() - 1;
        let mut pts: Vec<(f64, f64)> = Vec::new();
        let mut label_points: Vec<usize> = Vec::new();
        for (k, &id) in bu.chain.iter().enumerate() {
            let node = &lay.nodes[id];
            if k == 0 || k == last {
                let other = if k == 0 {
                    bu.chain[1]
                } else {
                    bu.chain[last - 1]
                };
                let x = node.x + lay.port(id, other);
                let (top, bottom) = lay.box_y(id);
                pts.push((x, if (k == 0) == down { bottom } else { top }));
            } else if Some(id) == bu.label_node {
                let l = node.layer;
                let (top, bottom) = (lay.layer_y[l], lay.layer_y[l] + lay.layer_h[l]);
                let (a, b) = if down { (top, bottom) } else { (bottom, top) };
                label_points.extend([pts.len(), pts.len() + 1]);
                pts.push((node.x, a));
                pts.push((node.x, b));
            } else {
                pts.push((node.x, lay.cy(id)));
            }
        }
        let tip = pts[pts.len() - 1];
        let head = head_len(bu.line);
        let end = (tip.0, tip.1 - sign * head);
        let m = pts.len() - 1;
        pts[m] = end;
        // Cubic Hermite through the points: vertical at the ends and along
        // the label, Catmull-Rom elsewhere.
        let vertical: Vec<bool> = (0..=m)
            .map(|i| i == 0 || i == m || label_points.contains(&i))
            .collect();
        let tangent = |i: usize| -> (f64, f64) {
            let prev = if i == 0 { pts[0] } else { pts[i - 1] };
            let next = if i == m { pts[m] } else { pts[i + 1] };
            let mut t = ((next.0 - prev.0) / 2.0, (next.1 - prev.1) / 2.0);
            if i == 0 || i == m {
                t.1 *= 2.0;
            }
            if vertical[i] {
                t.0 = 0.0;
            }
            t
        };
        let mut d = format!("M{},{}", self.px(pts[0].0), self.py(pts[0].1));
        for i in 0..m {
            let (p1, p2) = (pts[i], pts[i + 1]);
            let (t1, t2) = (tangent(i), tangent(i + 1));
            let c1 = (p1.0 + t1.0 / 3.0, p1.1 + t1.1 / 3.0);
            let c2 = (p2.0 - t2.0 / 3.0, p2.1 - t2.1 / 3.0);
            let _ = write!(
                d,
                " C{},{} {},{} {},{}",
                self.px(c1.0),
                self.py(c1.1),
                self.px(c2.0),
                self.py(c2.1),
                self.px(p2.0),
                self.py(p2.1)
            );
        }
        (d, tip, (0.0, sign))
    }

    /// A sideways arrow: down from the source's bottom, along the top of
    /// its label, up into the target's bottom.
    fn flat_path(&self, bu: &Bundle) -> (String, (f64, f64), (f64, f64)) {
        let lay = self.lay;
        let (a, l, z) = (bu.chain[0], bu.chain[1], bu.chain[2]);
        let x1 = lay.nodes[a].x + lay.port(a, l);
        let x2 = lay.nodes[z].x + lay.port(z, l);
        let y1 = lay.box_y(a).1;
        let y2 = lay.box_y(z).1;
        let xl = lay.nodes[l].x;
        let yl = lay.layer_y[lay.nodes[l].layer] + 2.0;
        let head = head_len(bu.line);
        let reach = (x2 - x1).abs() / 4.0;
        let (s1, s2) = if x2 >= x1 {
            (-reach, reach)
        } else {
            (reach, -reach)
        };
        let d = format!(
            "M{},{} C{},{} {},{} {},{} C{},{} {},{} {},{}",
            self.px(x1),
            self.py(y1),
            self.px(x1),
            self.py(yl),
            self.px(xl + s1),
            self.py(yl),
            self.px(xl),
            self.py(yl),
            self.px(xl + s2),
            self.py(yl),
            self.px(x2),
            self.py(yl),
            self.px(x2),
            self.py(y2 + head),
        );
        (d, (x2, y2), (0.0, -1.0))
    }

    /// A loop beside the box, out of its upper half and back into its lower.
    fn loop_path(&self, bu: &Bundle) -> (String, (f64, f64), (f64, f64)) {
        let lay = self.lay;
        let s = bu.from;
        let side = if bu.loop_right { 1.0 } else { -1.0 };
        let edge = lay.nodes[s].x + side * (lay.half[s] + bu.loop_base);
        let cy = lay.cy(s);
        let head = head_len(bu.line);
        let reach = edge + side * LOOP;
        let d = format!(
            "M{},{} C{},{} {},{} {},{}",
            self.px(edge),
            self.py(cy - 7.0),
            self.px(reach),
            self.py(cy - 24.0),
            self.px(reach),
            self.py(cy + 24.0),
            self.px(edge + side * head),
            self.py(cy + 7.0),
        );
        (d, (edge, cy + 7.0), (-side, 0.0))
    }

    fn arrow_label(&mut self, b: usize) {
        let lay = self.lay;
        let bu = &lay.bundles[b];
        let (x, top) = match bu.kind {
            Kind::Loop => {
                let side = if bu.loop_right { 1.0 } else { -1.0 };
                let edge = lay.nodes[bu.from].x + side * (lay.half[bu.from] + bu.loop_base);
                let x = if bu.loop_right {
                    edge + LOOP * 0.8 + 4.0
                } else {
                    edge - LOOP * 0.8 - 4.0 - bu.label.w
                };
                (x, lay.cy(bu.from) - bu.label.h / 2.0)
            }
            Kind::Flat => {
                let id = bu.label_node.expect("a sideways arrow has a label node");
                (
                    lay.nodes[id].x - bu.label.w / 2.0,
                    lay.cy(id) - bu.label.h / 2.0 + 2.0,
                )
            }
            Kind::Down | Kind::Up => {
                let id = bu
                    .label_node
                    .expect("an arrow between rows has a label node");
                if bu.label_left {
                    // Right-aligned against the line, markers next to it.
                    let line_x = lay.nodes[id].x - 6.0;
                    let top = lay.cy(id) - bu.label.h / 2.0;
                    self.label_left_of(bu, line_x, top);
                    return;
                }
                (lay.nodes[id].x + 6.0, lay.cy(id) - bu.label.h / 2.0)
            }
        };
        let color = self.label_color(bu);
        let lines = bu.label.lines.clone();
        for (i, line) in lines.iter().enumerate() {
            let cy = top + LINE_H * (i as f64 + 0.5);
            self.marks(&line.marks, x, cy);
            let _ = writeln!(
                self.body,
                "<text x=\"{}\" y=\"{}\" font-size=\"{LABEL_SIZE}\" fill=\"{color}\">{}</text>",
                self.px(x + line.indent + marks_width(&line.marks)),
                self.py(cy + LABEL_SIZE * 0.36),
                xml(&line.text)
            );
        }
    }

    /// A label that ends at `right`: each line's markers last, against the
    /// line, the text right-aligned before them.
    fn label_left_of(&mut self, bu: &Bundle, right: f64, top: f64) {
        let color = self.label_color(bu);
        for (i, line) in bu.label.lines.iter().enumerate() {
            let cy = top + LINE_H * (i as f64 + 0.5);
            let marks_w = marks_width(&line.marks);
            self.marks(&line.marks, right - marks_w + 3.0, cy);
            let _ = writeln!(
                self.body,
                "<text x=\"{}\" y=\"{}\" font-size=\"{LABEL_SIZE}\" text-anchor=\"end\" \
                 fill=\"{color}\">{}</text>",
                self.px(right - marks_w - line.indent),
                self.py(cy + LABEL_SIZE * 0.36),
                xml(&line.text)
            );
        }
    }

    // ---- Legend ------------------------------------------------------------

    fn key_rows(&self) -> Vec<(Option<Line>, Vec<StepMark>, String)> {
        let fig = self.fig;
        let mut rows = Vec::new();
        for (i, p) in fig.paths.iter().enumerate() {
            let marks = p
                .steps
                .map(|(a, z)| {
                    [a, z]
                        .iter()
                        .map(|&step| StepMark {
                            path: i,
                            step,
                            marker: p.marker,
                        })
                        .collect()
                })
                .unwrap_or_default();
            rows.push((
                Some(Line::Bold {
                    path: i,
                    style: p.style,
                }),
                marks,
                p.text.clone(),
            ));
        }
        rows.push((Some(Line::Thin), Vec::new(), fig.words.thin.to_owned()));
        if fig.states.iter().any(|s| !s.marks.is_empty()) {
            rows.push((None, Vec::new(), fig.words.on_state.to_owned()));
        }
        if let Some(max) = fig.fired_max {
            rows.push((
                None,
                Vec::new(),
                format!("×N: times fired; colour and width: amber 1 … dark red {max}"),
            ));
            rows.push((
                None,
                Vec::new(),
                "grey: never fired, or never reached".to_owned(),
            ));
        }
        rows
    }

    fn key_width(&self) -> f64 {
        let rows = self.key_rows();
        let title = text_width(self.fig.words.key, LABEL_SIZE + 1.0, true);
        let row_w = rows
            .iter()
            .map(|(line, marks, text)| {
                let sample = if line.is_some() { 50.0 } else { 0.0 };
                let marks = if marks.is_empty() {
                    0.0
                } else {
                    marks_width(marks) + 14.0
                };
                sample + text_width(text, LABEL_SIZE, false) + marks + 8.0
            })
            .fold(title, f64::max);
        row_w + 24.0
    }

    /// Column widths of the several-states table, and its width.
    fn several_columns(&self) -> ([f64; 3], f64) {
        let fig = self.fig;
        let mut cols = [0.0f64; 3];
        for r in &fig.several {
            cols[0] = cols[0].max(text_width(&r.sources, LABEL_SIZE, false));
            cols[1] = cols[1].max(marks_width(&r.marks) + text_width(&r.label, LABEL_SIZE, false));
            cols[2] = cols[2].max(text_width(&format!("→ {}", r.target), LABEL_SIZE, false));
        }
        let mut w = cols.iter().sum::<f64>() + 2.0 * 18.0 + 24.0;
        w = w.max(text_width(fig.words.several, LABEL_SIZE + 1.0, true) + 24.0);
        for g in &fig.groups {
            w = w.max(text_width(&g.text_row(), LABEL_SIZE, false) + 24.0);
        }
        (cols, w)
    }

    fn legend_width(&self) -> f64 {
        let several = if self.fig.several.is_empty() {
            0.0
        } else {
            self.several_columns().1 + 24.0
        };
        self.key_width() + several
    }

    /// Draws the key and the several-states table side by side from
    /// (`x`, `y`) in page coordinates; returns their height.
    fn legend(&mut self, x: f64, y: f64) -> f64 {
        let key_w = self.key_width();
        let rows = self.key_rows();
        let row_h = LINE_H + 5.0;
        let key_h = 30.0 + rows.len() as f64 * row_h + 6.0;
        let mut h = key_h;
        let mut body = String::new();
        let _ = writeln!(
            body,
            "<g class=\"key\"><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"#ffffff\" \
             stroke=\"{INK}\" stroke-width=\"1\"/>",
            n(x),
            n(y),
            n(key_w),
            n(key_h)
        );
        let _ = writeln!(
            body,
            "<text x=\"{}\" y=\"{}\" font-size=\"{}\" font-weight=\"bold\" fill=\"{INK}\">{}</text>",
            n(x + 12.0),
            n(y + 20.0),
            LABEL_SIZE + 1.0,
            xml(self.fig.words.key)
        );
        self.body.push_str(&body);
        for (i, (line, marks, text)) in rows.iter().enumerate() {
            let cy = y + 30.0 + row_h * (i as f64 + 0.5);
            let mut tx = x + 12.0;
            if let Some(line) = line {
                let _ = writeln!(
                    self.body,
                    "<path d=\"M{},{} L{},{}\" fill=\"none\" {}/>",
                    n(tx),
                    n(cy),
                    n(tx + 40.0),
                    n(cy),
                    self.stroke(*line)
                );
                tx += 50.0;
            }
            let color = line.map_or(INK, |l| self.fig.color(l));
            let _ = writeln!(
                self.body,
                "<text x=\"{}\" y=\"{}\" font-size=\"{LABEL_SIZE}\" fill=\"{color}\">{}</text>",
                n(tx),
                n(cy + LABEL_SIZE * 0.36),
                xml(text)
            );
            if let [first, last] = marks.as_slice() {
                let mx = tx + text_width(text, LABEL_SIZE, false) + 6.0;
                // Marks take graph coordinates.
                self.marks(&[*first], mx - self.ox, cy - self.oy);
                let _ = writeln!(
                    self.body,
                    "<text x=\"{}\" y=\"{}\" font-size=\"{LABEL_SIZE}\" fill=\"{color}\">…</text>",
                    n(mx + MARK + 2.0),
                    n(cy + LABEL_SIZE * 0.36)
                );
                self.marks(&[*last], mx + MARK + 14.0 - self.ox, cy - self.oy);
            }
        }
        self.body.push_str("</g>\n");

        if !self.fig.several.is_empty() {
            let (cols, w) = self.several_columns();
            let sx = x + key_w + 24.0;
            let n_rows = self.fig.several.len() + self.fig.groups.len();
            let sh = 30.0 + n_rows as f64 * LINE_H + 10.0;
            h = h.max(sh);
            let _ = writeln!(
                self.body,
                "<g class=\"several\"><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" \
                 fill=\"#ffffff\" stroke=\"{INK}\" stroke-width=\"1\"/>",
                n(sx),
                n(y),
                n(w),
                n(sh)
            );
            let _ = writeln!(
                self.body,
                "<text x=\"{}\" y=\"{}\" font-size=\"{}\" font-weight=\"bold\" fill=\"{INK}\">{}</text>",
                n(sx + 12.0),
                n(y + 20.0),
                LABEL_SIZE + 1.0,
                xml(self.fig.words.several)
            );
            let several = self.fig.several.clone();
            for (i, r) in several.iter().enumerate() {
                let cy = y + 30.0 + LINE_H * (i as f64 + 0.5);
                let base = n(cy + LABEL_SIZE * 0.36);
                let c1 = sx + 12.0;
                let c2 = c1 + cols[0] + 18.0;
                let c3 = c2 + cols[1] + 18.0;
                self.marks(&r.marks, c2 - self.ox, cy - self.oy);
                let target = if r.stays {
                    format!("<tspan font-style=\"italic\">{}</tspan>", xml(&r.target))
                } else {
                    format!("→ {}", xml(&r.target))
                };
                let ink = if r.fired == Some(0) { NEVER } else { INK };
                let _ = writeln!(
                    self.body,
                    "<text y=\"{base}\" font-size=\"{LABEL_SIZE}\" fill=\"{ink}\">\
                     <tspan x=\"{}\">{}</tspan><tspan x=\"{}\">{}</tspan><tspan x=\"{}\">{target}</tspan></text>",
                    n(c1),
                    xml(&r.sources),
                    n(c2 + marks_width(&r.marks)),
                    xml(&r.label),
                    n(c3),
                );
            }
            for (i, g) in self.fig.groups.iter().enumerate() {
                let cy = y + 30.0 + LINE_H * ((self.fig.several.len() + i) as f64 + 0.5) + 4.0;
                let _ = writeln!(
                    self.body,
                    "<text x=\"{}\" y=\"{}\" font-size=\"{LABEL_SIZE}\" font-style=\"italic\" \
                     fill=\"{INK}\">{}</text>",
                    n(sx + 12.0),
                    n(cy + LABEL_SIZE * 0.36),
                    xml(&g.text_row())
                );
            }
            self.body.push_str("</g>\n");
        }
        h
    }
}

#[cfg(test)]
mod tests {
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

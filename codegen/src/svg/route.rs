//! Where each arrow's line and label lie once the layout is done, in graph
//! coordinates: the curves the drawing strokes, the boxes its labels fill,
//! and [`Collisions`], the measure of how they get in each other's way.

use super::layout::*;
use super::text::*;
use super::*;

/// A point in graph coordinates.
pub(super) type Point = (f64, f64);

/// A cubic Bézier segment: start, two control points, end.
pub(super) type Cubic = [Point; 4];

/// A drawn arrow's line: cubics from the source to where the head begins,
/// then the head's tip and its direction.
#[derive(Clone, Debug)]
pub(super) struct Route {
    pub(super) curves: Vec<Cubic>,
    pub(super) tip: Point,
    pub(super) dir: Point,
}

impl Route {
    /// The line as a polyline, `steps` points per cubic, the head's tip
    /// last.
    pub(super) fn polyline(&self, steps: usize) -> Vec<Point> {
        let mut pts = Vec::with_capacity(self.curves.len() * steps + 2);
        if let Some(c) = self.curves.first() {
            pts.push(c[0]);
        }
        for c in &self.curves {
            for k in 1..=steps {
                pts.push(bezier(c, k as f64 / steps as f64));
            }
        }
        pts.push(self.tip);
        pts
    }
}

/// A point on a cubic.
fn bezier(c: &Cubic, t: f64) -> Point {
    let u = 1.0 - t;
    let (a, b, cc, d) = (u * u * u, 3.0 * u * u * t, 3.0 * u * t * t, t * t * t);
    (
        a * c[0].0 + b * c[1].0 + cc * c[2].0 + d * c[3].0,
        a * c[0].1 + b * c[1].1 + cc * c[2].1 + d * c[3].1,
    )
}

/// An axis-aligned box: left, top, width, height.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Rect {
    pub(super) x: f64,
    pub(super) y: f64,
    pub(super) w: f64,
    pub(super) h: f64,
}

impl Rect {
    fn overlaps(&self, o: &Rect) -> bool {
        self.x < o.x + o.w && o.x < self.x + self.w && self.y < o.y + o.h && o.y < self.y + self.h
    }

    /// Whether the segment from `p` to `q` passes through the box.
    fn cut_by(&self, p: Point, q: Point) -> bool {
        // Liang-Barsky clipping.
        let (dx, dy) = (q.0 - p.0, q.1 - p.1);
        let (mut t0, mut t1) = (0.0f64, 1.0f64);
        for (pk, qk) in [
            (-dx, p.0 - self.x),
            (dx, self.x + self.w - p.0),
            (-dy, p.1 - self.y),
            (dy, self.y + self.h - p.1),
        ] {
            if pk == 0.0 {
                if qk < 0.0 {
                    return false;
                }
            } else {
                let r = qk / pk;
                if pk < 0.0 {
                    t0 = t0.max(r);
                } else {
                    t1 = t1.min(r);
                }
            }
        }
        t0 <= t1
    }

    /// Whether the polyline passes through the box.
    fn cut_by_line(&self, line: &[Point]) -> bool {
        line.windows(2).any(|s| self.cut_by(s[0], s[1]))
    }
}

impl Layout {
    /// The line of bundle `b`.
    pub(super) fn route(&self, b: usize) -> Route {
        let bu = &self.bundles[b];
        match bu.kind {
            Kind::Loop => self.loop_route(bu),
            Kind::Flat => self.flat_route(bu),
            Kind::Down | Kind::Up => self.chain_route(bu),
        }
    }

    /// A smooth curve (Catmull-Rom, as cubics) from the source's port
    /// through each pass-through node, leaving and entering the boxes
    /// vertically and running vertically along the near edge of its label
    /// and through the layers [`Layout::straighten`] marks, bending only in
    /// the gaps between them (which hold no labels); it stops where the
    /// head begins.
    fn chain_route(&self, bu: &Bundle) -> Route {
        self.chain_curves(bu, &self.straight_nodes(bu)).0
    }

    /// For each node of `bu`'s chain, whether the line runs straight
    /// through its layer: along its label, or through a marked layer.
    fn straight_nodes(&self, bu: &Bundle) -> Vec<bool> {
        bu.chain
            .iter()
            .map(|&id| Some(id) == bu.label_node || self.straight[self.nodes[id].layer])
            .collect()
    }

    /// Marks the layers whose pass-through nodes the lines run straight
    /// through: those where a line bending through a pass-through node
    /// would cut another arrow's label or a box. A whole layer at a time,
    /// so that lines side by side keep their order through the gap.
    pub(super) fn straighten(&mut self) {
        self.straight = vec![false; self.layers.len()];
        let obstacles: Vec<(usize, Rect)> = (0..self.bundles.len())
            .map(|o| (o, self.label_box(o)))
            .chain((0..self.half.len()).map(|s| (usize::MAX, self.state_box(s))))
            .collect();
        for _ in 0..self.layers.len() {
            let mut more = Vec::new();
            for (b, bu) in self.bundles.iter().enumerate() {
                if !matches!(bu.kind, Kind::Down | Kind::Up) {
                    continue;
                }
                let straight = self.straight_nodes(bu);
                let (route, owner) = self.chain_curves(bu, &straight);
                for (i, c) in route.curves.iter().enumerate() {
                    let Some(k) = [owner[i], owner[i + 1]]
                        .into_iter()
                        .find(|&k| !straight[k] && k > 0 && k + 1 < bu.chain.len())
                    else {
                        continue;
                    };
                    let line: Vec<Point> = (0..=8).map(|j| bezier(c, f64::from(j) / 8.0)).collect();
                    if obstacles
                        .iter()
                        .any(|&(o, r)| o != b && r.cut_by_line(&line))
                    {
                        more.push(self.nodes[bu.chain[k]].layer);
                    }
                }
            }
            if more.is_empty() {
                break;
            }
            for l in more {
                self.straight[l] = true;
            }
        }
    }

    /// The curves of a chain route, with the pass-through nodes marked in
    /// `straight` run vertically through their layer; and for each point,
    /// the index in the chain of the node it belongs to.
    fn chain_curves(&self, bu: &Bundle, straight: &[bool]) -> (Route, Vec<usize>) {
        let down = bu.kind == Kind::Down;
        let sign = if down { 1.0 } else { -1.0 };
        let last = bu.chain.len() - 1;
        let mut pts: Vec<Point> = Vec::new();
        let mut owner: Vec<usize> = Vec::new();
        let mut vertical: Vec<bool> = Vec::new();
        for (k, &id) in bu.chain.iter().enumerate() {
            let node = &self.nodes[id];
            if k == 0 || k == last {
                let other = if k == 0 {
                    bu.chain[1]
                } else {
                    bu.chain[last - 1]
                };
                let x = node.x + self.port(id, other);
                let (top, bottom) = self.box_y(id);
                pts.push((x, if (k == 0) == down { bottom } else { top }));
                owner.push(k);
                vertical.push(true);
            } else if straight[k] {
                let l = node.layer;
                let (top, bottom) = (self.layer_y[l], self.layer_y[l] + self.layer_h[l]);
                let (a, b) = if down { (top, bottom) } else { (bottom, top) };
                pts.extend([(node.x, a), (node.x, b)]);
                owner.extend([k, k]);
                vertical.extend([true, true]);
            } else {
                pts.push((node.x, self.cy(id)));
                owner.push(k);
                vertical.push(false);
            }
        }
        let tip = pts[pts.len() - 1];
        let head = head_len(bu.line);
        let m = pts.len() - 1;
        pts[m] = (tip.0, tip.1 - sign * head);
        // Cubic Hermite through the points: vertical where marked,
        // Catmull-Rom elsewhere.
        let tangent = |i: usize| -> Point {
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
        let curves = (0..m)
            .map(|i| {
                let (p1, p2) = (pts[i], pts[i + 1]);
                let (t1, t2) = (tangent(i), tangent(i + 1));
                [
                    p1,
                    (p1.0 + t1.0 / 3.0, p1.1 + t1.1 / 3.0),
                    (p2.0 - t2.0 / 3.0, p2.1 - t2.1 / 3.0),
                    p2,
                ]
            })
            .collect();
        let route = Route {
            curves,
            tip,
            dir: (0.0, sign),
        };
        (route, owner)
    }

    /// A sideways arrow: down from the source's bottom, along the top of
    /// its label, up into the target's bottom.
    fn flat_route(&self, bu: &Bundle) -> Route {
        let (a, l, z) = (bu.chain[0], bu.chain[1], bu.chain[2]);
        let x1 = self.nodes[a].x + self.port(a, l);
        let x2 = self.nodes[z].x + self.port(z, l);
        let y1 = self.box_y(a).1;
        let y2 = self.box_y(z).1;
        let xl = self.nodes[l].x;
        let yl = self.layer_y[self.nodes[l].layer] + 2.0;
        let head = head_len(bu.line);
        let reach = (x2 - x1).abs() / 4.0;
        let (s1, s2) = if x2 >= x1 {
            (-reach, reach)
        } else {
            (reach, -reach)
        };
        Route {
            curves: vec![
                [(x1, y1), (x1, yl), (xl + s1, yl), (xl, yl)],
                [(xl, yl), (xl + s2, yl), (x2, yl), (x2, y2 + head)],
            ],
            tip: (x2, y2),
            dir: (0.0, -1.0),
        }
    }

    /// A loop beside the box, out of its upper half and back into its lower.
    fn loop_route(&self, bu: &Bundle) -> Route {
        let s = bu.from;
        let side = if bu.loop_right { 1.0 } else { -1.0 };
        let edge = self.loop_edge(bu);
        let cy = self.cy(s);
        let head = head_len(bu.line);
        let reach = edge + side * LOOP;
        Route {
            curves: vec![[
                (edge, cy - 7.0),
                (reach, cy - 24.0),
                (reach, cy + 24.0),
                (edge + side * head, cy + 7.0),
            ]],
            tip: (edge, cy + 7.0),
            dir: (-side, 0.0),
        }
    }

    /// Where a loop leaves its box's side (or the loop drawn before it).
    fn loop_edge(&self, bu: &Bundle) -> f64 {
        let side = if bu.loop_right { 1.0 } else { -1.0 };
        self.nodes[bu.from].x + side * (self.half[bu.from] + bu.loop_base)
    }

    /// The box of bundle `b`'s label: beside its loop, under a sideways
    /// arrow's dip, or 6 px right of its line (left of it, when the label
    /// is right-aligned against the line).
    pub(super) fn label_box(&self, b: usize) -> Rect {
        let bu = &self.bundles[b];
        let (w, h) = (bu.label.w, bu.label.h);
        let (x, y) = match bu.kind {
            Kind::Loop => {
                let edge = self.loop_edge(bu);
                let x = if bu.loop_right {
                    edge + LOOP * 0.8 + 4.0
                } else {
                    edge - LOOP * 0.8 - 4.0 - w
                };
                (x, self.cy(bu.from) - h / 2.0)
            }
            Kind::Flat => {
                let id = bu.label_node.expect("a sideways arrow has a label node");
                (self.nodes[id].x - w / 2.0, self.cy(id) - h / 2.0 + 2.0)
            }
            Kind::Down | Kind::Up => {
                let id = bu
                    .label_node
                    .expect("an arrow between rows has a label node");
                let x = if bu.label_left {
                    self.nodes[id].x - 6.0 - w
                } else {
                    self.nodes[id].x + 6.0
                };
                (x, self.cy(id) - h / 2.0)
            }
        };
        Rect { x, y, w, h }
    }

    /// The box of state `s`.
    fn state_box(&self, s: usize) -> Rect {
        let (top, _) = self.box_y(s);
        Rect {
            x: self.nodes[s].x - self.half[s],
            y: top,
            w: 2.0 * self.half[s],
            h: BOX_H,
        }
    }

    /// How the drawn arrows and labels get in each other's way.
    pub(super) fn collisions(&self, fig: &Figure) -> Collisions {
        let name = |b: usize| {
            let bu = &self.bundles[b];
            format!("{} → {}", fig.states[bu.from].name, fig.states[bu.to].name)
        };
        let lines: Vec<Vec<Point>> = (0..self.bundles.len())
            .map(|b| self.route(b).polyline(12))
            .collect();
        let labels: Vec<Rect> = (0..self.bundles.len()).map(|b| self.label_box(b)).collect();
        let boxes: Vec<Rect> = (0..fig.states.len()).map(|s| self.state_box(s)).collect();
        let mut c = Collisions::default();
        for (b, label) in labels.iter().enumerate() {
            // A hair inside the text's box: a line may graze its corner.
            let inner = Rect {
                x: label.x + 1.0,
                y: label.y + 1.0,
                w: label.w - 2.0,
                h: label.h - 2.0,
            };
            for (o, line) in lines.iter().enumerate() {
                if o != b && inner.cut_by_line(line) {
                    c.label_edge += 1;
                    c.notes
                        .push(format!("label of {} crossed by {}", name(b), name(o)));
                }
            }
            for (o, other) in labels.iter().enumerate().skip(b + 1) {
                if inner.overlaps(other) {
                    c.label_label += 1;
                    c.notes
                        .push(format!("labels of {} and {} overlap", name(b), name(o)));
                }
            }
            for (s, state) in boxes.iter().enumerate() {
                if inner.overlaps(state) {
                    c.label_state += 1;
                    let s = &fig.states[s].name;
                    c.notes.push(format!("label of {} on {s}", name(b)));
                }
            }
        }
        for (b, line) in lines.iter().enumerate() {
            for (o, other) in lines.iter().enumerate().skip(b + 1) {
                let n = crossings(line, other);
                c.edge_edge += n;
                if n > 0 {
                    c.notes
                        .push(format!("{} crosses {} ({n}×)", name(b), name(o)));
                }
                let bold = |i: usize| self.bundles[i].line != Line::Thin;
                if bold(b) || bold(o) {
                    c.bold_crossings += n;
                }
                if bold(b) != bold(o) {
                    let (thin, bold) = if bold(b) {
                        (other, line)
                    } else {
                        (line, other)
                    };
                    if runs_along(thin, bold) {
                        c.along_bold += 1;
                        c.notes.push(format!("{} runs along {}", name(b), name(o)));
                    }
                }
            }
        }
        c
    }
}

/// Ways the drawn arrows and labels get in each other's way, counted on
/// the laid-out figure (see [`super::collisions`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Collisions {
    /// (label, arrow) pairs where the arrow's line passes through a label
    /// that is not its own.
    pub label_edge: usize,
    /// Pairs of labels that overlap.
    pub label_label: usize,
    /// (label, state) pairs where the label overlaps the state's box.
    pub label_state: usize,
    /// Points where two arrows' lines cross.
    pub edge_edge: usize,
    /// Those of `edge_edge` where at least one line is a typical path's.
    pub bold_crossings: usize,
    /// (thin arrow, path arrow) pairs where the thin line runs alongside the
    /// bold one, closer than a label's line height, for more than 40 px.
    pub along_bold: usize,
    /// One line per collision counted above, naming the arrows (by their
    /// states) and labels involved.
    pub notes: Vec<String>,
}

/// Points where two polylines cross (touching ends do not count).
fn crossings(a: &[Point], b: &[Point]) -> usize {
    let mut n = 0;
    for s in a.windows(2) {
        for t in b.windows(2) {
            if segments_cross(s[0], s[1], t[0], t[1]) {
                n += 1;
            }
        }
    }
    n
}

fn segments_cross(p: Point, q: Point, r: Point, s: Point) -> bool {
    let cross =
        |o: Point, a: Point, b: Point| (a.0 - o.0) * (b.1 - o.1) - (a.1 - o.1) * (b.0 - o.0);
    let (d1, d2) = (cross(r, s, p), cross(r, s, q));
    let (d3, d4) = (cross(p, q, r), cross(p, q, s));
    // Strictly on opposite sides, so that lines meeting at a shared point
    // (a port) or touching do not count.
    d1 * d2 < 0.0 && d3 * d4 < 0.0
}

/// Whether `thin` runs within 8 px of `bold` for more than 40 px of its
/// length, away from the boxes both may meet at.
fn runs_along(thin: &[Point], bold: &[Point]) -> bool {
    let mut length = 0.0;
    for s in thin.windows(2) {
        let mid = ((s[0].0 + s[1].0) / 2.0, (s[0].1 + s[1].1) / 2.0);
        let near_end = [thin[0], thin[thin.len() - 1]]
            .iter()
            .any(|e| distance(mid, *e) < 24.0);
        if !near_end && bold.windows(2).any(|t| to_segment(mid, t[0], t[1]) < 8.0) {
            length += distance(s[0], s[1]);
        }
    }
    length > 40.0
}

fn distance(a: Point, b: Point) -> f64 {
    (a.0 - b.0).hypot(a.1 - b.1)
}

/// Distance from `p` to the segment from `a` to `b`.
fn to_segment(p: Point, a: Point, b: Point) -> f64 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len2 = dx * dx + dy * dy;
    let t = if len2 == 0.0 {
        0.0
    } else {
        (((p.0 - a.0) * dx + (p.1 - a.1) * dy) / len2).clamp(0.0, 1.0)
    };
    distance(p, (a.0 + t * dx, a.1 + t * dy))
}

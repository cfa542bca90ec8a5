//! The layered layout: rows into layers, bundles and pass-through nodes,
//! the order within layers, x and y positions (see the module docs of
//! `svg`).

use std::collections::BTreeMap;

use super::text::*;
use super::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
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
pub(super) struct Bundle {
    pub(super) from: usize,
    pub(super) to: usize,
    pub(super) line: Line,
    pub(super) arrows: Vec<usize>,
    pub(super) label: Label,
    pub(super) kind: Kind,
    /// Nodes from source to target, the states included.
    pub(super) chain: Vec<usize>,
    /// The node that carries the label (none for loops).
    pub(super) label_node: Option<usize>,
    /// Whether the label sits left of the line (else right).
    pub(super) label_left: bool,
    /// For loops: drawn on the right (else left), and how far out the
    /// sides' earlier loops reach.
    pub(super) loop_right: bool,
    pub(super) loop_base: f64,
}

/// A box, a label, or a point an arrow passes through, in one layer.
#[derive(Clone, Debug)]
pub(super) struct Node {
    pub(super) layer: usize,
    /// Extent left and right of `x`.
    pub(super) left: f64,
    pub(super) right: f64,
    pub(super) h: f64,
    pub(super) x: f64,
    /// What a crossing of a link to this node costs: more for the nodes of
    /// path arrows, so that thin arrows keep off the typical paths (a link
    /// always has a node of an arrow at one end; states weigh 1).
    pub(super) weight: usize,
}

pub(super) struct Layout {
    pub(super) nodes: Vec<Node>,
    pub(super) layers: Vec<Vec<usize>>,
    pub(super) bundles: Vec<Bundle>,
    /// Half width of each state's box.
    pub(super) half: Vec<f64>,
    /// Offset from the box centre of the port where (state, neighbour) meet.
    pub(super) ports: BTreeMap<(usize, usize), f64>,
    /// Neighbours in adjacent layers, with the pull of the link.
    pub(super) adj: Vec<Vec<(usize, f64)>>,
    pub(super) layer_y: Vec<f64>,
    pub(super) layer_h: Vec<f64>,
    /// Layers the lines run straight through (see `Layout::straighten`).
    pub(super) straight: Vec<bool>,
    pub(super) width: f64,
    pub(super) height: f64,
}

impl Layout {
    pub(super) fn new(fig: &Figure) -> Layout {
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
                weight: 1,
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
                        weight: crossing_weight(bu.line),
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
                            weight: crossing_weight(bu.line),
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
            straight: Vec::new(),
            width: 0.0,
            height: 0.0,
        };
        layout.order(&path_sides(fig, &layout.bundles, layout.nodes.len()));
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
        layout.straighten();
        layout
    }

    /// How far the links are from vertical: the sum over links of pull
    /// times squared horizontal offset.
    pub(super) fn link_cost(&self) -> f64 {
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
    pub(super) fn improve(&mut self, n: usize) {
        let mut cost = self.link_cost();
        for _ in 0..4 {
            let mut improved = false;
            let mut pos = self.positions();
            for l in 0..self.layers.len() {
                for i in 0..self.layers[l].len().saturating_sub(1) {
                    if self.swap_gain(l, i, &pos) > 0 {
                        continue;
                    }
                    let xs: Vec<f64> = self.nodes.iter().map(|nd| nd.x).collect();
                    let (ports, width) = (self.ports.clone(), self.width);
                    self.swap(l, i, &mut pos);
                    self.place_ports(n);
                    self.place_x();
                    let c = self.link_cost();
                    if c < cost * 0.995 {
                        cost = c;
                        improved = true;
                        continue;
                    }
                    self.swap(l, i, &mut pos);
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
    pub(super) fn positions(&self) -> Vec<usize> {
        let mut pos = vec![0; self.nodes.len()];
        for layer in &self.layers {
            for (i, &id) in layer.iter().enumerate() {
                pos[id] = i;
            }
        }
        pos
    }

    pub(super) fn crossings(&self) -> usize {
        let pos = self.positions();
        (0..self.layers.len().saturating_sub(1))
            .map(|l| self.crossings_between(l, &pos))
            .sum()
    }

    /// Crossings between layer `l` and layer `l + 1`, each weighted by the
    /// product of its links' weights.
    pub(super) fn crossings_between(&self, l: usize, pos: &[usize]) -> usize {
        let mut segs: Vec<(usize, usize, usize)> = Vec::new();
        for &a in &self.layers[l] {
            for &(b, _) in &self.adj[a] {
                if self.nodes[b].layer == l + 1 {
                    let w = self.nodes[a].weight.max(self.nodes[b].weight);
                    segs.push((pos[a], pos[b], w));
                }
            }
        }
        let mut c = 0;
        for (i, &(a1, b1, w1)) in segs.iter().enumerate() {
            for &(a2, b2, w2) in &segs[i + 1..] {
                if (a1 < a2 && b1 > b2) || (a1 > a2 && b1 < b2) {
                    c += w1 * w2;
                }
            }
        }
        c
    }

    /// Orders each layer: barycenter sweeps, then adjacent swaps, from
    /// three starts (the nodes in the order they were made, and each typical
    /// path kept to one side, the first path leftmost or rightmost, see
    /// [`path_sides`]); keeps the order with the fewest weighted crossings
    /// seen.
    pub(super) fn order(&mut self, sides: &[f64]) {
        let made = self.layers.clone();
        let mut best = made.clone();
        let mut best_c = self.crossings();
        for start in 0..3 {
            self.layers = made.clone();
            if start > 0 {
                let flip = if start == 1 { 1.0 } else { -1.0 };
                for layer in &mut self.layers {
                    layer.sort_by(|&a, &b| (flip * sides[a]).total_cmp(&(flip * sides[b])));
                }
            }
            let c = self.crossings();
            if c < best_c {
                best_c = c;
                best = self.layers.clone();
            }
            self.sweep(&mut best, &mut best_c);
        }
        self.layers = best;
    }

    /// Barycenter sweeps from the current order, each followed by adjacent
    /// swaps; records any order with fewer crossings than `best_c`.
    fn sweep(&mut self, best: &mut Vec<Vec<usize>>, best_c: &mut usize) {
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
            if c < *best_c {
                *best_c = c;
                *best = self.layers.clone();
            }
        }
    }

    /// Swaps neighbours in a layer while that removes crossings.
    pub(super) fn transpose(&mut self) {
        let mut pos = self.positions();
        for _ in 0..8 {
            let mut improved = false;
            for l in 0..self.layers.len() {
                for i in 0..self.layers[l].len().saturating_sub(1) {
                    if self.swap_gain(l, i, &pos) < 0 {
                        self.swap(l, i, &mut pos);
                        improved = true;
                    }
                }
            }
            if !improved {
                break;
            }
        }
    }

    /// Swaps the `i`th and next node of layer `l`, keeping `pos` current.
    fn swap(&mut self, l: usize, i: usize, pos: &mut [usize]) {
        let layer = &mut self.layers[l];
        layer.swap(i, i + 1);
        pos[layer[i]] = i;
        pos[layer[i + 1]] = i + 1;
    }

    /// How the weighted crossings change if the `i`th and next node of
    /// layer `l` swap: only the crossings between their own links do.
    fn swap_gain(&self, l: usize, i: usize, pos: &[usize]) -> isize {
        let (u, v) = (self.layers[l][i], self.layers[l][i + 1]);
        let links = |a: usize| {
            self.adj[a]
                .iter()
                .filter(move |(m, _)| self.nodes[*m].layer != l)
                .map(move |&(m, _)| {
                    let w = self.nodes[a].weight.max(self.nodes[m].weight);
                    (self.nodes[m].layer, pos[m], w as isize)
                })
        };
        let mut gain = 0;
        for (lu, pu, wu) in links(u) {
            for (lv, pv, wv) in links(v) {
                if lu == lv && pu != pv {
                    // Before: u left of v, so crossing where u's end is
                    // right of v's; after, the other way round.
                    gain += if pu > pv { -wu * wv } else { wu * wv };
                }
            }
        }
        gain
    }

    /// Spreads the links of each state's top and bottom sides along the box,
    /// in the order of the nodes they lead to, and widens crowded boxes.
    ///
    /// A sideways arrow's dip runs under the box to its port, so that port
    /// goes to the end of the side nearer the arrow's other end (see
    /// [`Layout::flat_bounds`]).
    pub(super) fn place_ports(&mut self, n: usize) {
        let pos = self.positions();
        let flat = self.flat_ends();
        let key = |s: usize, m: usize| {
            let side = match flat.get(&(s, m)) {
                Some(&other) if pos[other] < pos[s] => 0,
                Some(_) => 2,
                None => 1,
            };
            (side, pos[m])
        };
        for s in 0..n {
            for side in [self.nodes[s].layer.wrapping_sub(1), self.nodes[s].layer + 1] {
                let mut links: Vec<usize> = self.adj[s]
                    .iter()
                    .map(|(m, _)| *m)
                    .filter(|m| self.nodes[*m].layer == side)
                    .collect();
                links.sort_by_key(|&m| key(s, m));
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

    /// Each sideways arrow's (end, label node), with its other end.
    fn flat_ends(&self) -> BTreeMap<(usize, usize), usize> {
        self.bundles
            .iter()
            .filter(|bu| bu.kind == Kind::Flat)
            .flat_map(|bu| {
                let (a, l, z) = (bu.chain[0], bu.chain[1], bu.chain[2]);
                [((a, l), z), ((z, l), a)]
            })
            .collect()
    }

    /// Where other lines leaving a sideways arrow's end must run, so as not
    /// to cross its dip, by layer: each (index in the layer, node, end,
    /// label node of the sideways arrow, whether the node must stay right
    /// of the dip's port). A line leaving the end's bottom between the port
    /// and the arrow's other end would have to cross the dip.
    fn flat_bounds(&self) -> Vec<Vec<DipBound>> {
        let pos = self.positions();
        let mut bounds = vec![Vec::new(); self.layers.len()];
        for (&(end, label), &other) in &self.flat_ends() {
            let l = self.nodes[label].layer;
            for &(m, _) in &self.adj[end] {
                if m != label && self.nodes[m].layer == l {
                    bounds[l].push((pos[m], m, end, label, pos[other] < pos[end]));
                }
            }
        }
        bounds
    }

    /// Moves the nodes of layer `l` that `bounds` holds to their side of a
    /// dip's port, pushing their neighbours along to keep the gaps.
    fn keep_clear_of_dips(&mut self, l: usize, bounds: &[DipBound]) {
        let layer = &self.layers[l];
        let nodes = &mut self.nodes;
        let gap = |nodes: &[Node], a: usize, b: usize| nodes[a].right + GAP_X + nodes[b].left;
        for &(i, m, end, label, right) in bounds {
            let port = nodes[end].x + self.ports.get(&(end, label)).copied().unwrap_or(0.0);
            if right && nodes[m].x < port + DIP_CLEAR {
                nodes[m].x = port + DIP_CLEAR;
                for k in i + 1..layer.len() {
                    let min = nodes[layer[k - 1]].x + gap(nodes, layer[k - 1], layer[k]);
                    nodes[layer[k]].x = nodes[layer[k]].x.max(min);
                }
            } else if !right && nodes[m].x > port - DIP_CLEAR {
                nodes[m].x = port - DIP_CLEAR;
                for k in (0..i).rev() {
                    let max = nodes[layer[k + 1]].x - gap(nodes, layer[k], layer[k + 1]);
                    nodes[layer[k]].x = nodes[layer[k]].x.min(max);
                }
            }
        }
    }

    /// Where `a`'s link to `b` meets `a`, relative to `a`'s x.
    pub(super) fn port(&self, a: usize, b: usize) -> f64 {
        self.ports.get(&(a, b)).copied().unwrap_or(0.0)
    }

    pub(super) fn place_x(&mut self) {
        let bounds = self.flat_bounds();
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
                self.keep_clear_of_dips(l, &bounds[l]);
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
    /// across it (to four times the least gap), so that curves do not run
    /// flat and lines converging on one box from afar stay apart.
    pub(super) fn place_y(&mut self) {
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
            y += h + (travel * 0.3).clamp(GAP_Y, 4.0 * GAP_Y);
        }
        self.height = self
            .layer_y
            .last()
            .zip(self.layer_h.last())
            .map_or(0.0, |(y, h)| y + h);
    }

    /// Vertical centre of a node.
    pub(super) fn cy(&self, id: usize) -> f64 {
        let l = self.nodes[id].layer;
        self.layer_y[l] + self.layer_h[l] / 2.0
    }

    /// Top and bottom of a state's box.
    pub(super) fn box_y(&self, s: usize) -> (f64, f64) {
        let c = self.cy(s);
        (c - BOX_H / 2.0, c + BOX_H / 2.0)
    }
}

/// For each node, the typical path it belongs to, as a number to sort
/// by: a path arrow's nodes are its path's index; a state is the mean
/// index of the path arrows that meet it; the rest sit in the middle.
fn path_sides(fig: &Figure, bundles: &[Bundle], nodes: usize) -> Vec<f64> {
    let middle = (fig.paths.len() as f64 - 1.0).max(0.0) / 2.0;
    let mut sum = vec![(0.0, 0usize); nodes];
    for bu in bundles {
        if let Line::Bold { path, .. } = bu.line {
            for &id in &bu.chain {
                sum[id].0 += path as f64;
                sum[id].1 += 1;
            }
        }
    }
    sum.into_iter()
        .map(|(s, k)| if k == 0 { middle } else { s / k as f64 })
        .collect()
}

/// A node kept to one side of a dip (see `Layout::flat_bounds`).
type DipBound = (usize, usize, usize, usize, bool);

/// How far a line keeps from the port of a sideways arrow's dip.
const DIP_CLEAR: f64 = 12.0;

/// What a crossing costs for a link of an arrow drawn with `line`.
fn crossing_weight(line: Line) -> usize {
    if line == Line::Thin { 1 } else { 3 }
}

/// Groups the figure's arrows into drawn arrows: thin arrows with the same
/// ends share one, path arrows get one each.
pub(super) fn bundle(fig: &Figure, rows: &[usize]) -> Vec<Bundle> {
    let mut bundles: Vec<Bundle> = Vec::new();
    for (i, a) in fig.arrows.iter().enumerate() {
        if a.line == Line::Thin
            && let Some(b) = bundles
                .iter_mut()
                .find(|b| b.line == Line::Thin && b.from == a.from && b.to == a.to)
        {
            b.arrows.push(i);
            b.label.push(i, &a.marks, &a.label);
            continue;
        }
        let mut label = Label::new();
        label.push(i, &a.marks, &a.label);
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
pub(super) fn spaced_fit(want: &[(f64, f64)], gaps: &[f64]) -> Vec<f64> {
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

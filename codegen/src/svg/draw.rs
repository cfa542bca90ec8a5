//! Drawing a laid-out figure: boxes, arrows, labels, the key and the
//! legend, as SVG elements.

use std::fmt::Write as _;

use super::layout::*;
use super::text::*;
use super::*;

pub(super) struct Drawing<'a> {
    pub(super) fig: &'a Figure,
    pub(super) lay: &'a Layout,
    /// Where the graph starts (below the title).
    pub(super) ox: f64,
    pub(super) oy: f64,
    pub(super) body: String,
    pub(super) width: f64,
    pub(super) height: f64,
}

impl<'a> Drawing<'a> {
    pub(super) fn new(fig: &'a Figure, lay: &'a Layout) -> Drawing<'a> {
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

    pub(super) fn finish(self, provenance: &Provenance) -> String {
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

    pub(super) fn title(&mut self) {
        let _ = writeln!(
            self.body,
            "<text x=\"{}\" y=\"{}\" font-size=\"{TITLE_SIZE}\" font-weight=\"bold\" \
             text-anchor=\"middle\" fill=\"{INK}\">{}</text>",
            n(self.width / 2.0),
            n(MARGIN + TITLE_SIZE),
            xml(&self.fig.title)
        );
    }

    pub(super) fn px(&self, x: f64) -> String {
        n(self.ox + x)
    }

    pub(super) fn py(&self, y: f64) -> String {
        n(self.oy + y)
    }

    pub(super) fn stroke(&self, line: Line) -> String {
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
    pub(super) fn fired(&self, bu: &Bundle) -> Option<u64> {
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
    pub(super) fn bundle_stroke(&self, bu: &Bundle) -> (String, String) {
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
    pub(super) fn label_color(&self, bu: &Bundle) -> &'static str {
        match self.fired(bu) {
            Some(0) => NEVER,
            Some(_) => INK,
            None => self.fig.color(bu.line),
        }
    }

    pub(super) fn state(&mut self, s: usize) {
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
            "<g id=\"{}\" data-state=\"{}\"><g class=\"state\"><title>{}: {}</title>\
             <rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{BOX_H}\" rx=\"6\" fill=\"{fill}\" \
             stroke=\"{ink}\" stroke-width=\"{width}\"/>",
            xml(&state_id(&st.name)),
            xml(&st.name),
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
        self.body.push_str("</g></g>\n");
    }

    /// Draws step markers from `x`, centred on `cy` (graph coordinates).
    pub(super) fn marks(&mut self, marks: &[StepMark], x: f64, cy: f64) {
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
    pub(super) fn arrow(&mut self, b: usize) {
        let lay = self.lay;
        let bu = &lay.bundles[b];
        let route = lay.route(b);
        let mut d = String::new();
        if let Some(c) = route.curves.first() {
            let _ = write!(d, "M{},{}", self.px(c[0].0), self.py(c[0].1));
        }
        for c in &route.curves {
            let _ = write!(
                d,
                " C{},{} {},{} {},{}",
                self.px(c[1].0),
                self.py(c[1].1),
                self.px(c[2].0),
                self.py(c[2].1),
                self.px(c[3].0),
                self.py(c[3].1)
            );
        }
        let (tip, dir) = (route.tip, route.dir);
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
        let ids: Vec<String> = bu.arrows.iter().map(|&i| self.arrow_id(i)).collect();
        let _ = writeln!(
            self.body,
            "<g class=\"arrow\" id=\"{}\" data-edges=\"{}\"{path}><title>{}</title><path d=\"{d}\" fill=\"none\" {stroke}/>\
             <path d=\"M{},{} L{},{} L{},{} Z\" fill=\"{color}\"/></g>",
            xml(&ids[0]),
            xml(&ids.join(" ")),
            xml(&tooltip.join("\n")).replace('\n', "&#10;"),
            self.px(tip.0),
            self.py(tip.1),
            self.px(base.0 + nx * hw),
            self.py(base.1 + ny * hw),
            self.px(base.0 - nx * hw),
            self.py(base.1 - ny * hw),
        );
    }

    /// The arrow's label in its box; right-aligned against the line when
    /// it sits left of it.
    pub(super) fn arrow_label(&mut self, b: usize) {
        let lay = self.lay;
        let bu = &lay.bundles[b];
        let rect = lay.label_box(b);
        if bu.label_left && matches!(bu.kind, Kind::Down | Kind::Up) {
            self.label_left_of(bu, rect.x + rect.w, rect.y);
            return;
        }
        let (x, top) = (rect.x, rect.y);
        let color = self.label_color(bu);
        let lines = bu.label.lines.clone();
        for (i, line) in lines.iter().enumerate() {
            self.label_group(&lines, i);
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
        self.body.push_str("</g>\n");
    }

    /// The id of the figure's arrow `i` (see [`edge_id`]).
    fn arrow_id(&self, i: usize) -> String {
        let a = &self.fig.arrows[i];
        edge_id(a.transition, &self.fig.states[a.from].name)
    }

    /// Opens the group of an arrow's label lines at the first of them
    /// (closing the previous arrow's), so that each (transition, source
    /// state) pair's text can be found by its id (`data-edge`).
    fn label_group(&mut self, lines: &[LabelLine], i: usize) {
        if i > 0 && lines[i - 1].arrow == lines[i].arrow {
            return;
        }
        if i > 0 {
            self.body.push_str("</g>\n");
        }
        let id = self.arrow_id(lines[i].arrow);
        let _ = writeln!(self.body, "<g class=\"label\" data-edge=\"{}\">", xml(&id));
    }

    /// A label that ends at `right`: each line's markers last, against the
    /// line, the text right-aligned before them.
    pub(super) fn label_left_of(&mut self, bu: &Bundle, right: f64, top: f64) {
        let color = self.label_color(bu);
        let lines = bu.label.lines.clone();
        for (i, line) in lines.iter().enumerate() {
            self.label_group(&lines, i);
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
        self.body.push_str("</g>\n");
    }

    // ---- Legend ------------------------------------------------------------

    pub(super) fn key_rows(&self) -> Vec<(Option<Line>, Vec<StepMark>, String)> {
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

    pub(super) fn key_width(&self) -> f64 {
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
    pub(super) fn several_columns(&self) -> ([f64; 3], f64) {
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

    pub(super) fn legend_width(&self) -> f64 {
        let several = if self.fig.several.is_empty() {
            0.0
        } else {
            self.several_columns().1 + 24.0
        };
        self.key_width() + several
    }

    /// Opens a boxed panel of the legend (`<g class>`, closed by the
    /// caller) at (x, y) of width w and height h, with its bold title.
    fn panel(&mut self, class: &str, (x, y, w, h): (f64, f64, f64, f64), title: &str) {
        let _ = writeln!(
            self.body,
            "<g class=\"{class}\"><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" \
             fill=\"#ffffff\" stroke=\"{INK}\" stroke-width=\"1\"/>",
            n(x),
            n(y),
            n(w),
            n(h)
        );
        let _ = writeln!(
            self.body,
            "<text x=\"{}\" y=\"{}\" font-size=\"{}\" font-weight=\"bold\" fill=\"{INK}\">{}</text>",
            n(x + 12.0),
            n(y + 20.0),
            LABEL_SIZE + 1.0,
            xml(title)
        );
    }

    /// Draws the key and the several-states table side by side from
    /// (`x`, `y`) in page coordinates; returns their height.
    pub(super) fn legend(&mut self, x: f64, y: f64) -> f64 {
        let key_w = self.key_width();
        let rows = self.key_rows();
        let row_h = LINE_H + 5.0;
        let key_h = 30.0 + rows.len() as f64 * row_h + 6.0;
        let mut h = key_h;
        self.panel("key", (x, y, key_w, key_h), self.fig.words.key);
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
            self.panel("several", (sx, y, w, sh), self.fig.words.several);
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
                    "<text id=\"row-{}\" data-edges=\"{}\" y=\"{base}\" font-size=\"{LABEL_SIZE}\" fill=\"{ink}\">\
                     <tspan x=\"{}\">{}</tspan><tspan x=\"{}\">{}</tspan><tspan x=\"{}\">{target}</tspan></text>",
                    r.transition,
                    xml(&r
                        .source_states
                        .iter()
                        .map(|s| edge_id(r.transition, s))
                        .collect::<Vec<_>>()
                        .join(" ")),
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

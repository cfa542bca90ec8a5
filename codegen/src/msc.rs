//! Message sequence charts: one run of two endpoints drawn as SVG, the way
//! the explorers show a counterexample.
//!
//! A [`Chart`] is a schedule read from top to bottom, one [`Row`] per step
//! (a call, a delivery, a loss, a timer firing), named in a column on the
//! left. Each side has a lifeline under its heading, starting from its
//! initial state; every transition it takes puts a box with the state
//! reached on the lifeline at that row, the event and the spec line beside
//! it. What happened on a side (calls, timer firings) is written on the
//! lifeline's outer side, and a timer firing is also an hourglass on the
//! lifeline. Between the lifelines, each [`Message`] is a slanted arrow
//! from its sender at the row it was sent to its receiver at the row it
//! was delivered, its label along the arrow: a lost one stops part-way at
//! the row it was lost, in a ×; one still in flight at the end trails off
//! dashed, downwards and part of the way across (the bottom grows to hold
//! it); a duplicate the network made is dashed
//! purple and tagged "dup", drawn from the original's sender at the row
//! it was made (its tooltip names the original). The violated
//! property, if any, closes the chart in an alarm colour.
//!
//! The house style is [`crate::svg`]'s: the same fonts, ink, state boxes,
//! and the figures' path colours (side 0 blue and side 1 red, like the
//! typical client and server), which stay apart under colour blindness;
//! text widths are estimated generously from character classes, all text
//! is escaped with [`xml`], and the output is deterministic. Rows grow to
//! hold their notes and states, and the gaps before rows grow until every
//! arrow drops by at least a fifth of its run, so arrows are clearly
//! slanted.

use std::fmt::Write as _;

use crate::figure::{INK, PATH_COLORS, one_line};
use crate::svg::{FONTS, text_width, xml};

/// A message sequence chart: two lifelines, rows top to bottom (one per
/// step of a schedule).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Chart {
    /// The chart's title, e.g. "tcp.fsm, scenario echo: deadlock".
    pub title: String,
    /// The lifelines' headings, e.g. `["client (tcp.fsm)", "server (tcp.fsm)"]`.
    pub sides: [String; 2],
    /// Each lifeline's state before row 0, e.g. "CLOSED".
    pub initial: [String; 2],
    /// The steps, top to bottom.
    pub rows: Vec<Row>,
    /// The segments exchanged.
    pub messages: Vec<Message>,
    /// The violated property, drawn at the bottom in an alarm colour.
    pub verdict: Option<String>,
}

/// One step of the schedule.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Row {
    /// The step, drawn small in the left column: "3  deliver #2".
    pub label: String,
    /// Per side, what happened on that lifeline at this row: calls
    /// ("connect()", "write 2 B", "read 2 B → EOF"), timer firings.
    pub notes: [Vec<String>; 2],
    /// Per side, whether a timer fired (an hourglass on the lifeline).
    pub timer: [bool; 2],
    /// Per side, the transitions taken at this row, in order.
    pub states: [Vec<State>; 2],
}

/// A transition taken: the state it reached.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct State {
    /// The state reached, e.g. "FIN_WAIT_1".
    pub name: String,
    /// The spec line of the transition, e.g. "tcp.fsm:123".
    pub line: Option<String>,
    /// The event, e.g. "rcv_ack".
    pub event: Option<String>,
}

/// A segment between the two sides.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Message {
    /// The side that sent it: 0 or 1 (anything else counts as 1).
    pub from: usize,
    /// The row at which it was sent (for a duplicate: duplicated).
    pub sent: usize,
    /// What became of it.
    pub fate: Fate,
    /// Its text, e.g. "ACK seq=101 ack=301 len=2".
    pub label: String,
    /// For a duplicate the network made: the index of the original.
    pub copy_of: Option<usize>,
}

/// What became of a message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Fate {
    /// Delivered at this row.
    Delivered(usize),
    /// Lost by the network at this row.
    Lost(usize),
    /// Still in flight when the schedule ends.
    #[default]
    InFlight,
}

/// The chart as an SVG document.
pub fn render(chart: &Chart) -> String {
    render_with(chart, None)
}

/// The chart as an SVG document; with `command`, its `<desc>` names the
/// command that draws it again.
pub fn render_with(chart: &Chart, command: Option<&str>) -> String {
    let (body, width, height) = draw(chart);
    let made = "Message sequence chart drawn by fsm-codegen; do not edit by hand.";
    // A comment cannot hold `--`, which commands often do: it goes in <desc>.
    let (more, desc) = match command {
        Some(c) => (
            " The command that draws it again is in <desc> below.",
            format!("{made} Regenerate: {}", one_line(c)),
        ),
        None => ("", made.to_owned()),
    };
    let (w, h) = (n(width.ceil()), n(height.ceil()));
    format!(
        "<!-- {made}{more} -->\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" \
         height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"{}\" fill=\"{INK}\">\n<title>{}</title>\n\
         <desc>{}</desc>\n<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n{body}</svg>\n",
        xml(FONTS),
        xml(&chart.title),
        xml(&desc)
    )
}

const MARGIN: f64 = 24.0;
const TITLE_SIZE: f64 = 20.0;
const HEAD_SIZE: f64 = 14.0;
const STATE_SIZE: f64 = 13.0;
const LABEL_SIZE: f64 = 11.0;
const SMALL: f64 = 10.0;
const LINE_H: f64 = 15.0;
const BOX_H: f64 = 26.0;
/// Vertical room for one arrow's end on a lifeline.
const SLOT: f64 = 12.0;
const PAD: f64 = 8.0;
/// The least drop of an arrow per unit of its run.
const MIN_SLOPE: f64 = 0.2;
/// How far across a lost or in-flight arrow goes.
const PART: f64 = 0.6;
const SIDE_COLORS: [&str; 2] = [PATH_COLORS[0], PATH_COLORS[1]];
const DUP: &str = PATH_COLORS[3];
const ALARM: &str = "#8e121b";
const GREY: &str = "#666666";
const HALO: &str =
    "stroke=\"#ffffff\" stroke-width=\"3\" stroke-linejoin=\"round\" paint-order=\"stroke\"";

static EMPTY: Row = Row {
    label: String::new(),
    notes: [Vec::new(), Vec::new()],
    timer: [false; 2],
    states: [Vec::new(), Vec::new()],
};

type P = (f64, f64);
/// A rectangle (x0, y0, x1, y1).
type Rect = (f64, f64, f64, f64);

/// A message as drawn: its rows made safe, and its line.
struct Seg {
    from: usize,
    sent: usize,
    end: End,
    dup: bool,
    p0: P,
    p1: P,
}

#[derive(Clone, Copy, PartialEq)]
enum End {
    Arrive(usize),
    Lost(usize),
    Open,
}

impl Seg {
    /// The message with its rows kept within the chart's `last` row (an
    /// arrow never ends above where it starts); placed later.
    fn new(m: &Message, last: usize) -> Seg {
        let sent = m.sent.min(last);
        let end = match m.fate {
            Fate::Delivered(r) => End::Arrive(r.clamp(sent, last)),
            Fate::Lost(r) => End::Lost(r.clamp(sent, last)),
            Fate::InFlight => End::Open,
        };
        let (from, dup, p0, p1) = (m.from.min(1), m.copy_of.is_some(), (0.0, 0.0), (0.0, 0.0));
        Seg {
            from,
            sent,
            end,
            dup,
            p0,
            p1,
        }
    }

    fn color(&self) -> &'static str {
        if self.dup {
            DUP
        } else {
            SIDE_COLORS[self.from]
        }
    }
}

/// The body of the SVG document, its width and its height. Rows are laid
/// out and drawn top to bottom; each starts low enough that the arrows
/// ending in it drop far enough.
fn draw(chart: &Chart) -> (String, f64, f64) {
    let last = chart.rows.len().max(1) - 1;
    let row = |r: usize| chart.rows.get(r).unwrap_or(&EMPTY);
    let mut segs: Vec<Seg> = chart.messages.iter().map(|m| Seg::new(m, last)).collect();

    // Widths: each lifeline's extent on its inner and outer side.
    let (mut inner, mut outer) = ([0.0f64; 2], [0.0f64; 2]);
    for s in 0..2 {
        let head = text_width(&chart.sides[s], HEAD_SIZE, true) / 2.0;
        inner[s] = head.max(box_half(&chart.initial[s]));
        outer[s] = inner[s];
        for st in chart.rows.iter().flat_map(|r| &r.states[s]) {
            inner[s] = inner[s].max(box_half(&st.name));
            outer[s] = outer[s].max(box_half(&st.name) + 10.0 + meta_width(st));
        }
        for note in chart.rows.iter().flat_map(|r| &r.notes[s]) {
            outer[s] = outer[s].max(14.0 + text_width(note, LABEL_SIZE, false));
        }
    }
    let label_w = (chart.rows.iter())
        .map(|r| text_width(&r.label, LABEL_SIZE, false))
        .fold(0.0, f64::max);
    let msg_w = chart.messages.iter().map(message_width).fold(0.0, f64::max);
    let run = (inner[0] + inner[1] + msg_w * 1.6 + 60.0).max(320.0);
    let content = label_w + 20.0 + outer[0] + run + outer[1];
    let width = content.max(text_width(&chart.title, TITLE_SIZE, true)) + 2.0 * MARGIN;
    let (left, right) = ((width - content) / 2.0, (width + content) / 2.0);
    let x0 = left + label_w + 20.0 + outer[0];
    let x = [x0, x0 + run];

    // Back: title, rows, lifelines, messages; front: boxes, notes, timers.
    let (mut back, mut front) = (String::new(), String::new());
    let mut keep_off: Vec<Rect> = Vec::new();
    let bold = |size| format!("font-size=\"{size}\" font-weight=\"bold\" text-anchor=\"middle\"");
    let title = (xml(&chart.title), (width / 2.0, MARGIN + TITLE_SIZE));
    text(&mut back, title.1, &bold(TITLE_SIZE), &title.0);
    let head_y = MARGIN + TITLE_SIZE + 24.0 + HEAD_SIZE;
    let init_top = head_y + 12.0;
    for s in 0..2 {
        let head = xml(&chart.sides[s]);
        text(&mut back, (x[s], head_y), &bold(HEAD_SIZE), &head);
        let w = text_width(&chart.sides[s], HEAD_SIZE, true);
        let (bx, by, bw, color) = (n(x[s] - w / 2.0), n(head_y + 4.0), n(w), SIDE_COLORS[s]);
        let bar = format!("x=\"{bx}\" y=\"{by}\" width=\"{bw}\" height=\"3\" fill=\"{color}\"");
        let _ = writeln!(back, "<rect {bar}/>");
        let tip = format!("{}: initial state", chart.sides[s]);
        let initial = (chart.initial[s].as_str(), 2.2);
        keep_off.push(state_box(&mut front, (x[s], init_top), initial, &tip));
    }

    let need = MIN_SLOPE * run;
    // A lost message goes part of the way: it needs part of the drop.
    let partial = |end| if let End::Arrive(_) = end { 1.0 } else { PART };
    let mut y = init_top + BOX_H + 14.0;
    for r in 0..=last {
        let rw = row(r);
        // Where the ends of arrows from earlier rows sit, below the top of
        // the row's content: on the receiver's lifeline, or (a loss) between.
        let mut cursor = [PAD; 2];
        let mut mid = PAD;
        let mut ends: Vec<(usize, f64)> = Vec::new();
        for (i, m) in segs.iter().enumerate() {
            match m.end {
                End::Arrive(d) if d == r && m.sent < r => {
                    ends.push((i, cursor[1 - m.from] + 2.0));
                    cursor[1 - m.from] += SLOT;
                }
                End::Lost(d) if d == r && m.sent < r => {
                    ends.push((i, mid + 6.0));
                    mid += 2.0 * SLOT;
                }
                _ => {}
            }
        }
        let extra = ends
            .iter()
            .map(|&(i, rel)| need * partial(segs[i].end) - (y + rel - segs[i].p0.1))
            .fold(0.0, f64::max);
        let top = y + extra;
        for &(i, rel) in &ends {
            segs[i].p1.1 = top + rel;
        }
        let (l, ry, rr) = (n(left), n(y), n(right));
        let _ = writeln!(back, "<path d=\"M{l},{ry} H{rr}\" stroke=\"#e4e4e4\"/>");
        let attrs = format!("font-size=\"{LABEL_SIZE}\" fill=\"{GREY}\" xml:space=\"preserve\"");
        let label_y = top + PAD + LABEL_SIZE * 0.8;
        text(&mut back, (left, label_y), &attrs, &xml(&rw.label));
        for s in 0..2 {
            let (out, anchor) = [(-1.0, "end"), (1.0, "start")][s];
            if cursor[s] > PAD {
                cursor[s] += 4.0;
            }
            let notes_y = top + cursor[s];
            if rw.timer[s] {
                keep_off.push(timer(&mut front, (x[s], notes_y + LINE_H / 2.0)));
            }
            let attrs = format!("font-size=\"{LABEL_SIZE}\" text-anchor=\"{anchor}\"");
            for (k, note) in rw.notes[s].iter().enumerate() {
                let base = notes_y + LINE_H * (k as f64 + 0.5) + LABEL_SIZE * 0.36;
                text(&mut front, (x[s] + out * 14.0, base), &attrs, &xml(note));
            }
            let lines = rw.notes[s].len().max(usize::from(rw.timer[s]));
            cursor[s] += lines as f64 * LINE_H + if lines > 0 { 4.0 } else { 0.0 };
            for st in &rw.states[s] {
                let box_top = top + cursor[s];
                let how = [&st.event, &st.line].into_iter().flatten();
                let how: Vec<&str> = how.map(String::as_str).collect();
                let tip = format!("{}: {} ({})", chart.sides[s], st.name, how.join(", "));
                keep_off.push(state_box(
                    &mut front,
                    (x[s], box_top),
                    (&st.name, 1.3),
                    &tip,
                ));
                let meta_x = x[s] + out * (box_half(&st.name) + 10.0);
                meta(
                    &mut front,
                    st,
                    (meta_x, box_top + BOX_H / 2.0 + SMALL * 0.36),
                    anchor,
                );
                cursor[s] += BOX_H + 6.0;
            }
            for m in segs.iter_mut().filter(|m| m.sent == r && m.from == s) {
                m.p0 = (x[s], top + cursor[s] + 4.0);
                cursor[s] += SLOT;
            }
        }
        // An arrow sent and ended in one row (malformed input) still drops.
        for m in segs.iter_mut().filter(|m| m.sent == r) {
            if let End::Arrive(d) | End::Lost(d) = m.end
                && d == r
            {
                m.p1.1 = m.p0.1 + need * partial(m.end);
                mid = mid.max(m.p1.1 - top + PAD);
            }
        }
        y = top + (cursor[0].max(cursor[1]).max(mid) + PAD).max(36.0);
    }
    // In flight at the end: trailing off below, the bottom grown to hold it.
    let mut life_end = y + 16.0;
    for m in segs.iter_mut().filter(|m| m.end == End::Open) {
        m.p1.1 = m.p0.1 + need * PART * 1.5;
        life_end = life_end.max(m.p1.1 + 12.0);
    }
    for m in &mut segs {
        let (xa, xb) = (x[m.from], x[1 - m.from]);
        m.p1.0 = xa + (xb - xa) * partial(m.end);
        if partial(m.end) < 1.0 {
            keep_off.push((m.p1.0 - 40.0, m.p1.1 - 7.0, m.p1.0 + 40.0, m.p1.1 + 7.0));
        }
    }
    for (s, &x) in x.iter().enumerate() {
        let (a, b, c, top, end) = (n(x), n(x - 8.0), n(x + 8.0), n(init_top), n(life_end));
        let d = format!("M{a},{top} V{end} M{b},{end} H{c}");
        let _ = writeln!(
            back,
            "<path class=\"lifeline\" data-side=\"{s}\" d=\"{d}\" stroke=\"#999999\" \
             stroke-width=\"1.2\" fill=\"none\"/>"
        );
    }
    for (i, (m, seg)) in chart.messages.iter().zip(&segs).enumerate() {
        message(&mut back, chart, i, m, seg);
    }
    back.push_str(&front);
    labels(&mut back, chart, &segs, &keep_off, x);

    let mut height = life_end + 8.0 + MARGIN;
    let verdict = wrap(chart.verdict.as_deref().unwrap_or(""), content - 28.0);
    if !verdict.is_empty() {
        let (top, h) = (life_end + 24.0, verdict.len() as f64 * 18.0 + 16.0);
        let (vx, vy, vw, vh) = (n(left), n(top), n(content), n(h));
        let _ = writeln!(
            back,
            "<g class=\"verdict\"><rect x=\"{vx}\" y=\"{vy}\" width=\"{vw}\" height=\"{vh}\" \
             rx=\"6\" fill=\"#fbeeee\" stroke=\"{ALARM}\" stroke-width=\"1.3\"/>"
        );
        let attrs = format!("font-size=\"13\" font-weight=\"bold\" fill=\"{ALARM}\"");
        for (k, line) in verdict.iter().enumerate() {
            let at = (left + 14.0, top + 22.0 + 18.0 * k as f64);
            text(&mut back, at, &attrs, &xml(line));
        }
        back.push_str("</g>\n");
        height += 16.0 + h;
    }
    (back, width, height)
}

/// One message's line and its end: an arrowhead, or a × where it was
/// lost; "lost" or "in flight" beyond the end, where it would go on.
fn message(o: &mut String, chart: &Chart, i: usize, m: &Message, seg: &Seg) {
    let at = |r: usize| match chart.rows.get(r).map(|r| r.label.trim()) {
        Some(l) if !l.is_empty() => l.to_owned(),
        _ => format!("row {r}"),
    };
    let (kind, fate, word) = match seg.end {
        End::Arrive(d) => ("delivered", format!("delivered at {}", at(d)), ""),
        End::Lost(d) => ("lost", format!("lost at {}", at(d)), "lost"),
        End::Open => (
            "in-flight",
            "still in flight at the end".into(),
            "in flight",
        ),
    };
    let copy = m.copy_of.map(|c| format!(", a duplicate of message {c}"));
    let (from, to) = (&chart.sides[seg.from], &chart.sides[1 - seg.from]);
    let (label, sent, copy) = (&m.label, at(seg.sent), copy.unwrap_or_default());
    let tip = xml(&format!(
        "{label}: {from} → {to}, sent at {sent}, {fate}{copy}"
    ));
    let dup = if seg.dup { " dup" } else { "" };
    let dashed = seg.dup || seg.end == End::Open;
    let dash = if dashed {
        " stroke-dasharray=\"6 4\""
    } else {
        ""
    };
    let (p0, p1, color) = (pt(seg.p0), pt(seg.p1), seg.color());
    let _ = write!(
        o,
        "<g class=\"message {kind}{dup}\" data-index=\"{i}\"><title>{tip}</title>\
         <path d=\"M{p0} L{p1}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"1.6\"{dash}/>"
    );
    // The end is drawn around the origin and moved there.
    let (dx, dy) = (seg.p1.0 - seg.p0.0, seg.p1.1 - seg.p0.1);
    let (angle, end) = (n(dy.atan2(dx).to_degrees()), pt(seg.p1).replace(',', " "));
    let (class, mark, word_color) = if let End::Lost(_) = seg.end {
        let cross = "d=\"M-5,-5 L5,5 M-5,5 L5,-5\" stroke-width=\"2.4\" stroke-linecap=\"round\"";
        (
            " class=\"lost\"",
            format!("<path {cross} stroke=\"{ALARM}\"/>"),
            ALARM,
        )
    } else {
        let head = format!("d=\"M0,0 L-9,-4 L-9,4 Z\" transform=\"rotate({angle})\"");
        ("", format!("<path {head} fill=\"{color}\"/>"), GREY)
    };
    let (x, anchor) = if dx >= 0.0 {
        (10, "start")
    } else {
        (-10, "end")
    };
    let word = if word.is_empty() {
        String::new()
    } else {
        format!(
            "<text x=\"{x}\" y=\"3.6\" font-size=\"{SMALL}\" font-style=\"italic\" \
             text-anchor=\"{anchor}\" fill=\"{word_color}\">{word}</text>"
        )
    };
    let _ = writeln!(
        o,
        "<g{class} transform=\"translate({end})\">{mark}{word}</g></g>"
    );
}

/// A state box centred on `cx`, like the figures' boxes, with its name
/// and the width of its border; returns its rectangle.
fn state_box(o: &mut String, (cx, top): P, (name, stroke): (&str, f64), tip: &str) -> Rect {
    let half = box_half(name);
    let (x, y, w, tip) = (n(cx - half), n(top), n(2.0 * half), xml(tip));
    let _ = write!(
        o,
        "<g class=\"state\"><title>{tip}</title><rect x=\"{x}\" y=\"{y}\" width=\"{w}\" \
         height=\"{BOX_H}\" rx=\"6\" fill=\"#ffffff\" stroke=\"{INK}\" stroke-width=\"{stroke}\"/>"
    );
    let attrs = format!("font-size=\"{STATE_SIZE}\" font-weight=\"bold\" text-anchor=\"middle\"");
    text(
        o,
        (cx, top + BOX_H / 2.0 + STATE_SIZE * 0.36),
        &attrs,
        &xml(name),
    );
    o.push_str("</g>\n");
    (cx - half, top, cx + half, top + BOX_H)
}

/// A transition's event and spec line beside its box.
fn meta(o: &mut String, st: &State, at: P, anchor: &str) {
    let mut spans = String::new();
    if let Some(e) = &st.event {
        let _ = write!(spans, "<tspan>{}</tspan>", xml(e));
    }
    if let Some(l) = &st.line {
        let dx = if st.event.is_some() { " dx=\"6\"" } else { "" };
        let _ = write!(spans, "<tspan{dx} fill=\"{GREY}\">{}</tspan>", xml(l));
    }
    if !spans.is_empty() {
        let attrs = format!("class=\"transition\" font-size=\"{SMALL}\" text-anchor=\"{anchor}\"");
        text(o, at, &attrs, &spans);
    }
}

/// An hourglass on the lifeline at (`x`, `y`): a timer fired. Returns its
/// rectangle.
fn timer(o: &mut String, (x, y): P) -> Rect {
    let _ = writeln!(
        o,
        "<g class=\"timer\" transform=\"translate({} {})\"><title>timer fired</title>\
         <rect x=\"-7\" y=\"-8\" width=\"14\" height=\"16\" fill=\"#ffffff\"/>\
         <path d=\"M-4.5,-6 L4.5,-6 L-4.5,6 L4.5,6 Z\" fill=\"#f2a541\" stroke=\"{INK}\" \
         stroke-linejoin=\"round\"/><path d=\"M-6.5,-6.5 H6.5 M-6.5,6.5 H6.5\" stroke=\"{INK}\" \
         stroke-width=\"1.6\"/></g>",
        n(x),
        n(y)
    );
    (x - 7.0, y - 8.0, x + 7.0, y + 8.0)
}

/// Where along its arrow a label may go, in order of preference.
const PLACES: [f64; 13] = [
    0.5, 0.45, 0.55, 0.4, 0.6, 0.35, 0.65, 0.3, 0.7, 0.25, 0.75, 0.2, 0.8,
];

/// The messages' labels along their arrows (beside a steep one), each
/// where it least collides with boxes, marks, labels placed before it, and
/// other arrows (the first such of a fixed list of places, so the output
/// is deterministic).
fn labels(o: &mut String, chart: &Chart, segs: &[Seg], keep_off: &[Rect], x: [f64; 2]) {
    const R: f64 = 6.0;
    let mut placed: Vec<P> = Vec::new();
    for (i, (m, seg)) in chart.messages.iter().zip(segs).enumerate() {
        let w = message_width(m);
        let (dx, dy) = (seg.p1.0 - seg.p0.0, seg.p1.1 - seg.p0.1);
        let len = dx.hypot(dy).max(1.0) * if dx < 0.0 { -1.0 } else { 1.0 };
        // Read left to right, level beside a steep line; `nrm` points up.
        let (ux, uy) = if (dy / len).abs() > 0.55 {
            (1.0, 0.0)
        } else {
            (dx / len, dy / len)
        };
        let (nx, ny) = (uy, -ux);
        let mut best: Option<(f64, P, Vec<P>)> = None;
        for t in PLACES {
            let p = (seg.p0.0 + dx * t, seg.p0.1 + dy * t);
            let h = 5.0 + LABEL_SIZE * 0.36;
            let centres = if uy == 0.0 {
                [(p.0 - w / 2.0 - 8.0, p.1), (p.0 + w / 2.0 + 8.0, p.1)]
            } else {
                [(p.0 + nx * h, p.1 + ny * h), (p.0 - nx * h, p.1 - ny * h)]
            };
            for c in centres {
                let base = (c.0 - nx * LABEL_SIZE * 0.36, c.1 - ny * LABEL_SIZE * 0.36);
                let k = (w / 8.0).ceil().max(1.0);
                let along = |s: f64| (c.0 + ux * w * s, c.1 + uy * w * s);
                let samples: Vec<P> = (0..=k as usize)
                    .map(|j| along(j as f64 / k - 0.5))
                    .collect();
                let hit = |&(x0, y0): &P| {
                    placed.iter().any(|q| (q.0 - x0).hypot(q.1 - y0) < 2.0 * R)
                        || keep_off
                            .iter()
                            .any(|r| x0 > r.0 - R && x0 < r.2 + R && y0 > r.1 - R && y0 < r.3 + R)
                        || x0 < x[0] + R
                        || x0 > x[1] - R
                };
                let mut score = 10.0 * samples.iter().filter(|p| hit(p)).count() as f64;
                // Other arrows through the text, or between it and its own
                // line: how far they run there, in the label's frame.
                let local = |p: P| {
                    let (ex, ey) = (p.0 - base.0, p.1 - base.1);
                    (ex * ux + ey * uy, ex * nx + ey * ny)
                };
                let frame = (-w / 2.0 - 14.0, -6.0, w / 2.0 + 14.0, LABEL_SIZE + 6.0);
                for (_, sg) in segs.iter().enumerate().filter(|&(j, _)| j != i) {
                    score += inside(local(sg.p0), local(sg.p1), frame) / 4.0;
                }
                if best.as_ref().is_none_or(|b| score < b.0) {
                    best = Some((score, base, samples));
                }
            }
        }
        let Some((_, base, samples)) = best else {
            continue;
        };
        placed.extend(samples);
        let rotate = if uy == 0.0 {
            String::new()
        } else {
            let angle = n(uy.atan2(ux).to_degrees());
            format!(" transform=\"rotate({angle} {} {})\"", n(base.0), n(base.1))
        };
        let tag = if seg.dup {
            format!("<tspan font-weight=\"bold\" fill=\"{DUP}\">dup</tspan><tspan dx=\"5\">")
        } else {
            "<tspan>".to_owned()
        };
        let attrs = format!(
            "class=\"label\" data-index=\"{i}\" font-size=\"{LABEL_SIZE}\" text-anchor=\"middle\" \
             fill=\"{}\" {HALO}{rotate}",
            seg.color()
        );
        text(o, base, &attrs, &format!("{tag}{}</tspan>", xml(&m.label)));
    }
}

/// The length of the segment from `a` to `b` inside the rectangle `r`
/// (Liang and Barsky's clipping).
fn inside(a: P, b: P, r: Rect) -> f64 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    for (p, q) in [
        (-dx, a.0 - r.0),
        (dx, r.2 - a.0),
        (-dy, a.1 - r.1),
        (dy, r.3 - a.1),
    ] {
        if p == 0.0 && q < 0.0 {
            return 0.0;
        } else if p < 0.0 {
            t0 = t0.max(q / p);
        } else if p > 0.0 {
            t1 = t1.min(q / p);
        }
    }
    (t1 - t0).max(0.0) * dx.hypot(dy)
}

/// A `<text>` at `p` with `attrs` around `body` (markup, escaped already).
fn text(o: &mut String, p: P, attrs: &str, body: &str) {
    let (x, y) = (n(p.0), n(p.1));
    let _ = writeln!(o, "<text x=\"{x}\" y=\"{y}\" {attrs}>{body}</text>");
}

fn box_half(name: &str) -> f64 {
    text_width(name, STATE_SIZE, true) / 2.0 + 12.0
}

fn meta_width(st: &State) -> f64 {
    let width = |t: &Option<String>| t.as_deref().map_or(0.0, |t| text_width(t, SMALL, false));
    let (e, l) = (width(&st.event), width(&st.line));
    e + l + if e > 0.0 && l > 0.0 { 6.0 } else { 0.0 }
}

fn message_width(m: &Message) -> f64 {
    let dup = m
        .copy_of
        .map_or(0.0, |_| text_width("dup", LABEL_SIZE, true) + 5.0);
    text_width(&m.label, LABEL_SIZE, false) + dup
}

/// `text` in lines no wider than `max` (bold, 13 px) where possible,
/// broken between words.
fn wrap(text: &str, max: f64) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        match lines.last_mut() {
            Some(line) if text_width(&format!("{line} {word}"), 13.0, true) <= max => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_owned()),
        }
    }
    lines
}

/// A point, as `x,y`.
fn pt(p: P) -> String {
    format!("{},{}", n(p.0), n(p.1))
}

/// A coordinate, with one decimal and no `-0.0`.
fn n(v: f64) -> String {
    let s = format!("{v:.1}");
    if s == "-0.0" { "0.0".to_owned() } else { s }
}

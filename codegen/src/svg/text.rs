//! Text: widths estimated from character classes, escaping, labels
//! wrapped into lines with their step markers.

use super::*;

/// The estimated width of `s` at `size` px.
pub(crate) fn text_width(s: &str, size: f64, bold: bool) -> f64 {
    let em: f64 = s.chars().map(char_em).sum();
    em * size * if bold { 1.1 } else { 1.0 }
}

pub(super) fn char_em(c: char) -> f64 {
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
pub(super) fn is_wide(c: char) -> bool {
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
pub(super) fn n(v: f64) -> String {
    let s = format!("{v:.1}");
    if s == "-0.0" { "0.0".to_owned() } else { s }
}

/// Labels wider than this are broken between words.
pub(super) const WRAP: f64 = 190.0;

/// One line of a label: step markers (on a label's first line), text, and
/// how far the text is indented past the markers of the line it continues.
#[derive(Clone, Debug)]
pub(super) struct LabelLine {
    /// The figure's arrow (index into `Figure::arrows`) the line is part of.
    pub(super) arrow: usize,
    pub(super) marks: Vec<StepMark>,
    pub(super) text: String,
    pub(super) indent: f64,
}

/// A label: lines of markers and text.
#[derive(Clone, Debug)]
pub(super) struct Label {
    pub(super) lines: Vec<LabelLine>,
    pub(super) w: f64,
    pub(super) h: f64,
}

impl Label {
    pub(super) fn new() -> Label {
        Label {
            lines: Vec::new(),
            w: 0.0,
            h: 0.0,
        }
    }

    /// Adds one arrow's "condition / action", wrapped.
    pub(super) fn push(&mut self, arrow: usize, marks: &[StepMark], text: &str) {
        let indent = marks_width(marks);
        for (i, line) in wrap(text, WRAP - indent).into_iter().enumerate() {
            let first = i == 0;
            self.lines.push(LabelLine {
                arrow,
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
pub(super) fn wrap(text: &str, max: f64) -> Vec<String> {
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
pub(super) fn head_len(line: Line) -> f64 {
    if line == Line::Thin { 9.0 } else { 12.0 }
}

pub(super) fn marks_width(marks: &[StepMark]) -> f64 {
    marks.len() as f64 * (MARK + 3.0)
}

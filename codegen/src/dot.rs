//! Graphviz DOT output, drawn like figure 8-9 (see [`crate::figure`]).
//!
//! States are boxes with the initial state alone on the top rank; path
//! arrows are bold (`style=bold` or `style="bold,dashed"`) in the path's
//! colour; labels are HTML-like so that boxed step numbers are real boxes.
//! Transitions with several sources, and the key, are two tables on the
//! bottom rank.

use std::fmt::Write as _;

use crate::figure::{Figure, INK, Line, Provenance, StepMark};
use crate::model::Model;
use crate::syntax::{LineStyle, Marker};

pub use crate::figure::DrawOptions;

/// Fonts in order of preference; the CJK one covers `--lang zh`.
pub const FONTS: &str = "Helvetica,Arial,Noto Sans CJK SC,sans-serif";

/// Renders the model as DOT, with a header naming the `fsm dot` command.
pub fn render(model: &Model, opts: &DrawOptions) -> String {
    render_with(model, opts, &Provenance::cli(model, "dot", opts))
}

/// Renders the model as DOT, with a header naming `provenance`.
pub fn render_with(model: &Model, opts: &DrawOptions, provenance: &Provenance) -> String {
    let fig = Figure::new(model, opts);
    let mut out = String::new();
    for line in provenance.lines() {
        let _ = writeln!(out, "// {line}");
    }
    let font = quote(FONTS);
    let _ = writeln!(out, "digraph {} {{", quote(&fig.name));
    let _ = writeln!(
        out,
        "    graph [rankdir=TB, nodesep=0.35, ranksep=0.45, pad=0.3, \
         fontname={font}, fontsize=20, labelloc=t, label=<<B>{}</B>>];",
        html(&fig.title)
    );
    let _ = writeln!(
        out,
        "    node [shape=box, style=rounded, margin=\"0.16,0.06\", fontname={font}, \
         fontsize=13, color={ink}, fontcolor={ink}];",
        ink = quote(INK)
    );
    let _ = writeln!(
        out,
        "    edge [fontname={font}, fontsize=10, arrowsize=0.7, color={ink}, fontcolor={ink}];",
        ink = quote(INK)
    );

    out.push_str("\n    // States: one box each; rows as `Figure::rows` puts them, the initial\n    // state alone on top.\n");
    for s in &fig.states {
        let mut cells = format!("<TD><B>{}</B></TD>", html(&s.name));
        for m in &s.marks {
            cells.push_str(&mark_cell(&fig, m));
        }
        let label = if s.marks.is_empty() {
            format!("<B>{}</B>", html(&s.name))
        } else {
            table(&cells)
        };
        let bold = if s.initial { ", penwidth=2" } else { "" };
        let _ = writeln!(
            out,
            "    {} [label=<{label}>, tooltip={}{bold}];",
            quote(&s.name),
            quote(&s.description)
        );
    }
    let rows = fig.rows();
    let last = rows.iter().copied().max().unwrap_or(0);
    for r in 0..=last {
        let names: Vec<String> = (0..fig.states.len())
            .filter(|&i| rows[i] == r)
            .map(|i| quote(&fig.states[i].name))
            .collect();
        let rank = if r == 0 && names.len() == 1 {
            "source"
        } else if r == 0 {
            "min"
        } else if names.len() > 1 {
            "same"
        } else {
            continue;
        };
        let _ = writeln!(out, "    {{ rank={rank}; {}; }}", names.join("; "));
    }

    out.push_str("\n    // Transitions with one source: \"condition / action\".\n");
    for a in &fig.arrows {
        let mut attrs = vec![format!(
            "label=<{}>",
            marked_label(&fig, &a.marks, &a.label)
        )];
        if let Line::Bold { style, .. } = a.line {
            let color = quote(fig.color(a.line));
            attrs.push(
                match style {
                    LineStyle::Solid => "style=bold",
                    LineStyle::Dashed => "style=\"bold,dashed\"",
                }
                .to_owned(),
            );
            attrs.push("penwidth=2.6".to_owned());
            attrs.push(format!("color={color}, fontcolor={color}"));
            attrs.push("weight=4".to_owned());
        }
        if let Some(rfc) = &a.rfc {
            attrs.push(format!("tooltip={}", quote(&format!("rfc {rfc}"))));
        }
        let _ = writeln!(
            out,
            "    {} -> {} [{}];",
            quote(&fig.states[a.from].name),
            quote(&fig.states[a.to].name),
            attrs.join(", ")
        );
    }

    out.push_str("\n    // The key and the transitions with several sources, at the bottom.\n");
    let _ = writeln!(
        out,
        "    \"key\" [shape=plaintext, margin=0, label=<{}>];",
        key_table(&fig)
    );
    let mut ranked = vec!["\"key\""];
    if !fig.several.is_empty() {
        let _ = writeln!(
            out,
            "    \"several\" [shape=plaintext, margin=0, label=<{}>];",
            several_table(&fig)
        );
        ranked.push("\"several\"");
    }
    let _ = writeln!(out, "    {{ rank=sink; {}; }}", ranked.join("; "));
    out.push_str("}\n");
    out
}

/// A label with its step markers in front: circled numbers as text, boxed
/// numbers in a bordered cell.
fn marked_label(fig: &Figure, marks: &[StepMark], text: &str) -> String {
    if marks.is_empty() {
        return html(text);
    }
    let mut cells: String = marks.iter().map(|m| mark_cell(fig, m)).collect();
    let _ = write!(cells, "<TD>{}</TD>", html(text));
    table(&cells)
}

fn mark_cell(fig: &Figure, m: &StepMark) -> String {
    let color = fig.paths[m.path].color;
    match m.marker {
        Marker::Circled => format!(
            "<TD><FONT COLOR=\"{color}\" POINT-SIZE=\"13\">{}</FONT></TD>",
            html(&m.text())
        ),
        Marker::Boxed => format!(
            "<TD BORDER=\"1\" COLOR=\"{color}\" CELLPADDING=\"1\">\
             <FONT COLOR=\"{color}\">{}</FONT></TD>",
            m.step
        ),
    }
}

fn table(cells: &str) -> String {
    format!(
        "<TABLE BORDER=\"0\" CELLBORDER=\"0\" CELLSPACING=\"2\" CELLPADDING=\"0\"><TR>{cells}</TR></TABLE>"
    )
}

/// The key: one row per path with a sample of its line, then thin arrows.
fn key_table(fig: &Figure) -> String {
    let w = &fig.words;
    let mut rows = format!(
        "<TR><TD COLSPAN=\"2\" ALIGN=\"LEFT\"><B>{}</B></TD></TR>",
        html(w.key)
    );
    for (i, p) in fig.paths.iter().enumerate() {
        let style = match p.style {
            LineStyle::Solid => "solid",
            LineStyle::Dashed => "dashed",
        };
        let mut text = format!("<FONT COLOR=\"{}\">{}</FONT>", p.color, html(&p.text));
        if let Some((first, last)) = p.steps {
            let mark = |step| {
                let m = StepMark {
                    path: i,
                    step,
                    marker: p.marker,
                };
                table(&mark_cell(fig, &m))
            };
            text = format!(
                "<TABLE BORDER=\"0\" CELLBORDER=\"0\" CELLSPACING=\"2\" CELLPADDING=\"0\"><TR>\
                 <TD>{text}</TD><TD>{}</TD><TD>…</TD><TD>{}</TD></TR></TABLE>",
                mark(first),
                mark(last)
            );
        }
        let _ = write!(
            rows,
            "<TR><TD SIDES=\"B\" BORDER=\"3\" STYLE=\"{style}\" COLOR=\"{}\" WIDTH=\"44\"> </TD>\
             <TD ALIGN=\"LEFT\">{text}</TD></TR>",
            p.color
        );
    }
    let _ = write!(
        rows,
        "<TR><TD SIDES=\"B\" BORDER=\"1\" COLOR=\"{INK}\" WIDTH=\"44\"> </TD>\
         <TD ALIGN=\"LEFT\">{}</TD></TR>",
        html(w.thin)
    );
    if fig.states.iter().any(|s| !s.marks.is_empty()) {
        let _ = write!(
            rows,
            "<TR><TD COLSPAN=\"2\" ALIGN=\"LEFT\">{}</TD></TR>",
            html(w.on_state)
        );
    }
    format!(
        "<TABLE BORDER=\"1\" CELLBORDER=\"0\" CELLSPACING=\"4\" CELLPADDING=\"2\" \
         COLOR=\"{INK}\">{rows}</TABLE>"
    )
}

/// The transitions with several sources, one row each, then the groups.
fn several_table(fig: &Figure) -> String {
    let mut rows = format!(
        "<TR><TD COLSPAN=\"3\" ALIGN=\"LEFT\"><B>{}</B></TD></TR>",
        html(fig.words.several)
    );
    for r in &fig.several {
        let target = if r.stays {
            format!("<I>{}</I>", html(&r.target))
        } else {
            format!("→ {}", html(&r.target))
        };
        let _ = write!(
            rows,
            "<TR><TD ALIGN=\"LEFT\">{}</TD><TD ALIGN=\"LEFT\">{}</TD><TD ALIGN=\"LEFT\">{target}</TD></TR>",
            html(&r.sources),
            marked_label(fig, &r.marks, &r.label)
        );
    }
    for g in &fig.groups {
        let _ = write!(
            rows,
            "<TR><TD COLSPAN=\"3\" ALIGN=\"LEFT\"><I>{}</I></TD></TR>",
            html(&g.text_row())
        );
    }
    format!(
        "<TABLE BORDER=\"1\" CELLBORDER=\"0\" CELLSPACING=\"0\" CELLPADDING=\"3\" \
         COLOR=\"{INK}\">{rows}</TABLE>"
    )
}

/// `s` as a DOT quoted string: quotes and backslashes escaped, line breaks
/// as `\n`.
pub fn quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            '\r' => {}
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

/// `s` as text inside an HTML-like label: `& < > "` as entities, line
/// breaks as `<BR/>`.
pub fn html(s: &str) -> String {
    let mut h = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => h.push_str("&amp;"),
            '<' => h.push_str("&lt;"),
            '>' => h.push_str("&gt;"),
            '"' => h.push_str("&quot;"),
            '\'' => h.push_str("&#39;"),
            '\n' => h.push_str("<BR/>"),
            '\r' => {}
            c => h.push(c),
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_escapes_quotes_backslashes_and_newlines() {
        assert_eq!(quote(r#"a "b" \c"#), r#""a \"b\" \\c""#);
        assert_eq!(quote("one\r\ntwo"), r#""one\ntwo""#);
    }

    #[test]
    fn html_escapes_markup() {
        assert_eq!(
            html("<a & 'b'>\n\"c\""),
            "&lt;a &amp; &#39;b&#39;&gt;<BR/>&quot;c&quot;"
        );
    }
}

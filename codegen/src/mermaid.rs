//! Mermaid `stateDiagram-v2` output, drawn like figure 8-9 as far as
//! Mermaid allows (see [`crate::figure`]).
//!
//! Mermaid cannot style single transitions, so a path's arrows carry its
//! step markers in their labels (`② active OPEN / SYN`, boxed steps as
//! `[2]`), and the states a path passes through get its `classDef` (a
//! coloured border, dashed for dashed paths). The key and the transitions
//! with several sources are a note beside the initial state.

use std::fmt::Write as _;

use crate::figure::DrawOptions;
use crate::figure::{Figure, Line, Provenance};
use crate::model::Model;
use crate::syntax::LineStyle;

/// Renders the model as Mermaid, with a header naming the `fsm mermaid`
/// command.
pub fn render(model: &Model, opts: &DrawOptions) -> String {
    render_with(model, opts, &Provenance::cli(model, "mermaid", opts))
}

/// Renders the model as Mermaid, with a header naming `provenance`.
pub fn render_with(model: &Model, opts: &DrawOptions, provenance: &Provenance) -> String {
    let fig = Figure::new(model, opts);
    let ids = state_ids(&fig);
    let mut out = String::new();
    for line in provenance.lines() {
        let _ = writeln!(out, "%% {line}");
    }
    let _ = writeln!(out, "%% {}", fig.title.replace(['\r', '\n'], " "));
    out.push_str("stateDiagram-v2\n    direction TB\n");

    out.push_str("\n    %% States: name and the path steps that start there.\n");
    for (s, id) in fig.states.iter().zip(&ids) {
        let mut label = s.name.clone();
        for m in &s.marks {
            label.push(' ');
            label.push_str(&m.text());
        }
        let _ = writeln!(out, "    state \"{}\" as {id}", escape(&label));
    }
    let _ = writeln!(out, "    [*] --> {}", ids[fig.initial]);

    out.push_str("\n    %% Transitions with one source: \"condition / action\".\n");
    for a in &fig.arrows {
        let _ = writeln!(
            out,
            "    {} --> {} : {}",
            ids[a.from],
            ids[a.to],
            escape(&a.text_label())
        );
    }

    out.push_str("\n    %% The key and the transitions with several sources.\n");
    let _ = writeln!(out, "    note right of {}", ids[fig.initial]);
    let _ = writeln!(out, "        {}", escape(fig.words.key));
    for (i, p) in fig.paths.iter().enumerate() {
        let _ = writeln!(out, "        {}", escape(&p.text_row(&fig.words, i)));
    }
    let _ = writeln!(out, "        {}", escape(fig.words.thin));
    if !fig.several.is_empty() {
        let _ = writeln!(out, "        ——");
        let _ = writeln!(out, "        {}", escape(fig.words.several));
        for r in &fig.several {
            let _ = writeln!(out, "        {}", escape(&r.text_row()));
        }
        for g in &fig.groups {
            let _ = writeln!(out, "        {}", escape(&g.text_row()));
        }
    }
    out.push_str("    end note\n");

    // A state gets the class of the first path that passes through it.
    let mut classes: Vec<Vec<&str>> = vec![Vec::new(); fig.paths.len()];
    for (i, id) in ids.iter().enumerate() {
        let path = fig.states[i].marks.first().map(|m| m.path).or_else(|| {
            fig.arrows.iter().find_map(|a| match a.line {
                Line::Bold { path, .. } if a.from == i || a.to == i => Some(path),
                _ => None,
            })
        });
        if let Some(p) = path {
            classes[p].push(id);
        }
    }
    if classes.iter().any(|c| !c.is_empty()) {
        out.push_str("\n    %% States on a typical path: the path's colour and line.\n");
    }
    for (p, members) in fig.paths.iter().zip(&classes) {
        if members.is_empty() {
            continue;
        }
        let dash = match p.style {
            LineStyle::Solid => "",
            LineStyle::Dashed => ",stroke-dasharray:6 3",
        };
        let class = format!("path_{}", sanitize(&p.name));
        let _ = writeln!(
            out,
            "    classDef {class} stroke:{},stroke-width:2.5px{dash}",
            p.color
        );
        let _ = writeln!(out, "    class {} {class}", members.join(","));
    }
    out
}

/// Mermaid ids for the states: the name with anything but ASCII letters,
/// digits and `_` replaced, a suffix where that makes two equal or hits a
/// keyword.
fn state_ids(fig: &Figure) -> Vec<String> {
    const RESERVED: &[&str] = &[
        "state",
        "note",
        "end",
        "direction",
        "class",
        "classdef",
        "style",
        "as",
        "left",
        "right",
        "of",
        "stateDiagram",
    ];
    let mut ids: Vec<String> = Vec::new();
    for s in &fig.states {
        let base = sanitize(&s.name);
        let mut id = base.clone();
        let mut n = 1;
        while ids.contains(&id) || RESERVED.iter().any(|r| r.eq_ignore_ascii_case(&id)) {
            n += 1;
            id = format!("{base}_{n}");
        }
        ids.push(id);
    }
    ids
}

fn sanitize(name: &str) -> String {
    let mut id: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if !id.starts_with(|c: char| c.is_ascii_alphabetic()) {
        id.insert(0, 's');
    }
    id
}

/// Text made safe for a Mermaid label or note: characters Mermaid reads as
/// syntax or markup become entity codes (`#58;` for `:`), line breaks
/// spaces.
pub fn escape(s: &str) -> String {
    let mut e = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            ':' | ';' | '#' | '<' | '>' | '&' | '"' | '{' | '}' | '%' | '|' | '`' => {
                let _ = write!(e, "#{};", u32::from(c));
            }
            '\r' | '\n' => e.push(' '),
            c => e.push(c),
        }
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_turns_syntax_into_entity_codes() {
        assert_eq!(
            escape("a: b; #1 <x> & \"y\""),
            "a#58; b#59; #35;1 #60;x#62; #38; #34;y#34;"
        );
        assert_eq!(escape("one\ntwo"), "one two");
    }

    #[test]
    fn sanitize_keeps_identifiers() {
        assert_eq!(sanitize("SYN_SENT"), "SYN_SENT");
        assert_eq!(sanitize("9-lives"), "s9_lives");
    }
}

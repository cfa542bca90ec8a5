//! What hovering over a name shows, in Markdown: a state's description,
//! translations, groups and transitions in and out; an event's kind and
//! label; a guard's, action's or path's label; a group's members.

use std::fmt::Write as _;

use crate::diagnostic::LineIndex;
use crate::syntax::{Decl, SourcesSyntax, SyntaxTree, Text, TransitionSyntax};

use super::index::{Kind, Occurrence};

/// The Markdown shown for `occurrence`, or `None` when nothing declares it.
pub fn hover(tree: &SyntaxTree, source: &str, occurrence: &Occurrence) -> Option<String> {
    let name = occurrence.name.as_str();
    let mut out = String::new();
    if occurrence.kind == Kind::Machine {
        heading(&mut out, "machine", name, None);
        text(&mut out, &tree.title);
        return Some(out);
    }
    let decl = tree
        .decls
        .iter()
        .find(|d| declared_name(d).is_some_and(|(k, n)| k == occurrence.kind && n == name))?;
    match decl {
        Decl::State {
            initial,
            text: description,
            steps,
            ..
        } => {
            heading(&mut out, "state", name, initial.as_ref().map(|_| "initial"));
            text(&mut out, description);
            if !steps.is_empty() {
                let steps: Vec<String> = steps
                    .iter()
                    .map(|s| format!("{} {}", s.path.text, s.step))
                    .collect();
                let _ = writeln!(out, "\npath steps: {}", steps.join(", "));
            }
            state_details(&mut out, tree, source, name);
        }
        Decl::Event {
            kind, on, text: t, ..
        } => {
            heading(&mut out, "event", name, Some(kind.keyword()));
            text(&mut out, t);
            if !on.is_empty() {
                let names: Vec<&str> = on.iter().map(|m| m.text.as_str()).collect();
                let _ = writeln!(out, "\nraised by: {}", names.join(", "));
            }
        }
        Decl::Guard { text: t, .. } => {
            heading(&mut out, "guard", name, None);
            text(&mut out, t);
        }
        Decl::Action {
            internal,
            sends,
            text: t,
            ..
        } => {
            heading(&mut out, "action", name, internal.then_some("internal"));
            text(&mut out, t);
            if let Some(m) = sends {
                let _ = writeln!(out, "\nsends: {}", m.text);
            }
        }
        Decl::Message { text: t, .. } => {
            heading(&mut out, "message", name, None);
            text(&mut out, t);
            message_details(&mut out, tree, name);
        }
        Decl::Path { text: t, .. } => {
            heading(&mut out, "path", name, None);
            text(&mut out, t);
            path_steps(&mut out, tree, source, name);
        }
        Decl::Group { members, .. } => {
            heading(&mut out, "group", name, None);
            let names: Vec<&str> = members.iter().map(|m| m.text.as_str()).collect();
            let _ = writeln!(out, "\nmembers: {}", names.join(", "));
        }
        Decl::Transition(_) => return None,
    }
    Some(out)
}

/// The kind and name a declaration declares; `None` for a transition.
pub fn declared_name(decl: &Decl) -> Option<(Kind, &str)> {
    let (kind, name) = match decl {
        Decl::State { name, .. } => (Kind::State, name),
        Decl::Event { name, .. } => (Kind::Event, name),
        Decl::Guard { name, .. } => (Kind::Guard, name),
        Decl::Action { name, .. } => (Kind::Action, name),
        Decl::Message { name, .. } => (Kind::Message, name),
        Decl::Path { name, .. } => (Kind::Path, name),
        Decl::Group { name, .. } => (Kind::Group, name),
        Decl::Transition(_) => return None,
    };
    Some((kind, name.text.as_str()))
}

/// The English description of what declares `name` as a `kind`.
pub fn description<'t>(tree: &'t SyntaxTree, kind: Kind, name: &str) -> Option<&'t str> {
    tree.decls.iter().find_map(|d| {
        let t = match d {
            Decl::State { text, .. }
            | Decl::Event { text, .. }
            | Decl::Guard { text, .. }
            | Decl::Action { text, .. }
            | Decl::Message { text, .. }
            | Decl::Path { text, .. } => text,
            _ => return None,
        };
        (declared_name(d) == Some((kind, name))).then_some(t.en.as_str())
    })
}

/// Which actions send a message and which events it raises.
fn message_details(out: &mut String, tree: &SyntaxTree, message: &str) {
    let mut senders = Vec::new();
    let mut raises = Vec::new();
    for d in &tree.decls {
        match d {
            Decl::Action {
                name,
                sends: Some(m),
                ..
            } if m.text == message => senders.push(name.text.as_str()),
            Decl::Event { name, on, .. } if on.iter().any(|m| m.text == message) => {
                raises.push(name.text.as_str());
            }
            _ => {}
        }
    }
    let list = |names: &[&str]| {
        if names.is_empty() {
            "none".to_owned()
        } else {
            names.join(", ")
        }
    };
    let _ = writeln!(out, "\nsent by: {}", list(&senders));
    let _ = writeln!(out, "\nraises: {}", list(&raises));
}

fn heading(out: &mut String, keyword: &str, name: &str, note: Option<&str>) {
    let _ = write!(out, "**{keyword}** `{name}`");
    if let Some(note) = note {
        let _ = write!(out, " ({note})");
    }
    out.push('\n');
}

fn text(out: &mut String, t: &Text) {
    let _ = writeln!(out, "\n{}", t.en);
    for (lang, s) in &t.translations {
        let _ = writeln!(out, "\n{lang}: {s}");
    }
}

/// A state's groups and its transitions in and out, with line numbers.
fn state_details(out: &mut String, tree: &SyntaxTree, source: &str, state: &str) {
    let groups: Vec<&str> = tree
        .decls
        .iter()
        .filter_map(|d| match d {
            Decl::Group { name, members } if members.iter().any(|m| m.text == state) => {
                Some(name.text.as_str())
            }
            _ => None,
        })
        .collect();
    if !groups.is_empty() {
        let _ = writeln!(out, "\ngroups: {}", groups.join(", "));
    }
    let lines = LineIndex::new(source);
    let transitions: Vec<&TransitionSyntax> = tree
        .decls
        .iter()
        .filter_map(|d| match d {
            Decl::Transition(t) => Some(t),
            _ => None,
        })
        .collect();
    let leaving: Vec<&TransitionSyntax> = transitions
        .iter()
        .copied()
        .filter(|t| leaves(tree, t, state))
        .collect();
    let entering: Vec<&TransitionSyntax> = transitions
        .iter()
        .copied()
        .filter(|t| t.target.as_ref().is_some_and(|n| n.text == state))
        .collect();
    for (title, list) in [("out", leaving), ("in", entering)] {
        let _ = writeln!(out, "\n{title} ({}):", list.len());
        for t in list {
            let line = lines.line(t.span.start);
            let _ = writeln!(out, "- line {line}: `{}`", transition_text(t, source));
        }
    }
}

/// A path's steps in order: where each is written, with its line.
fn path_steps(out: &mut String, tree: &SyntaxTree, source: &str, path: &str) {
    let lines = LineIndex::new(source);
    let mut steps: Vec<(u32, usize, String)> = Vec::new();
    for d in &tree.decls {
        let (written, what) = match d {
            Decl::State { name, steps, .. } => (steps, format!("state {}", name.text)),
            Decl::Transition(t) => (&t.steps, transition_text(t, source)),
            _ => continue,
        };
        for s in written.iter().filter(|s| s.path.text == path) {
            steps.push((s.step, lines.line(s.path.span.start), what.clone()));
        }
    }
    steps.sort();
    let _ = writeln!(out, "\nsteps ({}):", steps.len());
    for (step, line, what) in steps {
        let _ = writeln!(out, "- {step}, line {line}: `{what}`");
    }
}

/// Whether `t` starts in `state`: named, through a group, or as `any`.
fn leaves(tree: &SyntaxTree, t: &TransitionSyntax, state: &str) -> bool {
    match &t.sources {
        SourcesSyntax::Any(_) => true,
        SourcesSyntax::Names(names) => names.iter().any(|n| {
            n.text == state
                || tree.decls.iter().any(|d| match d {
                    Decl::Group { name, members } => {
                        name.text == n.text && members.iter().any(|m| m.text == state)
                    }
                    _ => false,
                })
        }),
    }
}

/// `SRC -> DST on event [guard] / actions`, as written.
pub fn transition_text(t: &TransitionSyntax, source: &str) -> String {
    let sources = match &t.sources {
        SourcesSyntax::Any(_) => "any".to_owned(),
        SourcesSyntax::Names(names) => names
            .iter()
            .map(|n| n.text.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    };
    let target = t.target.as_ref().map_or("same", |n| n.text.as_str());
    let mut s = format!("{sources} -> {target} on {}", t.event.text);
    if let Some(guard) = t
        .guard
        .as_ref()
        .and_then(|(_, span)| source.get(span.clone()))
    {
        let _ = write!(s, " {guard}");
    }
    let actions: Vec<&str> = t.actions.iter().map(|a| a.text.as_str()).collect();
    if actions.is_empty() {
        s.push_str(" / -");
    } else {
        let _ = write!(s, " / {}", actions.join(", "));
    }
    s
}

//! Rust names for the spec's names, and the collisions between them.
//!
//! States become CamelCase types and variants (`SYN_SENT` -> `SynSent`);
//! events, guards and actions become CamelCase variants and snake_case
//! methods (`rcv_syn` -> `RcvSyn`, `rcv_syn`); groups become membership
//! methods of `State` (`synchronized` -> `in_synchronized`). Keywords become
//! raw identifiers (`r#type`) where Rust allows it; everything else that
//! cannot work is a spec diagnostic.

use std::collections::HashMap;

use proc_macro2::{Ident, Span};

use crate::diagnostic::Diagnostic;
use crate::model::{EventId, Model, StateId};
use crate::syntax::Name;

use super::table::{DispatchTable, Shape};

/// Type-namespace names the generated code defines or uses unqualified.
const RESERVED_TYPES: &[(&str, &str)] = &[
    ("State", "the enum of states"),
    ("Event", "the enum of events"),
    ("Guard", "the enum of guards"),
    ("Action", "the enum of actions"),
    ("Path", "the enum of typical paths"),
    ("EventKind", "the kind of an event"),
    ("PathStep", "a step of a typical path"),
    ("Transition", "the description of a transition"),
    ("Guards", "the trait that evaluates guards"),
    ("Step", "the result of `step`"),
    ("NoTransition", "the error of `step`"),
    ("TypeState", "the trait of the state types"),
    ("Self", "a Rust keyword"),
    ("Option", "a prelude type the generated code uses"),
    ("Some", "a prelude variant the generated code uses"),
    ("None", "a prelude variant the generated code uses"),
    ("Result", "a prelude type the generated code uses"),
    ("Ok", "a prelude variant the generated code uses"),
    ("Err", "a prelude variant the generated code uses"),
    ("Fn", "a prelude trait the generated code uses"),
    ("From", "a prelude trait the generated code uses"),
    ("Sized", "a prelude trait the generated code uses"),
    ("MACHINE", "the machine's name constant"),
    ("DOT", "the DOT text constant"),
    ("DECLARATIONS", "the declaration count constant"),
    ("TRANSITIONS", "the transition table"),
];

/// Associated items of the generated enums that a variant must not shadow.
const RESERVED_VARIANTS: &[&str] = &["ALL", "INITIAL", "Self"];

/// Methods every `Machine<S, D>` has; an event method must not take them.
const RESERVED_METHODS: &[&str] = &["new", "state", "into_data"];

/// Methods of `State` that start like a group's (`in_…`); a group must not
/// become one of them.
const RESERVED_GROUP_METHODS: &[&str] = &["in_vocabulary_group"];

/// Words that are keywords in some edition: usable as raw identifiers.
const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "dyn", "else", "enum", "extern", "false",
    "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub",
    "ref", "return", "static", "struct", "trait", "true", "try", "type", "unsafe", "use", "where",
    "while", "abstract", "become", "box", "do", "final", "macro", "override", "priv", "typeof",
    "unsized", "virtual", "yield",
];

/// Keywords that not even a raw identifier can spell.
const NOT_RAW: &[&str] = &["crate", "self", "super", "Self", "_"];

/// Splits a name into words at underscores and lower-to-upper case changes
/// (`SYN_SENT`, `synSent` and `SynSent` all give `syn`, `sent` up to case).
fn words(name: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for part in name.split('_').filter(|p| !p.is_empty()) {
        let mut start = 0;
        let bytes = part.as_bytes();
        for i in 1..bytes.len() {
            if bytes[i].is_ascii_uppercase() && bytes[i - 1].is_ascii_lowercase() {
                out.push(&part[start..i]);
                start = i;
            }
        }
        out.push(&part[start..]);
    }
    out
}

/// `SYN_SENT` -> `SynSent`, `rcv_syn` -> `RcvSyn`, `FIN_WAIT_1` -> `FinWait1`.
/// Empty when the name has no letters or digits (`_`).
pub fn camel(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for w in words(name) {
        let mut chars = w.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            let rest = chars.as_str();
            if w.bytes().all(|b| !b.is_ascii_lowercase()) {
                out.push_str(&rest.to_ascii_lowercase());
            } else {
                out.push_str(rest);
            }
        }
    }
    out
}

/// `rcv_syn` -> `rcv_syn`, `RCV_SYN` and `rcvSyn` -> `rcv_syn`.
pub fn snake(name: &str) -> String {
    let w: Vec<String> = words(name).iter().map(|w| w.to_ascii_lowercase()).collect();
    let joined = w.join("_");
    // Keep a leading underscore: `_private` stays private-looking.
    if name.starts_with('_') && !joined.is_empty() {
        format!("_{joined}")
    } else {
        joined
    }
}

/// An identifier, raw where the word is a keyword. `None` for words no
/// identifier can spell.
pub fn ident(word: &str) -> Option<Ident> {
    if word.is_empty() || NOT_RAW.contains(&word) {
        return None;
    }
    if KEYWORDS.contains(&word) {
        Some(Ident::new_raw(word, Span::call_site()))
    } else {
        Some(Ident::new(word, Span::call_site()))
    }
}

/// A plain identifier for a name the generator made up.
pub fn fixed(word: &str) -> Ident {
    Ident::new(word, Span::call_site())
}

/// Every Rust name the generated code gives to something of the spec.
pub struct Names {
    /// The machine type (`Tcp`).
    pub machine: Ident,
    /// The actions trait (`TcpActions`).
    pub actions_trait: Ident,
    /// Per state: type and `State` variant.
    pub states: Vec<Ident>,
    /// Per event: `Event` variant.
    pub events: Vec<Ident>,
    /// Per event: method on the machine type.
    pub event_methods: Vec<Ident>,
    /// Per guard: `Guard` variant.
    pub guards: Vec<Ident>,
    /// Per action: `Action` variant.
    pub actions: Vec<Ident>,
    /// Per action: method of the actions trait.
    pub action_methods: Vec<Ident>,
    /// Per path: `Path` variant.
    pub paths: Vec<Ident>,
    /// Per group: the membership method of `State` (`in_synchronized`).
    pub group_methods: Vec<Ident>,
    /// Per (state, event) where guards choose among several targets: the
    /// enum of outcomes.
    pub outcomes: HashMap<(StateId, EventId), Ident>,
    /// Generic parameter names that no state type shadows: state, data,
    /// closure.
    pub generic_state: Ident,
    /// See [`Self::generic_state`].
    pub generic_data: Ident,
    /// See [`Self::generic_state`].
    pub generic_fn: Ident,
}

/// Who holds a type-namespace name.
#[derive(Clone)]
enum Owner {
    Reserved(&'static str),
    Item(String, Option<std::ops::Range<usize>>),
}

impl Names {
    /// Names everything, or reports every name that cannot be used.
    pub fn new(model: &Model, table: &DispatchTable) -> Result<Names, Vec<Diagnostic>> {
        let mut diags = Vec::new();
        let mut types: HashMap<String, Owner> = HashMap::new();
        for (n, why) in RESERVED_TYPES {
            types.insert((*n).to_owned(), Owner::Reserved(why));
        }

        let machine_camel = camel(&model.name.text);
        let machine = type_ident(&machine_camel, "machine", &model.name, &mut diags);
        let actions_trait_name = format!("{machine_camel}Actions");
        claim(
            &mut types,
            &machine_camel,
            Owner::Item(
                format!("machine `{}`", model.name.text),
                Some(model.name.span.clone()),
            ),
            &mut diags,
        );
        claim(
            &mut types,
            &actions_trait_name,
            Owner::Item(
                format!("the actions trait of machine `{}`", model.name.text),
                Some(model.name.span.clone()),
            ),
            &mut diags,
        );

        let mut states = Vec::new();
        for s in &model.states {
            let c = camel(&s.name.text);
            let id = type_ident(&c, "state", &s.name, &mut diags);
            if ident(&c).is_some() {
                claim(
                    &mut types,
                    &c,
                    Owner::Item(
                        format!("state `{}`", s.name.text),
                        Some(s.name.span.clone()),
                    ),
                    &mut diags,
                );
            }
            states.push(id);
        }

        let events = variants(model.events.iter().map(|e| &e.name), "event", &mut diags);
        let guards = variants(model.guards.iter().map(|g| &g.name), "guard", &mut diags);
        let actions = variants(model.actions.iter().map(|a| &a.name), "action", &mut diags);
        let paths = variants(model.paths.iter().map(|p| &p.name), "path", &mut diags);
        let event_methods = methods(
            model.events.iter().map(|e| &e.name),
            "event",
            RESERVED_METHODS,
            &mut diags,
        );
        let action_methods = methods(
            model.actions.iter().map(|a| &a.name),
            "action",
            &[],
            &mut diags,
        );
        let group_methods = group_methods(&model.groups, &mut diags);

        let mut outcomes = HashMap::new();
        for (state, event, entries) in table.cells() {
            let shape = Shape::of(model, entries);
            if !shape.needs_enum() {
                continue;
            }
            let name = format!(
                "{}{}",
                camel(&model.states[state.0].name.text),
                camel(&model.events[event.0].name.text)
            );
            let t = &model.transitions[entries[0].transition.0];
            claim(
                &mut types,
                &name,
                Owner::Item(
                    format!(
                        "the outcomes of `{}` in `{}`",
                        model.events[event.0].name.text, model.states[state.0].name.text
                    ),
                    Some(t.span.clone()),
                ),
                &mut diags,
            );
            // `Unchanged` is the outcome where no guard held.
            if shape.may_stay {
                for to in &shape.targets {
                    let target = &model.states[to.0];
                    if camel(&target.name.text) == "Unchanged" {
                        diags.push(
                            Diagnostic::error(format!(
                                "state `{}` becomes the Rust name `Unchanged`, which the outcome \
                                 enum `{name}` already uses for \"no guard held\"",
                                target.name.text
                            ))
                            .with_primary(target.name.span.clone(), "rename this state"),
                        );
                    }
                }
            }
            outcomes.insert((state, event), fixed_or_placeholder(&name));
        }

        let taken = |w: &str| types.contains_key(w);
        let generic_state = fixed(&fresh("S", &taken));
        let generic_data = fixed(&fresh("D", &taken));
        let generic_fn = fixed(&fresh("F", &taken));

        if diags.is_empty() {
            Ok(Names {
                machine,
                actions_trait: fixed_or_placeholder(&actions_trait_name),
                states,
                events,
                event_methods,
                guards,
                actions,
                action_methods,
                paths,
                group_methods,
                outcomes,
                generic_state,
                generic_data,
                generic_fn,
            })
        } else {
            Err(diags)
        }
    }
}

/// The first of `base`, `base0`, `base1`, … that is free.
fn fresh(base: &str, taken: &impl Fn(&str) -> bool) -> String {
    if !taken(base) {
        return base.to_owned();
    }
    (0..)
        .map(|i| format!("{base}{i}"))
        .find(|n| !taken(n))
        .expect("some name is free")
}

fn fixed_or_placeholder(word: &str) -> Ident {
    ident(word).unwrap_or_else(|| fixed("__Invalid"))
}

/// A CamelCase type name, or a diagnostic.
fn type_ident(c: &str, kind: &str, name: &Name, diags: &mut Vec<Diagnostic>) -> Ident {
    match ident(c) {
        Some(id) if !c.is_empty() => id,
        _ => {
            diags.push(
                Diagnostic::error(format!(
                    "{kind} `{}` has no Rust name: it becomes `{c}`",
                    name.text
                ))
                .with_primary(name.span.clone(), "rename it with a letter in it"),
            );
            fixed("__Invalid")
        }
    }
}

/// Records who holds a type-namespace name, reporting a second holder.
fn claim(
    types: &mut HashMap<String, Owner>,
    word: &str,
    owner: Owner,
    diags: &mut Vec<Diagnostic>,
) {
    let Some(first) = types.get(word).cloned() else {
        types.insert(word.to_owned(), owner);
        return;
    };
    let Owner::Item(what, span) = owner else {
        return;
    };
    let mut d = match &first {
        Owner::Reserved(why) => Diagnostic::error(format!(
            "{what} becomes the Rust name `{word}`, which the generated code already uses for {why}"
        )),
        Owner::Item(other, _) => Diagnostic::error(format!(
            "{what} and {other} both become the Rust name `{word}`"
        )),
    };
    if let Some(span) = span {
        d = d.with_primary(span, "rename this");
    }
    if let Owner::Item(other, Some(first_span)) = first {
        d = d.with_secondary(first_span, format!("{other} is declared here"));
    }
    diags.push(d);
}

/// CamelCase variants of one enum, distinct from each other and from the
/// enum's associated items.
fn variants<'a>(
    names: impl Iterator<Item = &'a Name>,
    kind: &str,
    diags: &mut Vec<Diagnostic>,
) -> Vec<Ident> {
    let mut seen: HashMap<String, &Name> = HashMap::new();
    let mut out = Vec::new();
    for n in names {
        let c = camel(&n.text);
        let id = type_ident(&c, kind, n, diags);
        if RESERVED_VARIANTS.contains(&c.as_str()) {
            diags.push(
                Diagnostic::error(format!(
                    "{kind} `{}` becomes the variant `{c}`, which the generated enum already \
                     uses as a constant",
                    n.text
                ))
                .with_primary(n.span.clone(), "rename this"),
            );
        } else if let Some(first) = seen.get(&c) {
            diags.push(
                Diagnostic::error(format!(
                    "{kind}s `{}` and `{}` both become the Rust name `{c}`",
                    first.text, n.text
                ))
                .with_primary(n.span.clone(), "rename this")
                .with_secondary(first.span.clone(), "the other one"),
            );
        } else if !c.is_empty() {
            seen.insert(c, n);
        }
        out.push(id);
    }
    out
}

/// snake_case method names, distinct from each other and from `reserved`.
fn methods<'a>(
    names: impl Iterator<Item = &'a Name>,
    kind: &str,
    reserved: &[&str],
    diags: &mut Vec<Diagnostic>,
) -> Vec<Ident> {
    let mut seen: HashMap<String, &Name> = HashMap::new();
    let mut out = Vec::new();
    for n in names {
        let s = snake(&n.text);
        let id = match ident(&s) {
            Some(id) => id,
            None => {
                diags.push(
                    Diagnostic::error(format!(
                        "{kind} `{}` cannot be a Rust method name: `{s}` is reserved",
                        n.text
                    ))
                    .with_primary(n.span.clone(), "rename this"),
                );
                fixed("__invalid")
            }
        };
        if reserved.contains(&s.as_str()) {
            diags.push(
                Diagnostic::error(format!(
                    "{kind} `{}` becomes the method `{s}`, which the generated machine type \
                     already has",
                    n.text
                ))
                .with_primary(n.span.clone(), "rename this")
                .with_note(format!(
                    "help: the machine type has `{}`",
                    reserved.join("`, `")
                )),
            );
        } else if let Some(first) = seen.get(&s) {
            // Two names giving one method also give one variant; that is
            // reported once, by `variants`.
            if camel(&first.text) != camel(&n.text) {
                diags.push(
                    Diagnostic::error(format!(
                        "{kind}s `{}` and `{}` both become the method `{s}`",
                        first.text, n.text
                    ))
                    .with_primary(n.span.clone(), "rename this")
                    .with_secondary(first.span.clone(), "the other one"),
                );
            }
        } else {
            seen.insert(s, n);
        }
        out.push(id);
    }
    out
}

/// The membership method of a group: `in_` and the group's snake_case name.
pub fn group_method(name: &str) -> String {
    format!("in_{}", snake(name))
}

/// `in_<group>` methods of `State`, distinct from each other and from the
/// other `in_…` methods of `State`.
fn group_methods(groups: &[crate::model::Group], diags: &mut Vec<Diagnostic>) -> Vec<Ident> {
    let mut seen: HashMap<String, &Name> = HashMap::new();
    let mut out = Vec::new();
    for g in groups {
        let n = &g.name;
        let m = group_method(&n.text);
        if snake(&n.text).is_empty() {
            diags.push(
                Diagnostic::error(format!(
                    "group `{}` has no Rust name: its method would be `{m}`",
                    n.text
                ))
                .with_primary(n.span.clone(), "rename it with a letter in it"),
            );
        } else if RESERVED_GROUP_METHODS.contains(&m.as_str()) {
            diags.push(
                Diagnostic::error(format!(
                    "group `{}` becomes the method `{m}`, which the generated `State` already has",
                    n.text
                ))
                .with_primary(n.span.clone(), "rename this"),
            );
        } else if let Some(first) = seen.get(&m) {
            diags.push(
                Diagnostic::error(format!(
                    "groups `{}` and `{}` both become the method `{m}`",
                    first.text, n.text
                ))
                .with_primary(n.span.clone(), "rename this")
                .with_secondary(first.span.clone(), "the other one"),
            );
        } else {
            seen.insert(m.clone(), n);
        }
        // `in_` and letters, digits and underscores: never a keyword.
        out.push(fixed(&m));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camel_case_of_spec_names() {
        assert_eq!(camel("SYN_SENT"), "SynSent");
        assert_eq!(camel("FIN_WAIT_1"), "FinWait1");
        assert_eq!(camel("rcv_syn_ack"), "RcvSynAck");
        assert_eq!(camel("SynSent"), "SynSent");
        assert_eq!(camel("synSent"), "SynSent");
        assert_eq!(camel("Tcp"), "Tcp");
        assert_eq!(camel("_x"), "X");
        assert_eq!(camel("_"), "");
    }

    #[test]
    fn snake_case_of_spec_names() {
        assert_eq!(snake("rcv_syn"), "rcv_syn");
        assert_eq!(snake("RCV_SYN"), "rcv_syn");
        assert_eq!(snake("rcvSyn"), "rcv_syn");
        assert_eq!(snake("_private"), "_private");
    }

    #[test]
    fn group_methods_of_spec_names() {
        assert_eq!(group_method("synchronized"), "in_synchronized");
        assert_eq!(group_method("Half_Open"), "in_half_open");
        assert_eq!(group_method("type"), "in_type");
    }

    #[test]
    fn keywords_become_raw_identifiers() {
        assert_eq!(ident("type").unwrap().to_string(), "r#type");
        assert_eq!(ident("gen").unwrap().to_string(), "r#gen");
        assert!(ident("self").is_none());
        assert_eq!(ident("send").unwrap().to_string(), "send");
    }
}

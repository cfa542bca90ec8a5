//! Every name in a spec, declared or used, with its kind and its span: what
//! go to definition, references, rename and hover read. Built from the
//! syntax tree, not the model, so that it still answers for a spec whose
//! names do not all resolve.

use std::collections::HashSet;

use crate::syntax::{Decl, KEYWORDS, Name, SourcesSyntax, Span, SyntaxTree};

/// What a name names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `machine NAME`
    Machine,
    /// `state NAME`
    State,
    /// `group NAME = …`
    Group,
    /// `event NAME`
    Event,
    /// `guard NAME`
    Guard,
    /// `action NAME`
    Action,
    /// `message NAME`
    Message,
    /// `path NAME`
    Path,
}

impl Kind {
    /// The keyword that declares it.
    pub fn keyword(self) -> &'static str {
        match self {
            Kind::Machine => "machine",
            Kind::State => "state",
            Kind::Group => "group",
            Kind::Event => "event",
            Kind::Guard => "guard",
            Kind::Action => "action",
            Kind::Message => "message",
            Kind::Path => "path",
        }
    }

    /// Whether a name of this kind and one of `other` must differ: states
    /// and groups share a namespace (both can start a transition).
    fn shares_names_with(self, other: Kind) -> bool {
        self == other
            || matches!(
                (self, other),
                (Kind::State, Kind::Group) | (Kind::Group, Kind::State)
            )
    }
}

/// One name as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Occurrence {
    /// What it names.
    pub kind: Kind,
    /// The name.
    pub name: String,
    /// Where it is written.
    pub span: Span,
    /// Whether this is the declaration rather than a use.
    pub declaration: bool,
}

/// The names of one spec, in source order.
#[derive(Clone, Debug, Default)]
pub struct Index {
    occurrences: Vec<Occurrence>,
}

impl Index {
    /// Collects the names of `tree`. A name in a state position (sources,
    /// target, group members) is a group's when a group and no state is
    /// declared with it.
    pub fn new(tree: &SyntaxTree) -> Self {
        let mut states = HashSet::new();
        let mut groups = HashSet::new();
        for d in &tree.decls {
            match d {
                Decl::State { name, .. } => states.insert(name.text.as_str()),
                Decl::Group { name, .. } => groups.insert(name.text.as_str()),
                _ => false,
            };
        }
        let state_or_group = |n: &Name| {
            if groups.contains(n.text.as_str()) && !states.contains(n.text.as_str()) {
                Kind::Group
            } else {
                Kind::State
            }
        };
        let mut index = Index::default();
        index.push(Kind::Machine, &tree.machine, true);
        for d in &tree.decls {
            match d {
                Decl::State { name, steps, .. } => {
                    index.push(Kind::State, name, true);
                    for s in steps {
                        index.push(Kind::Path, &s.path, false);
                    }
                }
                Decl::Event { name, on, .. } => {
                    index.push(Kind::Event, name, true);
                    for m in on {
                        index.push(Kind::Message, m, false);
                    }
                }
                Decl::Guard { name, .. } => index.push(Kind::Guard, name, true),
                Decl::Action { name, sends, .. } => {
                    index.push(Kind::Action, name, true);
                    if let Some(m) = sends {
                        index.push(Kind::Message, m, false);
                    }
                }
                Decl::Message { name, .. } => index.push(Kind::Message, name, true),
                Decl::Path { name, .. } => index.push(Kind::Path, name, true),
                Decl::Group { name, members } => {
                    index.push(Kind::Group, name, true);
                    for m in members {
                        index.push(state_or_group(m), m, false);
                    }
                }
                Decl::Transition(t) => {
                    if let SourcesSyntax::Names(names) = &t.sources {
                        for n in names {
                            index.push(state_or_group(n), n, false);
                        }
                    }
                    if let Some(target) = &t.target {
                        index.push(state_or_group(target), target, false);
                    }
                    index.push(Kind::Event, &t.event, false);
                    if let Some((guard, _)) = &t.guard {
                        for g in guard.vars() {
                            index.push(Kind::Guard, g, false);
                        }
                    }
                    for a in &t.actions {
                        index.push(Kind::Action, a, false);
                    }
                    for s in &t.steps {
                        index.push(Kind::Path, &s.path, false);
                    }
                }
            }
        }
        index.occurrences.sort_by_key(|o| o.span.start);
        index
    }

    fn push(&mut self, kind: Kind, name: &Name, declaration: bool) {
        self.occurrences.push(Occurrence {
            kind,
            name: name.text.clone(),
            span: name.span.clone(),
            declaration,
        });
    }

    /// The name under byte `offset`; a cursor just after a name is on it.
    pub fn at(&self, offset: usize) -> Option<&Occurrence> {
        self.occurrences
            .iter()
            .find(|o| o.span.start <= offset && offset <= o.span.end)
    }

    /// The first declaration of `name` as a `kind`.
    pub fn declaration(&self, kind: Kind, name: &str) -> Option<&Occurrence> {
        self.occurrences
            .iter()
            .find(|o| o.declaration && o.kind == kind && o.name == name)
    }

    /// Every occurrence, declarations and uses, of `name` as a `kind`.
    pub fn occurrences_of<'a>(
        &'a self,
        kind: Kind,
        name: &'a str,
    ) -> impl Iterator<Item = &'a Occurrence> + 'a {
        self.occurrences
            .iter()
            .filter(move |o| o.kind == kind && o.name == name)
    }

    /// The names declared as a `kind`, in declaration order, each once.
    pub fn declared(&self, kind: Kind) -> Vec<&str> {
        let mut seen = HashSet::new();
        self.occurrences
            .iter()
            .filter(|o| o.declaration && o.kind == kind && seen.insert(o.name.as_str()))
            .map(|o| o.name.as_str())
            .collect()
    }

    /// Whether `occurrence`'s name may become `new_name`: a name of the
    /// language, not a reserved word, not already the name of something
    /// that shares its namespace.
    pub fn check_rename(&self, occurrence: &Occurrence, new_name: &str) -> Result<(), String> {
        if !is_name(new_name) {
            return Err(format!(
                "`{new_name}` is not a name: a name is a letter or `_`, then letters, digits or `_`"
            ));
        }
        if KEYWORDS.contains(&new_name) {
            return Err(format!("`{new_name}` is a reserved word, not a name"));
        }
        if new_name == occurrence.name {
            return Ok(());
        }
        match self.occurrences.iter().find(|o| {
            o.declaration && o.name == new_name && o.kind.shares_names_with(occurrence.kind)
        }) {
            Some(other) => Err(format!(
                "a {} called `{new_name}` is already declared",
                other.kind.keyword()
            )),
            None => Ok(()),
        }
    }
}

/// Whether `text` is a name of the language (ASCII, as the grammar's
/// `name` rule says; reserved words aside).
pub fn is_name(text: &str) -> bool {
    let mut chars = text.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::parse;

    const SPEC: &str = "machine M \"m\"\n\
        state A initial \"a\"\n\
        state B \"b\"\n\
        group both = A, B\n\
        event go call \"go\"\n\
        guard ok \"ok\"\n\
        action act \"act\"\n\
        A -> B on go [ok && !ok] / act\n\
        both -> same on go\n";

    fn index() -> Index {
        Index::new(&parse(SPEC).unwrap())
    }

    #[test]
    fn every_use_is_found_with_its_kind() {
        let index = index();
        assert_eq!(index.occurrences_of(Kind::State, "A").count(), 3);
        assert_eq!(index.occurrences_of(Kind::Group, "both").count(), 2);
        assert_eq!(index.occurrences_of(Kind::Guard, "ok").count(), 3);
        let at = SPEC.find("act\n").unwrap();
        let o = index.at(at + 3).unwrap();
        assert_eq!(
            (o.kind, o.name.as_str(), o.declaration),
            (Kind::Action, "act", false)
        );
    }

    #[test]
    fn renames_to_non_names_keywords_and_taken_names_are_refused() {
        let index = index();
        let a = index.declaration(Kind::State, "A").unwrap().clone();
        assert!(index.check_rename(&a, "A2").is_ok());
        assert!(index.check_rename(&a, "2A").is_err());
        assert!(index.check_rename(&a, "on").is_err());
        assert!(index.check_rename(&a, "B").is_err());
        assert!(index.check_rename(&a, "both").is_err());
        // Names of other kinds are another namespace.
        assert!(index.check_rename(&a, "go").is_ok());
    }
}

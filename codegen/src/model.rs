//! The typed model: every name resolved to an index, every item keeping its
//! span. Built from a [`SyntaxTree`]; problems with names become diagnostics.

use std::collections::HashMap;

use crate::diagnostic::{Diagnostic, LineIndex};
use crate::guard::GuardExpr;
use crate::syntax::{
    Decl, EventKind, LineStyle, Marker, Name, PathStepSyntax, SourcesSyntax, Span, SyntaxTree,
    Text, TransitionSyntax,
};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub usize);

        impl $name {
            /// Position in the model's list.
            pub fn index(self) -> usize {
                self.0
            }
        }
    };
}

id_type!(
    /// Index into [`Model::states`].
    StateId
);
id_type!(
    /// Index into [`Model::events`].
    EventId
);
id_type!(
    /// Index into [`Model::guards`].
    GuardId
);
id_type!(
    /// Index into [`Model::actions`].
    ActionId
);
id_type!(
    /// Index into [`Model::paths`].
    PathId
);
id_type!(
    /// Index into [`Model::messages`].
    MessageId
);
id_type!(
    /// Index into [`Model::transitions`].
    TransitionId
);

/// A state.
#[derive(Clone, Debug)]
pub struct State {
    /// Its name, as the RFC spells it.
    pub name: Name,
    /// Description and translations.
    pub text: Text,
    /// Whether it is the initial state.
    pub initial: bool,
    /// Typical-path steps that start here (`client 1`).
    pub steps: Vec<PathStep>,
}

/// An event the machine reacts to.
#[derive(Clone, Debug)]
pub struct Event {
    /// Its name.
    pub name: Name,
    /// What raises it.
    pub kind: EventKind,
    /// The messages whose arrival raises it (`on …`); empty when the spec
    /// does not say.
    pub on: Vec<MessageId>,
    /// Label and translations.
    pub text: Text,
}

/// A named condition, evaluated by whoever drives the machine.
#[derive(Clone, Debug)]
pub struct Guard {
    /// Its name.
    pub name: Name,
    /// Label and translations.
    pub text: Text,
}

/// Something the machine does on a transition.
#[derive(Clone, Debug)]
pub struct Action {
    /// Its name.
    pub name: Name,
    /// Internal actions (bookkeeping) are left out of drawn labels.
    pub internal: bool,
    /// The message it puts on the wire (`sends …`), if the spec says.
    pub sends: Option<MessageId>,
    /// Label and translations.
    pub text: Text,
}

/// What crosses the wire between two peers: sent by actions (`sends`),
/// raising segment events where it arrives (`on`).
#[derive(Clone, Debug)]
pub struct Message {
    /// Its name (`SYN`).
    pub name: Name,
    /// Label and translations.
    pub text: Text,
}

/// A typical path through the machine, drawn in bold with numbered steps.
#[derive(Clone, Debug)]
pub struct Path {
    /// Its name (`client`).
    pub name: Name,
    /// Solid or dashed arrows.
    pub style: LineStyle,
    /// Circled or boxed step numbers.
    pub marker: Marker,
    /// Label and translations.
    pub text: Text,
}

/// A step of a typical path.
#[derive(Clone, Debug)]
pub struct PathStep {
    /// Which path.
    pub path: PathId,
    /// Its number, from 1.
    pub step: u32,
    /// Where the step is written.
    pub span: Span,
}

/// A named set of states.
#[derive(Clone, Debug)]
pub struct Group {
    /// Its name.
    pub name: Name,
    /// Member states in declaration order.
    pub members: Vec<StateId>,
}

/// Where a transition goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Stays in the source state (`same`).
    Same,
    /// A given state.
    State(StateId),
}

/// How a transition's sources were written; drawings list transitions with
/// several sources apart instead of drawing an arrow from each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceForm {
    /// `any`
    Any,
    /// A group's name.
    Group(String),
    /// Named states.
    States,
}

/// One transition declaration, possibly from several states.
#[derive(Clone, Debug)]
pub struct Transition {
    /// The whole declaration.
    pub span: Span,
    /// Its 1-based line.
    pub line: usize,
    /// Source states, in order, without repetition.
    pub sources: Vec<StateId>,
    /// How the sources were written.
    pub source_form: SourceForm,
    /// Indices into [`Model::groups`] of the groups named among the sources.
    pub named_groups: Vec<usize>,
    /// Where it goes.
    pub target: Target,
    /// The event that fires it.
    pub event: EventId,
    /// The condition, if any.
    pub guard: Option<GuardExpr<GuardId>>,
    /// Actions, in the order they run.
    pub actions: Vec<ActionId>,
    /// Typical-path steps.
    pub steps: Vec<PathStep>,
    /// RFC section (`3.10.7.4`).
    pub rfc: Option<String>,
    /// A label that replaces the drawn "condition/action" text.
    pub label: Option<Text>,
}

impl Transition {
    /// The state this transition reaches from `source`.
    pub fn target_from(&self, source: StateId) -> StateId {
        match self.target {
            Target::Same => source,
            Target::State(s) => s,
        }
    }

    /// Whether it is drawn as one arrow (a single source) rather than listed
    /// in the "in several states" box.
    pub fn is_single(&self) -> bool {
        self.sources.len() == 1 && self.source_form == SourceForm::States
    }
}

/// A resolved spec.
#[derive(Clone, Debug)]
pub struct Model {
    /// The machine's name (`Tcp`).
    pub name: Name,
    /// Its title and translations.
    pub title: Text,
    /// States in declaration order.
    pub states: Vec<State>,
    /// Events in declaration order.
    pub events: Vec<Event>,
    /// Guards in declaration order.
    pub guards: Vec<Guard>,
    /// Actions in declaration order.
    pub actions: Vec<Action>,
    /// Messages in declaration order; empty when the spec declares none.
    pub messages: Vec<Message>,
    /// Typical paths in declaration order.
    pub paths: Vec<Path>,
    /// Groups in declaration order.
    pub groups: Vec<Group>,
    /// Transitions in declaration order.
    pub transitions: Vec<Transition>,
}

/// One arrow: a transition taken from one of its sources.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edge {
    /// The declaring transition.
    pub transition: TransitionId,
    /// Where it starts.
    pub from: StateId,
    /// Where it ends.
    pub to: StateId,
}

impl Model {
    /// The initial state. A checked model has exactly one; an unchecked one
    /// answers its first state marked initial, else the first state.
    pub fn initial(&self) -> StateId {
        StateId(self.states.iter().position(|s| s.initial).unwrap_or(0))
    }

    /// The state called `name`.
    pub fn state(&self, name: &str) -> Option<StateId> {
        self.states
            .iter()
            .position(|s| s.name.text == name)
            .map(StateId)
    }

    /// The event called `name`.
    pub fn event(&self, name: &str) -> Option<EventId> {
        self.events
            .iter()
            .position(|e| e.name.text == name)
            .map(EventId)
    }

    /// Every (transition, source) pair, in declaration order.
    pub fn edges(&self) -> impl Iterator<Item = Edge> + '_ {
        self.transitions.iter().enumerate().flat_map(|(i, t)| {
            t.sources.iter().map(move |&from| Edge {
                transition: TransitionId(i),
                from,
                to: t.target_from(from),
            })
        })
    }

    /// Transitions that fire on `event` in `state`, in declaration order.
    pub fn candidates(&self, state: StateId, event: EventId) -> Vec<TransitionId> {
        self.transitions
            .iter()
            .enumerate()
            .filter(|(_, t)| t.event == event && t.sources.contains(&state))
            .map(|(i, _)| TransitionId(i))
            .collect()
    }

    /// All transitions indexed by `(state, event)`, each list in
    /// declaration order. Building it is linear in the number of edges.
    pub fn dispatch_table(&self) -> HashMap<(StateId, EventId), Vec<TransitionId>> {
        let mut table: HashMap<(StateId, EventId), Vec<TransitionId>> = HashMap::new();
        for e in self.edges() {
            let t = &self.transitions[e.transition.0];
            table
                .entry((e.from, t.event))
                .or_default()
                .push(e.transition);
        }
        table
    }

    /// Languages that the spec translates anything into, sorted.
    pub fn languages(&self) -> Vec<String> {
        let mut langs: Vec<String> = std::iter::once(&self.title)
            .chain(self.states.iter().map(|s| &s.text))
            .chain(self.events.iter().map(|e| &e.text))
            .chain(self.guards.iter().map(|g| &g.text))
            .chain(self.actions.iter().map(|a| &a.text))
            .chain(self.paths.iter().map(|p| &p.text))
            .chain(self.transitions.iter().filter_map(|t| t.label.as_ref()))
            .flat_map(|t| t.translations.iter().map(|(l, _)| l.clone()))
            .collect();
        langs.sort();
        langs.dedup();
        langs
    }

    /// The condition half of a transition's label: event, then guard in
    /// brackets (`FIN [¬our FIN acked]`).
    pub fn condition_label(&self, t: &Transition, lang: &str) -> String {
        let mut s = self.events[t.event.0].text.get(lang).to_owned();
        if let Some(g) = &t.guard {
            s.push_str(" [");
            g.write(&mut s, &|id: &GuardId| {
                self.guards[id.0].text.get(lang).to_owned()
            });
            s.push(']');
            // A negated comparison reads as one: `¬(cwnd < ssthresh)`.
            for id in g.vars() {
                let text = self.guards[id.0].text.get(lang);
                if text.contains(['<', '>', '=', '≤', '≥']) {
                    s = s.replace(&format!("!{text}"), &format!("!({text})"));
                }
            }
        }
        s.replace("!", "¬")
            .replace(" && ", " ∧ ")
            .replace(" || ", " ∨ ")
    }

    /// The action half: action labels in order, internal actions left out,
    /// `–` when nothing is left.
    pub fn action_label(&self, t: &Transition, lang: &str) -> String {
        let parts: Vec<&str> = t
            .actions
            .iter()
            .map(|a| &self.actions[a.0])
            .filter(|a| !a.internal)
            .map(|a| a.text.get(lang))
            .collect();
        if parts.is_empty() {
            "–".to_owned()
        } else {
            parts.join(", ")
        }
    }

    /// The label drawn beside a transition: its `label` override, else
    /// "condition / action".
    pub fn transition_label(&self, t: &Transition, lang: &str) -> String {
        match &t.label {
            Some(l) if !l.en.is_empty() => l.get(lang).to_owned(),
            Some(l) if lang != "en" && l.translated(lang).is_some() => l.get(lang).to_owned(),
            _ => format!(
                "{} / {}",
                self.condition_label(t, lang),
                self.action_label(t, lang)
            ),
        }
    }

    /// How the sources of a transition read in a list: `any state`, the
    /// group's name, or the state names joined by commas.
    pub fn sources_label(&self, t: &Transition) -> String {
        match &t.source_form {
            SourceForm::Any => "any state".to_owned(),
            SourceForm::Group(g) => g.clone(),
            SourceForm::States => t
                .sources
                .iter()
                .map(|s| self.states[s.0].name.text.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}

/// Resolves names. Returns the model when every name is known, else the
/// diagnostics; warnings never stop resolution.
pub fn resolve(tree: &SyntaxTree, source: &str) -> (Option<Model>, Vec<Diagnostic>) {
    let mut r = Resolver {
        lines: LineIndex::new(source),
        diags: Vec::new(),
    };
    let model = r.run(tree);
    let ok = !r.diags.iter().any(Diagnostic::is_error);
    (ok.then_some(model), r.diags)
}

struct Resolver {
    lines: LineIndex,
    diags: Vec<Diagnostic>,
}

/// Names of one kind, for lookup and "did you mean".
struct Namespace {
    kind: &'static str,
    index: HashMap<String, usize>,
    spans: Vec<Span>,
}

impl Namespace {
    fn new(kind: &'static str) -> Self {
        Namespace {
            kind,
            index: HashMap::new(),
            spans: Vec::new(),
        }
    }

    fn names(&self) -> impl Iterator<Item = &str> {
        self.index.keys().map(String::as_str)
    }
}

impl Resolver {
    fn run(&mut self, tree: &SyntaxTree) -> Model {
        let mut model = Model {
            name: tree.machine.clone(),
            title: tree.title.clone(),
            states: Vec::new(),
            events: Vec::new(),
            guards: Vec::new(),
            actions: Vec::new(),
            messages: Vec::new(),
            paths: Vec::new(),
            groups: Vec::new(),
            transitions: Vec::new(),
        };
        // States and groups share a namespace: both can start a transition.
        let mut states = Namespace::new("state");
        let mut events = Namespace::new("event");
        let mut guards = Namespace::new("guard");
        let mut actions = Namespace::new("action");
        let mut messages = Namespace::new("message");
        let mut paths = Namespace::new("path");
        let mut groups: HashMap<String, usize> = HashMap::new();

        // First pass: declarations, so that order in the file does not matter.
        for d in &tree.decls {
            match d {
                Decl::State {
                    name,
                    initial,
                    text,
                    ..
                } => {
                    if self.declare(&mut states, name, &groups) {
                        model.states.push(State {
                            name: name.clone(),
                            text: text.clone(),
                            initial: initial.is_some(),
                            steps: Vec::new(),
                        });
                    }
                }
                Decl::Event {
                    name, kind, text, ..
                } => {
                    if self.declare(&mut events, name, &HashMap::new()) {
                        model.events.push(Event {
                            name: name.clone(),
                            kind: *kind,
                            on: Vec::new(),
                            text: text.clone(),
                        });
                    }
                }
                Decl::Guard { name, text } => {
                    if self.declare(&mut guards, name, &HashMap::new()) {
                        model.guards.push(Guard {
                            name: name.clone(),
                            text: text.clone(),
                        });
                    }
                }
                Decl::Action {
                    name,
                    internal,
                    text,
                    ..
                } => {
                    if self.declare(&mut actions, name, &HashMap::new()) {
                        model.actions.push(Action {
                            name: name.clone(),
                            internal: *internal,
                            sends: None,
                            text: text.clone(),
                        });
                    }
                }
                Decl::Message { name, text } => {
                    if self.declare(&mut messages, name, &HashMap::new()) {
                        model.messages.push(Message {
                            name: name.clone(),
                            text: text.clone(),
                        });
                    }
                }
                Decl::Path {
                    name,
                    style,
                    marker,
                    text,
                } => {
                    if self.declare(&mut paths, name, &HashMap::new()) {
                        model.paths.push(Path {
                            name: name.clone(),
                            style: *style,
                            marker: *marker,
                            text: text.clone(),
                        });
                    }
                }
                Decl::Group { name, .. } => {
                    if let Some(&i) = states.index.get(&name.text) {
                        self.duplicate(name, "group", "a state", &states.spans[i]);
                    } else if let Some(&g) = groups.get(&name.text) {
                        let first: &Span = &model.groups[g].name.span;
                        self.duplicate(name, "group", "a group", &first.clone());
                    } else {
                        groups.insert(name.text.clone(), model.groups.len());
                        model.groups.push(Group {
                            name: name.clone(),
                            members: Vec::new(),
                        });
                    }
                }
                Decl::Transition(_) => {}
            }
        }

        // Second pass: everything that refers to a name.
        let mut group_index = 0;
        for d in &tree.decls {
            match d {
                Decl::State { name, steps, .. } => {
                    if let Some(&i) = states.index.get(&name.text) {
                        // A duplicate declaration's steps are not attached.
                        if states.spans[i] == name.span {
                            let resolved = self.steps(steps, &paths);
                            model.states[i].steps = resolved;
                        }
                    }
                }
                Decl::Group { name, members }
                    if groups.get(&name.text) == Some(&group_index)
                        && model.groups[group_index].name.span == name.span =>
                {
                    let mut ids = Vec::new();
                    for m in members {
                        if let Some(s) = self.lookup(&states, m) {
                            if ids.contains(&StateId(s)) {
                                self.diags.push(
                                    Diagnostic::error(format!(
                                        "state `{}` is listed twice in group `{}`",
                                        m.text, name.text
                                    ))
                                    .with_primary(m.span.clone(), "listed again here"),
                                );
                            } else {
                                ids.push(StateId(s));
                            }
                        }
                    }
                    model.groups[group_index].members = ids;
                    group_index += 1;
                }
                Decl::Event { name, kind, on, .. }
                    if events.spans.get(events.index[&name.text]) == Some(&name.span) =>
                {
                    let i = events.index[&name.text];
                    if !on.is_empty() && *kind != EventKind::Segment {
                        self.diags.push(
                            Diagnostic::error(format!(
                                "event `{}` is a {} event: only segment events are raised by messages",
                                name.text,
                                kind.keyword()
                            ))
                            .with_primary(on[0].span.clone(), "a message here")
                            .with_note("help: declare it `segment`, or leave out `on …`"),
                        );
                    }
                    let mut ids = Vec::new();
                    for m in on {
                        if let Some(id) = self.lookup(&messages, m) {
                            if ids.contains(&MessageId(id)) {
                                self.diags.push(
                                    Diagnostic::error(format!(
                                        "message `{}` is listed twice for event `{}`",
                                        m.text, name.text
                                    ))
                                    .with_primary(m.span.clone(), "listed again here"),
                                );
                            } else {
                                ids.push(MessageId(id));
                            }
                        }
                    }
                    model.events[i].on = ids;
                }
                Decl::Action {
                    name,
                    sends: Some(m),
                    ..
                } if actions.spans.get(actions.index[&name.text]) == Some(&name.span) => {
                    let i = actions.index[&name.text];
                    model.actions[i].sends = self.lookup(&messages, m).map(MessageId);
                }
                Decl::Transition(t) => {
                    if let Some(tr) = self.transition(
                        t, &model, &states, &groups, &events, &guards, &actions, &paths,
                    ) {
                        model.transitions.push(tr);
                    }
                }
                _ => {}
            }
        }
        model
    }

    /// Records a declaration; reports a duplicate and answers false.
    fn declare(
        &mut self,
        ns: &mut Namespace,
        name: &Name,
        groups: &HashMap<String, usize>,
    ) -> bool {
        if let Some(&i) = ns.index.get(&name.text) {
            let first = ns.spans[i].clone();
            self.duplicate(name, ns.kind, &format!("a {}", ns.kind), &first);
            return false;
        }
        if groups.contains_key(&name.text) {
            self.diags.push(
                Diagnostic::error(format!(
                    "{} `{}` has the name of a group",
                    ns.kind, name.text
                ))
                .with_primary(name.span.clone(), "a group is already called this"),
            );
            return false;
        }
        ns.index.insert(name.text.clone(), ns.spans.len());
        ns.spans.push(name.span.clone());
        true
    }

    fn duplicate(&mut self, name: &Name, kind: &str, previous: &str, first: &Span) {
        let first_line = self.lines.line(first.start);
        self.diags.push(
            Diagnostic::error(format!(
                "duplicate {kind} `{}`: {previous} of that name is declared on line {first_line}",
                name.text
            ))
            .with_primary(name.span.clone(), "declared again here")
            .with_secondary(first.clone(), "first declared here"),
        );
    }

    /// Looks a name up, reporting it (with a suggestion) when unknown.
    fn lookup(&mut self, ns: &Namespace, name: &Name) -> Option<usize> {
        if let Some(&i) = ns.index.get(&name.text) {
            return Some(i);
        }
        self.unknown(ns.kind, name, ns.names());
        None
    }

    fn unknown<'n>(&mut self, kind: &str, name: &Name, known: impl Iterator<Item = &'n str>) {
        let mut d = Diagnostic::error(format!("unknown {kind} `{}`", name.text)).with_primary(
            name.span.clone(),
            format!("no {kind} is declared with this name"),
        );
        if let Some(best) = closest(&name.text, known) {
            d = d.with_note(format!("help: did you mean `{best}`?"));
        }
        self.diags.push(d);
    }

    fn steps(&mut self, steps: &[PathStepSyntax], paths: &Namespace) -> Vec<PathStep> {
        steps
            .iter()
            .filter_map(|s| {
                let p = self.lookup(paths, &s.path)?;
                Some(PathStep {
                    path: PathId(p),
                    step: s.step,
                    span: s.path.span.start..s.step_span.end,
                })
            })
            .collect()
    }

    #[allow(clippy::too_many_arguments)]
    fn transition(
        &mut self,
        t: &TransitionSyntax,
        model: &Model,
        states: &Namespace,
        groups: &HashMap<String, usize>,
        events: &Namespace,
        guards: &Namespace,
        actions: &Namespace,
        paths: &Namespace,
    ) -> Option<Transition> {
        let errors_before = self.diags.iter().filter(|d| d.is_error()).count();
        let mut named_groups = Vec::new();
        let (sources, source_form) = match &t.sources {
            SourcesSyntax::Any(_) => (
                (0..model.states.len()).map(StateId).collect(),
                SourceForm::Any,
            ),
            SourcesSyntax::Names(names) => {
                let mut ids: Vec<StateId> = Vec::new();
                let mut form = SourceForm::States;
                for n in names {
                    let members: Vec<StateId> = if let Some(&g) = groups.get(&n.text) {
                        named_groups.push(g);
                        if names.len() == 1 {
                            form = SourceForm::Group(n.text.clone());
                        }
                        model.groups[g].members.clone()
                    } else if let Some(&s) = states.index.get(&n.text) {
                        vec![StateId(s)]
                    } else {
                        let known = states.names().chain(groups.keys().map(String::as_str));
                        self.unknown("state", n, known);
                        continue;
                    };
                    for m in members {
                        if ids.contains(&m) {
                            self.diags.push(
                                Diagnostic::error(format!(
                                    "state `{}` is a source of this transition twice",
                                    model.states[m.0].name.text
                                ))
                                .with_primary(n.span.clone(), "listed again here"),
                            );
                        } else {
                            ids.push(m);
                        }
                    }
                }
                (ids, form)
            }
        };
        let target = match &t.target {
            None => Some(Target::Same),
            Some(n) => self.lookup(states, n).map(|s| Target::State(StateId(s))),
        };
        let event = self.lookup(events, &t.event).map(EventId);
        let guard = t.guard.as_ref().map(|(g, _)| {
            g.map(&mut |n: &Name| GuardId(self.lookup(guards, n).unwrap_or(usize::MAX)))
        });
        let acts: Vec<ActionId> = t
            .actions
            .iter()
            .filter_map(|a| self.lookup(actions, a).map(ActionId))
            .collect();
        let steps = self.steps(&t.steps, paths);
        let errors_after = self.diags.iter().filter(|d| d.is_error()).count();
        if errors_after > errors_before {
            return None;
        }
        Some(Transition {
            span: t.span.clone(),
            line: self.lines.line(t.span.start),
            sources,
            source_form,
            named_groups,
            target: target?,
            event: event?,
            guard,
            actions: acts,
            steps,
            rfc: t.rfc.clone(),
            label: t.label.clone(),
        })
    }
}

/// The known name nearest to `name`, if it is near enough to be a typo.
fn closest<'n>(name: &str, known: impl Iterator<Item = &'n str>) -> Option<&'n str> {
    let limit = (name.chars().count() / 3).max(1);
    known
        .map(|k| (edit_distance(&name.to_lowercase(), &k.to_lowercase()), k))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, k)| k)
}

/// Edit distance over characters, counting a swap of two neighbours as one
/// edit (optimal string alignment).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // d[i][j]: distance between a[..i] and b[..j].
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("SYN_SENT", "SYN_SENT"), 0);
        assert_eq!(edit_distance("SYN_SNET", "SYN_SENT"), 1);
        assert_eq!(edit_distance("SHTU", "SHUT"), 1);
        assert_eq!(edit_distance("LISTN", "LISTEN"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn closest_suggests_only_near_names() {
        let known = ["SYN_SENT", "SYN_RCVD", "LISTEN"];
        assert_eq!(closest("SYN_SNET", known.iter().copied()), Some("SYN_SENT"));
        assert_eq!(closest("ESTABLISHED", known.iter().copied()), None);
    }
}

//! Checks on a resolved model: one initial state, every state reachable and
//! able to get back to the initial one, every state but the initial one
//! left on some call or timer (not only on segments the peer may never
//! send), at most one transition per (state, event) for any guard values,
//! typical paths that walk the graph, and declarations (messages too) that
//! something uses.

use std::collections::BTreeMap;

use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::{Bfs, Reversed};

use crate::diagnostic::{Diagnostic, line_of};
use crate::guard::{GuardExpr, can_overlap};
use crate::model::{GuardId, MessageId, Model, PathId, StateId, TransitionId};
use crate::syntax::EventKind;

/// The model as a petgraph graph: one node per state (node index = state
/// index), one edge per (transition, source) pair, weighted by transition.
pub fn graph(model: &Model) -> DiGraph<StateId, TransitionId> {
    let mut g = DiGraph::with_capacity(model.states.len(), model.transitions.len());
    for i in 0..model.states.len() {
        g.add_node(StateId(i));
    }
    for e in model.edges() {
        g.add_edge(
            NodeIndex::new(e.from.0),
            NodeIndex::new(e.to.0),
            e.transition,
        );
    }
    g
}

/// Runs every check. Errors first would hide warnings, so the result is in
/// source order.
pub fn check(model: &Model, source: &str) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    let initial_ok = check_initial(model, &mut diags);
    if initial_ok {
        let stuck = check_reachability(model, &mut diags);
        check_exits(model, &stuck, &mut diags);
    }
    check_determinism(model, &mut diags);
    check_paths(model, source, &mut diags);
    check_unused(model, &mut diags);
    check_messages(model, &mut diags);
    diags.sort_by_key(Diagnostic::offset);
    diags
}

fn check_initial(model: &Model, diags: &mut Vec<Diagnostic>) -> bool {
    let initials: Vec<&crate::model::State> = model.states.iter().filter(|s| s.initial).collect();
    match initials.as_slice() {
        [_] => true,
        [] => {
            diags.push(
                Diagnostic::error(format!(
                    "machine `{}` has no initial state",
                    model.name.text
                ))
                .with_primary(model.name.span.clone(), "declared here")
                .with_note("help: mark one state `initial`: `state CLOSED initial \"…\"`"),
            );
            false
        }
        [first, rest @ ..] => {
            for s in rest {
                diags.push(
                    Diagnostic::error(format!(
                        "more than one initial state: `{}` and `{}`",
                        first.name.text, s.name.text
                    ))
                    .with_primary(s.name.span.clone(), "second initial state")
                    .with_secondary(first.name.span.clone(), "first initial state"),
                );
            }
            false
        }
    }
}

/// Reports states the initial one cannot reach and states that cannot get
/// back to it; answers, per state, whether it was reported.
fn check_reachability(model: &Model, diags: &mut Vec<Diagnostic>) -> Vec<bool> {
    let g = graph(model);
    let start = NodeIndex::new(model.initial().0);
    let initial_name = &model.states[start.index()].name.text;

    let mut forward = vec![false; model.states.len()];
    let mut bfs = Bfs::new(&g, start);
    while let Some(n) = bfs.next(&g) {
        forward[n.index()] = true;
    }
    let reversed = Reversed(&g);
    let mut back = vec![false; model.states.len()];
    let mut bfs = Bfs::new(reversed, start);
    while let Some(n) = bfs.next(reversed) {
        back[n.index()] = true;
    }

    for (i, s) in model.states.iter().enumerate() {
        if !forward[i] {
            let incoming = g
                .neighbors_directed(NodeIndex::new(i), Direction::Incoming)
                .count();
            let why = if incoming == 0 {
                "no transition leads here"
            } else {
                "only unreachable states lead here"
            };
            diags.push(
                Diagnostic::error(format!(
                    "state `{}` is unreachable from the initial state `{initial_name}`",
                    s.name.text
                ))
                .with_primary(s.name.span.clone(), why),
            );
        } else if !back[i] {
            diags.push(
                Diagnostic::error(format!(
                    "state `{}` can never get back to the initial state `{initial_name}`",
                    s.name.text
                ))
                .with_primary(
                    s.name.span.clone(),
                    "a machine that enters this state is stuck for good",
                )
                .with_note(
                    "help: add a transition out of it (a timeout, an abort) that leads back",
                ),
            );
        }
    }
    forward.iter().zip(&back).map(|(f, b)| !f || !b).collect()
}

/// Warns about states, other than the initial one, that are left only on
/// segment events: whether such a state is ever left is up to the peer.
/// States `reported` by the reachability check (among them those with no
/// way out at all) are not reported again.
fn check_exits(model: &Model, reported: &[bool], diags: &mut Vec<Diagnostic>) {
    let initial = model.initial();
    let mut way_in = vec![false; model.states.len()];
    let mut way_out = vec![false; model.states.len()];
    for e in model.edges().filter(|e| e.from != e.to) {
        way_in[e.to.0] = true;
        let event = &model.events[model.transitions[e.transition.0].event.0];
        if matches!(event.kind, EventKind::Call | EventKind::Timer) {
            way_out[e.from.0] = true;
        }
    }
    // An event for the suggestion: a timer, else a call, the spec declares.
    let suggested = model
        .events
        .iter()
        .find(|e| e.kind == EventKind::Timer)
        .or_else(|| model.events.iter().find(|e| e.kind == EventKind::Call))
        .map_or("EVENT", |e| e.name.text.as_str());
    let initial_name = &model.states[initial.0].name.text;
    for (i, s) in model.states.iter().enumerate() {
        if StateId(i) == initial || reported[i] || !way_in[i] || way_out[i] {
            continue;
        }
        let name = &s.name.text;
        diags.push(
            Diagnostic::warning(format!(
                "state `{name}` can be left only on segment events: no call or timer leads \
                 out of it, so a connection can stay in it forever"
            ))
            .with_primary(s.name.span.clone(), "only segments lead out of this state")
            .with_note(format!(
                "help: add a transition out of it on a timer or a call, like \
                 `{name} -> {initial_name} on {suggested} / ...`"
            )),
        );
    }
}

fn check_determinism(model: &Model, diags: &mut Vec<Diagnostic>) {
    // (state, event) -> transitions, in declaration order.
    let mut cells: BTreeMap<(StateId, usize), Vec<TransitionId>> = BTreeMap::new();
    for e in model.edges() {
        let ev = model.transitions[e.transition.0].event.0;
        cells.entry((e.from, ev)).or_default().push(e.transition);
    }
    // Report each conflicting pair of declarations once, at the later one.
    let mut reported: Vec<(TransitionId, TransitionId)> = Vec::new();
    for ((state, event), ts) in &cells {
        for (i, &a) in ts.iter().enumerate() {
            for &b in &ts[i + 1..] {
                if reported.contains(&(a, b)) {
                    continue;
                }
                let ta = &model.transitions[a.0];
                let tb = &model.transitions[b.0];
                let state_name = &model.states[state.0].name.text;
                let event_name = &model.events[*event].name.text;
                let (la, lb) = (ta.line, tb.line);
                let same_guard = ta.guard == tb.guard;
                let same_target = ta.target_from(*state) == tb.target_from(*state);
                match can_overlap(ta.guard.as_ref(), tb.guard.as_ref()) {
                    Some(false) => continue,
                    Some(true) if same_guard && same_target && ta.actions == tb.actions => {
                        reported.push((a, b));
                        diags.push(
                            Diagnostic::error(format!(
                                "duplicate transition: line {lb} repeats line {la} \
                                 (`{state_name}` on `{event_name}`)"
                            ))
                            .with_primary(tb.span.clone(), format!("line {lb}: the repetition"))
                            .with_secondary(
                                ta.span.clone(),
                                format!("line {la}: first written here"),
                            ),
                        );
                    }
                    Some(true) => {
                        reported.push((a, b));
                        let why = match (&ta.guard, &tb.guard) {
                            (None, None) => "neither has a guard".to_owned(),
                            (None, Some(_)) | (Some(_), None) => {
                                "one of them has no guard, so it always fires".to_owned()
                            }
                            (Some(ga), Some(gb)) => format!(
                                "`{}` and `{}` can both hold",
                                guard_text(model, ga),
                                guard_text(model, gb)
                            ),
                        };
                        diags.push(
                            Diagnostic::error(format!(
                                "transitions on lines {la} and {lb} both fire on `{event_name}` \
                                 in `{state_name}`: {why}"
                            ))
                            .with_primary(tb.span.clone(), format!("line {lb}"))
                            .with_secondary(ta.span.clone(), format!("line {la}"))
                            .with_note("help: give them guards that exclude each other, like `[p]` and `[!p]`"),
                        );
                    }
                    None => {
                        reported.push((a, b));
                        diags.push(
                            Diagnostic::warning(format!(
                                "cannot prove the guards on lines {la} and {lb} exclusive: \
                                 they use more than {} guards",
                                crate::guard::MAX_EXCLUSIVITY_VARS
                            ))
                            .with_primary(tb.span.clone(), format!("line {lb}"))
                            .with_secondary(ta.span.clone(), format!("line {la}")),
                        );
                    }
                }
            }
        }
    }
}

fn guard_text(model: &Model, g: &GuardExpr<GuardId>) -> String {
    let mut s = String::new();
    g.write(&mut s, &|id: &GuardId| model.guards[id.0].name.text.clone());
    s
}

/// Each typical path must number its steps 1, 2, 3 … once each, and each
/// step must start where the previous one ended.
fn check_paths(model: &Model, source: &str, diags: &mut Vec<Diagnostic>) {
    enum At {
        State(StateId),
        Transition(TransitionId),
    }
    for (p, path) in model.paths.iter().enumerate() {
        let mut steps: BTreeMap<u32, (At, std::ops::Range<usize>)> = BTreeMap::new();
        let mut push =
            |step: u32, at: At, span: std::ops::Range<usize>, diags: &mut Vec<Diagnostic>| {
                if let Some((_, first)) = steps.get(&step) {
                    diags.push(
                        Diagnostic::error(format!(
                            "step {step} of path `{}` is given twice (first on line {})",
                            path.name.text,
                            line_of(source, first.start)
                        ))
                        .with_primary(span, "given again here")
                        .with_secondary(first.clone(), "first given here"),
                    );
                } else {
                    steps.insert(step, (at, span));
                }
            };
        for (i, s) in model.states.iter().enumerate() {
            for st in s.steps.iter().filter(|st| st.path == PathId(p)) {
                push(st.step, At::State(StateId(i)), st.span.clone(), diags);
            }
        }
        for (i, t) in model.transitions.iter().enumerate() {
            for st in t.steps.iter().filter(|st| st.path == PathId(p)) {
                if t.sources.len() != 1 {
                    diags.push(
                        Diagnostic::error(format!(
                            "a step of path `{}` must be a transition from one state",
                            path.name.text
                        ))
                        .with_primary(st.span.clone(), "this transition has several sources"),
                    );
                    continue;
                }
                push(
                    st.step,
                    At::Transition(TransitionId(i)),
                    st.span.clone(),
                    diags,
                );
            }
        }
        let mut at: Option<StateId> = None;
        for (expected, (&n, (step, span))) in (1..).zip(&steps) {
            if n != expected {
                diags.push(
                    Diagnostic::error(format!(
                        "path `{}` has no step {expected} before step {n}",
                        path.name.text
                    ))
                    .with_primary(span.clone(), format!("step {n}"))
                    .with_note("help: number a path's steps 1, 2, 3 … without gaps"),
                );
                break;
            }
            let (from, to) = match step {
                At::State(s) => (*s, *s),
                At::Transition(t) => {
                    let tr = &model.transitions[t.0];
                    let from = tr.sources[0];
                    (from, tr.target_from(from))
                }
            };
            if let Some(prev) = at.filter(|prev| *prev != from) {
                diags.push(
                    Diagnostic::error(format!(
                        "step {n} of path `{}` starts in `{}`, but step {} ended in `{}`",
                        path.name.text,
                        model.states[from.0].name.text,
                        n - 1,
                        model.states[prev.0].name.text
                    ))
                    .with_primary(span.clone(), format!("step {n}")),
                );
            }
            at = Some(to);
        }
    }
}

/// Events, actions, guards and paths that no transition or state uses.
/// Groups are left alone: besides transition sources, they name sets of
/// states that a runtime reads through its vocabulary, which a spec checked
/// alone cannot see.
fn check_unused(model: &Model, diags: &mut Vec<Diagnostic>) {
    let mut events = vec![false; model.events.len()];
    let mut actions = vec![false; model.actions.len()];
    let mut guards = vec![false; model.guards.len()];
    let mut paths = vec![false; model.paths.len()];
    for t in &model.transitions {
        events[t.event.0] = true;
        for a in &t.actions {
            actions[a.0] = true;
        }
        if let Some(g) = &t.guard {
            for v in g.vars() {
                guards[v.0] = true;
            }
        }
        for s in &t.steps {
            paths[s.path.0] = true;
        }
    }
    for s in &model.states {
        for st in &s.steps {
            paths[st.path.0] = true;
        }
    }
    let unused = |kind: &str, name: &crate::syntax::Name| {
        Diagnostic::warning(format!("{kind} `{}` is declared but never used", name.text))
            .with_primary(name.span.clone(), "no transition uses it")
    };
    for (i, used) in events.iter().enumerate() {
        if !used {
            diags.push(unused("event", &model.events[i].name));
        }
    }
    for (i, used) in actions.iter().enumerate() {
        if !used {
            diags.push(unused("action", &model.actions[i].name));
        }
    }
    for (i, used) in guards.iter().enumerate() {
        if !used {
            diags.push(unused("guard", &model.guards[i].name));
        }
    }
    for (i, used) in paths.iter().enumerate() {
        if !used {
            diags.push(unused("path", &model.paths[i].name));
        }
    }
}

/// Messages no action sends and no event is raised by. One sent but
/// never received, or the other way round, is not reported here: the
/// peer may be another machine (a client's and a server's), which a spec
/// checked alone cannot see; `fsm explore` holds the two against each
/// other.
fn check_messages(model: &Model, diags: &mut Vec<Diagnostic>) {
    for (i, m) in model.messages.iter().enumerate() {
        let id = MessageId(i);
        let sent = model.actions.iter().any(|a| a.sends == Some(id));
        let received = model.events.iter().any(|e| e.on.contains(&id));
        if !sent && !received {
            diags.push(
                Diagnostic::warning(format!(
                    "message `{}` is declared but never used",
                    m.name.text
                ))
                .with_primary(m.name.span.clone(), "no action sends it, no event is raised by it")
                .with_note(format!(
                    "help: `action NAME sends {0} \"…\"` puts it on the wire; `event NAME segment on {0} \"…\"` is raised where it arrives",
                    m.name.text
                )),
            );
        }
    }
}

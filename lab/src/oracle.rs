//! The oracle: holds what the runtime recorded (every event raised, with
//! its guard values and outcome) against the spec it was bound to, read
//! afresh from the spec file by the generator library, independently of
//! the generated dispatch table.
//!
//! For every event: the transition that fired is the spec's first one for
//! (state, event) whose guard holds under the recorded guard values, the
//! state reached is its target and the actions carried out are its
//! actions in order; when the spec has none, the event was refused and
//! nothing happened. Per connection, each event starts in the state the
//! previous one left.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddrV4;

use fsm_codegen::Model;
use fsm_codegen::syntax::EventKind;
use fsm_runtime::trace::StepRecord;
use fsm_runtime::vocab::{Word, Words};

/// What the spec says an event does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expected {
    /// The state it leads to.
    pub to: String,
    /// Its actions, in order.
    pub actions: Vec<String>,
    /// The declaring line.
    pub line: u32,
    /// Its guard, if any.
    pub guarded: bool,
}

/// A spec read from its file.
pub struct Oracle {
    /// The spec's model.
    pub model: Model,
    /// Where it came from.
    pub name: String,
}

impl Oracle {
    /// Reads and checks a spec of this workspace (a path relative to its
    /// root, `tcp.fsm`), for tests; panics when it is missing or rejected.
    pub fn in_workspace(path: &str) -> Oracle {
        let full = format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"));
        let source = std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"));
        Oracle::from_source(path, &source)
    }

    /// Checks a spec given as text; panics when it is rejected.
    pub fn from_source(name: &str, source: &str) -> Oracle {
        let spec = match fsm_codegen::compile(name, source) {
            Ok(spec) => spec,
            Err(rejected) => panic!("{name} is rejected:\n{}", rejected.render()),
        };
        Oracle::from_spec(&spec)
    }

    /// The oracle of a spec the generator accepted (read afresh from its
    /// model, not from any dispatch table).
    pub fn from_spec(spec: &fsm_codegen::Spec) -> Oracle {
        Oracle {
            model: spec.model.clone(),
            name: spec.file_name.clone(),
        }
    }

    /// The index of the state called `name`, in declaration order.
    pub fn state(&self, name: &str) -> Option<usize> {
        self.model.states.iter().position(|s| s.name.text == name)
    }

    /// The initial state's name.
    pub fn initial(&self) -> &str {
        &self.model.states[self.model.initial().index()].name.text
    }

    /// Whether `state` is in `group`.
    pub fn in_group(&self, group: &str, state: &str) -> bool {
        let Some(s) = self.state(state) else {
            return false;
        };
        self.model
            .groups
            .iter()
            .any(|g| g.name.text == group && g.members.iter().any(|m| m.index() == s))
    }

    /// Whether `event` is a timer event of the spec.
    pub fn is_timer(&self, event: &str) -> bool {
        self.model
            .events
            .iter()
            .any(|e| e.name.text == event && e.kind == EventKind::Timer)
    }

    /// What the spec does with `event` in `state` when `guard` gives each
    /// guard's value; `None` when it has no transition.
    pub fn expect(
        &self,
        state: &str,
        event: &str,
        guard: &dyn Fn(&str) -> bool,
    ) -> Option<Expected> {
        let s = self.state(state)?;
        let m = &self.model;
        m.transitions
            .iter()
            .filter(|t| {
                m.events[t.event.index()].name.text == event
                    && t.sources.iter().any(|x| x.index() == s)
            })
            .find(|t| {
                t.guard.as_ref().is_none_or(|g| {
                    g.eval(&mut |id: &fsm_codegen::model::GuardId| {
                        guard(&m.guards[id.index()].name.text)
                    })
                })
            })
            .map(|t| Expected {
                to: m.states[t.target_from(fsm_codegen::model::StateId(s)).index()]
                    .name
                    .text
                    .clone(),
                actions: t
                    .actions
                    .iter()
                    .map(|a| m.actions[a.index()].name.text.clone())
                    .collect(),
                line: t.line as u32,
                guarded: t.guard.is_some(),
            })
    }

    /// Holds one record against the spec: of the connection machine, or
    /// of the congestion machine (`W` is the record's vocabulary).
    pub fn check_step<W: Words>(&self, r: &StepRecord<W>) -> Result<(), String> {
        let guard = |name: &str| W::Guard::named(name).is_some_and(|g| r.guard(g));
        let expected = self.expect(r.from, r.event.name(), &guard);
        let actions: Vec<String> = r.actions.iter().map(|a| a.name().to_owned()).collect();
        match (&expected, &r.transition) {
            (None, None) if r.to == r.from && actions.is_empty() => Ok(()),
            (None, None) => Err(format!("refused, yet the state or actions changed: {r}")),
            (None, Some(_)) => Err(format!("the spec has no such transition: {r}")),
            (Some(e), None) => Err(format!(
                "refused, but the spec says line {} -> {}: {r}",
                e.line, e.to
            )),
            (Some(e), Some(t)) => {
                if e.to != r.to || e.actions != actions || e.line != t.line {
                    Err(format!(
                        "the spec says line {}: -> {} / {}; the runtime did: {r}",
                        e.line,
                        e.to,
                        e.actions.join(", ")
                    ))
                } else {
                    Ok(())
                }
            }
        }
    }
}

/// Holds a stream of records against the spec, connection by connection.
pub struct Checker<'a> {
    oracle: &'a Oracle,
    /// The state each connection was last left in.
    last: HashMap<(SocketAddrV4, Option<SocketAddrV4>), &'static str>,
    /// Events checked.
    pub events: u64,
    /// Events the spec refused.
    pub refused: u64,
    /// Which (transition line, source state) pairs fired.
    pub pairs: HashMap<(u32, String), u64>,
    /// Transitions that fired, as (from, event, to).
    pub fired: HashSet<(String, String, String)>,
    /// (state, event) the spec refused.
    pub refused_events: HashSet<(String, String)>,
}

impl<'a> Checker<'a> {
    /// A checker with nothing seen.
    pub fn new(oracle: &'a Oracle) -> Self {
        Checker {
            oracle,
            last: HashMap::new(),
            events: 0,
            refused: 0,
            pairs: HashMap::new(),
            fired: HashSet::new(),
            refused_events: HashSet::new(),
        }
    }

    /// Holds one more record against the spec.
    pub fn check<W: Words>(&mut self, r: &StepRecord<W>) -> Result<(), String> {
        self.oracle.check_step(r)?;
        self.events += 1;
        let event = r.event.name().to_owned();
        match &r.transition {
            None => {
                self.refused += 1;
                self.refused_events.insert((r.from.to_owned(), event));
            }
            Some(t) => {
                *self.pairs.entry((t.line, r.from.to_owned())).or_default() += 1;
                self.fired
                    .insert((r.from.to_owned(), event, r.to.to_owned()));
            }
        }
        // A connection starts in the initial state, or as a copy of a
        // listening one (same local address, no peer) in its state.
        let key = (r.local, r.remote);
        let continues = match self.last.get(&key) {
            Some(&prev) => prev == r.from,
            None => false,
        };
        let fresh = r.from == self.oracle.initial()
            || self
                .last
                .get(&(r.local, None))
                .is_some_and(|&listening| listening == r.from);
        if !continues && !fresh {
            return Err(format!(
                "{:?} -> {:?}: this event found {} but the connection was left in {:?}: {r}",
                r.local,
                r.remote,
                r.from,
                self.last.get(&key)
            ));
        }
        self.last.insert(key, r.to);
        Ok(())
    }

    /// Holds every record against the spec, failing at the first wrong one.
    pub fn check_all<'r, W: Words>(
        &mut self,
        records: impl IntoIterator<Item = &'r StepRecord<W>>,
    ) -> Result<(), String> {
        for r in records {
            self.check(r)?;
        }
        Ok(())
    }
}

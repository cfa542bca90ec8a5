//! Machines read from a spec file at run time: a spec runs with no Rust
//! written.
//!
//! [`Loaded::load`] parses and checks a spec with the one generator library
//! (`fsm-codegen`, the same diagnostics as `fsm check`), checks it against
//! this runtime's [vocabulary](crate::vocab) (the same messages as
//! [`machine!`](crate::machine)), and builds the spec's dispatch table: the
//! table the generated `step` is written from, scanned the same way (the
//! first candidate of the (state, event) cell, in declaration order, whose
//! guard holds). A [`Loaded`] machine is a [`Machine`] like a compiled-in
//! one; `tests/loaded.rs` holds the two against each other on every
//! (state, event, guard values) input of every spec in `examples/specs/`.
//!
//! ```
//! use fsm_runtime::loaded::Loaded;
//! use fsm_runtime::vocab::{Event, Machine};
//!
//! let tcp = Loaded::load(concat!(env!("CARGO_MANIFEST_DIR"), "/../tcp.fsm"))?;
//! let fired = tcp.step(tcp.initial(), Event::ActiveOpen, &|_| false).unwrap();
//! assert_eq!(fired.to.to_string(), "SYN_SENT");
//! // An endpoint driven by it: Endpoint::bind_spec(tcp, addr, options).
//! # Ok::<(), fsm_codegen::LoadError>(())
//! ```
//!
//! Names, labels and action lists of loaded specs are interned for the
//! life of the process (so that states are `Copy` and traces hold
//! `&'static str` as for a compiled-in machine): loading the same spec
//! again, or a variant of it, adds only what is new.

use std::collections::HashSet;
use std::fmt;
use std::hash::Hash;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use fsm_codegen::model::{EventId, GuardId, StateId};
use fsm_codegen::rust::{DispatchTable, Vocabulary};
use fsm_codegen::{LoadError, Rejected};

use crate::trace::StepMark;
use crate::vocab::{Action, Event, Fired, Group, Guard, Machine, TransitionInfo};

/// A state of a [`Loaded`] machine: its index in the spec and its name.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct LoadedState {
    index: u32,
    name: &'static str,
}

impl LoadedState {
    /// Its index among the spec's states, in declaration order.
    pub fn index(self) -> usize {
        self.index as usize
    }

    /// Its name, as the spec writes it.
    pub fn name(self) -> &'static str {
        self.name
    }
}

impl fmt::Debug for LoadedState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

impl fmt::Display for LoadedState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// A spec loaded at run time and bound to the runtime. Cheap to clone
/// (one reference count).
#[derive(Clone)]
pub struct Loaded(Arc<Inner>);

struct Inner {
    name: &'static str,
    file_name: String,
    spec: fsm_codegen::Spec,
    states: Vec<LoadedState>,
    initial: LoadedState,
    table: DispatchTable,
    /// The spec's event for each vocabulary event, by `Event as usize`.
    events: Vec<Option<EventId>>,
    /// The vocabulary guard for each of the spec's guards.
    guards: Vec<Guard>,
    /// Membership of each state in each vocabulary group.
    groups: Vec<Vec<bool>>,
    /// Per (transition, source state) pair: actions, description, steps.
    actions: Vec<&'static [Action]>,
    transitions: Vec<TransitionInfo>,
    steps: Vec<Vec<StepMark>>,
    state_steps: Vec<Vec<StepMark>>,
}

/// The runtime's vocabulary, as [`machine!`](crate::machine) gives it to
/// the generator.
pub fn vocabulary() -> Vocabulary {
    let names = |words: &[&'static str]| words.to_vec();
    let events: Vec<&str> = Event::ALL.iter().map(|e| e.name()).collect();
    let guards: Vec<&str> = Guard::ALL.iter().map(|g| g.name()).collect();
    let actions: Vec<&str> = Action::ALL.iter().map(|a| a.name()).collect();
    let groups: Vec<&str> = Group::ALL.iter().map(|g| g.name()).collect();
    Vocabulary::new(
        "fsm_runtime::vocab",
        names(&events),
        names(&guards),
        names(&actions),
    )
    .and_then(|v| v.with_groups(groups))
    .unwrap_or_else(|e| unreachable!("the vocabulary's words are identifiers: {e}"))
}

impl Loaded {
    /// Reads, checks and binds the spec at `path`; diagnostics call it by
    /// `path` as given.
    pub fn load(path: impl AsRef<Path>) -> Result<Loaded, LoadError> {
        let spec = fsm_codegen::load(path)?;
        Loaded::from_spec(spec).map_err(LoadError::Rejected)
    }

    /// Checks and binds a spec given as text; `file_name` is what
    /// diagnostics call it.
    pub fn compile(file_name: &str, source: &str) -> Result<Loaded, Rejected> {
        Loaded::from_spec(fsm_codegen::compile(file_name, source)?)
    }

    /// Binds a spec the generator accepted: fails, with `machine!`'s
    /// messages, where it does not fit the vocabulary.
    pub fn from_spec(spec: fsm_codegen::Spec) -> Result<Loaded, Rejected> {
        vocabulary().check(&spec)?;
        let model = &spec.model;
        let table = DispatchTable::build(model);
        let states: Vec<LoadedState> = model
            .states
            .iter()
            .enumerate()
            .map(|(i, s)| LoadedState {
                index: u32::try_from(i).unwrap_or(u32::MAX),
                name: intern(&s.name.text),
            })
            .collect();
        let initial = states[model.initial().index()];
        let events = Event::ALL.iter().map(|e| model.event(e.name())).collect();
        let guards = model
            .guards
            .iter()
            .map(|g| word(Guard::ALL, &g.name.text, Guard::name))
            .collect();
        let groups = model
            .states
            .iter()
            .enumerate()
            .map(|(i, _)| {
                Group::ALL
                    .iter()
                    .map(|g| {
                        model
                            .groups
                            .iter()
                            .find(|d| d.name.text == g.name())
                            .is_some_and(|d| d.members.iter().any(|m| m.index() == i))
                    })
                    .collect()
            })
            .collect();
        let path_names: Vec<&'static str> =
            model.paths.iter().map(|p| intern(&p.name.text)).collect();
        let marks = |steps: &[fsm_codegen::model::PathStep]| -> Vec<StepMark> {
            steps
                .iter()
                .map(|s| StepMark {
                    path: path_names[s.path.index()],
                    step: u8::try_from(s.step).unwrap_or(u8::MAX),
                    circled: model.paths[s.path.index()].marker
                        == fsm_codegen::syntax::Marker::Circled,
                })
                .collect()
        };
        let mut actions = Vec::new();
        let mut transitions = Vec::new();
        let mut steps = Vec::new();
        for (index, e) in model.edges().enumerate() {
            let t = &model.transitions[e.transition.index()];
            let words: Vec<Action> = t
                .actions
                .iter()
                .map(|a| {
                    word(
                        Action::ALL,
                        &model.actions[a.index()].name.text,
                        Action::name,
                    )
                })
                .collect();
            actions.push(intern_actions(&words));
            let guard = t.guard.as_ref().map(|g| {
                let mut s = String::new();
                g.write(&mut s, &|id: &GuardId| {
                    model.guards[id.index()].name.text.clone()
                });
                intern(&s)
            });
            transitions.push(TransitionInfo {
                index: u32::try_from(index).unwrap_or(u32::MAX),
                decl: u32::try_from(e.transition.index()).unwrap_or(u32::MAX),
                line: u32::try_from(t.line).unwrap_or(u32::MAX),
                from: states[e.from.index()].name,
                to: states[e.to.index()].name,
                event: intern(&model.events[t.event.index()].name.text),
                guard,
                label: intern(&model.transition_label(t, "en")),
                rfc: t.rfc.as_deref().map(intern),
            });
            steps.push(marks(&t.steps));
        }
        let state_steps = model.states.iter().map(|s| marks(&s.steps)).collect();
        Ok(Loaded(Arc::new(Inner {
            name: intern(&model.name.text),
            file_name: spec.file_name.clone(),
            states,
            initial,
            table,
            events,
            guards,
            groups,
            actions,
            transitions,
            steps,
            state_steps,
            spec,
        })))
    }

    /// The spec as the generator read it: source, model, warnings.
    pub fn source(&self) -> &fsm_codegen::Spec {
        &self.0.spec
    }

    /// The spec's states, in declaration order.
    pub fn states(&self) -> &[LoadedState] {
        &self.0.states
    }

    /// The state called `name`, if the spec has one.
    pub fn state(&self, name: &str) -> Option<LoadedState> {
        self.0.states.iter().copied().find(|s| s.name == name)
    }
}

impl fmt::Debug for Loaded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Loaded")
            .field("name", &self.0.name)
            .field("spec", &self.0.file_name)
            .field("states", &self.0.states.len())
            .field("pairs", &self.0.transitions.len())
            .finish()
    }
}

impl Machine for Loaded {
    type State = LoadedState;
    type Action = Action;

    fn name(&self) -> &'static str {
        self.0.name
    }

    fn initial(&self) -> LoadedState {
        self.0.initial
    }

    fn declarations(&self) -> usize {
        self.0.spec.model.transitions.len()
    }

    fn pairs(&self) -> usize {
        self.0.transitions.len()
    }

    fn spec(&self) -> &str {
        &self.0.file_name
    }

    fn step(
        &self,
        state: LoadedState,
        event: Event,
        guards: &dyn Fn(Guard) -> bool,
    ) -> Option<Fired<Self>> {
        let inner = &*self.0;
        let event = inner.events[event as usize]?;
        let from = StateId(state.index());
        if inner.states.get(from.index()) != Some(&state) {
            return None;
        }
        let entry = inner
            .table
            .choose(from, event, &mut |g| guards(inner.guards[g.index()]))
            .ok()?;
        Some(Fired {
            to: inner.states[entry.to.index()],
            actions: inner.actions[entry.edge],
            transition: u32::try_from(entry.edge).unwrap_or(u32::MAX),
        })
    }

    fn action(&self, action: Action) -> Action {
        action
    }

    fn transition(&self, index: u32) -> TransitionInfo {
        self.0.transitions[index as usize]
    }

    fn state_name(&self, state: LoadedState) -> &'static str {
        state.name
    }

    fn in_group(&self, state: LoadedState, group: Group) -> bool {
        self.0
            .groups
            .get(state.index())
            .is_some_and(|g| g[group as usize])
    }

    fn transition_steps(&self, index: u32) -> impl Iterator<Item = StepMark> + '_ {
        self.0.steps[index as usize].iter().cloned()
    }

    fn state_steps(&self, state: LoadedState) -> impl Iterator<Item = StepMark> + '_ {
        self.0
            .state_steps
            .get(state.index())
            .into_iter()
            .flatten()
            .cloned()
    }
}

/// The vocabulary word called `name`; the vocabulary check made sure
/// there is one.
fn word<W: Copy>(all: &[W], name: &str, word_name: fn(W) -> &'static str) -> W {
    all.iter()
        .copied()
        .find(|&w| word_name(w) == name)
        .unwrap_or_else(|| unreachable!("`{name}` passed the vocabulary check"))
}

/// `s`, for the rest of the process; each distinct text is kept once.
fn intern(s: &str) -> &'static str {
    static TEXTS: Interned<str> = OnceLock::new();
    keep(&TEXTS, s, |s| Box::leak(s.into()))
}

/// `actions`, for the rest of the process; each distinct list kept once.
fn intern_actions(actions: &[Action]) -> &'static [Action] {
    static LISTS: Interned<[Action]> = OnceLock::new();
    keep(&LISTS, actions, |a| Box::leak(a.into()))
}

/// Values kept for the rest of the process, each once.
type Interned<T> = OnceLock<Mutex<HashSet<&'static T>>>;

fn keep<T: Eq + Hash + ?Sized>(
    set: &'static Interned<T>,
    value: &T,
    leak: impl FnOnce(&T) -> &'static T,
) -> &'static T {
    let mut set = set
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(&kept) = set.get(value) {
        return kept;
    }
    let kept = leak(value);
    set.insert(kept);
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOOR: &str = r#"machine Door "d"
state CLOSED initial "c"
state OPEN "o"
group open = OPEN
action send_syn "SYN"
event active_open call "a"
event close call "c"
event knock call "k"
CLOSED -> OPEN on active_open / send_syn
OPEN -> CLOSED on close
"#;

    #[test]
    fn a_word_outside_the_vocabulary_is_refused_with_the_macro_message() {
        let r = Loaded::compile("door.fsm", DOOR).unwrap_err();
        let text = r.render();
        assert!(
            text.contains("event `knock` is not in the vocabulary `fsm_runtime::vocab`"),
            "{text}"
        );
        assert!(text.contains("door.fsm:8:7"), "{text}");
    }

    #[test]
    fn a_spec_without_the_group_open_is_refused() {
        let src = DOOR
            .replace("group open = OPEN\n", "")
            .replace("event knock call \"k\"\n", "");
        let text = Loaded::compile("door.fsm", &src).unwrap_err().render();
        assert!(
            text.contains("the vocabulary `fsm_runtime::vocab` needs a group `open`"),
            "{text}"
        );
    }

    #[test]
    fn a_loaded_door_steps_and_interns() {
        let src = DOOR.replace("event knock call \"k\"\n", "");
        let a = Loaded::compile("door.fsm", &src).unwrap();
        let b = Loaded::compile("door.fsm", &src).unwrap();
        let fired = a.step(a.initial(), Event::ActiveOpen, &|_| false).unwrap();
        assert_eq!(fired.to.name(), "OPEN");
        assert_eq!(fired.actions, [Action::SendSyn]);
        assert!(a.in_group(fired.to, Group::Open));
        assert!(!a.in_group(a.initial(), Group::Open));
        assert!(a.step(a.initial(), Event::Close, &|_| false).is_none());
        let back = a.step(fired.to, Event::Close, &|_| false).unwrap();
        assert_eq!((back.to, back.actions), (a.initial(), &[][..]));
        assert!(a.step(fired.to, Event::ActiveOpen, &|_| false).is_none());
        // The same names, the same memory.
        assert!(std::ptr::eq(a.initial().name(), b.initial().name()));
        assert!(std::ptr::eq(a.transition(0).label, b.transition(0).label));
    }
}

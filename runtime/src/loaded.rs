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

use std::any::{Any, TypeId};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hash::Hash;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use fsm_codegen::model::{EventId, GuardId, StateId};
use fsm_codegen::rust::{DispatchTable, Vocabulary};
use fsm_codegen::{LoadError, Rejected};

use crate::trace::StepMark;
use crate::vocab::{
    Action, Event, Fired, Group, Guard, Machine, StateRef, TcpWords, TransitionInfo, Word, Words,
};

/// A state of a [`Loaded`] machine: its index in the spec and its name.
pub type LoadedState = StateRef;

/// A spec loaded at run time and bound to the runtime. Cheap to clone
/// (one reference count).
#[derive(Clone)]
pub struct Loaded(Arc<Bound<TcpWords>>);

/// A spec checked against the vocabulary `W`, with its dispatch table and
/// everything traces need, interned.
pub(crate) struct Bound<W: Words> {
    pub(crate) name: &'static str,
    pub(crate) file_name: String,
    spec: fsm_codegen::Spec,
    pub(crate) states: Vec<LoadedState>,
    pub(crate) initial: LoadedState,
    table: DispatchTable,
    /// The spec's event for each vocabulary event, by [`Word::index`].
    events: Vec<Option<EventId>>,
    /// The vocabulary guard for each of the spec's guards.
    guards: Vec<W::Guard>,
    /// Membership of each state in each vocabulary group.
    groups: Vec<Vec<bool>>,
    /// Per (transition, source state) pair: actions, description, steps.
    actions: Vec<&'static [W::Action]>,
    pub(crate) transitions: Vec<TransitionInfo>,
    steps: Vec<Vec<StepMark>>,
    state_steps: Vec<Vec<StepMark>>,
}

/// The vocabulary `W`, as [`machine!`](crate::machine) (or, for the
/// congestion machine, [`congestion_machine!`](crate::congestion_machine))
/// gives it to the generator.
pub fn vocabulary_of<W: Words>() -> Vocabulary {
    fn names<T: Word>() -> Vec<&'static str> {
        T::ALL.iter().map(|w| w.name()).collect()
    }
    Vocabulary::new(
        W::PATH,
        names::<W::Event>(),
        names::<W::Guard>(),
        names::<W::Action>(),
    )
    .and_then(|v| v.with_groups(names::<W::Group>()))
    .unwrap_or_else(|e| unreachable!("the vocabulary's words are identifiers: {e}"))
}

/// The connection machine's vocabulary, as [`machine!`](crate::machine)
/// gives it to the generator.
pub fn vocabulary() -> Vocabulary {
    vocabulary_of::<TcpWords>()
}

impl<W: Words> Bound<W> {
    /// Binds a spec the generator accepted: fails, with the macro's
    /// messages, where it does not fit the vocabulary.
    pub(crate) fn bind(spec: fsm_codegen::Spec) -> Result<Bound<W>, Rejected> {
        vocabulary_of::<W>().check(&spec)?;
        let model = &spec.model;
        let table = DispatchTable::build(model);
        let states: Vec<LoadedState> = model
            .states
            .iter()
            .enumerate()
            .map(|(i, s)| StateRef::of(i, intern(&s.name.text)))
            .collect();
        let initial = states[model.initial().index()];
        let events = W::Event::ALL
            .iter()
            .map(|e| model.event(e.name()))
            .collect();
        let guards = model
            .guards
            .iter()
            .map(|g| word::<W::Guard>(&g.name.text))
            .collect();
        let groups = (0..model.states.len())
            .map(|i| {
                W::Group::ALL
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
            let words: Vec<W::Action> = t
                .actions
                .iter()
                .map(|a| word::<W::Action>(&model.actions[a.index()].name.text))
                .collect();
            actions.push(intern_list(&words));
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
                from: states[e.from.index()].name(),
                to: states[e.to.index()].name(),
                event: intern(&model.events[t.event.index()].name.text),
                guard,
                label: intern(&model.transition_label(t, "en")),
                rfc: t.rfc.as_deref().map(intern),
            });
            steps.push(marks(&t.steps));
        }
        let state_steps = model.states.iter().map(|s| marks(&s.steps)).collect();
        Ok(Bound {
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
        })
    }

    /// The transition for `event` in `state`: the target, the actions and
    /// the pair's index; `None` when the spec has none.
    pub(crate) fn step(
        &self,
        state: LoadedState,
        event: W::Event,
        guards: &dyn Fn(W::Guard) -> bool,
    ) -> Option<(LoadedState, &'static [W::Action], u32)> {
        let event = (*self.events.get(event.index())?)?;
        let from = StateId(state.index());
        if self.states.get(from.index()) != Some(&state) {
            return None;
        }
        let entry = self
            .table
            .choose(from, event, &mut |g| guards(self.guards[g.index()]))
            .ok()?;
        Some((
            self.states[entry.to.index()],
            self.actions[entry.edge],
            u32::try_from(entry.edge).unwrap_or(u32::MAX),
        ))
    }

    pub(crate) fn source(&self) -> &fsm_codegen::Spec {
        &self.spec
    }

    pub(crate) fn in_group(&self, state: LoadedState, group: W::Group) -> bool {
        self.groups
            .get(state.index())
            .is_some_and(|g| g[group.index()])
    }

    pub(crate) fn transition_steps(&self, index: u32) -> &[StepMark] {
        self.steps.get(index as usize).map_or(&[], Vec::as_slice)
    }

    pub(crate) fn state_steps(&self, state: LoadedState) -> &[StepMark] {
        self.state_steps
            .get(state.index())
            .map_or(&[], Vec::as_slice)
    }
}

impl<W: Words> fmt::Debug for Bound<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Loaded")
            .field("name", &self.name)
            .field("spec", &self.file_name)
            .field("states", &self.states.len())
            .field("pairs", &self.transitions.len())
            .finish()
    }
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
        Bound::bind(spec).map(|b| Loaded(Arc::new(b)))
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
        self.0.states.iter().copied().find(|s| s.name() == name)
    }
}

impl fmt::Debug for Loaded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
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
        let (to, actions, transition) = self.0.step(state, event, guards)?;
        Some(Fired {
            to,
            actions,
            transition,
        })
    }

    fn action(&self, action: Action) -> Action {
        action
    }

    fn transition(&self, index: u32) -> TransitionInfo {
        self.0.transitions[index as usize]
    }

    fn state_name(&self, state: LoadedState) -> &'static str {
        state.name()
    }

    fn in_group(&self, state: LoadedState, group: Group) -> bool {
        self.0.in_group(state, group)
    }

    fn transition_steps(&self, index: u32) -> impl Iterator<Item = StepMark> + '_ {
        self.0.transition_steps(index).iter().cloned()
    }

    fn state_steps(&self, state: LoadedState) -> impl Iterator<Item = StepMark> + '_ {
        self.0.state_steps(state).iter().cloned()
    }
}

/// The vocabulary word called `name`; the vocabulary check made sure
/// there is one.
fn word<T: Word>(name: &str) -> T {
    T::named(name).unwrap_or_else(|| unreachable!("`{name}` passed the vocabulary check"))
}

/// `s`, for the rest of the process; each distinct text is kept once.
fn intern(s: &str) -> &'static str {
    static TEXTS: Interned<str> = OnceLock::new();
    keep(&TEXTS, s, |s| Box::leak(s.into()))
}

/// `list`, for the rest of the process; each distinct list kept once (per
/// word type).
fn intern_list<T: Word>(list: &[T]) -> &'static [T] {
    type Sets = HashMap<TypeId, Box<dyn Any + Send>>;
    static LISTS: OnceLock<Mutex<Sets>> = OnceLock::new();
    let mut sets = LISTS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let set = sets
        .entry(TypeId::of::<T>())
        .or_insert_with(|| Box::new(HashSet::<&'static [T]>::new()))
        .downcast_mut::<HashSet<&'static [T]>>()
        .unwrap_or_else(|| unreachable!("one set per type"));
    if let Some(&kept) = set.get(list) {
        return kept;
    }
    let kept: &'static [T] = Box::leak(list.into());
    set.insert(kept);
    kept
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

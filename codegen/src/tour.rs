//! Tours: a small set of event sequences from the initial state that
//! together take every (transition, source state) pair of a spec and every
//! outcome of every guard, each sequence a shortest way to the state where
//! its last event is raised, then that event. A tester plays a sequence
//! against an implementation and checks that it goes where the spec says.
//!
//! A guard is chosen freely at each event unless it is a *history* guard:
//! one whose value the path decides, because the world sets it only by
//! how the machine got where it is. `passive` in tcp.fsm ("reached by a
//! passive OPEN") holds after LISTEN and no longer after SYN_SENT: a tour
//! of tcp.fsm given that takes `SYN_RCVD -> LISTEN on rcv_rst [passive]`
//! through LISTEN and `SYN_RCVD -> CLOSED on rcv_rst [!passive]` through
//! SYN_SENT (a simultaneous open), which is the only way a real stack can
//! be driven there. The search runs over (state, history guards' values).
//!
//! Dispatch is the generated code's: at a (state, event), the first
//! candidate in declaration order whose guard holds fires; so a step's
//! guard values make its guard hold and every earlier candidate's fail.

use std::collections::{BTreeSet, HashMap, VecDeque};

use crate::model::{EventId, GuardId, Model, StateId, TransitionId};

/// A guard the path decides: false at first, true once the machine
/// enters one of `set`, false again once it enters one of `clear`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct History {
    /// The guard.
    pub guard: GuardId,
    /// States whose entry makes it hold.
    pub set: Vec<StateId>,
    /// States whose entry makes it fail.
    pub clear: Vec<StateId>,
}

impl History {
    /// The values of `history`'s guards (bit `k` for `history[k]`, the
    /// first 64) after the machine enters `state` with values `bits`.
    pub fn entered(history: &[History], mut bits: u64, state: StateId) -> u64 {
        for (k, h) in history.iter().enumerate().take(64) {
            if h.set.contains(&state) {
                bits |= 1 << k;
            }
            if h.clear.contains(&state) {
                bits &= !(1 << k);
            }
        }
        bits
    }

    /// Reads `GUARD:SET1+SET2/CLEAR1+CLEAR2` (`passive:LISTEN/SYN_SENT`)
    /// against `model`.
    pub fn parse(model: &Model, text: &str) -> Result<History, String> {
        let (guard, states) = text
            .split_once(':')
            .ok_or_else(|| format!("`{text}`: expected GUARD:SET/CLEAR"))?;
        let guard = model
            .guards
            .iter()
            .position(|g| g.name.text == guard)
            .map(GuardId)
            .ok_or_else(|| format!("no guard `{guard}` in the spec"))?;
        let (set, clear) = states.split_once('/').unwrap_or((states, ""));
        let list = |names: &str| -> Result<Vec<StateId>, String> {
            names
                .split('+')
                .filter(|n| !n.is_empty())
                .map(|n| {
                    model
                        .state(n)
                        .ok_or_else(|| format!("no state `{n}` in the spec"))
                })
                .collect()
        };
        Ok(History {
            guard,
            set: list(set)?,
            clear: list(clear)?,
        })
    }
}

/// One event of a sequence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// The state the event finds.
    pub from: StateId,
    /// The event.
    pub event: EventId,
    /// The value of each guard of the (state, event) cell at this step,
    /// history guards included.
    pub guards: Vec<(GuardId, bool)>,
    /// The pair that fires (its index in [`Model::edges`] order), or
    /// `None` when the spec refuses the event here.
    pub pair: Option<usize>,
    /// The state after it.
    pub to: StateId,
}

/// A tour: the sequences and what they cover.
#[derive(Clone, Debug)]
pub struct Tour {
    /// The sequences, each from the initial state.
    pub sequences: Vec<Vec<Step>>,
    /// (transition, source state) pairs of the spec.
    pub pairs: usize,
    /// Pairs the sequences take.
    pub pairs_taken: usize,
    /// Guard outcomes: each guarded pair's guard true and false at its
    /// (state, event).
    pub outcomes: usize,
    /// Guard outcomes the sequences show.
    pub outcomes_taken: usize,
    /// Pairs no sequence can take (unreachable, or their guard can never
    /// hold given the earlier candidates and the history guards).
    pub untaken: Vec<usize>,
}

impl Tour {
    /// Events over all sequences.
    pub fn events(&self) -> usize {
        self.sequences.iter().map(Vec::len).sum()
    }

    /// "87 pairs in 77 sequences of 292 events; guard outcomes 14/14".
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{} pairs in {} sequences of {} events; guard outcomes {}/{}",
            self.pairs_taken,
            self.sequences.len(),
            self.events(),
            self.outcomes_taken,
            self.outcomes
        );
        if self.pairs_taken < self.pairs {
            s.push_str(&format!(
                "; {} of {} pairs cannot be taken",
                self.pairs - self.pairs_taken,
                self.pairs
            ));
        }
        s
    }
}

/// `SYN_RCVD -rcv_rst [passive]-> LISTEN`: a step as a line of text,
/// with the guard values it sets (`!` for false); a refused event ends in
/// `(refused)`.
pub fn describe(model: &Model, step: &Step) -> String {
    let guards: Vec<String> = step
        .guards
        .iter()
        .map(|&(g, v)| {
            let name = &model.guards[g.index()].name.text;
            if v { name.clone() } else { format!("!{name}") }
        })
        .collect();
    let guards = if guards.is_empty() {
        String::new()
    } else {
        format!(" [{}]", guards.join(", "))
    };
    let from = &model.states[step.from.index()].name.text;
    let event = &model.events[step.event.index()].name.text;
    match step.pair {
        Some(_) => format!(
            "{from} -{event}{guards}-> {}",
            model.states[step.to.index()].name.text
        ),
        None => format!("{from} -{event}{guards}-> (refused)"),
    }
}

/// Which steps [`tour_avoiding`] goes round: given a step and the history
/// guards' values where it is taken.
pub type Avoid<'a> = dyn Fn(&Step, &[(GuardId, bool)]) -> bool + 'a;

/// A search node: a state and the values of the history guards (bit `k`
/// for `history[k]`).
type Node = (StateId, u64);

/// Computes a tour of `model` with `history` guards.
pub fn tour(model: &Model, history: &[History]) -> Tour {
    tour_avoiding(model, history, &|_, _| false)
}

/// [`tour`] without the steps `avoid` answers true for, given the step and
/// the values of the history guards where it is taken (whether or not the
/// cell reads them): a tester whose implementation cannot be driven
/// through some steps takes the shortest way round them; a pair only such
/// a step shows is left in [`Tour::untaken`].
pub fn tour_avoiding(model: &Model, history: &[History], avoid: &Avoid<'_>) -> Tour {
    let pairs: Vec<(TransitionId, StateId, StateId)> = model
        .edges()
        .map(|e| (e.transition, e.from, e.to))
        .collect();
    let pair_of: HashMap<(TransitionId, StateId), usize> = pairs
        .iter()
        .enumerate()
        .map(|(i, &(t, from, _))| ((t, from), i))
        .collect();
    let search = Search {
        model,
        history,
        pair_of: &pair_of,
    };
    // Breadth first over (state, history values), each node reached by a
    // shortest sequence of firing events.
    let start: Node = (model.initial(), search.entered(0, model.initial()));
    let mut parent: HashMap<Node, Option<(Node, Step)>> = HashMap::new();
    parent.insert(start, None);
    let mut order = vec![start];
    let mut queue = VecDeque::from([start]);
    while let Some(node) = queue.pop_front() {
        let values = search.history_values(node.1);
        for step in search
            .firing_steps(node)
            .into_iter()
            .filter(|s| !avoid(s, &values))
        {
            let next = (step.to, search.entered(node.1, step.to));
            if let std::collections::hash_map::Entry::Vacant(e) = parent.entry(next) {
                e.insert(Some((node, step)));
                order.push(next);
                queue.push_back(next);
            }
        }
    }
    let path_to = |mut node: Node| -> Vec<Step> {
        let mut steps = Vec::new();
        while let Some(Some((prev, step))) = parent.get(&node) {
            steps.push(step.clone());
            node = *prev;
        }
        steps.reverse();
        steps
    };
    // The items to cover: pairs, and each guarded pair's two outcomes.
    let mut wanted: Vec<Item> = (0..pairs.len()).map(Item::Pair).collect();
    for (i, &(t, _, _)) in pairs.iter().enumerate() {
        if model.transitions[t.index()].guard.is_some() {
            wanted.extend([Item::Outcome(i, true), Item::Outcome(i, false)]);
        }
    }
    // For each item, the sequence that ends by showing it from the
    // nearest node.
    let mut candidates: Vec<Vec<Step>> = Vec::new();
    let mut untaken = Vec::new();
    for &item in &wanted {
        let (pair, value) = match item {
            Item::Pair(p) => (p, true),
            Item::Outcome(p, v) => (p, v),
        };
        let (t, from, _) = pairs[pair];
        let found = order.iter().filter(|n| n.0 == from).find_map(|&n| {
            search
                .step_showing(n, t, value)
                .filter(|s| !avoid(s, &search.history_values(n.1)))
                .map(|s| (n, s))
        });
        match found {
            Some((node, step)) => {
                let mut seq = path_to(node);
                seq.push(step);
                candidates.push(seq);
            }
            None if matches!(item, Item::Pair(_)) => untaken.push(pair),
            None => {}
        }
    }
    // Greedy cover, longest sequences first (they show the most).
    candidates.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut covered: BTreeSet<Item> = BTreeSet::new();
    let mut sequences = Vec::new();
    for seq in candidates {
        let shows = search.shows(&seq);
        if shows.iter().any(|i| !covered.contains(i)) {
            covered.extend(shows);
            sequences.push(seq);
        }
    }
    let outcomes = wanted
        .iter()
        .filter(|i| matches!(i, Item::Outcome(..)))
        .count();
    Tour {
        pairs: pairs.len(),
        pairs_taken: covered
            .iter()
            .filter(|i| matches!(i, Item::Pair(_)))
            .count(),
        outcomes,
        outcomes_taken: covered
            .iter()
            .filter(|i| matches!(i, Item::Outcome(..)))
            .count(),
        sequences,
        untaken,
    }
}

/// Something a tour must show.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Item {
    /// The pair fires.
    Pair(usize),
    /// The pair's guard has this value where its event is raised.
    Outcome(usize, bool),
}

struct Search<'a> {
    model: &'a Model,
    history: &'a [History],
    pair_of: &'a HashMap<(TransitionId, StateId), usize>,
}

impl Search<'_> {
    /// The history bits after entering `state` with `bits`.
    fn entered(&self, bits: u64, state: StateId) -> u64 {
        History::entered(self.history, bits, state)
    }

    /// Each history guard's value under `bits`.
    fn history_values(&self, bits: u64) -> Vec<(GuardId, bool)> {
        self.history
            .iter()
            .enumerate()
            .take(64)
            .map(|(k, h)| (h.guard, bits & (1 << k) != 0))
            .collect()
    }

    fn history_value(&self, bits: u64, guard: GuardId) -> Option<bool> {
        self.history
            .iter()
            .position(|h| h.guard == guard)
            .map(|k| bits & (1 << k) != 0)
    }

    /// Every assignment of the cell's guards at `node`: history guards
    /// fixed, the others free.
    fn assignments(&self, node: Node, event: EventId) -> Vec<Vec<(GuardId, bool)>> {
        let candidates = self.model.candidates(node.0, event);
        let vars: BTreeSet<GuardId> = candidates
            .iter()
            .filter_map(|t| self.model.transitions[t.index()].guard.as_ref())
            .flat_map(|g| g.vars().into_iter().copied())
            .collect();
        let vars: Vec<GuardId> = vars.into_iter().collect();
        let free: Vec<GuardId> = vars
            .iter()
            .copied()
            .filter(|&g| self.history_value(node.1, g).is_none())
            .take(16)
            .collect();
        (0..1u32 << free.len())
            .map(|mask| {
                vars.iter()
                    .map(|&g| {
                        let v = match self.history_value(node.1, g) {
                            Some(v) => v,
                            None => {
                                let k = free.iter().position(|&f| f == g).unwrap_or(0);
                                mask & (1 << k) != 0
                            }
                        };
                        (g, v)
                    })
                    .collect()
            })
            .collect()
    }

    /// The step raising `event` at `node` under `values`.
    fn step(&self, node: Node, event: EventId, values: &[(GuardId, bool)]) -> Step {
        let value = |g: &GuardId| values.iter().any(|&(x, v)| x == *g && v);
        let fired = self.model.candidates(node.0, event).into_iter().find(|t| {
            self.model.transitions[t.index()]
                .guard
                .as_ref()
                .is_none_or(|g| g.eval(&mut |v| value(v)))
        });
        Step {
            from: node.0,
            event,
            guards: values.to_vec(),
            pair: fired.and_then(|t| self.pair_of.get(&(t, node.0)).copied()),
            to: fired.map_or(node.0, |t| {
                self.model.transitions[t.index()].target_from(node.0)
            }),
        }
    }

    /// One step per pair that can fire at `node`.
    fn firing_steps(&self, node: Node) -> Vec<Step> {
        let mut seen = BTreeSet::new();
        let mut steps = Vec::new();
        for e in 0..self.model.events.len() {
            for values in self.assignments(node, EventId(e)) {
                let step = self.step(node, EventId(e), &values);
                if let Some(p) = step.pair
                    && seen.insert(p)
                {
                    steps.push(step);
                }
            }
        }
        steps
    }

    /// A step at `node` that raises `t`'s event with `t`'s guard equal to
    /// `value` (for `true`: `t` fires).
    fn step_showing(&self, node: Node, t: TransitionId, value: bool) -> Option<Step> {
        let tr = &self.model.transitions[t.index()];
        let pair = self.pair_of.get(&(t, node.0)).copied();
        self.assignments(node, tr.event)
            .into_iter()
            .map(|values| self.step(node, tr.event, &values))
            .find(|s| match &tr.guard {
                None => s.pair == pair,
                Some(g) => {
                    let holds = g.eval(&mut |v| s.guards.iter().any(|&(x, b)| x == *v && b));
                    holds == value && (!value || s.pair == pair)
                }
            })
    }

    /// What a sequence shows: the pairs it takes and the guard outcomes at
    /// each of its steps.
    fn shows(&self, seq: &[Step]) -> Vec<Item> {
        let mut out = Vec::new();
        for s in seq {
            if let Some(p) = s.pair {
                out.push(Item::Pair(p));
            }
            for t in self.model.candidates(s.from, s.event) {
                let Some(g) = &self.model.transitions[t.index()].guard else {
                    continue;
                };
                if let Some(&p) = self.pair_of.get(&(t, s.from)) {
                    let v = g.eval(&mut |v| s.guards.iter().any(|&(x, b)| x == *v && b));
                    out.push(Item::Outcome(p, v));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOOR: &str = r#"machine Door "d"
state SHUT initial "s"
state OPEN "o"
state LOCKED "l"
event push call "p"
event lock call "l"
event unlock call "u"
guard strong "strong"
guard keyed "has the key"
SHUT -> OPEN on push [strong]
SHUT -> same on push [!strong]
SHUT -> LOCKED on lock
LOCKED -> SHUT on unlock [keyed]
OPEN -> SHUT on push
"#;

    #[test]
    fn a_tour_takes_every_pair_and_both_outcomes_of_every_guard() {
        let spec = crate::compile("door.fsm", DOOR).unwrap();
        let t = tour(&spec.model, &[]);
        assert_eq!((t.pairs_taken, t.pairs), (5, 5));
        assert_eq!((t.outcomes_taken, t.outcomes), (6, 6));
        assert!(t.untaken.is_empty());
        // Every sequence starts in the initial state and chains.
        for seq in &t.sequences {
            assert_eq!(seq[0].from, spec.model.initial());
            for w in seq.windows(2) {
                assert_eq!(w[0].to, w[1].from);
            }
        }
    }

    #[test]
    fn a_history_guard_steers_the_path() {
        // `keyed` holds once the door was OPEN; LOCKED is reachable both
        // ways, and only the way through OPEN can unlock.
        let spec = crate::compile("door.fsm", DOOR).unwrap();
        let model = &spec.model;
        let keyed = History::parse(model, "keyed:OPEN/").unwrap();
        let t = tour(model, &[keyed]);
        assert_eq!((t.pairs_taken, t.pairs), (5, 5));
        let unlock = model.event("unlock").unwrap();
        let open = model.state("OPEN").unwrap();
        let seq = t
            .sequences
            .iter()
            .find(|s| s.iter().any(|x| x.event == unlock && x.pair.is_some()))
            .expect("a sequence unlocks");
        assert!(seq.iter().any(|x| x.to == open), "it went through OPEN");
        // Without the history guard the shortest way skips OPEN.
        let free = tour(model, &[]);
        let seq = free
            .sequences
            .iter()
            .find(|s| s.iter().any(|x| x.event == unlock && x.pair.is_some()))
            .unwrap();
        assert!(!seq.iter().any(|x| x.to == open));
    }

    #[test]
    fn avoided_steps_are_gone_round_or_left_untaken() {
        let spec = crate::compile("door.fsm", DOOR).unwrap();
        let model = &spec.model;
        let lock = model.event("lock").unwrap();
        let t = tour_avoiding(model, &[], &|s, _| s.event == lock);
        // LOCKED is reached only by `lock`: its pair and the one leaving
        // it cannot be taken.
        assert_eq!((t.pairs_taken, t.pairs), (3, 5));
        assert_eq!(t.untaken.len(), 2);
        assert!(t.sequences.iter().flatten().all(|s| s.event != lock));
    }

    #[test]
    fn history_parses_and_names_what_is_missing() {
        let spec = crate::compile("door.fsm", DOOR).unwrap();
        let h = History::parse(&spec.model, "keyed:OPEN/SHUT+LOCKED").unwrap();
        assert_eq!((h.set.len(), h.clear.len()), (1, 2));
        assert!(
            History::parse(&spec.model, "nope:OPEN")
                .unwrap_err()
                .contains("no guard `nope`")
        );
        assert!(
            History::parse(&spec.model, "keyed:AJAR")
                .unwrap_err()
                .contains("no state `AJAR`")
        );
    }
}

//! The dispatch table behind the generated `step`.
//!
//! Every (transition, source state) pair is an [`Entry`]; the entries of one
//! (state, event) cell sit together in declaration order. A dense layout
//! finds a cell's entries by `state * events + event` in one offsets array;
//! a sparse (CSR) layout, for machines with too many (state, event) pairs to
//! spend memory on each, keeps per state a sorted list of the events it
//! handles and binary-searches it. The emitter writes these arrays out as
//! they are, and the tests check them against [`Model::candidates`], so the
//! generated `step` and the model cannot disagree.

use std::collections::HashMap;

use crate::guard::{GuardExpr, covers_all};
use crate::model::{EventId, GuardId, Model, StateId, TransitionId};

/// Up to this many (state, event) cells the table is dense.
pub const DENSE_LIMIT: usize = 1 << 20;

/// How cells are found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TableLayout {
    /// One offset per (state, event) cell.
    Dense,
    /// Per state, the events it handles, sorted (compressed sparse rows).
    Sparse,
}

impl TableLayout {
    /// The layout for a machine of this size: dense up to [`DENSE_LIMIT`]
    /// cells.
    pub fn for_size(states: usize, events: usize) -> TableLayout {
        if states.saturating_mul(events) <= DENSE_LIMIT {
            TableLayout::Dense
        } else {
            TableLayout::Sparse
        }
    }
}

/// One candidate: a transition declaration taken from one source state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Index of the pair in [`Model::edges`] order, which is the index of
    /// its row in the generated `TRANSITIONS`.
    pub edge: usize,
    /// The declaration.
    pub transition: TransitionId,
    /// The source state.
    pub from: StateId,
    /// The event.
    pub event: EventId,
    /// Where it leads from `from`.
    pub to: StateId,
    /// Index into [`DispatchTable::guards`]; `None` when unguarded.
    pub guard: Option<usize>,
}

/// Candidates of every (state, event) cell, laid out for the generated
/// `step`.
#[derive(Clone, Debug)]
pub struct DispatchTable {
    /// How cells are found.
    pub layout: TableLayout,
    /// Number of states.
    pub states: usize,
    /// Number of events.
    pub events: usize,
    /// Every entry, grouped by cell (state-major, then event), each cell's
    /// entries in declaration order.
    pub entries: Vec<Entry>,
    /// The distinct guard expressions, numbered in declaration order. The
    /// generated code calls guard expression `i` by the number `i + 1`, and
    /// 0 means "unguarded".
    pub guards: Vec<GuardExpr<GuardId>>,
    /// Dense: `states * events + 1` offsets into `entries`; cell `c` holds
    /// `entries[offsets[c]..offsets[c + 1]]`. Sparse: one offset per
    /// non-empty cell, plus one.
    pub offsets: Vec<usize>,
    /// Sparse only: `states + 1` offsets into `keys`.
    pub rows: Vec<usize>,
    /// Sparse only: the event of each non-empty cell, sorted within a row.
    pub keys: Vec<EventId>,
}

impl DispatchTable {
    /// The table for `model`, in the layout its size calls for.
    pub fn build(model: &Model) -> DispatchTable {
        let layout = TableLayout::for_size(model.states.len(), model.events.len());
        Self::build_with(model, layout)
    }

    /// The table for `model` in a given layout. Linear in the number of
    /// entries and cells, plus a sort of the entries.
    pub fn build_with(model: &Model, layout: TableLayout) -> DispatchTable {
        let states = model.states.len();
        let events = model.events.len();

        let mut guard_ids: HashMap<&GuardExpr<GuardId>, usize> = HashMap::new();
        let mut guards = Vec::new();
        let mut decl_guard = Vec::with_capacity(model.transitions.len());
        for t in &model.transitions {
            decl_guard.push(t.guard.as_ref().map(|g| {
                *guard_ids.entry(g).or_insert_with(|| {
                    guards.push(g.clone());
                    guards.len() - 1
                })
            }));
        }

        let mut entries: Vec<Entry> = model
            .edges()
            .enumerate()
            .map(|(edge, e)| {
                let t = &model.transitions[e.transition.0];
                Entry {
                    edge,
                    transition: e.transition,
                    from: e.from,
                    event: t.event,
                    to: e.to,
                    guard: decl_guard[e.transition.0],
                }
            })
            .collect();
        // Stable: a cell's entries stay in declaration order.
        entries.sort_by_key(|e| (e.from, e.event));

        let mut offsets = Vec::new();
        let mut rows = Vec::new();
        let mut keys = Vec::new();
        match layout {
            TableLayout::Dense => {
                let cells = states * events;
                let mut counts = vec![0usize; cells + 1];
                for e in &entries {
                    counts[e.from.0 * events + e.event.0 + 1] += 1;
                }
                for c in 1..=cells {
                    counts[c] += counts[c - 1];
                }
                offsets = counts;
            }
            TableLayout::Sparse => {
                rows.reserve(states + 1);
                rows.push(0);
                let mut i = 0;
                for s in 0..states {
                    while i < entries.len() && entries[i].from.0 == s {
                        let event = entries[i].event;
                        keys.push(event);
                        offsets.push(i);
                        while i < entries.len()
                            && entries[i].from.0 == s
                            && entries[i].event == event
                        {
                            i += 1;
                        }
                    }
                    rows.push(keys.len());
                }
                offsets.push(entries.len());
            }
        }

        DispatchTable {
            layout,
            states,
            events,
            entries,
            guards,
            offsets,
            rows,
            keys,
        }
    }

    /// The candidates of `event` in `state`, in declaration order.
    pub fn candidates(&self, state: StateId, event: EventId) -> &[Entry] {
        match self.layout {
            TableLayout::Dense => {
                let c = state.0 * self.events + event.0;
                &self.entries[self.offsets[c]..self.offsets[c + 1]]
            }
            TableLayout::Sparse => {
                let row = self.rows[state.0]..self.rows[state.0 + 1];
                match self.keys[row.clone()].binary_search(&event) {
                    Ok(k) => {
                        let k = row.start + k;
                        &self.entries[self.offsets[k]..self.offsets[k + 1]]
                    }
                    Err(_) => &[],
                }
            }
        }
    }

    /// What the generated `step` does: the first candidate whose guard
    /// holds, or `Err(guarded)` where `guarded` says that candidates exist
    /// but none held.
    pub fn choose(
        &self,
        state: StateId,
        event: EventId,
        holds: &mut impl FnMut(GuardId) -> bool,
    ) -> Result<&Entry, bool> {
        let candidates = self.candidates(state, event);
        candidates
            .iter()
            .find(|e| {
                e.guard
                    .is_none_or(|g| self.guards[g].eval(&mut |v| holds(*v)))
            })
            .ok_or(!candidates.is_empty())
    }

    /// Every non-empty cell, state-major, then by event.
    pub fn cells(&self) -> impl Iterator<Item = (StateId, EventId, &[Entry])> + '_ {
        self.entries
            .chunk_by(|a, b| a.from == b.from && a.event == b.event)
            .map(|c| (c[0].from, c[0].event, c))
    }
}

/// What the typestate method of one (state, event) cell looks like: which
/// of its entries can fire and where they lead.
pub struct Shape {
    /// How many entries can fire: up to and including the first unguarded
    /// one.
    pub live: usize,
    /// Whether the method asks guards.
    pub guarded: bool,
    /// The targets, each once, in declaration order.
    pub targets: Vec<StateId>,
    /// Whether it can happen that no guard holds (an `Unchanged` outcome).
    pub may_stay: bool,
}

impl Shape {
    /// The shape of a cell's method.
    pub fn of(model: &Model, entries: &[Entry]) -> Shape {
        let live = entries
            .iter()
            .position(|e| e.guard.is_none())
            .map_or(entries.len(), |i| i + 1);
        let entries = &entries[..live];
        let mut targets = Vec::new();
        for e in entries {
            if !targets.contains(&e.to) {
                targets.push(e.to);
            }
        }
        let guards: Vec<_> = entries
            .iter()
            .map(|e| model.transitions[e.transition.0].guard.as_ref())
            .collect();
        Shape {
            live,
            guarded: entries[0].guard.is_some(),
            targets,
            may_stay: covers_all(&guards) != Some(true),
        }
    }

    /// Whether the method returns an enum of outcomes.
    pub fn needs_enum(&self) -> bool {
        self.targets.len() + usize::from(self.may_stay) > 1
    }
}

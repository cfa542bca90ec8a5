//! Exhaustive exploration of two machines talking through a network, at
//! the level of the spec: no runtime, only what the specs say about
//! messages (`sends` on actions, `on` on segment events).
//!
//! Two peers, A and B (one spec against itself, or two specs: a client's
//! and a server's), are joined by two channels, A to B and B to A, each
//! FIFO or unordered, holding at most `capacity` messages. From each
//! global state (both machines' states, the values of their history
//! guards, both channels' contents, the loss and duplication budgets left)
//! the explorer takes every move:
//!
//! - a side raises a call or a timer event (the world calls, and timers
//!   fire, whenever the spec has a transition for them);
//! - a side receives a message (the head of a FIFO channel, any message of
//!   an unordered one): each event the message raises (`on`) that the
//!   state has a transition for is a possible reading; when none has, the
//!   reception is *unspecified*, reported, and the message dropped;
//! - the network loses a message or duplicates one, while the budgets
//!   last.
//!
//! A guard is free (both values explored) unless it is a history guard
//! ([`History`], as `fsm tour --history`), which the path decides; at a
//! (state, event) the first candidate whose guard holds fires, as in the
//! generated code. The messages a transition's actions send go out in
//! order; a transition whose messages do not fit in the channel waits (a
//! blocking send, as SPIN's default).
//!
//! Reported: *deadlocks* (no move, and not both sides in their initial
//! state with empty channels), *unspecified receptions*, *non-progress
//! cycles* (a cycle of moves none of which changes either machine's state:
//! self-loops, losses, duplications, dropped receptions) and the pairs
//! never taken; each finding with the shortest schedule that shows it,
//! which [`chart`] draws as a message sequence chart.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};

use crate::model::{EventId, GuardId, Model, StateId, TransitionId};
use crate::syntax::EventKind;
use crate::tour::History;

mod report;
pub use report::{chart, describe, describe_move, report};

/// How a channel delivers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// In the order sent.
    Fifo,
    /// Any message in it, next.
    Unordered,
}

/// What the network may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Network {
    /// Delivery order of both channels.
    pub order: Order,
    /// Messages each channel holds at most.
    pub capacity: usize,
    /// Messages the network may lose, in all.
    pub loss: u8,
    /// Messages the network may duplicate, in all.
    pub duplication: u8,
}

impl Default for Network {
    fn default() -> Self {
        Network {
            order: Order::Fifo,
            capacity: 2,
            loss: 0,
            duplication: 0,
        }
    }
}

/// One side: a spec, its name in reports, its history guards.
#[derive(Clone, Debug)]
pub struct Peer<'a> {
    /// The machine.
    pub model: &'a Model,
    /// Its name in reports and charts (`A (tcp.fsm)`).
    pub name: String,
    /// Guards the path decides.
    pub history: Vec<History>,
}

/// A move from a global state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Move {
    /// `side` took the pair `pair` (its index in [`Model::edges`] order)
    /// on `event`; `received` the message it consumed, if any.
    Fire {
        /// 0 (A) or 1 (B).
        side: usize,
        /// The event raised.
        event: EventId,
        /// The (transition, source) pair taken.
        pair: usize,
        /// The message consumed, if the event was a reception.
        received: Option<u8>,
    },
    /// `side` received `message`, which raises nothing in its state: the
    /// message is dropped.
    Unspecified {
        /// The receiver.
        side: usize,
        /// The message (an index into [`Exploration::messages`]).
        message: u8,
    },
    /// The network lost `message` on its way to `side`.
    Lose {
        /// The side it was going to.
        side: usize,
        /// The message.
        message: u8,
    },
    /// The network duplicated `message` on its way to `side`.
    Duplicate {
        /// The side it was going to.
        side: usize,
        /// The message.
        message: u8,
    },
}

/// What was found, each with the shortest schedule (moves from the
/// initial global state) that shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Finding {
    /// A global state with no move that is not an end (nothing in flight,
    /// each side initial or in a state with no transition out).
    Deadlock {
        /// Moves to it.
        schedule: Vec<Move>,
        /// The two sides' states there.
        states: [String; 2],
    },
    /// A message arrived in a state with no transition for any event it
    /// raises.
    UnspecifiedReception {
        /// Moves up to and including the reception.
        schedule: Vec<Move>,
        /// The receiver.
        side: usize,
        /// Its state.
        state: String,
        /// The message's name.
        message: String,
    },
    /// A cycle of moves that change neither machine's state.
    NonProgressCycle {
        /// Moves to the cycle's first state, then round the cycle once.
        schedule: Vec<Move>,
        /// How many of those moves are the cycle.
        cycle: usize,
        /// The two sides' states on the cycle.
        states: [String; 2],
    },
}

impl Finding {
    /// The schedule that shows it.
    pub fn schedule(&self) -> &[Move] {
        match self {
            Finding::Deadlock { schedule, .. }
            | Finding::UnspecifiedReception { schedule, .. }
            | Finding::NonProgressCycle { schedule, .. } => schedule,
        }
    }
}

/// The result of an exploration.
#[derive(Clone, Debug)]
pub struct Exploration {
    /// Global states reached.
    pub states: usize,
    /// Moves taken (edges of the global graph).
    pub transitions: usize,
    /// The longest of the shortest schedules to a state.
    pub depth: usize,
    /// Whether the exploration stopped at the state limit.
    pub truncated: bool,
    /// Wall time.
    pub elapsed: Duration,
    /// Bytes the stored states took (keys and bookkeeping), per state.
    pub bytes_per_state: f64,
    /// The message names (union of both specs'), in the order moves
    /// index them.
    pub messages: Vec<String>,
    /// Deadlocks, unspecified receptions (one per side, state and
    /// message), non-progress cycles (one per strongly connected set).
    pub findings: Vec<Finding>,
    /// Per side, the pairs never taken ([`Model::edges`] indices).
    pub untaken: [Vec<usize>; 2],
    /// Unspecified receptions counted per state they leave from, plus
    /// deadlock states: what SPIN reports as `errors` on the Promela
    /// export run with `-c0` ([`crate::promela`]).
    pub violations: usize,
}

impl Exploration {
    /// States a second.
    pub fn states_per_second(&self) -> f64 {
        self.states as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// One possible outcome of raising an event: the pair taken, the state
/// reached, the messages sent.
#[derive(Clone, Debug)]
pub(crate) struct Outcome {
    /// The (transition, source) pair ([`Model::edges`] order).
    pub(crate) pair: usize,
    /// The state reached.
    pub(crate) to: StateId,
    /// The messages sent, in order (indices into the message table).
    pub(crate) sends: Vec<u8>,
}

/// A side's moves from each (state, history values), for writers of the
/// same model in another language ([`crate::promela`]): what the explorer
/// takes, listed.
pub(crate) struct Table {
    /// Per (state, history bits) reachable by entering states: the calls
    /// and timers that fire, each outcome, and per message (index into
    /// the table) the receptions (empty: unspecified). State by state,
    /// the bits in the order of `bit_values`.
    pub(crate) rows: Vec<Row>,
    /// The history bits that entering states can give, sorted.
    bit_values: Vec<u64>,
}

impl Table {
    /// The row of `state` with history bits `bits`.
    fn row(&self, state: u16, bits: u64) -> &Row {
        let k = self.bit_values.iter().position(|&b| b == bits).unwrap_or(0);
        &self.rows[state as usize * self.bit_values.len() + k]
    }
}

/// The moves of one (state, history bits).
pub(crate) struct Row {
    pub(crate) state: StateId,
    pub(crate) bits: u64,
    pub(crate) spontaneous: Vec<(EventId, Outcome)>,
    pub(crate) receptions: Vec<Vec<(EventId, Outcome)>>,
}

/// Per state of `model`, whether a side resting there with nothing in
/// flight has ended (the initial state, or one with no way out) rather
/// than deadlocked.
pub(crate) fn end_states(model: &Model) -> Vec<bool> {
    (0..model.states.len())
        .map(|s| StateId(s) == model.initial() || !model.edges().any(|e| e.from.0 == s))
        .collect()
}

/// The union of both specs' message names, in the order moves index them.
pub(crate) fn message_table(a: &Peer<'_>, b: &Peer<'_>) -> Vec<String> {
    let mut messages: Vec<String> = Vec::new();
    for m in a.model.messages.iter().chain(&b.model.messages) {
        if !messages.contains(&m.name.text) && messages.len() < 255 {
            messages.push(m.name.text.clone());
        }
    }
    messages
}

/// `peer`'s moves, for every state and every value of its history
/// guards that entering some state can give (the initial values too).
pub(crate) fn table(peer: &Peer<'_>, messages: &[String]) -> Table {
    let side = Side::new(peer, messages);
    let model = peer.model;
    let mut bit_values = vec![side.entered(0, model.initial())];
    for s in 0..model.states.len() {
        for b in bit_values.clone() {
            let next = side.entered(b, StateId(s));
            if !bit_values.contains(&next) {
                bit_values.push(next);
            }
        }
    }
    bit_values.sort_unstable();
    let mut rows = Vec::new();
    for s in 0..model.states.len() {
        for &bits in &bit_values {
            let state = StateId(s);
            let mut spontaneous = Vec::new();
            for k in 0..side.spontaneous.len() {
                let e = side.spontaneous[k];
                for o in side.outcomes(state, bits, e) {
                    spontaneous.push((e, o));
                }
            }
            let mut receptions = Vec::new();
            for m in 0..messages.len() {
                let mut r = Vec::new();
                for k in 0..side.raised_by[m].len() {
                    let e = side.raised_by[m][k];
                    for o in side.outcomes(state, bits, e) {
                        r.push((e, o));
                    }
                }
                receptions.push(r);
            }
            rows.push(Row {
                state,
                bits,
                spontaneous,
                receptions,
            });
        }
    }
    Table { rows, bit_values }
}

/// A side, compiled for the search.
struct Side<'a> {
    model: &'a Model,
    history: &'a [History],
    pair_of: HashMap<(TransitionId, StateId), usize>,
    /// Per message (global index), the events it raises here, in
    /// declaration order.
    raised_by: Vec<Vec<EventId>>,
    /// Per action, the message it sends (global index).
    sends: Vec<Option<u8>>,
    /// Events the world raises: calls and timers.
    spontaneous: Vec<EventId>,
}

impl<'a> Side<'a> {
    fn new(peer: &'a Peer<'a>, messages: &[String]) -> Side<'a> {
        let model = peer.model;
        let index = |name: &str| messages.iter().position(|m| m == name).map(|i| i as u8);
        let mut raised_by = vec![Vec::new(); messages.len()];
        for (e, event) in model.events.iter().enumerate() {
            for m in &event.on {
                if let Some(i) = index(&model.messages[m.index()].name.text) {
                    raised_by[i as usize].push(EventId(e));
                }
            }
        }
        Side {
            model,
            history: &peer.history,
            pair_of: model
                .edges()
                .enumerate()
                .map(|(i, e)| ((e.transition, e.from), i))
                .collect(),
            raised_by,
            sends: model
                .actions
                .iter()
                .map(|a| {
                    a.sends
                        .and_then(|m| index(&model.messages[m.index()].name.text))
                })
                .collect(),
            spontaneous: model
                .events
                .iter()
                .enumerate()
                .filter(|(_, e)| e.kind != EventKind::Segment)
                .map(|(i, _)| EventId(i))
                .collect(),
        }
    }

    /// The history bits after entering `state` with `bits`.
    fn entered(&self, bits: u64, state: StateId) -> u64 {
        History::entered(self.history, bits, state)
    }

    /// Every distinct pair `event` can fire at `state` under some value of
    /// the free guards.
    fn outcomes(&self, state: StateId, bits: u64, event: EventId) -> Vec<Outcome> {
        let model = self.model;
        let candidates = model.candidates(state, event);
        let mut vars: Vec<GuardId> = candidates
            .iter()
            .filter_map(|t| model.transitions[t.index()].guard.as_ref())
            .flat_map(|g| g.vars().into_iter().copied())
            .collect();
        vars.sort();
        vars.dedup();
        let fixed = |g: GuardId| {
            self.history
                .iter()
                .position(|h| h.guard == g)
                .map(|k| bits & (1 << k) != 0)
        };
        let free: Vec<GuardId> = vars
            .iter()
            .copied()
            .filter(|&g| fixed(g).is_none())
            .take(16)
            .collect();
        let mut out: Vec<Outcome> = Vec::new();
        for mask in 0..1u32 << free.len() {
            let value = |g: &GuardId| {
                fixed(*g).unwrap_or_else(|| {
                    free.iter()
                        .position(|f| f == g)
                        .is_some_and(|k| mask & (1 << k) != 0)
                })
            };
            let fired = candidates.iter().find(|t| {
                model.transitions[t.index()]
                    .guard
                    .as_ref()
                    .is_none_or(|g| g.eval(&mut |v| value(v)))
            });
            if let Some(&t) = fired {
                let pair = self.pair_of[&(t, state)];
                if out.iter().all(|o| o.pair != pair) {
                    let tr = &model.transitions[t.index()];
                    out.push(Outcome {
                        pair,
                        to: tr.target_from(state),
                        sends: tr
                            .actions
                            .iter()
                            .filter_map(|a| self.sends[a.index()])
                            .collect(),
                    });
                }
            }
        }
        out
    }
}

/// Messages a channel holds at most (a key keeps a channel's length in a
/// nibble).
pub const MAX_CAPACITY: usize = 15;

/// Losses, and duplications, an exploration allows at most (a key keeps
/// each budget in a nibble).
pub const MAX_BUDGET: u8 = 15;

/// A global state, unpacked: small and `Copy`, so that a successor is a
/// copy and a change, never an allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Global {
    state: [u16; 2],
    bits: [u64; 2],
    /// `chan[s][..len[s]]`: messages on their way to side `s`.
    chan: [[u8; MAX_CAPACITY]; 2],
    len: [u8; 2],
    loss: u8,
    dup: u8,
}

impl Global {
    fn channel(&self, side: usize) -> &[u8] {
        &self.chan[side][..self.len[side] as usize]
    }

    fn push(&mut self, side: usize, message: u8) {
        self.chan[side][self.len[side] as usize] = message;
        self.len[side] += 1;
    }

    /// Takes the message at `at` out; the freed slot is zeroed, as keys
    /// hold the whole channel.
    fn remove(&mut self, side: usize, at: usize) {
        let n = self.len[side] as usize;
        self.chan[side].copy_within(at + 1..n, at);
        self.chan[side][n - 1] = 0;
        self.len[side] -= 1;
    }

    fn insert(&mut self, side: usize, at: usize, message: u8) {
        let n = self.len[side] as usize;
        self.chan[side].copy_within(at..n, at + 1);
        self.chan[side][at] = message;
        self.len[side] += 1;
    }
}

/// How a global state is written as a key, as few bytes as the
/// exploration needs: the two states (a byte each when both specs have
/// at most 256, else two), each side's history bits (as many bytes as its
/// history guards need, none without), the two budgets (a nibble each),
/// the two channels' lengths (a nibble each), then both channels' message
/// slots, padded to the capacity (a nibble each when there are at most
/// 16 messages, else a byte).
///
/// Every key has the same width, so the arena needs no index of where
/// keys start.
#[derive(Clone, Copy)]
struct Layout {
    capacity: usize,
    wide_states: bool,
    bit_bytes: [usize; 2],
    nibbles: bool,
}

impl Layout {
    fn encode(&self, g: &Global, out: &mut Vec<u8>) {
        out.clear();
        for s in g.state {
            if self.wide_states {
                out.extend_from_slice(&s.to_le_bytes());
            } else {
                out.push(s as u8);
            }
        }
        for side in 0..2 {
            out.extend_from_slice(&g.bits[side].to_le_bytes()[..self.bit_bytes[side]]);
        }
        out.push(g.loss << 4 | g.dup);
        out.push(g.len[0] << 4 | g.len[1]);
        let slots = g.chan[0][..self.capacity]
            .iter()
            .chain(&g.chan[1][..self.capacity]);
        if self.nibbles {
            let mut high = None;
            for &m in slots {
                match high.take() {
                    None => high = Some(m),
                    Some(h) => out.push(h << 4 | m),
                }
            }
            if let Some(h) = high {
                out.push(h << 4);
            }
        } else {
            out.extend(slots);
        }
    }

    /// Bytes a key takes.
    fn width(&self) -> usize {
        let states = if self.wide_states { 4 } else { 2 };
        let slots = 2 * self.capacity;
        let messages = if self.nibbles {
            slots.div_ceil(2)
        } else {
            slots
        };
        states + self.bit_bytes[0] + self.bit_bytes[1] + 2 + messages
    }

    fn decode(&self, key: &[u8]) -> Global {
        let mut g = Global {
            state: [0; 2],
            bits: [0; 2],
            chan: [[0; MAX_CAPACITY]; 2],
            len: [0; 2],
            loss: 0,
            dup: 0,
        };
        let mut at = 0;
        for side in 0..2 {
            if self.wide_states {
                g.state[side] = u16::from_le_bytes([key[at], key[at + 1]]);
                at += 2;
            } else {
                g.state[side] = u16::from(key[at]);
                at += 1;
            }
        }
        for side in 0..2 {
            let mut bytes = [0u8; 8];
            bytes[..self.bit_bytes[side]].copy_from_slice(&key[at..at + self.bit_bytes[side]]);
            g.bits[side] = u64::from_le_bytes(bytes);
            at += self.bit_bytes[side];
        }
        (g.loss, g.dup) = (key[at] >> 4, key[at] & 15);
        g.len = [key[at + 1] >> 4, key[at + 1] & 15];
        at += 2;
        for slot in 0..2 * self.capacity {
            let m = if self.nibbles {
                let byte = key[at + slot / 2];
                if slot % 2 == 0 { byte >> 4 } else { byte & 15 }
            } else {
                key[at + slot]
            };
            g.chan[slot / self.capacity][slot % self.capacity] = m;
        }
        g
    }
}

/// The states found so far: their keys end to end in one arena (all of
/// one width), and a hash table of their numbers.
struct Store {
    keys: Vec<u8>,
    width: usize,
    table: hashbrown::HashTable<u32>,
    hasher: foldhash::fast::FixedState,
}

impl Store {
    fn new(width: usize) -> Store {
        Store {
            keys: Vec::new(),
            width,
            table: hashbrown::HashTable::new(),
            hasher: foldhash::fast::FixedState::with_seed(0x5eed),
        }
    }

    fn len(&self) -> usize {
        self.keys.len() / self.width
    }

    fn key(&self, i: u32) -> &[u8] {
        let at = i as usize * self.width;
        &self.keys[at..at + self.width]
    }

    /// The number of the state with `key`, and whether it is new; `None`
    /// when it is new and the store is full.
    fn find_or_insert(&mut self, key: &[u8], limit: usize) -> Option<(u32, bool)> {
        use std::hash::BuildHasher;
        let hash = self.hasher.hash_one(key);
        let (keys, w) = (&self.keys, self.width);
        if let Some(&i) = self.table.find(hash, |&i| {
            &keys[i as usize * w..(i as usize + 1) * w] == key
        }) {
            return Some((i, false));
        }
        if self.len() >= limit {
            return None;
        }
        let i = self.len() as u32;
        self.keys.extend_from_slice(key);
        let (keys, hasher) = (&self.keys, &self.hasher);
        self.table.insert_unique(hash, i, |&j| {
            hasher.hash_one(&keys[j as usize * w..(j as usize + 1) * w])
        });
        Some((i, true))
    }

    /// Bytes it holds.
    fn bytes(&self) -> usize {
        self.keys.capacity() + self.table.capacity() * (4 + 1)
    }
}

/// A move in eight bytes, for the parent links.
fn pack(mv: &Move) -> u64 {
    let (kind, side, message, event, pair) = match *mv {
        Move::Fire {
            side,
            event,
            pair,
            received,
        } => (
            received.map_or(0, |_| 1),
            side,
            received.unwrap_or(0),
            event.index(),
            pair,
        ),
        Move::Unspecified { side, message } => (2, side, message, 0, 0),
        Move::Lose { side, message } => (3, side, message, 0, 0),
        Move::Duplicate { side, message } => (4, side, message, 0, 0),
    };
    kind | (side as u64) << 8
        | u64::from(message) << 16
        | (event as u64 & 0xffff) << 24
        | (pair as u64 & 0xff_ffff) << 40
}

fn unpack(x: u64) -> Move {
    let side = (x >> 8 & 0xff) as usize;
    let message = (x >> 16 & 0xff) as u8;
    match x & 0xff {
        k @ (0 | 1) => Move::Fire {
            side,
            event: EventId((x >> 24 & 0xffff) as usize),
            pair: (x >> 40 & 0xff_ffff) as usize,
            received: (k == 1).then_some(message),
        },
        2 => Move::Unspecified { side, message },
        3 => Move::Lose { side, message },
        _ => Move::Duplicate { side, message },
    }
}

/// Per state but the first: the state it was first reached from, and by
/// which move (packed).
struct Parents {
    from: Vec<u32>,
    by: Vec<u64>,
}

impl Parents {
    /// The moves from the initial state to `at`.
    fn schedule(&self, mut at: u32) -> Vec<Move> {
        let mut moves = Vec::new();
        while at != 0 {
            moves.push(unpack(self.by[at as usize - 1]));
            at = self.from[at as usize - 1];
        }
        moves.reverse();
        moves
    }
}

/// Explores `a` against `b` over `network`, up to `max_states` global
/// states. Channels hold 1 to [`MAX_CAPACITY`] messages and the budgets
/// are at most [`MAX_BUDGET`]; beyond, they are taken as those.
pub fn explore(a: &Peer<'_>, b: &Peer<'_>, network: Network, max_states: usize) -> Exploration {
    let started = Instant::now();
    let network = Network {
        capacity: network.capacity.clamp(1, MAX_CAPACITY),
        loss: network.loss.min(MAX_BUDGET),
        duplication: network.duplication.min(MAX_BUDGET),
        ..network
    };
    let messages = message_table(a, b);
    let tables = [table(a, &messages), table(b, &messages)];
    let histories = [a.history.as_slice(), b.history.as_slice()];
    let layout = Layout {
        capacity: network.capacity,
        wide_states: a.model.states.len() > 256 || b.model.states.len() > 256,
        nibbles: messages.len() <= 16,
        bit_bytes: [a, b].map(|p| p.history.len().min(64).div_ceil(8)),
    };
    let init = Global {
        state: [a.model.initial().0 as u16, b.model.initial().0 as u16],
        bits: [
            History::entered(histories[0], 0, a.model.initial()),
            History::entered(histories[1], 0, b.model.initial()),
        ],
        chan: [[0; MAX_CAPACITY]; 2],
        len: [0; 2],
        loss: network.loss,
        dup: network.duplication,
    };
    // A state with no way out, per side: an end when nothing is in flight.
    let ends = [a, b].map(|p| end_states(p.model));
    let mut store = Store::new(layout.width());
    let mut key = Vec::with_capacity(64);
    layout.encode(&init, &mut key);
    store.find_or_insert(&key, usize::MAX);
    let mut parents = Parents {
        from: Vec::new(),
        by: Vec::new(),
    };
    let mut taken = [
        vec![false; a.model.edges().count()],
        vec![false; b.model.edges().count()],
    ];
    let mut findings = Vec::new();
    // Per side, state and message: whether its unspecified reception was
    // reported.
    let states_of = [a.model.states.len(), b.model.states.len()];
    let mut unspecified_seen = [
        vec![false; states_of[0] * messages.len()],
        vec![false; states_of[1] * messages.len()],
    ];
    // Moves that change neither machine's state (self-loops, dropped
    // receptions), for the cycle search. Losses and duplications are left
    // out: their budgets only fall, so they are on no cycle.
    let mut idle_edges: Vec<(u32, u32, u64)> = Vec::new();
    let mut transitions = 0usize;
    let mut violations = 0usize;
    let mut truncated = false;
    let mut depth = 0;
    let mut level_end = 1;
    let mut successors: Vec<(Move, Global)> = Vec::new();
    // Breadth first: states are numbered in the order they are found, so
    // the queue is the numbers not yet expanded.
    let mut at = 0u32;
    while (at as usize) < store.len() {
        if at as usize == level_end {
            depth += 1;
            level_end = store.len();
        }
        let g = layout.decode(store.key(at));
        successors.clear();
        moves(&tables, histories, &g, network, &mut successors);
        if successors.is_empty() {
            let end = g.len == [0, 0] && (0..2).all(|s| ends[s][g.state[s] as usize]);
            if !end {
                violations += 1;
                findings.push(Finding::Deadlock {
                    schedule: parents.schedule(at),
                    states: names(a, b, &g),
                });
            }
        }
        for (mv, next) in successors.drain(..) {
            transitions += 1;
            match mv {
                Move::Fire { side, pair, .. } => taken[side][pair] = true,
                Move::Unspecified { side, message } => {
                    violations += 1;
                    let state = g.state[side];
                    let seen = &mut unspecified_seen[side]
                        [state as usize * messages.len() + message as usize];
                    if !std::mem::replace(seen, true) {
                        let mut s = parents.schedule(at);
                        s.push(mv.clone());
                        findings.push(Finding::UnspecifiedReception {
                            schedule: s,
                            side,
                            state: [a, b][side].model.states[state as usize].name.text.clone(),
                            message: messages[message as usize].clone(),
                        });
                    }
                }
                _ => {}
            }
            layout.encode(&next, &mut key);
            let Some((to, new)) = store.find_or_insert(&key, max_states) else {
                truncated = true;
                continue;
            };
            if new {
                parents.from.push(at);
                parents.by.push(pack(&mv));
            }
            let idle = matches!(mv, Move::Fire { .. } | Move::Unspecified { .. })
                && next.state == g.state
                && next.bits == g.bits;
            if idle && to != at {
                idle_edges.push((at, to, pack(&mv)));
            }
        }
        at += 1;
    }
    let states = store.len();
    let bytes = store.bytes()
        + parents.from.capacity() * 4
        + parents.by.capacity() * 8
        + idle_edges.capacity() * std::mem::size_of::<(u32, u32, u64)>();
    findings.extend(non_progress(a, b, &layout, &store, &parents, &idle_edges));
    findings.sort_by_key(|f| f.schedule().len());
    Exploration {
        states,
        transitions,
        depth,
        truncated,
        elapsed: started.elapsed(),
        bytes_per_state: bytes as f64 / states as f64,
        messages,
        findings,
        violations,
        untaken: taken.map(|t| {
            t.iter()
                .enumerate()
                .filter(|(_, taken)| !**taken)
                .map(|(i, _)| i)
                .collect()
        }),
    }
}

/// Every move from `g`.
fn moves(
    tables: &[Table; 2],
    histories: [&[History]; 2],
    g: &Global,
    net: Network,
    out: &mut Vec<(Move, Global)>,
) {
    for (side, table) in tables.iter().enumerate() {
        let row = table.row(g.state[side], g.bits[side]);
        let history = histories[side];
        // The world: calls and timers.
        for (event, o) in &row.spontaneous {
            if let Some(next) = fire(history, g, side, o, net) {
                let mv = Move::Fire {
                    side,
                    event: *event,
                    pair: o.pair,
                    received: None,
                };
                out.push((mv, next));
            }
        }
        // Receptions: the head, or any message of an unordered channel
        // (each distinct one once).
        let chan = g.channel(side);
        for i in 0..chan.len() {
            let first_of_its_kind = match net.order {
                Order::Fifo => i == 0,
                Order::Unordered => !chan[..i].contains(&chan[i]),
            };
            if !first_of_its_kind {
                continue;
            }
            let message = chan[i];
            let mut rest = *g;
            rest.remove(side, i);
            let readings = &row.receptions[message as usize];
            for (event, o) in readings {
                if let Some(next) = fire(history, &rest, side, o, net) {
                    let mv = Move::Fire {
                        side,
                        event: *event,
                        pair: o.pair,
                        received: Some(message),
                    };
                    out.push((mv, next));
                }
            }
            if readings.is_empty() {
                out.push((Move::Unspecified { side, message }, rest));
            }
            if g.loss > 0 {
                let mut lost = rest;
                lost.loss -= 1;
                out.push((Move::Lose { side, message }, lost));
            }
            if g.dup > 0 && chan.len() < net.capacity {
                let mut dup = *g;
                dup.dup -= 1;
                dup.insert(side, i, message);
                out.push((Move::Duplicate { side, message }, dup));
            }
        }
    }
}

/// `g` after `side` takes outcome `o` (from `g`, the received message
/// already out of its channel); `None` when what it sends does not fit.
fn fire(history: &[History], g: &Global, side: usize, o: &Outcome, net: Network) -> Option<Global> {
    let peer = 1 - side;
    if g.len[peer] as usize + o.sends.len() > net.capacity {
        return None;
    }
    let mut next = *g;
    next.state[side] = o.to.0 as u16;
    next.bits[side] = History::entered(history, g.bits[side], o.to);
    for &m in &o.sends {
        next.push(peer, m);
    }
    if net.order == Order::Unordered {
        let n = next.len[peer] as usize;
        next.chan[peer][..n].sort_unstable();
    }
    Some(next)
}

fn names(a: &Peer<'_>, b: &Peer<'_>, g: &Global) -> [String; 2] {
    [
        a.model.states[g.state[0] as usize].name.text.clone(),
        b.model.states[g.state[1] as usize].name.text.clone(),
    ]
}

/// One finding per set of states joined by a cycle of idle moves: the
/// way to its first-reached state, then once round.
fn non_progress(
    a: &Peer<'_>,
    b: &Peer<'_>,
    layout: &Layout,
    store: &Store,
    parents: &Parents,
    edges: &[(u32, u32, u64)],
) -> Vec<Finding> {
    let mut graph: DiGraph<u32, usize> = DiGraph::new();
    let mut node: HashMap<u32, NodeIndex> = HashMap::new();
    let mut at = |graph: &mut DiGraph<u32, usize>, s: u32| {
        *node.entry(s).or_insert_with(|| graph.add_node(s))
    };
    for (i, (from, to, _)) in edges.iter().enumerate() {
        let (f, t) = (at(&mut graph, *from), at(&mut graph, *to));
        graph.add_edge(f, t, i);
    }
    let mut found = Vec::new();
    for scc in tarjan_scc(&graph) {
        if scc.len() < 2 {
            continue;
        }
        let start = *scc.iter().min_by_key(|n| graph[**n]).expect("a member");
        // Once round: breadth first from `start` back to it, inside the set.
        let inside: std::collections::HashSet<NodeIndex> = scc.iter().copied().collect();
        let mut back: HashMap<NodeIndex, (NodeIndex, usize)> = HashMap::new();
        let mut queue = VecDeque::from([start]);
        let mut closing = None;
        'search: while let Some(n) = queue.pop_front() {
            for e in graph.edges(n) {
                use petgraph::visit::EdgeRef;
                let t = e.target();
                if !inside.contains(&t) {
                    continue;
                }
                if t == start {
                    closing = Some((n, *e.weight()));
                    break 'search;
                }
                if let std::collections::hash_map::Entry::Vacant(v) = back.entry(t) {
                    v.insert((n, *e.weight()));
                    queue.push_back(t);
                }
            }
        }
        let Some((last, last_edge)) = closing else {
            continue;
        };
        let mut cycle = vec![unpack(edges[last_edge].2)];
        let mut n = last;
        while n != start {
            let (prev, e) = back[&n];
            cycle.push(unpack(edges[e].2));
            n = prev;
        }
        cycle.reverse();
        let first = graph[start];
        let mut moves = parents.schedule(first);
        let len = cycle.len();
        moves.extend(cycle);
        found.push(Finding::NonProgressCycle {
            schedule: moves,
            cycle: len,
            states: names(a, b, &layout.decode(store.key(first))),
        });
    }
    found
}

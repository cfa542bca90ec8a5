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
use std::rc::Rc;
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
    /// the table) the receptions (empty: unspecified).
    pub(crate) rows: Vec<Row>,
}

/// The moves of one (state, history bits).
pub(crate) struct Row {
    pub(crate) state: StateId,
    pub(crate) bits: u64,
    pub(crate) spontaneous: Vec<(EventId, Outcome)>,
    pub(crate) receptions: Vec<Vec<(EventId, Outcome)>>,
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
    let mut side = Side::new(peer, messages);
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
                for o in side.outcomes(state, bits, e).iter() {
                    spontaneous.push((e, o.clone()));
                }
            }
            let mut receptions = Vec::new();
            for m in 0..messages.len() {
                let mut r = Vec::new();
                for k in 0..side.raised_by[m].len() {
                    let e = side.raised_by[m][k];
                    for o in side.outcomes(state, bits, e).iter() {
                        r.push((e, o.clone()));
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
    Table { rows }
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
    cache: HashMap<(StateId, u64, EventId), Rc<[Outcome]>>,
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
            cache: HashMap::new(),
        }
    }

    /// The history bits after entering `state` with `bits`.
    fn entered(&self, bits: u64, state: StateId) -> u64 {
        History::entered(self.history, bits, state)
    }

    /// Every distinct pair `event` can fire at `state` under some value of
    /// the free guards.
    fn outcomes(&mut self, state: StateId, bits: u64, event: EventId) -> Rc<[Outcome]> {
        if let Some(o) = self.cache.get(&(state, bits, event)) {
            return o.clone();
        }
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
        let out: Rc<[Outcome]> = out.into();
        self.cache.insert((state, bits, event), out.clone());
        out
    }
}

/// A global state, unpacked.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Global {
    state: [StateId; 2],
    bits: [u64; 2],
    /// `chan[s]`: messages on their way to side `s`.
    chan: [Vec<u8>; 2],
    loss: u8,
    dup: u8,
}

impl Global {
    /// The key stored for it: a few bytes.
    fn key(&self, out: &mut Vec<u8>) {
        out.clear();
        for s in self.state {
            out.extend_from_slice(&(s.0 as u16).to_le_bytes());
        }
        for b in self.bits {
            // History guards are few: their bits fit a byte in practice.
            out.extend_from_slice(&b.to_le_bytes()[..if b >> 8 == 0 { 1 } else { 8 }]);
        }
        out.push(self.loss);
        out.push(self.dup);
        for c in &self.chan {
            out.push(c.len() as u8);
            out.extend_from_slice(c);
        }
    }
}

/// Explores `a` against `b` over `network`, up to `max_states` global
/// states.
pub fn explore(a: &Peer<'_>, b: &Peer<'_>, network: Network, max_states: usize) -> Exploration {
    let started = Instant::now();
    let messages = message_table(a, b);
    let mut sides = [Side::new(a, &messages), Side::new(b, &messages)];
    let init = Global {
        state: [a.model.initial(), b.model.initial()],
        bits: [
            sides[0].entered(0, a.model.initial()),
            sides[1].entered(0, b.model.initial()),
        ],
        chan: [Vec::new(), Vec::new()],
        loss: network.loss,
        dup: network.duplication,
    };
    let mut index: HashMap<Box<[u8]>, u32> = HashMap::new();
    let mut stored: Vec<Global> = Vec::new();
    // Per state: the state it was first reached from, by which move.
    let mut parent: Vec<Option<(u32, Move)>> = Vec::new();
    let mut depth: Vec<u32> = Vec::new();
    let mut key = Vec::new();
    init.key(&mut key);
    index.insert(key.clone().into(), 0);
    stored.push(init);
    parent.push(None);
    depth.push(0);
    let mut key_bytes = key.len();

    let mut taken = [
        vec![false; a.model.edges().count()],
        vec![false; b.model.edges().count()],
    ];
    let mut findings = Vec::new();
    let mut unspecified_seen: HashMap<(usize, StateId, u8), ()> = HashMap::new();
    // Moves that change neither machine's state, for the cycle search.
    let mut idle_edges: Vec<(u32, u32, Move)> = Vec::new();
    let mut transitions = 0usize;
    let mut violations = 0usize;
    let mut truncated = false;
    let mut queue = VecDeque::from([0u32]);
    let mut successors: Vec<(Move, Global)> = Vec::new();
    while let Some(at) = queue.pop_front() {
        let g = stored[at as usize].clone();
        successors.clear();
        moves(&mut sides, &g, network, &mut successors);
        if successors.is_empty() {
            let end = g.chan.iter().all(Vec::is_empty)
                && (0..2).all(|side| {
                    let m = [a, b][side].model;
                    let at = g.state[side];
                    at == m.initial() || !m.edges().any(|e| e.from == at)
                });
            if !end {
                violations += 1;
                findings.push(Finding::Deadlock {
                    schedule: schedule(&parent, at),
                    states: names(a, b, &g),
                });
            }
        }
        for (mv, next) in successors.drain(..) {
            transitions += 1;
            match &mv {
                Move::Fire { side, pair, .. } => taken[*side][*pair] = true,
                Move::Unspecified { side, message } => {
                    violations += 1;
                    let state = g.state[*side];
                    if unspecified_seen
                        .insert((*side, state, *message), ())
                        .is_none()
                    {
                        let mut s = schedule(&parent, at);
                        s.push(mv.clone());
                        findings.push(Finding::UnspecifiedReception {
                            schedule: s,
                            side: *side,
                            state: [a, b][*side].model.states[state.index()].name.text.clone(),
                            message: messages[*message as usize].clone(),
                        });
                    }
                }
                _ => {}
            }
            next.key(&mut key);
            let to = match index.get(key.as_slice()) {
                Some(&i) => i,
                None => {
                    if stored.len() >= max_states {
                        truncated = true;
                        continue;
                    }
                    let i = stored.len() as u32;
                    key_bytes += key.len();
                    index.insert(key.clone().into(), i);
                    stored.push(next.clone());
                    parent.push(Some((at, mv.clone())));
                    depth.push(depth[at as usize] + 1);
                    queue.push_back(i);
                    i
                }
            };
            if to != at && next.state == g.state && next.bits == g.bits {
                idle_edges.push((at, to, mv));
            }
        }
    }
    findings.extend(non_progress(a, b, &stored, &parent, &idle_edges));
    findings.sort_by_key(|f| f.schedule().len());
    // The table, the key bytes and the per-state bookkeeping.
    let per_entry =
        std::mem::size_of::<(Box<[u8]>, u32)>() + std::mem::size_of::<Option<(u32, Move)>>() + 4;
    let bytes = key_bytes + stored.len() * per_entry;
    Exploration {
        states: stored.len(),
        transitions,
        depth: depth.iter().copied().max().unwrap_or(0) as usize,
        truncated,
        elapsed: started.elapsed(),
        bytes_per_state: bytes as f64 / stored.len() as f64,
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
fn moves(sides: &mut [Side<'_>; 2], g: &Global, net: Network, out: &mut Vec<(Move, Global)>) {
    for (side, s) in sides.iter_mut().enumerate() {
        // The world: calls and timers.
        for k in 0..s.spontaneous.len() {
            let event = s.spontaneous[k];
            for o in s.outcomes(g.state[side], g.bits[side], event).iter() {
                if let Some(next) = fire(s, g, side, o, net) {
                    out.push((
                        Move::Fire {
                            side,
                            event,
                            pair: o.pair,
                            received: None,
                        },
                        next,
                    ));
                }
            }
        }
        // Receptions: the head, or any message of an unordered channel
        // (each distinct one once).
        let chan = &g.chan[side];
        let positions: Vec<usize> = match net.order {
            Order::Fifo => (0..chan.len().min(1)).collect(),
            Order::Unordered => (0..chan.len())
                .filter(|&i| !chan[..i].contains(&chan[i]))
                .collect(),
        };
        for i in positions {
            let message = chan[i];
            let mut rest = g.clone();
            rest.chan[side].remove(i);
            let mut any = false;
            for k in 0..s.raised_by[message as usize].len() {
                let event = s.raised_by[message as usize][k];
                for o in s.outcomes(g.state[side], g.bits[side], event).iter() {
                    any = true;
                    if let Some(next) = fire(s, &rest, side, o, net) {
                        let mv = Move::Fire {
                            side,
                            event,
                            pair: o.pair,
                            received: Some(message),
                        };
                        out.push((mv, next));
                    }
                }
            }
            if !any {
                out.push((Move::Unspecified { side, message }, rest.clone()));
            }
            if g.loss > 0 {
                let mut lost = rest;
                lost.loss -= 1;
                out.push((Move::Lose { side, message }, lost));
            }
            if g.dup > 0 && chan.len() < net.capacity {
                let mut dup = g.clone();
                dup.dup -= 1;
                dup.chan[side].insert(i, message);
                out.push((Move::Duplicate { side, message }, dup));
            }
        }
    }
}

/// `g` after `side` takes outcome `o` (from `g`, the received message
/// already out of its channel); `None` when what it sends does not fit.
fn fire(s: &Side<'_>, g: &Global, side: usize, o: &Outcome, net: Network) -> Option<Global> {
    let peer = 1 - side;
    if g.chan[peer].len() + o.sends.len() > net.capacity {
        return None;
    }
    let mut next = g.clone();
    next.state[side] = o.to;
    next.bits[side] = s.entered(g.bits[side], o.to);
    next.chan[peer].extend_from_slice(&o.sends);
    if net.order == Order::Unordered {
        next.chan[peer].sort_unstable();
    }
    Some(next)
}

/// The moves from the initial state to `at`.
fn schedule(parent: &[Option<(u32, Move)>], mut at: u32) -> Vec<Move> {
    let mut moves = Vec::new();
    while let Some((from, mv)) = &parent[at as usize] {
        moves.push(mv.clone());
        at = *from;
    }
    moves.reverse();
    moves
}

fn names(a: &Peer<'_>, b: &Peer<'_>, g: &Global) -> [String; 2] {
    [
        a.model.states[g.state[0].index()].name.text.clone(),
        b.model.states[g.state[1].index()].name.text.clone(),
    ]
}

/// One finding per set of states joined by a cycle of idle moves: the
/// way to its first-reached state, then once round.
fn non_progress(
    a: &Peer<'_>,
    b: &Peer<'_>,
    stored: &[Global],
    parent: &[Option<(u32, Move)>],
    edges: &[(u32, u32, Move)],
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
        let mut cycle = vec![edges[last_edge].2.clone()];
        let mut n = last;
        while n != start {
            let (prev, e) = back[&n];
            cycle.push(edges[e].2.clone());
            n = prev;
        }
        cycle.reverse();
        let first = graph[start];
        let mut moves = schedule(parent, first);
        let len = cycle.len();
        moves.extend(cycle);
        found.push(Finding::NonProgressCycle {
            schedule: moves,
            cycle: len,
            states: names(a, b, &stored[first as usize]),
        });
    }
    found
}

//! The breadth-first search: level by level, each level's states expanded
//! on every thread, their successors merged in order on one. Every
//! counterexample is a shortest one, and the states, edges and ends do not
//! depend on the number of threads. Of states with one fingerprint (they
//! differ only in what the fingerprint leaves out, such as the order of
//! datagrams going opposite ways), the one kept is the first parent's in
//! the frontier's order, so counterexamples do not depend on them either.
//!
//! A visited state costs a 64-bit fingerprint in the visited map, its
//! parent and the move from it (for counterexamples), and its edges (for
//! the non-progress check); whole states are kept only for the frontier.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Mutex;

use fsm_runtime::vocab::Machine;
use rayon::prelude::*;

use super::world::{Ctx, Memo, Move, Sink, World};
use super::{Property, Violation};

/// The fingerprint is a hash already: the map uses it as it is.
#[derive(Default)]
pub(crate) struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, _: &[u8]) {
        unreachable!("only u64 keys")
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type Visited = HashMap<u64, u32, BuildHasherDefault<Identity>>;

pub(crate) fn fingerprint<M: Machine>(w: &World<M>, ctx: &Ctx) -> u64 {
    let mut h = super::fingerprint::hasher();
    w.fingerprint(ctx, &mut h);
    h.finish()
}

/// What a state turned out to be when it was reached or expanded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Expanded: it has moves.
    Inner,
    /// No move: a desired end.
    Desired,
    /// No move: an acceptable end.
    Acceptable,
    /// A property is violated here (not expanded).
    Violation,
    /// At the depth bound (not expanded).
    Cut,
}

/// The explored graph.
pub(crate) struct Graph {
    pub visited: Visited,
    pub parent: Vec<u32>,
    pub via: Vec<Move>,
    pub kind: Vec<Kind>,
    /// Successors of state `i`: `edges[edge_start[i]..edge_start[i + 1]]`.
    pub edge_start: Vec<u32>,
    pub edges: Vec<u32>,
    pub depth: u32,
    /// The first (shortest) violation of each property and its state.
    pub first: Vec<(Violation, u32)>,
    /// Violations found, per property.
    pub counts: HashMap<Property, u64>,
    /// Reasons of acceptable ends, with counts.
    pub acceptable: HashMap<String, u64>,
    pub pairs: HashSet<(u8, u32, &'static str)>,
    /// The most states one level held.
    pub widest_level: usize,
}

impl Graph {
    fn add(&mut self, fp: u64, parent: u32, via: Move, kind: Kind) -> u32 {
        let id = self.parent.len() as u32;
        self.visited.insert(fp, id);
        self.parent.push(parent);
        self.via.push(via);
        self.kind.push(kind);
        id
    }

    /// The moves from the initial state to `id`.
    pub fn path(&self, mut id: u32) -> Vec<Move> {
        let mut moves = Vec::new();
        while id != 0 {
            moves.push(self.via[id as usize]);
            id = self.parent[id as usize];
        }
        moves.reverse();
        moves
    }

    fn violation(&mut self, v: Violation, id: u32) {
        *self.counts.entry(v.property).or_default() += 1;
        if !self.first.iter().any(|(f, _)| f.property == v.property) {
            self.first.push((v, id));
        }
    }

    /// Bytes the graph holds per visited state (map, parents, edges).
    pub fn bytes_per_state(&self) -> f64 {
        let n = self.parent.len().max(1) as f64;
        let map = self.visited.capacity() * (std::mem::size_of::<(u64, u32)>() + 1);
        let per = self.parent.capacity() * 4
            + self.via.capacity() * std::mem::size_of::<Move>()
            + self.kind.capacity()
            + self.edge_start.capacity() * 4
            + self.edges.capacity() * 4;
        (map + per) as f64 / n
    }
}

/// A successor as a worker found it.
enum Found<M: Machine> {
    /// Seen at an earlier level: its id.
    Old(u32),
    /// First seen at this level, and an earlier parent in the frontier's
    /// order (or an earlier move of this one) reached it too.
    Later(u64),
    /// First seen at this level, by no earlier parent so far: the state,
    /// or the violation it is. The first in the frontier's order keeps it.
    New(u64, Box<World<M>>),
    Bad(u64, Violation),
}

/// What a worker made of one frontier state.
enum Expanded<M: Machine> {
    /// No move: how the state ends.
    End(Result<Option<String>, Violation>),
    Moves(Vec<(Move, Found<M>)>),
}

/// Progress: states so far, the current depth.
pub(crate) type Progress<'a> = &'a (dyn Fn(u64, u32) + Sync);

/// Explores everything reachable from `init`.
pub(crate) fn search<M: Machine>(
    init: World<M>,
    ctx: &Ctx,
    threads: usize,
    max_depth: Option<u32>,
    progress: Progress<'_>,
) -> Graph {
    let mut g = Graph {
        visited: Visited::default(),
        parent: Vec::new(),
        via: Vec::new(),
        kind: Vec::new(),
        edge_start: Vec::new(),
        edges: Vec::new(),
        depth: 0,
        first: Vec::new(),
        counts: HashMap::new(),
        acceptable: HashMap::new(),
        pairs: HashSet::new(),
        widest_level: 0,
    };
    let root = g.add(fingerprint(&init, ctx), 0, Move::Timer, Kind::Inner);
    let mut frontier: Vec<(u32, World<M>)> = vec![(root, init)];
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .thread_name(|i| format!("explore-{i}"))
        .build()
        .expect("threads can be started");
    let sinks: Vec<Mutex<Sink<M>>> = (0..pool.current_num_threads())
        .map(|_| {
            Mutex::new(Sink {
                memo: Some(Memo::new()),
                ..Sink::default()
            })
        })
        .collect();
    while !frontier.is_empty() {
        progress(g.parent.len() as u64, g.depth);
        if max_depth.is_some_and(|d| g.depth >= d) {
            for (id, _) in &frontier {
                g.kind[*id as usize] = Kind::Cut;
            }
            break;
        }
        g.widest_level = g.widest_level.max(frontier.len());
        let ids: Vec<u32> = frontier.iter().map(|(id, _)| *id).collect();
        let mut results = expand_level(&pool, &sinks, frontier, &g.visited, ctx);
        // New states take their ids in the frontier's order, and their
        // worlds from the first parent that reached them, which holds it:
        // the graph and its counterexamples are the same on any number of
        // threads.
        let level_start = g.parent.len();
        let mut level: HashMap<u64, u32, BuildHasherDefault<Identity>> = HashMap::default();
        let mut next: Vec<(u32, World<M>)> = Vec::new();
        let mut violations = Vec::new();
        for (&id, expanded) in ids.iter().zip(results.iter_mut()) {
            let Expanded::Moves(moves) = expanded else {
                continue;
            };
            for (mv, found) in moves.iter_mut() {
                let fp = match *found {
                    Found::Old(_) => continue,
                    Found::Later(fp) | Found::New(fp, _) | Found::Bad(fp, _) => fp,
                };
                if level.contains_key(&fp) {
                    continue;
                }
                let t = g.add(fp, id, *mv, Kind::Inner);
                level.insert(fp, t);
                match std::mem::replace(found, Found::Later(fp)) {
                    Found::New(_, w) => next.push((t, *w)),
                    Found::Bad(_, v) => {
                        g.kind[t as usize] = Kind::Violation;
                        violations.push((t, v));
                    }
                    Found::Old(_) | Found::Later(_) => {
                        unreachable!("the first parent to reach a state holds it")
                    }
                }
            }
        }
        debug_assert!(next.iter().all(|(t, _)| *t as usize >= level_start));
        for (t, v) in violations {
            g.violation(v, t);
        }
        for (&id, expanded) in ids.iter().zip(results) {
            // Ids up to this one that were never expanded have no edges.
            while g.edge_start.len() < id as usize {
                g.edge_start.push(g.edges.len() as u32);
            }
            g.edge_start.push(g.edges.len() as u32);
            let moves = match expanded {
                Expanded::End(Ok(None)) => {
                    g.kind[id as usize] = Kind::Desired;
                    continue;
                }
                Expanded::End(Ok(Some(why))) => {
                    g.kind[id as usize] = Kind::Acceptable;
                    *g.acceptable.entry(why).or_default() += 1;
                    continue;
                }
                Expanded::End(Err(v)) => {
                    g.kind[id as usize] = Kind::Violation;
                    g.violation(v, id);
                    continue;
                }
                Expanded::Moves(moves) => moves,
            };
            for (_, found) in moves {
                g.edges.push(match found {
                    Found::Old(t) => t,
                    Found::Later(fp) | Found::New(fp, _) | Found::Bad(fp, _) => level[&fp],
                });
            }
        }
        frontier = next;
        if !frontier.is_empty() {
            g.depth += 1;
        }
    }
    while g.edge_start.len() <= g.parent.len() {
        g.edge_start.push(g.edges.len() as u32);
    }
    for sink in sinks {
        g.pairs.extend(sink.into_inner().expect("no panic").pairs);
    }
    progress(g.parent.len() as u64, g.depth);
    g
}

/// Successors first found at this level, each with the least (frontier
/// position, move) that reached it so far, sharded by fingerprint.
struct Claims(Vec<Mutex<HashMap<u64, u64, BuildHasherDefault<Identity>>>>);

impl Claims {
    fn new() -> Claims {
        Claims((0..64).map(|_| Mutex::default()).collect())
    }

    /// Whether `key` is the least that reached `fp` so far: the caller
    /// keeps the state, and drops it if an earlier one claims it later.
    fn claim(&self, fp: u64, key: u64) -> bool {
        let mut shard = self.0[(fp >> 58) as usize]
            .lock()
            .expect("no panic while held");
        match shard.entry(fp) {
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(key);
                true
            }
            std::collections::hash_map::Entry::Occupied(mut e) => {
                let won = key < *e.get();
                if won {
                    e.insert(key);
                }
                won
            }
        }
    }
}

/// Expands every state of a level on the pool's threads (each with its
/// own sink), dropping each once expanded; the results in the frontier's
/// order.
fn expand_level<M: Machine>(
    pool: &rayon::ThreadPool,
    sinks: &[Mutex<Sink<M>>],
    frontier: Vec<(u32, World<M>)>,
    visited: &Visited,
    ctx: &Ctx,
) -> Vec<Expanded<M>> {
    let chunk = frontier
        .len()
        .div_ceil(pool.current_num_threads() * 8)
        .max(1);
    let mut chunks: Vec<Vec<World<M>>> = Vec::new();
    let mut rest = frontier.into_iter().map(|(_, w)| w).peekable();
    while rest.peek().is_some() {
        chunks.push(rest.by_ref().take(chunk).collect());
    }
    let claims = Claims::new();
    let done: Vec<Vec<Expanded<M>>> = pool.install(|| {
        chunks
            .into_par_iter()
            .enumerate()
            .map_init(Vec::new, |moves, (i, part)| {
                let worker = rayon::current_thread_index().expect("in the pool");
                let mut sink = sinks[worker].lock().expect("no panic while held");
                part.into_iter()
                    .enumerate()
                    .map(|(j, w)| {
                        let key = ((i * chunk + j) as u64) << 16;
                        expand(w, key, visited, &claims, ctx, &mut sink, moves)
                    })
                    .collect()
            })
            .collect()
    });
    done.into_iter().flatten().collect()
}

/// The successors of `w`; `key` orders it in the frontier.
fn expand<M: Machine>(
    w: World<M>,
    key: u64,
    visited: &Visited,
    claims: &Claims,
    ctx: &Ctx,
    sink: &mut Sink<M>,
    moves: &mut Vec<Move>,
) -> Expanded<M> {
    w.moves(ctx, moves);
    if moves.is_empty() {
        return Expanded::End(w.classify(ctx));
    }
    let mut out = Vec::with_capacity(moves.len());
    for (k, &mv) in moves.iter().enumerate() {
        let mut next = w.clone();
        let result = next.apply(mv, ctx, sink);
        let mut fp = fingerprint(&next, ctx);
        if result.is_err() {
            // A violation is told apart from a clean state with the same
            // fingerprint.
            fp ^= 0x9e37_79b9_7f4a_7c15;
        }
        let found = if let Some(&t) = visited.get(&fp) {
            Found::Old(t)
        } else if !claims.claim(fp, key | k as u64) {
            Found::Later(fp)
        } else {
            match result {
                Err(v) => Found::Bad(fp, v),
                Ok(()) => Found::New(fp, Box::new(next)),
            }
        };
        out.push((mv, found));
    }
    Expanded::Moves(out)
}

/// States from which no end can be reached (neither a terminal state, nor
/// a violation, nor the depth bound): the non-progress set, found on the
/// explored graph backwards from the ends.
pub(crate) fn stuck(g: &Graph) -> Vec<bool> {
    let n = g.parent.len();
    // Predecessors, as a compressed list.
    let mut count = vec![0u32; n + 1];
    for &t in &g.edges {
        count[t as usize + 1] += 1;
    }
    for i in 0..n {
        count[i + 1] += count[i];
    }
    let mut pred = vec![0u32; g.edges.len()];
    let mut fill = count.clone();
    for s in 0..n {
        let (a, b) = (g.edge_start[s] as usize, g.edge_start[s + 1] as usize);
        for &t in &g.edges[a..b] {
            pred[fill[t as usize] as usize] = s as u32;
            fill[t as usize] += 1;
        }
    }
    let mut reaches = vec![false; n];
    let mut queue: Vec<u32> = Vec::new();
    for (i, k) in g.kind.iter().enumerate() {
        if *k != Kind::Inner {
            reaches[i] = true;
            queue.push(i as u32);
        }
    }
    while let Some(t) = queue.pop() {
        let t = t as usize;
        for &p in &pred[count[t] as usize..count[t + 1] as usize] {
            if !reaches[p as usize] {
                reaches[p as usize] = true;
                queue.push(p);
            }
        }
    }
    reaches.into_iter().map(|r| !r).collect()
}

/// A non-progress counterexample: the path to the first stuck state, then
/// moves round a cycle among stuck states until one repeats.
pub(crate) fn lasso<M: Machine>(
    g: &Graph,
    stuck: &[bool],
    init: &World<M>,
    ctx: &Ctx,
) -> Option<(Violation, Vec<Move>, usize)> {
    let first = stuck.iter().position(|&s| s)? as u32;
    let mut path = g.path(first);
    let mut world = init.clone();
    let mut sink = Sink::default();
    for &mv in &path {
        world.apply(mv, ctx, &mut sink).ok()?;
    }
    let stem = path.len();
    let mut seen = HashSet::from([first]);
    let mut moves = Vec::new();
    loop {
        world.moves(ctx, &mut moves);
        let step = moves.iter().find_map(|&mv| {
            let mut next = world.clone();
            next.apply(mv, ctx, &mut Sink::default()).ok()?;
            let id = *g.visited.get(&fingerprint(&next, ctx))?;
            stuck[id as usize].then_some((mv, next, id))
        });
        let (mv, next, id) = step?;
        path.push(mv);
        world = next;
        if !seen.insert(id) {
            break;
        }
    }
    let v = Violation::new(
        Property::NonProgress,
        format!(
            "after {stem} moves the scenario can no longer end: from here every move stays \
             among {} states that cannot reach an end (a cycle of {} moves shown)",
            stuck.iter().filter(|&&s| s).count(),
            path.len() - stem
        ),
    );
    Some((v, path, stem))
}

//! Counts and per-state degrees, for `fsm stats`.

use std::fmt;

use petgraph::Direction;
use petgraph::graph::NodeIndex;

use crate::check::graph;
use crate::model::Model;

/// Sizes of a model and the in/out degree of each state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stats {
    /// The machine's name.
    pub machine: String,
    /// Number of states.
    pub states: usize,
    /// Number of events.
    pub events: usize,
    /// Number of guards.
    pub guards: usize,
    /// Number of actions.
    pub actions: usize,
    /// Number of transition declarations.
    pub transitions: usize,
    /// Number of (transition, source state) pairs.
    pub edges: usize,
    /// Per state, in declaration order: name, incoming edges, outgoing edges.
    pub degrees: Vec<(String, usize, usize)>,
}

impl Stats {
    /// Computes the statistics of `model`.
    pub fn of(model: &Model) -> Stats {
        let g = graph(model);
        let degrees = model
            .states
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let n = NodeIndex::new(i);
                (
                    s.name.text.clone(),
                    g.edges_directed(n, Direction::Incoming).count(),
                    g.edges_directed(n, Direction::Outgoing).count(),
                )
            })
            .collect();
        Stats {
            machine: model.name.text.clone(),
            states: model.states.len(),
            events: model.events.len(),
            guards: model.guards.len(),
            actions: model.actions.len(),
            transitions: model.transitions.len(),
            edges: g.edge_count(),
            degrees,
        }
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "machine      {}", self.machine)?;
        writeln!(f, "states       {}", self.states)?;
        writeln!(f, "events       {}", self.events)?;
        writeln!(f, "guards       {}", self.guards)?;
        writeln!(f, "actions      {}", self.actions)?;
        writeln!(
            f,
            "transitions  {} ({} edges counting each source state)",
            self.transitions, self.edges
        )?;
        writeln!(f)?;
        let width = self
            .degrees
            .iter()
            .map(|(n, ..)| n.len())
            .max()
            .unwrap_or(5)
            .max(5);
        writeln!(f, "{:width$}  {:>3}  {:>3}", "state", "in", "out")?;
        for (name, din, dout) in &self.degrees {
            writeln!(f, "{name:width$}  {din:>3}  {dout:>3}")?;
        }
        Ok(())
    }
}

/// `n` in groups of three digits, for tables people read: `1,234,567`.
pub fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

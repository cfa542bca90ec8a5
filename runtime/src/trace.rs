//! The transition trace: every state change with its condition/action
//! label and, on the typical paths, the article's step number.

use std::fmt;
use std::net::SocketAddrV4;
use std::time::Duration;

use crate::vocab::{Machine, TcpWords, TransitionInfo, Word, Words};
pub use crate::vocab::{StepMark, circled};

/// One fired transition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceEntry {
    /// Time since the endpoint started.
    pub at: Duration,
    /// Our address (inner).
    pub local: SocketAddrV4,
    /// The peer's address (inner), once known.
    pub remote: Option<SocketAddrV4>,
    /// The transition as the spec declares it.
    pub transition: TransitionInfo,
    /// Typical-path steps of the transition.
    pub steps: Vec<StepMark>,
}

impl TraceEntry {
    pub(crate) fn new<M: Machine>(
        machine: &M,
        at: Duration,
        local: SocketAddrV4,
        remote: Option<SocketAddrV4>,
        index: u32,
    ) -> Self {
        TraceEntry {
            at,
            local,
            remote,
            transition: machine.transition(index),
            steps: machine.transition_steps(index).collect(),
        }
    }

    /// The step number on `path` (`client`, `server`), if any.
    pub fn step(&self, path: &str) -> Option<u8> {
        self.steps.iter().find(|m| m.path == path).map(|m| m.step)
    }
}

/// One event raised on a connection and what the spec made of it, refused
/// events and repeated self-loops included (recorded when
/// [`Config::record_steps`](crate::Config::record_steps) is on). An oracle
/// holds these against the spec. `W` is the machine's vocabulary: the
/// connection machine's by default, [`CcWords`](crate::cc::CcWords) for the
/// congestion machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepRecord<W: Words = TcpWords> {
    /// Time since the endpoint started.
    pub at: Duration,
    /// Our address (inner).
    pub local: SocketAddrV4,
    /// The peer's address (inner), once known.
    pub remote: Option<SocketAddrV4>,
    /// The event raised.
    pub event: W::Event,
    /// Every guard of the vocabulary, as it held when the event was raised.
    pub guards: Vec<(W::Guard, bool)>,
    /// The state the event found.
    pub from: &'static str,
    /// The state after it (`from` when refused).
    pub to: &'static str,
    /// The pair that fired; `None` when the spec had no transition.
    pub transition: Option<TransitionInfo>,
    /// The actions carried out, in order.
    pub actions: Vec<W::Action>,
}

impl<W: Words> StepRecord<W> {
    /// The value `guard` had.
    pub fn guard(&self, guard: W::Guard) -> bool {
        self.guards.iter().any(|&(g, v)| g == guard && v)
    }
}

impl<W: Words> fmt::Display for StepRecord<W> {
    /// `ESTABLISHED --rcv_fin [fin_acked=false]--> CLOSE_WAIT / send_ack`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let guards: Vec<String> = self
            .guards
            .iter()
            .map(|(g, v)| format!("{g}={v}"))
            .collect();
        write!(
            f,
            "{:>8.3}s {} --{} [{}]--> {}",
            self.at.as_secs_f64(),
            self.from,
            self.event,
            guards.join(" "),
            self.to
        )?;
        match &self.transition {
            None => f.write_str(" (refused)"),
            Some(t) => {
                let actions: Vec<&str> = self.actions.iter().map(|a| a.name()).collect();
                write!(f, " / {} (line {})", actions.join(", "), t.line)
            }
        }
    }
}

impl fmt::Display for TraceEntry {
    /// `   0.012s 127.0.0.1:49152 > 127.0.0.1:7000    SYN_SENT -> ESTABLISHED  SYN+ACK / ACK  (client ③, line 95)`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.transition;
        let peer = self
            .remote
            .map_or_else(|| "*".to_owned(), |r| r.to_string());
        write!(
            f,
            "{:>8.3}s {:>21} > {:<21} {:>11} -> {:<11}  {}",
            self.at.as_secs_f64(),
            self.local.to_string(),
            peer,
            t.from,
            t.to,
            t.label
        )?;
        let mut notes: Vec<String> = self
            .steps
            .iter()
            .map(|m| format!("{} {m}", m.path))
            .collect();
        notes.push(format!("line {}", t.line));
        write!(f, "  ({})", notes.join(", "))
    }
}

/// Which (transition, source state) pairs a set of traces took, for
/// coverage.
#[derive(Clone, Debug)]
pub struct Coverage {
    taken: Vec<u64>,
}

impl Coverage {
    /// Empty coverage of a machine.
    pub fn new<M: Machine>(machine: &M) -> Self {
        Coverage {
            taken: vec![0; machine.pairs()],
        }
    }

    /// Counts one transition taken.
    pub fn record(&mut self, transition: &TransitionInfo) {
        if let Some(n) = usize::try_from(transition.index)
            .ok()
            .and_then(|d| self.taken.get_mut(d))
        {
            *n += 1;
        }
    }

    /// Pairs taken at least once.
    pub fn covered(&self) -> usize {
        self.taken.iter().filter(|n| **n > 0).count()
    }

    /// Number of pairs.
    pub fn total(&self) -> usize {
        self.taken.len()
    }

    /// Indices of pairs never taken.
    pub fn missing(&self) -> Vec<usize> {
        (0..self.taken.len())
            .filter(|i| self.taken[*i] == 0)
            .collect()
    }
}

impl fmt::Display for Coverage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "transitions covered: {}/{} pairs",
            self.covered(),
            self.total()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn circled_digits_match_the_article() {
        assert_eq!(circled(1), "①");
        assert_eq!(circled(7), "⑦");
        assert_eq!(circled(21), "(21)");
    }
}

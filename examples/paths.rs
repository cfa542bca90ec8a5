//! How far a run followed the numbered paths its spec declares (tcp.fsm:
//! `client` ①-⑦ and `server` [1]-[7]); any spec may declare other paths,
//! with other lengths, or none.
//!
//! The generator's checks make a path's steps 1, 2, 3 … without gaps, each
//! starting where the previous one ended. A step sits on a transition or
//! on a state (tcp.fsm: step 1 of both paths on CLOSED); a step on a state
//! is where the previous step ended (or the next one starts), so it is
//! followed when the steps around it are. A run follows a path up to the
//! first transition step it did not take next.

use std::collections::BTreeSet;
use std::fmt;

use fsm_runtime::trace::TraceEntry;
use fsm_runtime::vocab::Machine;

/// A numbered path of a spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NumberedPath {
    /// Its name (`client`).
    pub name: &'static str,
    /// How many steps it has.
    pub steps: u8,
    /// The numbers of its steps that sit on transitions.
    on_transitions: BTreeSet<u8>,
}

/// The spec's numbered paths, in order of name. What the machine tells of
/// states is their step marks one by one: those of the initial state and
/// of `states` (say, where a run ended) count; a step on another state is
/// found from the gap it leaves between transition steps.
pub fn declared<M: Machine>(machine: &M, states: &[M::State]) -> Vec<NumberedPath> {
    let mut paths: Vec<NumberedPath> = Vec::new();
    let mut add = |name: &'static str, step: u8, on_transition: bool| {
        let i = match paths.iter().position(|p| p.name == name) {
            Some(i) => i,
            None => {
                paths.push(NumberedPath {
                    name,
                    steps: 0,
                    on_transitions: BTreeSet::new(),
                });
                paths.len() - 1
            }
        };
        let p = &mut paths[i];
        p.steps = p.steps.max(step);
        if on_transition {
            p.on_transitions.insert(step);
        }
    };
    let pairs = u32::try_from(machine.pairs()).unwrap_or(u32::MAX);
    for i in 0..pairs {
        for m in machine.transition_steps(i) {
            add(m.path, m.step, true);
        }
    }
    for &s in std::iter::once(&machine.initial()).chain(states) {
        for m in machine.state_steps(s) {
            add(m.path, m.step, false);
        }
    }
    paths.sort_by_key(|p| p.name);
    paths
}

/// How far one side of a run followed one path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Progress {
    /// The side (`client`), as the program calls it.
    pub side: String,
    /// The path's name.
    pub path: &'static str,
    /// How many steps the path has.
    pub steps: u8,
    /// Steps 1 to this one were followed, in order.
    pub followed: u8,
    /// Where the run left the path, when it did.
    pub left: Option<Left>,
}

/// Where a run left a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Left {
    /// The state the last followed step ended in.
    pub at: &'static str,
    /// The transition the run took from there instead (`None`: it stayed).
    pub went: Option<&'static str>,
    /// Steps of the path the run took afterwards, in order.
    pub later: Vec<u8>,
}

impl Progress {
    /// Follows `path` through `entries`, the transitions of one side in
    /// order (a side may hold several connections, say a listener and the
    /// connection it accepted), starting from the machine's initial state.
    pub fn of<'a, M: Machine>(
        machine: &M,
        side: &str,
        path: &NumberedPath,
        entries: impl IntoIterator<Item = &'a TraceEntry>,
    ) -> Progress {
        let entries: Vec<&TraceEntry> = entries.into_iter().collect();
        let mut at = machine.state_name(machine.initial());
        let mut next = 0;
        let mut followed = 0;
        for k in 1..=path.steps {
            if !path.on_transitions.contains(&k) {
                followed = k;
                continue;
            }
            let taken = entries[next..]
                .iter()
                .position(|e| e.step(path.name).is_some())
                .map(|i| next + i)
                .filter(|&i| entries[i].step(path.name) == Some(k));
            let Some(i) = taken else { break };
            at = entries[i].transition.to;
            next = i + 1;
            followed = k;
        }
        let left = (followed < path.steps).then(|| {
            let rest = &entries[next..];
            Left {
                at,
                // Transitions from `at`, not self-loops: on a side with
                // several connections, another's transitions do not start
                // where this one stands.
                went: rest
                    .iter()
                    .map(|e| &e.transition)
                    .find(|t| t.from == at && t.to != at)
                    .map(|t| t.to),
                later: rest.iter().filter_map(|e| e.step(path.name)).collect(),
            }
        });
        Progress {
            side: side.to_owned(),
            path: path.name,
            steps: path.steps,
            followed,
            left,
        }
    }

    /// Whether every step was followed, in order.
    pub fn complete(&self) -> bool {
        self.left.is_none()
    }
}

impl fmt::Display for Progress {
    /// `client: steps 1-7 followed, the whole path`, or
    /// `client: steps 1-5 of 7 followed, step 6 not taken: went FIN_WAIT_2 -> CLOSED`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.side)?;
        if self.path != self.side {
            write!(f, "path {}: ", self.path)?;
        }
        let range = |n: u8| match n {
            1 => "step 1".to_owned(),
            n => format!("steps 1-{n}"),
        };
        let Some(left) = &self.left else {
            return write!(f, "{} followed, the whole path", range(self.steps));
        };
        if self.followed > 0 {
            write!(f, "{} of {} followed, ", range(self.followed), self.steps)?;
        }
        write!(f, "step {} not taken: ", self.followed + 1)?;
        match left.went {
            Some(to) => write!(f, "went {} -> {to}", left.at)?,
            None => write!(f, "stayed in {}", left.at)?,
        }
        match left.later.as_slice() {
            [] => Ok(()),
            [n] => write!(f, "; took step {n} later"),
            later => {
                let later: Vec<String> = later.iter().map(u8::to_string).collect();
                write!(f, "; took steps {} later", later.join(", "))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fsm_runtime::tcp::Spec;
    use std::time::Duration;

    /// Trace entries for the transitions of tcp.fsm from `from` on
    /// `event`, in order.
    fn run(steps: &[(&str, &str)]) -> Vec<TraceEntry> {
        steps
            .iter()
            .map(|&(from, event)| {
                let index = (0..u32::try_from(Spec.pairs()).unwrap())
                    .find(|&i| {
                        let t = Spec.transition(i);
                        t.from == from && t.event == event && t.guard != Some("!fin_acked")
                    })
                    .unwrap_or_else(|| panic!("{from} on {event}"));
                TraceEntry {
                    at: Duration::ZERO,
                    local: "127.0.0.1:1".parse().unwrap(),
                    remote: None,
                    transition: Spec.transition(index),
                    steps: Spec.transition_steps(index).collect(),
                }
            })
            .collect()
    }

    fn client() -> NumberedPath {
        declared(&Spec, &[])
            .into_iter()
            .find(|p| p.name == "client")
            .unwrap()
    }

    #[test]
    fn tcp_fsm_declares_client_and_server_of_seven_steps() {
        let paths = declared(&Spec, &[]);
        let names: Vec<(&str, u8)> = paths.iter().map(|p| (p.name, p.steps)).collect();
        assert_eq!(names, [("client", 7), ("server", 7)]);
    }

    #[test]
    fn the_typical_client_follows_the_whole_path() {
        let entries = run(&[
            ("CLOSED", "active_open"),
            ("SYN_SENT", "rcv_syn_ack"),
            ("ESTABLISHED", "send"),
            ("ESTABLISHED", "close"),
            ("FIN_WAIT_1", "rcv_ack"),
            ("FIN_WAIT_2", "rcv_fin"),
            ("TIME_WAIT", "time_wait_timeout"),
        ]);
        let p = Progress::of(&Spec, "client", &client(), &entries);
        assert!(p.complete());
        assert_eq!(p.to_string(), "client: steps 1-7 followed, the whole path");
    }

    #[test]
    fn a_fin_with_the_ack_of_ours_leaves_the_path_at_step_5() {
        let entries = run(&[
            ("CLOSED", "active_open"),
            ("SYN_SENT", "rcv_syn_ack"),
            ("ESTABLISHED", "close"),
            ("FIN_WAIT_1", "rcv_fin"),
            ("TIME_WAIT", "time_wait_timeout"),
        ]);
        let p = Progress::of(&Spec, "client", &client(), &entries);
        assert_eq!(
            p.to_string(),
            "client: steps 1-4 of 7 followed, step 5 not taken: \
             went FIN_WAIT_1 -> TIME_WAIT; took step 7 later"
        );
    }

    #[test]
    fn a_run_that_stops_says_where_it_stayed() {
        let entries = run(&[("CLOSED", "active_open")]);
        let p = Progress::of(&Spec, "A", &client(), &entries);
        assert_eq!(
            p.to_string(),
            "A: path client: steps 1-2 of 7 followed, step 3 not taken: stayed in SYN_SENT"
        );
    }
}

//! What an exploration found, for people: the report `fsm explore` prints
//! and the message sequence chart of a finding's schedule.

use super::{Exploration, Finding, Move, Network, Order, Peer};
use crate::model::{Model, Transition};
use crate::msc;
use crate::stats::grouped;
use crate::syntax::EventKind;

/// The message sequence chart of `finding`: a row per move, each message
/// an arrow from the row it was sent to the row it was received, lost or
/// (at the end) still in flight.
pub fn chart(
    a: &Peer<'_>,
    b: &Peer<'_>,
    exploration: &Exploration,
    finding: &Finding,
    title: &str,
) -> msc::Chart {
    let peers = [a, b];
    let edges: [Vec<_>; 2] = [a.model.edges().collect(), b.model.edges().collect()];
    let mut chart = msc::Chart {
        title: title.to_owned(),
        sides: [a.name.clone(), b.name.clone()],
        initial: [
            a.model.states[a.model.initial().index()].name.text.clone(),
            b.model.states[b.model.initial().index()].name.text.clone(),
        ],
        ..msc::Chart::default()
    };
    // Messages in flight to each side: indices into chart.messages.
    let mut flight: [Vec<usize>; 2] = [Vec::new(), Vec::new()];
    let name = |m: u8| exploration.messages[m as usize].clone();
    let take = |flight: &mut Vec<usize>, chart: &msc::Chart, m: u8| -> Option<usize> {
        let i = flight
            .iter()
            .position(|&k| chart.messages[k].label == name(m))?;
        Some(flight.remove(i))
    };
    for (row, mv) in finding.schedule().iter().enumerate() {
        let mut r = msc::Row::default();
        match *mv {
            Move::Fire {
                side,
                event,
                pair,
                received,
            } => {
                let model = peers[side].model;
                let e = &model.events[event.index()];
                let edge = edges[side][pair];
                let tr = &model.transitions[edge.transition.index()];
                match received {
                    Some(m) => {
                        r.label = format!("{row}  {} receives {}", side_letter(side), name(m));
                        if let Some(k) = take(&mut flight[side], &chart, m) {
                            chart.messages[k].fate = msc::Fate::Delivered(row);
                        }
                    }
                    None => {
                        r.label = format!("{row}  {}", e.name.text);
                        r.notes[side].push(e.name.text.clone());
                        r.timer[side] = e.kind == EventKind::Timer;
                    }
                }
                r.states[side].push(msc::State {
                    name: model.states[edge.to.index()].name.text.clone(),
                    line: Some(format!("line {}", tr.line)),
                    event: Some(e.name.text.clone()),
                });
                for label in sent(model, tr) {
                    flight[1 - side].push(chart.messages.len());
                    chart.messages.push(msc::Message {
                        from: side,
                        sent: row,
                        label: label.to_owned(),
                        ..Default::default()
                    });
                }
            }
            Move::Unspecified { side, message } => {
                r.label = format!("{row}  {} drops {}", side_letter(side), name(message));
                r.notes[side].push(format!("{}: no transition", name(message)));
                if let Some(k) = take(&mut flight[side], &chart, message) {
                    chart.messages[k].fate = msc::Fate::Delivered(row);
                }
            }
            Move::Lose { side, message } => {
                r.label = format!("{row}  lose {}", name(message));
                if let Some(k) = take(&mut flight[side], &chart, message) {
                    chart.messages[k].fate = msc::Fate::Lost(row);
                }
            }
            Move::Duplicate { side, message } => {
                r.label = format!("{row}  duplicate {}", name(message));
                let original = flight[side]
                    .iter()
                    .copied()
                    .find(|&k| chart.messages[k].label == name(message));
                flight[side].push(chart.messages.len());
                chart.messages.push(msc::Message {
                    from: 1 - side,
                    sent: row,
                    label: name(message),
                    copy_of: original,
                    ..Default::default()
                });
            }
        }
        chart.rows.push(r);
    }
    chart.verdict = Some(describe(finding));
    chart
}

/// The messages a transition's actions put on the wire, in order.
fn sent<'m>(model: &'m Model, tr: &'m Transition) -> impl Iterator<Item = &'m str> + 'm {
    tr.actions
        .iter()
        .filter_map(|a| model.actions[a.index()].sends)
        .map(|m| model.messages[m.index()].name.text.as_str())
}

fn side_letter(side: usize) -> &'static str {
    ["A", "B"][side.min(1)]
}

/// One line saying what `finding` is.
pub fn describe(finding: &Finding) -> String {
    match finding {
        Finding::Deadlock { states, .. } => {
            format!(
                "deadlock: A in {}, B in {}, and no move",
                states[0], states[1]
            )
        }
        Finding::UnspecifiedReception {
            side,
            state,
            message,
            ..
        } => format!(
            "unspecified reception: {message} arrives at {} in {state}, which has no transition for it",
            side_letter(*side)
        ),
        Finding::NonProgressCycle { states, cycle, .. } => format!(
            "non-progress cycle: {cycle} moves round and round, A in {}, B in {}",
            states[0], states[1]
        ),
    }
}

/// `move` as a line: `B receives SYN: LISTEN -rcv_syn-> SYN_RCVD (line 95)`.
pub fn describe_move(a: &Peer<'_>, b: &Peer<'_>, exploration: &Exploration, mv: &Move) -> String {
    let peers = [a, b];
    let name = |m: u8| exploration.messages[m as usize].as_str();
    match *mv {
        Move::Fire {
            side,
            event,
            pair,
            received,
        } => {
            let model = peers[side].model;
            let edge = model.edges().nth(pair).expect("a pair of the model");
            let tr = &model.transitions[edge.transition.index()];
            let what = match received {
                Some(m) => format!("{} receives {}", side_letter(side), name(m)),
                None => format!(
                    "{} {}",
                    side_letter(side),
                    model.events[event.index()].name.text
                ),
            };
            let sent: Vec<&str> = sent(model, tr).collect();
            format!(
                "{what}: {} -{}-> {} (line {}){}",
                model.states[edge.from.index()].name.text,
                model.events[event.index()].name.text,
                model.states[edge.to.index()].name.text,
                tr.line,
                if sent.is_empty() {
                    String::new()
                } else {
                    format!(", sends {}", sent.join(", "))
                }
            )
        }
        Move::Unspecified { side, message } => {
            format!(
                "{} receives {}: no transition, dropped",
                side_letter(side),
                name(message)
            )
        }
        Move::Lose { side, message } => {
            format!(
                "the network loses {} on its way to {}",
                name(message),
                side_letter(side)
            )
        }
        Move::Duplicate { side, message } => {
            format!(
                "the network duplicates {} on its way to {}",
                name(message),
                side_letter(side)
            )
        }
    }
}

/// The report `fsm explore` prints: the search's figures, then each
/// finding with its schedule, then the pairs never taken.
pub fn report(a: &Peer<'_>, b: &Peer<'_>, network: Network, e: &Exploration) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let count = |f: fn(&Finding) -> bool| e.findings.iter().filter(|x| f(x)).count();
    let _ = writeln!(
        out,
        "{} against {}: {} channels of {}, loss {}, duplication {}",
        a.name,
        b.name,
        match network.order {
            Order::Fifo => "FIFO",
            Order::Unordered => "unordered",
        },
        network.capacity,
        network.loss,
        network.duplication
    );
    let _ = writeln!(
        out,
        "  states       {:>12} (depth {}){}",
        grouped(e.states as u64),
        e.depth,
        if e.truncated {
            ", stopped at the limit: not exhaustive"
        } else {
            ""
        }
    );
    let _ = writeln!(out, "  transitions  {:>12}", grouped(e.transitions as u64));
    let _ = writeln!(
        out,
        "  time         {:>12.3} s ({} states/s)",
        e.elapsed.as_secs_f64(),
        grouped(e.states_per_second() as u64)
    );
    let _ = writeln!(
        out,
        "  memory       {:>12.1} bytes/state",
        e.bytes_per_state
    );
    let pairs = |f: fn(&Finding) -> Option<&[String; 2]>| {
        let mut seen: Vec<&[String; 2]> = e.findings.iter().filter_map(f).collect();
        seen.sort();
        seen.dedup();
        seen.len()
    };
    let _ = writeln!(
        out,
        "  findings     {:>12} ({} deadlocks in {} pairs of states, {} unspecified receptions, \
         {} non-progress cycles in {} pairs of states)",
        e.findings.len(),
        count(|f| matches!(f, Finding::Deadlock { .. })),
        pairs(|f| match f {
            Finding::Deadlock { states, .. } => Some(states),
            _ => None,
        }),
        count(|f| matches!(f, Finding::UnspecifiedReception { .. })),
        count(|f| matches!(f, Finding::NonProgressCycle { .. })),
        pairs(|f| match f {
            Finding::NonProgressCycle { states, .. } => Some(states),
            _ => None,
        }),
    );
    let _ = writeln!(
        out,
        "  violations   {:>12} (unspecified receptions per state, and deadlocks: SPIN's errors)",
        grouped(e.violations as u64)
    );
    // Deadlocks and cycles of one pair of states are one story: the
    // shortest is told, the others counted.
    let pair_of = |f: &Finding| match f {
        Finding::Deadlock { states, .. } => Some((0, states.clone())),
        Finding::NonProgressCycle { states, .. } => Some((1, states.clone())),
        Finding::UnspecifiedReception { .. } => None,
    };
    let mut told: Vec<(u8, [String; 2])> = Vec::new();
    for (n, f) in e.findings.iter().enumerate() {
        let key = pair_of(f);
        if let Some(k) = &key {
            if told.contains(k) {
                continue;
            }
            told.push(k.clone());
        }
        // Numbered as `--finding N` picks the one `--svg` draws.
        let _ = writeln!(out, "\n[{}] {}", n + 1, describe(f));
        if let Some(k) = &key {
            let more = e
                .findings
                .iter()
                .filter(|g| pair_of(g).as_ref() == Some(k))
                .count()
                - 1;
            if more > 0 {
                let what = if k.0 == 0 {
                    "global states like it"
                } else {
                    "cycles like it"
                };
                let _ = writeln!(
                    out,
                    "  ({more} more {what}, the same two states; the shortest:)"
                );
            }
        }
        let cycle_from = match f {
            Finding::NonProgressCycle {
                schedule, cycle, ..
            } => schedule.len() - cycle,
            _ => usize::MAX,
        };
        for (i, mv) in f.schedule().iter().enumerate() {
            if i == cycle_from {
                let _ = writeln!(out, "  -- the cycle:");
            }
            let _ = writeln!(out, "  {:>3}. {}", i + 1, describe_move(a, b, e, mv));
        }
    }
    for (side, peer) in [a, b].into_iter().enumerate() {
        let total = peer.model.edges().count();
        let _ = write!(
            out,
            "\n{}: {} of {} pairs taken",
            peer.name,
            total - e.untaken[side].len(),
            total
        );
        if e.untaken[side].is_empty() {
            out.push('\n');
            continue;
        }
        let _ = writeln!(out, "; never taken:");
        let edges: Vec<_> = peer.model.edges().collect();
        for &p in &e.untaken[side] {
            let edge = edges[p];
            let tr = &peer.model.transitions[edge.transition.index()];
            let _ = writeln!(
                out,
                "  {} -{}-> {} (line {})",
                peer.model.states[edge.from.index()].name.text,
                peer.model.events[tr.event.index()].name.text,
                peer.model.states[edge.to.index()].name.text,
                tr.line
            );
        }
    }
    out
}

//! The exploration's model in Promela, for SPIN: `fsm promela A.fsm
//! [B.fsm]` writes what `fsm explore` searches, so that SPIN's exhaustive
//! search of it can be held against ours.
//!
//! The mapping, move for move. Each side is an `active proctype` looping
//! over one `do`; its state and history bits are global bytes (`sA`,
//! `hA`), so that between moves every process stands at its loop head
//! and SPIN's states are the explorer's global states, one for one. Every
//! move the explorer takes is one option of the loop, a `d_step` (no
//! state in between):
//!
//! - a call or timer that fires: guarded by the state, the history bits
//!   and room in the peer's channel for what it sends;
//! - a reception: guarded the same and by the message at the head of the
//!   side's channel (`toA?[M]`), which it takes; a message raising nothing
//!   there is taken and dropped with `assert(false)`: SPIN counts it as an
//!   error and, run with `-c0`, goes on as the explorer does;
//! - a third process, `Network`, loses the head of a channel or
//!   duplicates it in place (the copy right behind it) while the budgets
//!   (`loss`, `dup`) last, and asserts at `timeout` (no process can move)
//!   that the state is an end (each side initial or in a state with no
//!   way out, both channels empty): a deadlock is an assertion violation.
//!
//! Every loop head carries an `end` label, so SPIN's own end-state check
//! stays quiet and the `timeout` assertion is the one that speaks.
//! Channels are FIFO: SPIN's `??` would deliver out of order, but its
//! states keep the channel's order, which the explorer's unordered
//! channels (multisets) do not, so the counts could not agree.
//!
//! Run it as `spin -a M.pml && cc -O2 -DSAFETY -DNOREDUCE -o pan pan.c &&
//! ./pan -c0 -m100000`: with partial-order reduction off, SPIN stores the
//! explorer's states exactly, and its error count is the explorer's
//! unspecified receptions (one per state and message that shows one) plus
//! its deadlocks.

use std::fmt::Write as _;

use crate::explore::{Network, Order, Peer, end_states, message_table, table};
use crate::model::Model;

/// Promela's reserved words and the names the model itself declares: a
/// message called one of these is written `msg_NAME`.
const TAKEN: &[&str] = &[
    "active",
    "assert",
    "atomic",
    "bit",
    "bool",
    "break",
    "byte",
    "c_code",
    "c_decl",
    "c_expr",
    "c_state",
    "c_track",
    "chan",
    "d_step",
    "do",
    "else",
    "empty",
    "enabled",
    "eval",
    "false",
    "fi",
    "for",
    "full",
    "get_priority",
    "goto",
    "hidden",
    "if",
    "in",
    "init",
    "inline",
    "int",
    "len",
    "local",
    "ltl",
    "mtype",
    "nempty",
    "never",
    "nfull",
    "notrace",
    "np_",
    "od",
    "of",
    "pc_value",
    "pid",
    "print",
    "printf",
    "printm",
    "priority",
    "proctype",
    "provided",
    "run",
    "select",
    "set_priority",
    "short",
    "show",
    "skip",
    "timeout",
    "trace",
    "true",
    "typedef",
    "unless",
    "unsigned",
    "xr",
    "xs",
    "toA",
    "toB",
    "sA",
    "sB",
    "hA",
    "hB",
    "loss",
    "dup",
    "m",
    "i",
    "A",
    "B",
    "Network",
    "end",
    "NOTHING",
];

/// The Promela name of a message.
fn mtype_name(name: &str) -> String {
    if TAKEN.contains(&name) || name.starts_with('_') {
        format!("msg_{name}")
    } else {
        name.to_owned()
    }
}

/// The Promela model of `a` against `b` over `network` (FIFO only).
pub fn promela(a: &Peer<'_>, b: &Peer<'_>, network: Network) -> Result<String, String> {
    if network.order != Order::Fifo {
        return Err("Promela export: FIFO channels only (SPIN's channels keep an order)".into());
    }
    if network.capacity == 0 || network.capacity > 255 {
        return Err(format!("a channel of {} messages", network.capacity));
    }
    let raw = message_table(a, b);
    let names: Vec<String> = raw.iter().map(|m| mtype_name(m)).collect();
    let messages = &names;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "/* {} against {}: the model `fsm explore` searches, for SPIN.\n   \
         Written by fsm promela; do not edit by hand.\n   \
         Run: spin -a FILE && cc -O2 -DSAFETY -DNOREDUCE -o pan pan.c && ./pan -c0 -m100000 */\n",
        a.name, b.name
    );
    if messages.is_empty() {
        // Promela needs a message type for the channels.
        out.push_str("mtype = { NOTHING };\n");
    } else {
        let _ = writeln!(out, "mtype = {{ {} }};", messages.join(", "));
    }
    let n = network.capacity;
    let _ = writeln!(out, "chan toA = [{n}] of {{ mtype }};");
    let _ = writeln!(out, "chan toB = [{n}] of {{ mtype }};");
    for (letter, peer) in [("A", a), ("B", b)] {
        let m = peer.model;
        let init = m.initial();
        let bits = crate::tour::History::entered(&peer.history, 0, init);
        let _ = writeln!(
            out,
            "byte s{letter} = {}; /* {} */\nbyte h{letter} = {bits};",
            init.index(),
            m.states[init.index()].name.text
        );
    }
    let _ = writeln!(
        out,
        "byte loss = {};\nbyte dup = {};\n",
        network.loss, network.duplication
    );
    let channels = Channels {
        capacity: n,
        raw: &raw,
        names,
    };
    side(&mut out, a, "A", "toA", "toB", &channels);
    side(&mut out, b, "B", "toB", "toA", &channels);
    net(&mut out, a.model, b.model, n);
    Ok(out)
}

/// What both sides' proctypes share: the channels' capacity and the
/// messages, as the specs name them and as Promela does.
struct Channels<'a> {
    capacity: usize,
    raw: &'a [String],
    names: Vec<String>,
}

/// One side's proctype: `inbox` is its channel, `outbox` its peer's.
fn side(
    out: &mut String,
    peer: &Peer<'_>,
    letter: &str,
    inbox: &str,
    outbox: &str,
    ch: &Channels<'_>,
) {
    let (capacity, messages) = (ch.capacity, &ch.names);
    let m = peer.model;
    let edges: Vec<_> = m.edges().collect();
    let _ = writeln!(out, "active proctype {letter}() {{\nend:\n  do");
    let mut options = 0;
    for row in table(peer, ch.raw).rows {
        let at = format!(
            "s{letter} == {} && h{letter} == {}",
            row.state.index(),
            row.bits
        );
        let state = &m.states[row.state.index()].name.text;
        let effect = |o: &crate::explore::Outcome| -> String {
            let mut e = format!(
                "s{letter} = {}; h{letter} = {}",
                o.to.index(),
                crate::tour::History::entered(&peer.history, row.bits, o.to)
            );
            for &x in &o.sends {
                let _ = write!(e, "; {outbox}!{}", messages[x as usize]);
            }
            e
        };
        let room = |o: &crate::explore::Outcome| {
            if o.sends.is_empty() {
                String::new()
            } else {
                format!(
                    " && len({outbox}) <= {}",
                    capacity.saturating_sub(o.sends.len())
                )
            }
        };
        let comment = |event: crate::model::EventId, o: &crate::explore::Outcome| {
            let edge = edges[o.pair];
            format!(
                "/* {state} -{}-> {}, line {} */",
                m.events[event.index()].name.text,
                m.states[edge.to.index()].name.text,
                m.transitions[edge.transition.index()].line
            )
        };
        // What cannot fit even in an empty channel never fires: no option.
        let fits = |o: &crate::explore::Outcome| o.sends.len() <= capacity;
        for (event, o) in row.spontaneous.iter().filter(|(_, o)| fits(o)) {
            options += 1;
            let _ = writeln!(
                out,
                "  :: d_step {{ {at}{} -> {} }} {}",
                room(o),
                effect(o),
                comment(*event, o)
            );
        }
        for (msg, outcomes) in row.receptions.iter().enumerate() {
            let name = &messages[msg];
            if outcomes.is_empty() {
                options += 1;
                let _ = writeln!(
                    out,
                    "  :: d_step {{ {at} && {inbox}?[{name}] -> {inbox}?{name}; assert(false) }} /* {name} in {state}: unspecified */"
                );
            }
            for (event, o) in outcomes.iter().filter(|(_, o)| fits(o)) {
                options += 1;
                let _ = writeln!(
                    out,
                    "  :: d_step {{ {at} && {inbox}?[{name}]{} -> {inbox}?{name}; {} }} {}",
                    room(o),
                    effect(o),
                    comment(*event, o)
                );
            }
        }
    }
    if options == 0 {
        // A `do` needs an option; this one is never executable.
        out.push_str("  :: false -> skip\n");
    }
    out.push_str("  od\n}\n\n");
}

/// The network: losses, duplications, and the deadlock check.
fn net(out: &mut String, a: &Model, b: &Model, capacity: usize) {
    let end = |letter: &str, m: &Model| -> String {
        let alternatives: Vec<String> = end_states(m)
            .iter()
            .enumerate()
            .filter(|(_, end)| **end)
            .map(|(s, _)| format!("s{letter} == {s}"))
            .collect();
        format!("({})", alternatives.join(" || "))
    };
    let _ = writeln!(
        out,
        "active proctype Network() {{\n  mtype m;\n  byte i;\nend:\n  do"
    );
    for chan in ["toA", "toB"] {
        let _ = writeln!(
            out,
            "  :: d_step {{ loss > 0 && len({chan}) > 0 -> {chan}?_; loss-- }}"
        );
        // The head taken, twice put at the back, the rest rotated round
        // behind it: the copy stands right behind the original.
        let _ = writeln!(
            out,
            "  :: d_step {{ dup > 0 && len({chan}) > 0 && len({chan}) < {capacity} -> dup--; \
             i = len({chan}) - 1; {chan}?m; {chan}!m; {chan}!m; \
             do :: i > 0 -> {chan}?m; {chan}!m; i-- :: else -> break od; m = 0 }}"
        );
    }
    let _ = writeln!(
        out,
        "  :: d_step {{ timeout -> assert({} && {} && len(toA) == 0 && len(toB) == 0) }}",
        end("A", a),
        end("B", b)
    );
    out.push_str("  od\n}\n");
}

//! Every event of a run as one JSON object a line: the lines of
//! `docs/trace-json.md`, which the example programs write with
//! `--trace-json`, the explorer writes for its replays, and a
//! [`Watch`](crate::watch::Watch) streams to a watcher as they happen.

use std::net::SocketAddrV4;
use std::time::Duration;

use crate::cc::{CcWords, CongestionMachine};
use crate::recovery::{RecoveryMachine, RecoveryWords};
use crate::side::SideMachine;
use crate::trace::{StepMark, StepRecord};
use crate::vocab::{Machine, Word, Words};
use crate::wire::Flags;
use serde::Serialize;
use serde::ser::SerializeMap;

/// The line of an event of a connection machine, on the side called
/// `side`.
pub fn line<M: Machine>(machine: &M, side: &str, record: &StepRecord) -> String {
    let steps = record
        .transition
        .as_ref()
        .map(|t| machine.transition_steps(t.index).collect())
        .unwrap_or_default();
    line_of(machine.spec(), side, record, steps)
}

/// The line of an event of the congestion machine.
pub fn cc_line(machine: &CongestionMachine, side: &str, record: &StepRecord<CcWords>) -> String {
    side_line(machine, side, record)
}

/// The line of an event of the recovery machine.
pub fn rec_line(
    machine: &RecoveryMachine,
    side: &str,
    record: &StepRecord<RecoveryWords>,
) -> String {
    side_line(machine, side, record)
}

/// The line of an event of a side machine.
fn side_line<W: Words>(machine: &dyn SideMachine<W>, side: &str, record: &StepRecord<W>) -> String {
    let steps = record
        .transition
        .as_ref()
        .map(|t| machine.transition_steps(t.index))
        .unwrap_or_default();
    line_of(machine.spec(), side, record, steps)
}

/// Which way a segment went, seen from the side that reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Sent by this side.
    Out,
    /// Received by this side.
    In,
}

/// A segment's header, as a segment line reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentSummary {
    /// Which way it went.
    pub direction: Direction,
    /// This side's address (inner): the source of a segment sent.
    pub local: SocketAddrV4,
    /// The peer's (inner).
    pub remote: SocketAddrV4,
    /// The control bits other than ACK.
    pub flags: Flags,
    /// The sequence number.
    pub seq: u32,
    /// The acknowledgment number, when the ACK bit is set.
    pub ack: Option<u32>,
    /// Payload bytes.
    pub len: u32,
}

/// The line of a segment sent or received by the side called `side`
/// (`docs/trace-json.md`, "Segment lines"): `spec` is the connection
/// machine's spec, `at` the time since the endpoint started.
pub fn segment_line(spec: &str, side: &str, at: Duration, segment: &SegmentSummary) -> String {
    let mut flags: Vec<&'static str> = Vec::with_capacity(3);
    for (bit, name) in [
        (Flags::SYN, "SYN"),
        (Flags::FIN, "FIN"),
        (Flags::RST, "RST"),
        (Flags::PSH, "PSH"),
    ] {
        if segment.flags.contains(bit) {
            flags.push(name);
        }
    }
    if segment.ack.is_some() {
        flags.push("ACK");
    }
    let line = SegmentLine {
        time: at.as_secs_f64(),
        spec,
        side,
        connection: Connection {
            local: segment.local.to_string(),
            remote: Some(segment.remote.to_string()),
        },
        segment: Segment {
            dir: match segment.direction {
                Direction::Out => "out",
                Direction::In => "in",
            },
            flags,
            seq: segment.seq,
            ack: segment.ack.unwrap_or(0),
            len: segment.len,
        },
    };
    serde_json::to_string(&line)
        .unwrap_or_else(|e| unreachable!("strings and numbers serialize: {e}"))
}

#[derive(Serialize)]
struct SegmentLine<'a> {
    time: f64,
    spec: &'a str,
    side: &'a str,
    connection: Connection,
    segment: Segment,
}

#[derive(Serialize)]
struct Segment {
    dir: &'static str,
    flags: Vec<&'static str>,
    seq: u32,
    ack: u32,
    len: u32,
}

fn line_of<W: Words>(
    spec: &str,
    side: &str,
    record: &StepRecord<W>,
    steps: Vec<StepMark>,
) -> String {
    let line: Line<W> = Line {
        time: record.at.as_secs_f64(),
        spec,
        side,
        connection: Connection {
            local: record.local.to_string(),
            remote: record.remote.map(|r| r.to_string()),
        },
        event: record.event.name(),
        guards: Guards(&record.guards),
        from: record.from,
        to: record.to,
        transition: record.transition.as_ref().map(|t| Transition {
            index: t.index,
            line: t.line,
        }),
        actions: record.actions.iter().map(|a| a.name()).collect(),
        steps: steps
            .iter()
            .map(|m| Step {
                path: m.path,
                step: m.step,
            })
            .collect(),
    };
    serde_json::to_string(&line)
        .unwrap_or_else(|e| unreachable!("strings, numbers and booleans serialize: {e}"))
}

/// A line, fields in the order `docs/trace-json.md` gives them.
#[derive(Serialize)]
struct Line<'a, W: Words> {
    time: f64,
    spec: &'a str,
    side: &'a str,
    connection: Connection,
    event: &'static str,
    guards: Guards<'a, W::Guard>,
    from: &'static str,
    to: &'static str,
    transition: Option<Transition>,
    actions: Vec<&'static str>,
    steps: Vec<Step>,
}

#[derive(Serialize)]
struct Connection {
    local: String,
    remote: Option<String>,
}

#[derive(Serialize)]
struct Transition {
    index: u32,
    line: u32,
}

#[derive(Serialize)]
struct Step {
    path: &'static str,
    step: u8,
}

/// Guard values as an object, in the vocabulary's order.
struct Guards<'a, G>(&'a [(G, bool)]);

impl<G: Word> Serialize for Guards<'_, G> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (g, v) in self.0 {
            map.serialize_entry(g.name(), v)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp::Spec;
    use crate::vocab::{Action, Event, Guard};

    #[test]
    fn a_line_has_the_documented_fields_in_order() {
        let fired = Spec
            .step(Spec.initial(), Event::ActiveOpen, &|_| false)
            .unwrap();
        let record = StepRecord {
            at: Duration::from_micros(1500),
            local: "127.0.0.1:5000".parse().unwrap(),
            remote: Some("127.0.0.1:6000".parse().unwrap()),
            event: Event::ActiveOpen,
            guards: Guard::ALL
                .iter()
                .map(|&g| (g, g == Guard::PeerKnown))
                .collect(),
            from: "CLOSED",
            to: "SYN_SENT",
            transition: Some(Spec.transition(fired.transition)),
            actions: vec![Action::CreateTcb, Action::SendSyn],
        };
        let text = line(&Spec, "client \"A\"", &record);
        let line_no = Spec.transition(fired.transition).line;
        assert_eq!(
            text,
            format!(
                r#"{{"time":0.0015,"spec":"../tcp.fsm","side":"client \"A\"","connection":{{"local":"127.0.0.1:5000","remote":"127.0.0.1:6000"}},"event":"active_open","guards":{{"passive":false,"fin_acked":false,"peer_known":true}},"from":"CLOSED","to":"SYN_SENT","transition":{{"index":{},"line":{line_no}}},"actions":["create_tcb","send_syn"],"steps":[{{"path":"client","step":2}}]}}"#,
                fired.transition
            )
        );
    }

    #[test]
    fn a_refused_event_has_no_transition_and_no_steps() {
        let record = StepRecord {
            at: Duration::ZERO,
            local: "127.0.0.1:5000".parse().unwrap(),
            remote: None,
            event: Event::Send,
            guards: Vec::new(),
            from: "CLOSED",
            to: "CLOSED",
            transition: None,
            actions: Vec::new(),
        };
        let v: serde_json::Value = serde_json::from_str(&line(&Spec, "A", &record)).unwrap();
        assert_eq!(v["transition"], serde_json::Value::Null);
        assert_eq!(v["connection"]["remote"], serde_json::Value::Null);
        assert_eq!(v["steps"], serde_json::json!([]));
        assert_eq!(v["guards"], serde_json::json!({}));
    }
}

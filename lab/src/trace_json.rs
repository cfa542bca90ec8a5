//! Every event of a run as one JSON object a line (`--trace-json`):
//! the lines of `docs/trace-json.md`, for the example programs and for
//! the explorer's replays.

use fsm_runtime::cc::{CcWords, CongestionMachine};
use fsm_runtime::trace::{StepMark, StepRecord};
use fsm_runtime::vocab::{Machine, Word, Words};
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
    let steps = record
        .transition
        .as_ref()
        .map(|t| machine.transition_steps(t.index))
        .unwrap_or_default();
    line_of(machine.spec(), side, record, steps)
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
    use fsm_runtime::tcp::Spec;
    use fsm_runtime::vocab::{Action, Event, Guard};
    use std::time::Duration;

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

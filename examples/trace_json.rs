//! The `--trace-json FILE` option of the example programs: every event
//! raised on an endpoint, refused ones included, as one JSON object a
//! line. `docs/trace-json.md` documents the fields.
//!
//! The lines come from [`Options::on_step`](fsm_runtime::Options::on_step)
//! ([`StepRecord`]s); the path step marks of a transition come from the
//! machine. Several endpoints can write to one file: each line is written
//! whole, and says which side it is from.

use std::fs::File;
use std::io::{self, LineWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use fsm_runtime::cc::{CcWords, Congestion, CongestionMachine};
use fsm_runtime::endpoint::{CcStepSink, StepSink};
use fsm_runtime::trace::{StepMark, StepRecord};
use fsm_runtime::vocab::{Machine, Word, Words};
use serde::Serialize;
use serde::ser::SerializeMap;

/// A JSON-lines trace file shared by the endpoints of one program.
#[derive(Clone)]
pub struct TraceJson {
    path: PathBuf,
    out: Arc<Mutex<Out>>,
}

struct Out {
    /// Flushed at every line, so a server stopped by a signal leaves a
    /// complete file.
    file: LineWriter<File>,
    /// The first write error, reported by `finish`.
    error: Option<io::Error>,
    lines: u64,
}

impl TraceJson {
    /// Creates (or truncates) the file at `path`.
    pub fn create(path: &Path) -> io::Result<TraceJson> {
        let file = File::create(path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        Ok(TraceJson {
            path: path.to_owned(),
            out: Arc::new(Mutex::new(Out {
                file: LineWriter::new(file),
                error: None,
                lines: 0,
            })),
        })
    }

    /// The `--trace-json` file of `program`: `Ok(None)` when none was asked
    /// for; when it cannot be created, the error goes to stderr as
    /// `PROGRAM: error` and the answer is `Err(())`: the program should exit
    /// with failure.
    #[allow(clippy::result_unit_err)]
    pub fn open(program: &str, path: Option<&Path>) -> Result<Option<TraceJson>, ()> {
        match path.map(TraceJson::create) {
            None => Ok(None),
            Some(Ok(t)) => Ok(Some(t)),
            Some(Err(e)) => {
                eprintln!("{program}: {e}");
                Err(())
            }
        }
    }

    /// Finishes the file and says so: `PROGRAM: N events written to FILE`,
    /// or the first error met writing it, to stderr. Answers whether the
    /// file is whole.
    pub fn report(&self, program: &str) -> bool {
        match self.finish() {
            Ok(n) => {
                println!("{program}: {n} events written to {}", self.path.display());
                true
            }
            Err(e) => {
                eprintln!("{program}: {e}");
                false
            }
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A callback for [`Options::on_step`](fsm_runtime::Options::on_step)
    /// of an endpoint driven by `machine`, writing lines labelled `side`.
    pub fn sink<M: Machine>(&self, machine: &M, side: &str) -> StepSink {
        let (out, machine, side) = (self.out.clone(), machine.clone(), side.to_owned());
        Box::new(move |record| write_line(&out, line(&machine, &side, record)))
    }

    /// The same for the congestion machine's events: lines whose `spec`
    /// is the congestion spec.
    pub fn cc_sink(&self, congestion: &Congestion, side: &str) -> CcStepSink {
        let (out, congestion, side) = (self.out.clone(), congestion.clone(), side.to_owned());
        Box::new(move |record| {
            write_line(&out, cc_line(congestion.machine(), &side, record));
        })
    }

    /// Flushes the file; answers how many lines it holds, or the first
    /// error met writing it.
    pub fn finish(&self) -> io::Result<u64> {
        let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        let flushed = out.file.flush();
        match out.error.take().map_or(flushed, Err) {
            Ok(()) => Ok(out.lines),
            Err(e) => Err(io::Error::new(
                e.kind(),
                format!("{}: {e}", self.path.display()),
            )),
        }
    }
}

/// One record as a line of JSON (without the newline).
fn write_line(out: &Mutex<Out>, line: String) {
    let mut out = out.lock().unwrap_or_else(PoisonError::into_inner);
    if out.error.is_some() {
        return;
    }
    match writeln!(out.file, "{line}") {
        Ok(()) => out.lines += 1,
        Err(e) => out.error = Some(e),
    }
}

pub fn line<M: Machine>(machine: &M, side: &str, record: &StepRecord) -> String {
    let steps = record
        .transition
        .as_ref()
        .map(|t| machine.transition_steps(t.index).collect())
        .unwrap_or_default();
    line_of(machine.spec(), side, record, steps)
}

/// The line of an event of the congestion machine.
pub fn cc_line(
    machine: &dyn CongestionMachine,
    side: &str,
    record: &StepRecord<CcWords>,
) -> String {
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

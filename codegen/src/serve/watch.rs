//! The watch stream: newline-delimited JSON from running endpoints, the
//! lines of `--trace-json` (docs/trace-json.md) and segment lines beside
//! them, each read, checked against the served spec and annotated with
//! the figure's ids for the page.
//!
//! A segment line:
//!
//! ```text
//! {"time":0.0089,"spec":"../tcp.fsm","side":"client",
//!  "connection":{"local":"127.0.0.1:55267","remote":"127.0.0.1:52845"},
//!  "segment":{"dir":"out","flags":["SYN","ACK"],"seq":123,"ack":456,"len":0}}
//! ```
//!
//! (`dir` "out": sent by that side; "in": received.)

use std::io::{BufRead, BufReader, Read};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::model::Model;
use crate::svg::{edge_id, state_id};

/// The longest line taken in; a longer one is malformed (and skipped to
/// its end).
pub const MAX_LINE: usize = 1 << 20;

/// What became of a line.
#[derive(Clone, Debug, PartialEq)]
pub enum Line {
    /// An event of the served spec, annotated: `kind` "event", `key`
    /// (side, local, remote), the trace line's fields, `edge` (the id of
    /// the pair that fired, or null when refused) and `state` (the id of
    /// the state after it).
    Event(Value),
    /// A segment, annotated: `kind` "segment", `key`, `side`, `local`,
    /// `remote`, `time`, `dir`, `flags`, `seq`, `ack`, `len`.
    Segment(Value),
    /// Well formed, but its states, event or transition are not the
    /// served spec's (another machine's line): left out of the figure.
    Other,
    /// Not a line of the stream: why.
    Malformed(String),
}

/// Counts of the lines read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Every line read (blank ones aside).
    pub lines: u64,
    /// Events of the served spec.
    pub events: u64,
    /// Segment lines.
    pub segments: u64,
    /// Lines of another spec.
    pub other: u64,
    /// Lines that could not be read.
    pub malformed: u64,
}

impl Stats {
    /// Counts `line`.
    pub fn count(&mut self, line: &Line) {
        self.lines += 1;
        match line {
            Line::Event(_) => self.events += 1,
            Line::Segment(_) => self.segments += 1,
            Line::Other => self.other += 1,
            Line::Malformed(_) => self.malformed += 1,
        }
    }

    /// As JSON for the page.
    pub fn to_json(self) -> Value {
        json!({
            "lines": self.lines,
            "events": self.events,
            "segments": self.segments,
            "other": self.other,
            "malformed": self.malformed,
        })
    }
}

/// Reads one line of the stream against `model` (none: no spec has
/// loaded yet, so every event line is another spec's).
pub fn read_line(model: Option<&Model>, text: &str) -> Line {
    match annotate(model, text) {
        Ok(line) => line,
        Err(why) => Line::Malformed(why),
    }
}

fn annotate(model: Option<&Model>, text: &str) -> Result<Line, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let obj = v.as_object().ok_or("not a JSON object")?;
    let str_field = |o: &serde_json::Map<String, Value>, k: &str| -> Result<String, String> {
        o.get(k)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("`{k}`: expected a string"))
    };
    let side = str_field(obj, "side")?;
    let conn = obj
        .get("connection")
        .and_then(Value::as_object)
        .ok_or("`connection`: expected an object")?;
    let local = str_field(conn, "local")?;
    let remote = match conn.get("remote") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Null) | None => None,
        Some(_) => return Err("`connection.remote`: expected a string or null".into()),
    };
    let time = obj.get("time").and_then(Value::as_f64).unwrap_or(0.0);
    let spec = obj.get("spec").and_then(Value::as_str).unwrap_or("");
    let key = format!("{side} {local} {}", remote.as_deref().unwrap_or("-"));
    if let Some(seg) = obj.get("segment") {
        let seg = seg.as_object().ok_or("`segment`: expected an object")?;
        let dir = str_field(seg, "dir")?;
        if dir != "in" && dir != "out" {
            return Err(format!(
                "`segment.dir`: expected \"in\" or \"out\", not {dir:?}"
            ));
        }
        let flags: Vec<String> = seg
            .get("flags")
            .and_then(Value::as_array)
            .ok_or("`segment.flags`: expected an array")?
            .iter()
            .map(|f| f.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or("`segment.flags`: expected strings")?;
        let num = |k: &str| -> Result<u64, String> {
            seg.get(k)
                .and_then(Value::as_u64)
                .ok_or_else(|| format!("`segment.{k}`: expected a number"))
        };
        return Ok(Line::Segment(json!({
            "kind": "segment", "key": key, "side": side, "local": local, "remote": remote,
            "time": time, "spec": spec, "dir": dir, "flags": flags,
            "seq": num("seq")?, "ack": num("ack")?, "len": num("len")?,
        })));
    }
    let event = str_field(obj, "event")?;
    let from = str_field(obj, "from")?;
    let to = str_field(obj, "to")?;
    let transition = match obj.get("transition") {
        Some(Value::Null) | None => None,
        Some(Value::Object(t)) => Some(
            t.get("index")
                .and_then(Value::as_u64)
                .ok_or("`transition.index`: expected a number")?,
        ),
        Some(_) => return Err("`transition`: expected an object or null".into()),
    };
    let names = |k: &str| -> Vec<Value> {
        obj.get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let Some(m) = model else {
        return Ok(Line::Other);
    };
    let (Some(f), Some(t), Some(e)) = (m.state(&from), m.state(&to), m.event(&event)) else {
        return Ok(Line::Other);
    };
    let edge = match transition {
        None if f == t => None,
        None => return Ok(Line::Other),
        Some(i) => {
            // The index is the pair's, in the order of `Model::edges`.
            let pair = usize::try_from(i).ok().and_then(|i| m.edges().nth(i));
            let Some(pair) = pair else {
                return Ok(Line::Other);
            };
            let tr = &m.transitions[pair.transition.index()];
            if tr.event != e || pair.from != f || pair.to != t {
                return Ok(Line::Other);
            }
            Some(edge_id(pair.transition.index(), &from))
        }
    };
    Ok(Line::Event(json!({
        "kind": "event", "key": key, "side": side, "local": local, "remote": remote,
        "time": time, "spec": spec, "event": event, "from": from, "to": to,
        "transition": obj.get("transition").cloned().unwrap_or(Value::Null),
        "guards": obj.get("guards").cloned().unwrap_or(Value::Null),
        "actions": names("actions"), "steps": names("steps"),
        "edge": edge, "state": state_id(&to),
    })))
}

/// Reads every line of `text` (a trace file), counting them; returns the
/// events and segments in order.
pub fn read_all(model: Option<&Model>, text: &str) -> (Vec<Value>, Stats) {
    let mut stats = Stats::default();
    let mut out = Vec::new();
    for raw in text.lines().filter(|l| !l.trim().is_empty()) {
        let line = read_line(model, raw);
        stats.count(&line);
        if let Line::Event(v) | Line::Segment(v) = line {
            out.push(v);
        }
    }
    (out, stats)
}

/// What a stream brings: a line, or one too long to take in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input<'a> {
    /// A line, trimmed, not blank (bytes that are not UTF-8 replaced, so
    /// that it is found malformed).
    Line(&'a str),
    /// A line over [`MAX_LINE`] bytes, skipped.
    TooLong,
}

/// Listens for streams on `listener`: each connection on a thread of its
/// own, what it brings given to `take`, blank lines skipped.
pub fn listen(listener: TcpListener, take: Arc<dyn Fn(Input<'_>) + Send + Sync>) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let take = take.clone();
        let _ = std::thread::Builder::new()
            .name("fsm-watch".into())
            .spawn(move || read_stream(stream, &*take));
    }
}

fn read_stream(stream: TcpStream, take: &dyn Fn(Input<'_>)) {
    // An endpoint that goes quiet for an hour is taken as gone.
    let _ = stream.set_read_timeout(Some(Duration::from_secs(3600)));
    let mut reader = BufReader::new(stream);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match (&mut reader)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut buf)
        {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if buf.len() > MAX_LINE && buf.last() != Some(&b'\n') {
            take(Input::TooLong);
            // Skip to the end of the long line.
            loop {
                buf.clear();
                match (&mut reader).take(64 * 1024).read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(_) if buf.last() == Some(&b'\n') => break,
                    Ok(_) => {}
                }
            }
            continue;
        }
        let text = String::from_utf8_lossy(&buf);
        let text = text.trim();
        if !text.is_empty() {
            take(Input::Line(text));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp() -> crate::Spec {
        crate::load(concat!(env!("CARGO_MANIFEST_DIR"), "/../tcp.fsm")).expect("tcp.fsm")
    }

    const SYN_ACK: &str = r#"{"time":0.008910908,"spec":"../tcp.fsm","side":"client","connection":{"local":"127.0.0.1:55267","remote":"127.0.0.1:52845"},"event":"rcv_syn_ack","guards":{"passive":false,"fin_acked":false,"peer_known":true},"from":"SYN_SENT","to":"ESTABLISHED","transition":{"index":7,"line":100},"actions":["init_rcv","send_ack"],"steps":[{"path":"client","step":3}]}"#;

    #[test]
    fn an_event_line_gets_its_arrow_and_state() {
        let spec = tcp();
        let Line::Event(v) = read_line(Some(&spec.model), SYN_ACK) else {
            panic!("not an event")
        };
        assert_eq!(v["edge"], "edge-7-SYN_SENT");
        assert_eq!(v["state"], "state-ESTABLISHED");
        assert_eq!(v["key"], "client 127.0.0.1:55267 127.0.0.1:52845");
    }

    #[test]
    fn another_machines_line_and_bad_lines() {
        let spec = tcp();
        let cc = r#"{"time":0.1,"spec":"../congestion.fsm","side":"client","connection":{"local":"a","remote":"b"},"event":"new_ack","guards":{},"from":"SLOW_START","to":"SLOW_START","transition":{"index":0,"line":52},"actions":[],"steps":[]}"#;
        assert_eq!(read_line(Some(&spec.model), cc), Line::Other);
        for bad in [
            "{",
            "[1]",
            "{\"side\":1}",
            "null",
            r#"{"side":"a","connection":{"local":"x"},"segment":{"dir":"up"}}"#,
        ] {
            assert!(
                matches!(read_line(Some(&spec.model), bad), Line::Malformed(_)),
                "{bad}"
            );
        }
        let seg = r#"{"time":0.0089,"spec":"../tcp.fsm","side":"client","connection":{"local":"127.0.0.1:1","remote":"127.0.0.1:2"},"segment":{"dir":"out","flags":["SYN","ACK"],"seq":123,"ack":456,"len":0}}"#;
        let Line::Segment(v) = read_line(Some(&spec.model), seg) else {
            panic!("not a segment")
        };
        assert_eq!(v["flags"][1], "ACK");
        let (lines, stats) = read_all(
            Some(&spec.model),
            &format!("{SYN_ACK}\n\n{seg}\n{cc}\n{{\n"),
        );
        assert_eq!(lines.len(), 2);
        assert_eq!(
            (
                stats.lines,
                stats.events,
                stats.segments,
                stats.other,
                stats.malformed
            ),
            (4, 1, 1, 1, 1)
        );
    }
}

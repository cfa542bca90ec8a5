//! The message sequence chart of a realistic TCP run: a three-way handshake
//! whose last ACK is lost, the SYN+ACK retransmitted when the server's timer
//! fires, a segment the network duplicates, a close whose FIN+ACK overtakes
//! an ACK, a FIN still in flight at the end. The SVG must be well-formed
//! XML, name every state and message, mark the loss, and grow with its
//! rows.
//!
//! The chart is also written to `target/msc-example.svg` (under
//! `CARGO_TARGET_DIR` if set) for a look: `rsvg-convert` turns it into a
//! PNG.

use std::path::PathBuf;

use fsm_codegen::msc::{self, Chart, Fate, Message, Row, State};

fn st(name: &str, event: &str, line: u32) -> State {
    State {
        name: name.to_owned(),
        line: Some(format!("tcp.fsm:{line}")),
        event: Some(event.to_owned()),
    }
}

fn row(label: &str, notes: [&[&str]; 2], timer: [bool; 2], states: [Vec<State>; 2]) -> Row {
    Row {
        label: label.to_owned(),
        notes: notes.map(|ns| ns.iter().map(|&s| s.to_owned()).collect()),
        timer,
        states,
    }
}

fn msg(from: usize, sent: usize, fate: Fate, label: &str) -> Message {
    Message {
        from,
        sent,
        fate,
        label: label.to_owned(),
        copy_of: None,
    }
}

/// Client (side 0) and server (side 1), as an explorer would report them.
fn handshake() -> Chart {
    use Fate::*;
    let none = Vec::new;
    let rows = vec![
        row(
            "0  listen (server)",
            [&[], &["listen()"]],
            [false; 2],
            [none(), vec![st("LISTEN", "passive_open", 31)]],
        ),
        row(
            "1  connect (client)",
            [&["connect()"], &[]],
            [false; 2],
            [vec![st("SYN_SENT", "active_open", 33)], none()],
        ),
        row(
            "2  deliver #0",
            [&[], &[]],
            [false; 2],
            [none(), vec![st("SYN_RCVD", "rcv_syn", 41)]],
        ),
        row(
            "3  deliver #1",
            [&[], &[]],
            [false; 2],
            [vec![st("ESTABLISHED", "rcv_syn_ack", 52)], none()],
        ),
        row("4  lose #2", [&[], &[]], [false; 2], [none(), none()]),
        row(
            "5  timer (server)",
            [&[], &["retransmission timeout"]],
            [false, true],
            [none(), none()],
        ),
        row(
            "6  write (client)",
            [&["write 2 B"], &[]],
            [false; 2],
            [none(), none()],
        ),
        row("7  deliver #3", [&[], &[]], [false; 2], [none(), none()]),
        row("8  duplicate #4", [&[], &[]], [false; 2], [none(), none()]),
        row(
            "9  deliver #4",
            [&[], &["accept()", "read 2 B"]],
            [false; 2],
            [none(), vec![st("ESTABLISHED", "rcv_ack", 60)]],
        ),
        row(
            "10  deliver #6",
            [&[], &["duplicate dropped"]],
            [false; 2],
            [none(), none()],
        ),
        row(
            "11  close (client)",
            [&["close()"], &[]],
            [false; 2],
            [vec![st("FIN_WAIT_1", "close", 71)], none()],
        ),
        row(
            "12  deliver #8",
            [&[], &["read 0 B → EOF"]],
            [false; 2],
            [none(), vec![st("CLOSE_WAIT", "rcv_fin", 90)]],
        ),
        row(
            "13  close (server)",
            [&[], &["close()"]],
            [false; 2],
            [none(), vec![st("LAST_ACK", "close", 96)]],
        ),
        row(
            "14  deliver #10",
            [&[], &[]],
            [false; 2],
            [
                vec![
                    st("FIN_WAIT_2", "rcv_ack", 80),
                    st("TIME_WAIT", "rcv_fin", 84),
                ],
                none(),
            ],
        ),
        row("15  deliver #9", [&[], &[]], [false; 2], [none(), none()]),
    ];
    let mut messages = vec![
        msg(0, 1, Delivered(2), "SYN seq=100 len=0"), // 0
        msg(1, 2, Delivered(3), "SYN+ACK seq=300 ack=101 len=0"), // 1
        msg(0, 3, Lost(4), "ACK seq=101 ack=301 len=0"), // 2
        msg(1, 5, Delivered(7), "SYN+ACK seq=300 ack=101 len=0 (rxt)"), // 3
        msg(0, 6, Delivered(9), "ACK seq=101 ack=301 len=2"), // 4
        msg(0, 7, Delivered(11), "ACK seq=103 ack=301 len=0"), // 5
        msg(0, 8, Delivered(10), "ACK seq=101 ack=301 len=2"), // 6, the copy of 4
        msg(1, 9, InFlight, "ACK seq=301 ack=103 len=0"), // 7
        msg(0, 11, Delivered(12), "FIN seq=103 ack=301 len=0"), // 8
        msg(1, 12, Delivered(15), "ACK seq=301 ack=104 len=0"), // 9
        msg(1, 13, Delivered(14), "FIN seq=301 ack=104 len=0"), // 10
        msg(0, 14, InFlight, "ACK seq=104 ack=302 len=0"), // 11
    ];
    messages[6].copy_of = Some(4);
    Chart {
        title: "tcp.fsm, scenario echo: close not finished".to_owned(),
        sides: ["client (tcp.fsm)".to_owned(), "server (tcp.fsm)".to_owned()],
        initial: ["CLOSED".to_owned(), "CLOSED".to_owned()],
        rows,
        messages,
        verdict: Some(
            "violated: both sides reach CLOSED within 16 steps (the server is in LAST_ACK, \
             the ACK of its FIN in flight)"
                .to_owned(),
        ),
    }
}

// ---- A well-formedness checker --------------------------------------------

/// Checks that `doc` is one well-formed XML element (with comments around
/// it): tags balanced and named alike, attributes quoted and not repeated,
/// no `<` or stray `&` in text or values (only the five named entities and
/// character references). Returns the text of each element that has some,
/// unescaped, with the element's name.
fn well_formed(doc: &str) -> Result<Vec<(String, String)>, String> {
    let b = doc.as_bytes();
    let mut i = 0;
    let mut stack: Vec<String> = Vec::new();
    let mut roots = 0;
    let mut texts = Vec::new();
    let mut text = String::new();
    while i < b.len() {
        if doc[i..].starts_with("<!--") {
            let end = doc[i + 4..].find("-->").ok_or("unclosed comment")? + i + 4;
            if doc[i + 4..end].contains("--") {
                return Err(format!("`--` inside a comment at {i}"));
            }
            i = end + 3;
        } else if b[i] == b'<' {
            if let Some(open) = stack.last()
                && !text.trim().is_empty()
            {
                texts.push((open.clone(), unescape(&text)?));
            }
            text.clear();
            let end = doc[i..].find('>').ok_or("unclosed tag")? + i;
            let tag = &doc[i + 1..end];
            if let Some(name) = tag.strip_prefix('/') {
                let open = stack.pop().ok_or(format!("</{name}> closes nothing"))?;
                if open != name.trim() {
                    return Err(format!("<{open}> closed by </{name}>"));
                }
            } else {
                let (tag, empty) = match tag.strip_suffix('/') {
                    Some(t) => (t, true),
                    None => (tag, false),
                };
                let name = attributes(tag)?;
                if stack.is_empty() {
                    roots += 1;
                }
                if !empty {
                    stack.push(name);
                }
            }
            i = end + 1;
        } else {
            let c = doc[i..].chars().next().unwrap();
            if stack.is_empty() && !c.is_whitespace() {
                return Err(format!("text outside the root element at {i}"));
            }
            text.push(c);
            i += c.len_utf8();
        }
    }
    match (stack.last(), roots) {
        (Some(open), _) => Err(format!("<{open}> never closed")),
        (None, 1) => Ok(texts),
        (None, r) => Err(format!("{r} root elements")),
    }
}

/// The tag's name, after checking its attributes.
fn attributes(tag: &str) -> Result<String, String> {
    let valid = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ':' | '.'))
    };
    let name_end = tag.find(char::is_whitespace).unwrap_or(tag.len());
    let name = &tag[..name_end];
    if !valid(name) {
        return Err(format!("bad tag name in <{tag}>"));
    }
    let mut rest = tag[name_end..].trim_start();
    let mut seen = Vec::new();
    while !rest.is_empty() {
        let eq = rest
            .find('=')
            .ok_or(format!("attribute without value in <{tag}>"))?;
        let attr = rest[..eq].trim();
        if !valid(attr) || seen.contains(&attr) {
            return Err(format!("bad or repeated attribute {attr:?} in <{tag}>"));
        }
        seen.push(attr);
        let after = rest[eq + 1..].trim_start();
        let quote = after.chars().next().filter(|q| matches!(q, '"' | '\''));
        let quote = quote.ok_or(format!("unquoted attribute {attr} in <{tag}>"))?;
        let close = after[1..]
            .find(quote)
            .ok_or(format!("unclosed value in <{tag}>"))?
            + 1;
        let value = &after[1..close];
        if value.contains('<') {
            return Err(format!("`<` in attribute {attr} of <{tag}>"));
        }
        unescape(value)?;
        rest = after[close + 1..].trim_start();
        if !rest.is_empty() && !after[close + 1..].starts_with(char::is_whitespace) {
            return Err(format!("attributes run together in <{tag}>"));
        }
    }
    Ok(name.to_owned())
}

fn unescape(s: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let semi = rest[amp..].find(';').ok_or(format!("bare & in {s:?}"))? + amp;
        let entity = &rest[amp + 1..semi];
        let c = match entity {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            e if e.starts_with("#x") => u32::from_str_radix(&e[2..], 16)
                .ok()
                .and_then(char::from_u32)
                .ok_or(format!("bad reference &{e};"))?,
            e if e.starts_with('#') => e[1..]
                .parse()
                .ok()
                .and_then(char::from_u32)
                .ok_or(format!("bad reference &{e};"))?,
            e => return Err(format!("unknown entity &{e};")),
        };
        out.push(c);
        rest = &rest[semi + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn height(svg: &str) -> f64 {
    let at = svg.find("<svg ").expect("an svg element");
    let h = &svg[at..];
    let h = &h[h.find(" height=\"").expect("a height") + 9..];
    h[..h.find('"').unwrap()].parse().expect("a number")
}

// ---- Tests ------------------------------------------------------------------

#[test]
fn the_checker_rejects_what_is_not_xml() {
    assert!(well_formed("<a><b x=\"1\"/>t &amp; u</a>").is_ok());
    for bad in [
        "<a><b></a>",
        "<a x=1/>",
        "<a x=\"1\" x=\"2\"/>",
        "<a>&nbsp;</a>",
        "<a>AT&T</a>",
        "<a/><b/>",
        "<a x=\"<\"/>",
        "<a>",
        "<!-- a -- b --><a/>",
    ] {
        assert!(well_formed(bad).is_err(), "accepted {bad}");
    }
}

#[test]
fn a_handshake_chart_is_well_formed_and_names_everything() {
    let chart = handshake();
    let svg = msc::render(&chart);
    let texts = well_formed(&svg).unwrap_or_else(|e| panic!("not XML: {e}\n{svg}"));
    let has = |s: &str| texts.iter().any(|(_, t)| t.trim() == s);
    // Every state each side went through, the initial one included.
    for s in 0..2 {
        assert!(has(&chart.initial[s]), "initial {}", chart.initial[s]);
        for r in &chart.rows {
            for state in &r.states[s] {
                assert!(has(&state.name), "state {}", state.name);
                assert!(
                    has(state.event.as_deref().unwrap()),
                    "event of {}",
                    state.name
                );
                assert!(
                    has(state.line.as_deref().unwrap()),
                    "line of {}",
                    state.name
                );
            }
            for note in &r.notes[s] {
                assert!(has(note), "note {note}");
            }
        }
        assert!(has(&chart.sides[s]), "heading {}", chart.sides[s]);
    }
    for m in &chart.messages {
        assert!(has(&m.label), "message {}", m.label);
    }
    for r in &chart.rows {
        assert!(has(&r.label), "row {}", r.label);
    }
    assert!(has(chart.title.as_str()));
    // The verdict, wrapped, in its own box.
    let at = svg.find("<g class=\"verdict\">").expect("a verdict");
    let group = &svg[at..at + svg[at..].find("</g>").unwrap() + 4];
    let lines: Vec<String> = well_formed(group)
        .unwrap()
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    assert_eq!(lines.join(" "), chart.verdict.clone().unwrap());
    // A timer mark, a duplicate tag, and arrows that slant.
    assert_eq!(svg.matches("<g class=\"timer\"").count(), 1);
    assert!(has("dup"));
    assert_eq!(svg.matches("class=\"message delivered dup\"").count(), 1);
    assert_eq!(svg.matches("class=\"message in-flight\"").count(), 2);
    assert_eq!(
        svg.matches("stroke-dasharray").count(),
        3,
        "in flight and dup are dashed"
    );

    let out = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("msc-example.svg"), &svg).unwrap();
}

#[test]
fn a_lost_message_ends_in_a_cross() {
    let chart = handshake();
    let svg = msc::render(&chart);
    let lost = chart
        .messages
        .iter()
        .filter(|m| matches!(m.fate, Fate::Lost(_)))
        .count();
    assert_eq!(lost, 1);
    assert_eq!(svg.matches("<g class=\"lost\"").count(), lost);
    // The × is two crossing strokes, and its message has no arrowhead.
    let at = svg.find("<g class=\"lost\"").unwrap();
    let cross = &svg[at..at + svg[at..].find("</g>").unwrap()];
    assert_eq!(cross.matches(" L").count(), 2, "{cross}");
    let mut no_loss = chart.clone();
    no_loss.messages[2].fate = Fate::Delivered(4);
    assert!(!msc::render(&no_loss).contains("class=\"lost\""));
}

#[test]
fn the_chart_grows_with_its_rows() {
    let chart = handshake();
    let mut last = 0.0;
    for k in [1, 3, 6, 10, chart.rows.len()] {
        let mut part = chart.clone();
        part.rows.truncate(k);
        part.messages.retain(|m| m.sent < k);
        for m in &mut part.messages {
            if matches!(m.fate, Fate::Delivered(r) | Fate::Lost(r) if r >= k) {
                m.fate = Fate::InFlight;
            }
        }
        part.messages.retain(|m| m.copy_of.is_none());
        let h = height(&msc::render(&part));
        assert!(h > last, "{k} rows: {h} after {last}");
        last = h;
    }
    // A row with more notes or states is taller.
    let one = |notes: usize, states: usize| Chart {
        rows: vec![Row {
            label: "0  step".to_owned(),
            notes: [vec!["write 2 B".to_owned(); notes], Vec::new()],
            states: [vec![st("ESTABLISHED", "rcv_ack", 1); states], Vec::new()],
            ..Row::default()
        }],
        ..Chart::default()
    };
    assert!(height(&msc::render(&one(5, 1))) > height(&msc::render(&one(1, 1))));
    assert!(height(&msc::render(&one(1, 2))) > height(&msc::render(&one(1, 1))));
}

#[test]
fn output_is_deterministic_and_escaped_and_odd_input_does_not_panic() {
    let chart = handshake();
    assert_eq!(msc::render(&chart), msc::render(&chart));
    let with = msc::render_with(&chart, Some("fsm-lab explore --scenario echo"));
    assert!(with.contains("<desc>"), "{with}");
    assert!(with.contains("Regenerate: fsm-lab explore --scenario echo</desc>"));
    well_formed(&with).unwrap();

    let odd = Chart {
        title: "<&\"'>".to_owned(),
        sides: ["a & b".to_owned(), "<c>".to_owned()],
        rows: vec![Row::default()],
        messages: vec![
            Message {
                from: 7,
                sent: 99,
                fate: Fate::Delivered(0),
                label: "x < y".to_owned(),
                copy_of: Some(42),
            },
            Message {
                from: 0,
                sent: 0,
                fate: Fate::Lost(0),
                label: "]]>".to_owned(),
                copy_of: Some(0),
            },
        ],
        ..Chart::default()
    };
    well_formed(&msc::render(&odd)).unwrap();
    well_formed(&msc::render(&Chart::default())).unwrap();
}

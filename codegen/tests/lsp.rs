//! `fsm lsp` spoken to as an editor would: JSON-RPC with Content-Length
//! framing over the binary's standard input and output. Every wait has a
//! deadline, so a server that hangs fails the test instead of hanging it.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// How long any one answer may take.
const PATIENCE: Duration = Duration::from_secs(20);

const TCP: &str = include_str!("../../tcp.fsm");
const TCP_URI: &str = "file:///specs/tcp.fsm";

/// A language client for one server process.
struct Client {
    child: Child,
    stdin: ChildStdin,
    incoming: Receiver<Value>,
    /// Messages read while waiting for another one.
    unread: VecDeque<Value>,
    next_id: i64,
    capabilities: Value,
    server_info: Value,
}

impl Client {
    /// Starts `fsm lsp` and goes through `initialize` and `initialized`.
    fn start() -> Client {
        let mut child = Command::new(env!("CARGO_BIN_EXE_fsm"))
            .arg("lsp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("fsm lsp starts");
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let (sender, incoming) = channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            while let Some(message) = read_message(&mut reader) {
                if sender.send(message).is_err() {
                    break;
                }
            }
        });
        let mut client = Client {
            child,
            stdin,
            incoming,
            unread: VecDeque::new(),
            next_id: 1,
            capabilities: Value::Null,
            server_info: Value::Null,
        };
        let answer = client.request(
            "initialize",
            json!({ "processId": null, "rootUri": null, "capabilities": {} }),
        );
        client.capabilities = answer["result"]["capabilities"].clone();
        client.server_info = answer["result"]["serverInfo"].clone();
        client.notify("initialized", json!({}));
        client
    }

    fn send(&mut self, message: &Value) {
        let body = message.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).expect("server reads");
        self.stdin.flush().expect("server reads");
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(&json!({ "jsonrpc": "2.0", "method": method, "params": params }));
    }

    /// Sends a request and waits for its response (result or error).
    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        self.wait_for(&format!("the answer to {method}"), |m| {
            m["id"] == json!(id) && m.get("method").is_none()
        })
    }

    /// The result of a request that must succeed.
    fn result(&mut self, method: &str, params: Value) -> Value {
        let answer = self.request(method, params);
        assert!(answer.get("error").is_none(), "{method} failed: {answer}");
        answer["result"].clone()
    }

    /// The next message that `wanted` accepts; others are kept for later.
    fn wait_for(&mut self, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.unread.iter().position(&wanted) {
            return self.unread.remove(i).expect("found");
        }
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.incoming.recv_timeout(left) {
                Ok(m) if wanted(&m) => return m,
                Ok(m) => self.unread.push_back(m),
                Err(RecvTimeoutError::Timeout) => panic!("no {what} within {PATIENCE:?}"),
                Err(RecvTimeoutError::Disconnected) => panic!("the server quit before {what}"),
            }
        }
    }

    /// The next diagnostics published for `uri`.
    fn diagnostics(&mut self, uri: &str) -> Vec<Value> {
        let m = self.wait_for("diagnostics", |m| {
            m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == uri
        });
        m["params"]["diagnostics"]
            .as_array()
            .expect("a list of diagnostics")
            .clone()
    }

    fn open(&mut self, uri: &str, text: &str) -> Vec<Value> {
        self.notify(
            "textDocument/didOpen",
            json!({ "textDocument": {
                "uri": uri, "languageId": "fsm", "version": 1, "text": text
            } }),
        );
        self.diagnostics(uri)
    }

    fn change(&mut self, uri: &str, version: i32, text: &str) -> Vec<Value> {
        self.notify(
            "textDocument/didChange",
            json!({
                "textDocument": { "uri": uri, "version": version },
                "contentChanges": [{ "text": text }]
            }),
        );
        self.diagnostics(uri)
    }

    /// `shutdown`, then `exit`; the server must then end with status 0.
    fn shut_down(mut self) {
        let answer = self.request("shutdown", Value::Null);
        assert!(answer.get("error").is_none(), "shutdown failed: {answer}");
        self.notify("exit", Value::Null);
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().expect("the server can be waited for") {
                assert!(status.success(), "fsm lsp exited with {status}");
                return;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("fsm lsp did not exit within {PATIENCE:?} of `exit`");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Reads one framed message; `None` at the end of the stream.
fn read_message(reader: &mut impl BufRead) -> Option<Value> {
    let mut length = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(n) = line.strip_prefix("Content-Length:") {
            length = n.trim().parse::<usize>().ok();
        }
    }
    let mut body = vec![0; length?];
    reader.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}

/// `(line, UTF-16 column)` of every whole-word `word` in `text` outside
/// comments and strings: where the language has it as a name.
fn name_positions(text: &str, word: &str) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let mut in_string = false;
        let mut i = 0;
        let bytes = line.as_bytes();
        while i < line.len() {
            let rest = &line[i..];
            if in_string {
                if rest.starts_with('\\') {
                    i += 1;
                } else if rest.starts_with('"') {
                    in_string = false;
                }
            } else if rest.starts_with("//") {
                break;
            } else if rest.starts_with('"') {
                in_string = true;
            } else if rest.starts_with(word)
                && (i == 0 || !is_word_byte(bytes[i - 1]))
                && !rest[word.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
            {
                found.push((n, line[..i].encode_utf16().count()));
                i += word.len();
                continue;
            }
            i += rest.chars().next().map_or(1, char::len_utf8);
        }
    }
    found
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The position of the `nth` use of `word` as a name (0 is the first).
fn position_of(text: &str, word: &str, nth: usize) -> Value {
    let (line, character) = name_positions(text, word)[nth];
    json!({ "line": line, "character": character })
}

fn at(uri: &str, position: Value) -> Value {
    json!({ "textDocument": { "uri": uri }, "position": position })
}

/// The `(line, character)` where a range or location starts.
fn start_of(range: &Value) -> (usize, usize) {
    let start = &range["start"];
    let n = |v: &Value| v.as_u64().expect("a number") as usize;
    (n(&start["line"]), n(&start["character"]))
}

#[test]
fn initialize_advertises_what_the_server_answers() {
    let client = Client::start();
    assert_eq!(client.server_info["name"], "fsm");
    let caps = &client.capabilities;
    assert_eq!(caps["textDocumentSync"], 1, "full text sync: {caps}");
    for provider in [
        "hoverProvider",
        "definitionProvider",
        "referencesProvider",
        "documentSymbolProvider",
    ] {
        assert_eq!(caps[provider], true, "{provider}: {caps}");
    }
    assert_eq!(caps["renameProvider"]["prepareProvider"], true, "{caps}");
    assert!(caps["completionProvider"].is_object(), "{caps}");
    client.shut_down();
}

#[test]
fn diagnostics_follow_the_text_and_clear_when_it_is_fixed() {
    // The unknown state stands after Chinese text and a circled digit on
    // its line: its column counts UTF-16 units, not bytes or characters.
    let broken = "machine M \"m\"\n\
                  state A initial \"a\"\n\
                  state B \"b\"\n\
                  event go call \"go\" zh \"走①\" A -> C on go\n\
                  B -> A on go\n";
    let fixed = broken.replace("-> C", "-> B");
    let uri = "file:///specs/door.fsm";
    let mut client = Client::start();
    let diags = client.open(uri, broken);
    assert_eq!(diags.len(), 1, "{diags:?}");
    let d = &diags[0];
    assert!(
        d["message"].as_str().unwrap().contains("unknown state `C`"),
        "{d}"
    );
    assert_eq!(d["severity"], 1, "an error: {d}");
    let line = broken.lines().nth(3).unwrap();
    let column = line[..line.find("C on").unwrap()].encode_utf16().count();
    assert_eq!(start_of(&d["range"]), (3, column), "{d}");
    assert_eq!(d["range"]["end"]["character"], column + 1, "{d}");

    assert_eq!(client.change(uri, 2, &fixed), Vec::<Value>::new());

    // A syntax error: one diagnostic where the statement stops.
    let cut = format!("{fixed}A -> \n");
    let diags = client.change(uri, 3, &cut);
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert_eq!(start_of(&diags[0]["range"]).0, 5, "{diags:?}");
    // Requests are still answered, from the last text that parsed.
    let hover = client.result("textDocument/hover", at(uri, position_of(&fixed, "B", 0)));
    assert!(
        hover["contents"]["value"]
            .as_str()
            .unwrap()
            .contains("state"),
        "{hover}"
    );

    assert_eq!(client.change(uri, 4, &fixed), Vec::<Value>::new());
    client.shut_down();
}

/// The Markdown of a hover on the `nth` use of `word` in tcp.fsm.
fn hover_text(client: &mut Client, word: &str, nth: usize) -> String {
    let hover = client.result(
        "textDocument/hover",
        at(TCP_URI, position_of(TCP, word, nth)),
    );
    hover["contents"]["value"]
        .as_str()
        .expect("markdown")
        .to_owned()
}

#[test]
fn hover_on_a_state_lists_its_transitions() {
    let mut client = Client::start();
    client.open(TCP_URI, TCP);
    let text = hover_text(&mut client, "SYN_SENT", 0);
    assert!(text.contains("**state** `SYN_SENT`"), "{text}");
    assert!(text.contains("已发送连接请求"), "the zh text: {text}");
    assert!(
        text.contains("SYN_SENT -> ESTABLISHED on rcv_syn_ack / init_rcv, send_ack"),
        "{text}"
    );
    assert!(
        text.contains("CLOSED -> SYN_SENT on active_open / create_tcb, send_syn"),
        "{text}"
    );
    let line = TCP
        .lines()
        .position(|l| l.starts_with("SYN_SENT -> ESTABLISHED"))
        .unwrap();
    assert!(text.contains(&format!("line {}:", line + 1)), "{text}");

    let text = hover_text(&mut client, "rcv_syn_ack", 1);
    assert!(text.contains("**event** `rcv_syn_ack` (segment)"), "{text}");
    assert!(text.contains("SYN+ACK"), "{text}");

    let text = hover_text(&mut client, "client", 0);
    assert!(text.contains("**path** `client`"), "{text}");
    assert!(text.contains("steps (7):"), "{text}");
    client.shut_down();
}

#[test]
fn definition_and_references_find_every_use() {
    let mut client = Client::start();
    client.open(TCP_URI, TCP);
    let uses = name_positions(TCP, "SYN_SENT");
    // A use in a transition leads to the declaration.
    let found = client.result(
        "textDocument/definition",
        at(TCP_URI, position_of(TCP, "SYN_SENT", 2)),
    );
    assert_eq!(found["uri"], TCP_URI);
    assert_eq!(start_of(&found["range"]), uses[0], "{found}");

    // A path named after Chinese text on a state's line.
    let found = client.result(
        "textDocument/definition",
        at(TCP_URI, position_of(TCP, "server", 1)),
    );
    assert_eq!(
        start_of(&found["range"]),
        name_positions(TCP, "server")[0],
        "{found}"
    );

    for include in [true, false] {
        let mut params = at(TCP_URI, position_of(TCP, "SYN_SENT", 3));
        params["context"] = json!({ "includeDeclaration": include });
        let refs = client.result("textDocument/references", params);
        let mut got: Vec<(usize, usize)> = refs
            .as_array()
            .unwrap()
            .iter()
            .map(|l| start_of(&l["range"]))
            .collect();
        got.sort();
        let want = if include { &uses[..] } else { &uses[1..] };
        assert_eq!(got, want, "includeDeclaration: {include}");
    }
    client.shut_down();
}

#[test]
fn rename_edits_every_occurrence_and_refuses_bad_names() {
    let mut client = Client::start();
    client.open(TCP_URI, TCP);
    let position = position_of(TCP, "synchronized", 1);
    let prepared = client.result("textDocument/prepareRename", at(TCP_URI, position.clone()));
    assert_eq!(prepared["placeholder"], "synchronized", "{prepared}");

    // From a use, from the declaration.
    for (name, nth) in [("SYN_SENT", 3), ("synchronized", 0), ("rcv_syn", 1)] {
        let mut params = at(TCP_URI, position_of(TCP, name, nth));
        params["newName"] = json!("renamed");
        let edit = client.result("textDocument/rename", params);
        let edits = edit["changes"][TCP_URI].as_array().expect("edits").clone();
        let mut got: Vec<(usize, usize)> = edits.iter().map(|e| start_of(&e["range"])).collect();
        got.sort();
        assert_eq!(got, name_positions(TCP, name), "renaming {name}");
        assert!(edits.iter().all(|e| e["newText"] == "renamed"));
    }

    for refused in ["CLOSED", "open", "on", "2nd", "with space", ""] {
        let mut params = at(TCP_URI, position_of(TCP, "SYN_SENT", 1));
        params["newName"] = json!(refused);
        let answer = client.request("textDocument/rename", params);
        assert!(
            answer["error"]["message"].is_string(),
            "renaming SYN_SENT to {refused:?} should be refused: {answer}"
        );
    }
    client.shut_down();
}

/// Replaces the document with `typing` and asks for completions at its
/// end; answers their labels.
fn complete_at_end(client: &mut Client, version: i32, typing: &str) -> Vec<String> {
    client.change(TCP_URI, version, typing);
    let last = typing.lines().last().unwrap_or("");
    let end = json!({
        "line": typing.lines().count() - 1,
        "character": last.encode_utf16().count()
    });
    let items = client.result("textDocument/completion", at(TCP_URI, end));
    items
        .as_array()
        .expect("a list of items")
        .iter()
        .map(|i| i["label"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn completion_offers_names_of_the_kind_the_place_wants() {
    let mut client = Client::start();
    client.open(TCP_URI, TCP);
    // Half a transition does not parse: names come from the last text that did.
    let labels = complete_at_end(&mut client, 2, &format!("{TCP}\nCLOSED -> LISTEN on "));
    for event in ["passive_open", "rcv_syn_ack", "time_wait_timeout"] {
        assert!(
            labels.iter().any(|l| l == event),
            "{event} missing: {labels:?}"
        );
    }
    assert!(
        !labels.iter().any(|l| l == "CLOSED"),
        "a state offered as an event: {labels:?}"
    );
    let labels = complete_at_end(
        &mut client,
        3,
        &format!("{TCP}\nCLOSED -> LISTEN on close [pa"),
    );
    assert_eq!(labels, ["passive", "fin_acked", "peer_known"]);
    let labels = complete_at_end(
        &mut client,
        4,
        &format!("{TCP}\nCLOSED -> LISTEN on close / "),
    );
    assert_eq!(
        labels.first().map(String::as_str),
        Some("send_syn"),
        "{labels:?}"
    );
    client.shut_down();
}

#[test]
fn document_symbols_outline_the_machine() {
    let mut client = Client::start();
    client.open(TCP_URI, TCP);
    let symbols = client.result(
        "textDocument/documentSymbol",
        json!({ "textDocument": { "uri": TCP_URI } }),
    );
    let symbols = symbols.as_array().expect("a list");
    assert_eq!(symbols.len(), 1);
    assert_eq!(symbols[0]["name"], "Tcp");
    let children = symbols[0]["children"].as_array().expect("children");
    let names: Vec<&str> = children
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    for name in [
        "client",
        "CLOSED",
        "TIME_WAIT",
        "synchronized",
        "rcv_syn",
        "passive",
        "send_syn",
    ] {
        assert!(names.contains(&name), "{name} missing: {names:?}");
    }
    let closed = children.iter().find(|c| c["name"] == "CLOSED").unwrap();
    let line = TCP
        .lines()
        .position(|l| l.starts_with("state CLOSED"))
        .unwrap();
    assert_eq!(start_of(&closed["range"]), (line, 0), "{closed}");
    assert_eq!(start_of(&closed["selectionRange"]), (line, 6), "{closed}");
    client.shut_down();
}

#[test]
fn bad_positions_and_unknown_documents_get_empty_answers() {
    let mut client = Client::start();
    client.open(TCP_URI, TCP);
    for position in [
        json!({ "line": 99999, "character": 0 }),
        json!({ "line": 0, "character": 99999 }),
        json!({ "line": 22, "character": 60 }),
    ] {
        client.result("textDocument/hover", at(TCP_URI, position.clone()));
        client.result("textDocument/definition", at(TCP_URI, position));
    }
    let nothing = client.result(
        "textDocument/hover",
        at(
            "file:///never/opened.fsm",
            json!({ "line": 0, "character": 0 }),
        ),
    );
    assert_eq!(nothing, Value::Null);
    let unknown = client.request("fsm/unknown", json!({}));
    assert!(unknown["error"].is_object(), "{unknown}");
    client.shut_down();
}

#[test]
fn messages_hover_rename_and_complete_like_other_names() {
    let mut client = Client::start();
    client.open(TCP_URI, TCP);
    let text = hover_text(&mut client, "SYN_ACK", 0);
    assert!(text.contains("**message** `SYN_ACK`"), "{text}");
    assert!(text.contains("sent by: send_syn_ack"), "{text}");
    assert!(text.contains("raises: rcv_syn_ack, rcv_segment"), "{text}");
    let text = hover_text(&mut client, "send_fin", 0);
    assert!(text.contains("sends: FIN"), "{text}");

    // Go to definition from a `sends`, rename from an `on`.
    let found = client.result(
        "textDocument/definition",
        at(TCP_URI, position_of(TCP, "FIN", 2)),
    );
    let declared = TCP
        .lines()
        .position(|l| l.starts_with("message FIN "))
        .expect("FIN declared");
    assert_eq!(start_of(&found["range"]), (declared, 8), "{found}");
    let mut params = at(TCP_URI, position_of(TCP, "RST", 1));
    params["newName"] = json!("RESET");
    let edit = client.result("textDocument/rename", params);
    let edits = edit["changes"][TCP_URI].as_array().expect("edits").clone();
    let mut got: Vec<(usize, usize)> = edits.iter().map(|e| start_of(&e["range"])).collect();
    got.sort();
    assert_eq!(got, name_positions(TCP, "RST"));

    let labels = complete_at_end(
        &mut client,
        2,
        &format!("{TCP}\naction send_nothing sends "),
    );
    assert_eq!(labels, ["SYN", "SYN_ACK", "ACK", "FIN", "RST"]);
    client.shut_down();
}

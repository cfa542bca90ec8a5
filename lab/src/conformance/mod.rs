//! Conformance: tcp.fsm's tour played against an implementation over the
//! wire, pair by pair.
//!
//! For every (transition, source state) pair of the spec, the tester takes
//! a shortest event sequence from the initial state that ends with that
//! pair (from the generator's tour, [`fsm_codegen::tour`], round the steps
//! the implementation cannot be driven through) and plays it: an
//! application call for a `call` event, a concrete segment for a `segment`
//! event (made by [`Peer`] from what it saw of the implementation's
//! sequence numbers), a timer driven to expiry for a `timer` event. After
//! each step it holds the state the implementation reports and the
//! segments it sent against the step's target state and send actions.
//!
//! A cell of the matrix is the verdict of the pair's own sequence: it
//! *agrees*, *differs* (with the segments exchanged, the states seen and
//! the spec's line), or is *untestable* (with the reason: the
//! implementation offers no way to drive the step, or the way there
//! already went elsewhere). [`matrix`] writes CONFORMANCE.md.
//!
//! The implementations: [`ours`] (the runtime's sans-IO `Host`, virtual
//! time), [`smol`] (smoltcp's sans-IO interface, virtual time) and
//! [`linux`] (the kernel's TCP behind a TUN device in a network namespace,
//! real time).

pub mod findings;
pub mod linux;
pub mod matrix;
pub mod ours;
pub mod smol;

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::net::SocketAddrV4;

use fsm_codegen::model::{EventId, GuardId, Model, StateId};
use fsm_codegen::syntax::EventKind;
use fsm_codegen::tour::{self, History, Step};
use fsm_runtime::wire::{self, Flags, SeqNum, TcpRepr};

/// The history guard the tours of tcp.fsm take (as `fsm tour` and the
/// README use it): `passive` holds after LISTEN, not after SYN_SENT.
pub const HISTORY: &str = "passive:LISTEN/SYN_SENT";

/// The peer's initial sequence number.
pub const PEER_ISS: SeqNum = SeqNum(7_000_000);

/// The data a `send` call writes.
pub const DATA: &[u8] = b"conformance";

/// The columns that need nothing of the machine and come out the same
/// on every run: our runtime and smoltcp, both in virtual time.
pub fn deterministic_columns(spec: &Spec) -> Vec<matrix::Column> {
    vec![
        matrix::Column {
            name: "our runtime".into(),
            key: 'O',
            result: Ok(spec.run(&mut ours::Ours::new(fsm_runtime::tcp::Spec))),
        },
        matrix::Column {
            name: "smoltcp 0.14".into(),
            key: 'S',
            result: Ok(spec.run(&mut smol::Smol::new())),
        },
    ]
}

/// An application call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    /// passive OPEN: listen on the implementation's port.
    Listen,
    /// active OPEN: connect to the peer.
    Connect,
    /// SEND [`DATA`].
    Send,
    /// CLOSE: no more data from us (a FIN).
    Close,
    /// ABORT (an RST).
    Abort,
}

impl Call {
    /// The call a spec event stands for.
    pub fn of(event: &str) -> Option<Call> {
        Some(match event {
            "passive_open" => Call::Listen,
            "active_open" => Call::Connect,
            "send" => Call::Send,
            "close" => Call::Close,
            "abort" => Call::Abort,
            _ => return None,
        })
    }
}

/// The two ends of a run.
#[derive(Clone, Copy, Debug)]
pub struct Addrs {
    /// The implementation's address (its port is the one it listens on
    /// or connects from).
    pub implementation: SocketAddrV4,
    /// The tester's.
    pub peer: SocketAddrV4,
}

/// An implementation under test, seen as tcp.fsm sees a TCP: calls in,
/// segments in and out, a state, timers.
pub trait Implementation {
    /// Its name, as the matrix's column heads it.
    fn name(&self) -> String;

    /// Why it cannot be driven through `event` in state `from` (tcp.fsm's
    /// names) when the connection was (`passive`) or was not opened
    /// passively, if it cannot.
    fn cannot(&self, from: &str, event: &str, passive: bool) -> Option<String>;

    /// Starts run `run`: nothing of an earlier run is left to interfere.
    fn begin(&mut self, run: usize) -> Result<Addrs, String>;

    /// Performs an application call on the connection under test.
    fn call(&mut self, call: Call) -> Result<(), String>;

    /// Delivers an IPv4 packet from the peer.
    fn inject(&mut self, packet: &[u8]);

    /// Lets it act on what it was given; the IPv4 packets it sent to the
    /// peer since the last collect.
    fn collect(&mut self) -> Vec<Vec<u8>>;

    /// Lets time pass until `timer` (a timer event of the spec) expires,
    /// as the implementation was configured; `Err` if it cannot be made
    /// to (why).
    fn expire(&mut self, timer: &str) -> Result<(), String>;

    /// The state of the connection under test, in tcp.fsm's names.
    fn state(&mut self) -> String;

    /// What it says it did since the last call (its own trace), for the
    /// evidence; empty if it says nothing.
    fn notes(&mut self) -> Vec<String> {
        Vec::new()
    }

    /// Whether [`Self::notes`] lists every event raised, as
    /// `FROM -event-> TO`: then each step's event must be among them.
    fn traces_events(&self) -> bool {
        false
    }

    /// Ends the run.
    fn end(&mut self);
}

/// A verdict on one pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The state and the segments are what the spec says.
    Agree,
    /// They are not: what was exchanged and seen.
    Differs(String),
    /// The pair could not be tested: why.
    Untestable(String),
}

impl Verdict {
    /// "agree", "differs" or "untestable".
    pub fn word(&self) -> &'static str {
        match self {
            Verdict::Agree => "agree",
            Verdict::Differs(_) => "differs",
            Verdict::Untestable(_) => "untestable",
        }
    }
}

/// A (transition, source state) pair of the spec, as the matrix shows it.
#[derive(Clone, Debug)]
pub struct Pair {
    /// Its index in [`Model::edges`] order.
    pub index: usize,
    /// Source state.
    pub from: String,
    /// Event.
    pub event: String,
    /// The guard as written, if any.
    pub guard: Option<String>,
    /// Target state.
    pub to: String,
    /// Actions, in order.
    pub actions: Vec<String>,
    /// The transition's line in the spec.
    pub line: usize,
    /// Its RFC section, if annotated.
    pub rfc: Option<String>,
}

impl Pair {
    /// `SYN_RCVD -rcv_rst [passive]-> LISTEN`.
    pub fn describe(&self) -> String {
        let guard = self
            .guard
            .as_ref()
            .map(|g| format!(" [{g}]"))
            .unwrap_or_default();
        format!("{} -{}{guard}-> {}", self.from, self.event, self.to)
    }
}

/// The spec under test: its model and its pairs.
pub struct Spec {
    /// The file name, as evidence cites it (`tcp.fsm`).
    pub file: String,
    /// The model.
    pub model: Model,
    /// Its pairs in [`Model::edges`] order.
    pub pairs: Vec<Pair>,
    history: Vec<History>,
}

impl Spec {
    /// Reads `file` (the name evidence cites) from `source`.
    pub fn new(file: &str, source: &str) -> Result<Spec, String> {
        let spec = fsm_codegen::compile(file, source).map_err(|r| r.render())?;
        let model = spec.model;
        let history = vec![History::parse(&model, HISTORY)?];
        let name = |s: StateId| model.states[s.index()].name.text.clone();
        let pairs = model
            .edges()
            .enumerate()
            .map(|(index, e)| {
                let t = &model.transitions[e.transition.index()];
                Pair {
                    index,
                    from: name(e.from),
                    event: model.events[t.event.index()].name.text.clone(),
                    guard: t.guard.as_ref().map(|g| {
                        let mut s = String::new();
                        g.write(&mut s, &|v| model.guards[v.index()].name.text.clone());
                        s
                    }),
                    to: name(e.to),
                    actions: t
                        .actions
                        .iter()
                        .map(|a| model.actions[a.index()].name.text.clone())
                        .collect(),
                    line: t.line,
                    rfc: t.rfc.clone(),
                }
            })
            .collect();
        Ok(Spec {
            file: file.to_string(),
            model,
            pairs,
            history,
        })
    }

    /// tcp.fsm at the workspace root.
    pub fn tcp() -> Spec {
        let path = format!("{}/../tcp.fsm", env!("CARGO_MANIFEST_DIR"));
        let source = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        Spec::new("tcp.fsm", &source).unwrap_or_else(|e| panic!("{e}"))
    }

    fn state_name(&self, s: StateId) -> &str {
        &self.model.states[s.index()].name.text
    }

    fn event_name(&self, e: EventId) -> &str {
        &self.model.events[e.index()].name.text
    }

    /// Whether `passive` holds at each step of `seq` (as the history guard
    /// has it: set on entering LISTEN, cleared on entering SYN_SENT).
    fn passive_along(&self, seq: &[Step]) -> Vec<bool> {
        let h = &self.history[0];
        let mut bit = false;
        seq.iter()
            .map(|s| {
                let at = bit;
                if h.set.contains(&s.to) {
                    bit = true;
                }
                if h.clear.contains(&s.to) {
                    bit = false;
                }
                at
            })
            .collect()
    }

    fn guard_value(&self, step: &Step, name: &str) -> Option<bool> {
        step.guards
            .iter()
            .find(|&&(g, _)| self.model.guards[g.index()].name.text == name)
            .map(|&(_, v)| v)
    }

    /// For each pair, the sequence that ends with it: the shortest prefix
    /// of a tour sequence (the tour round what `imp` cannot do) whose last
    /// step takes the pair; `Err` with why for a pair no such tour takes.
    pub fn sequences(&self, imp: &dyn Implementation) -> Vec<Result<Vec<Step>, String>> {
        self.sequences_avoiding(imp, &[])
    }

    /// [`Self::sequences`], also round the steps `also` (source state,
    /// event, `passive`).
    fn sequences_avoiding(
        &self,
        imp: &dyn Implementation,
        also: &[(StateId, EventId, bool)],
    ) -> Vec<Result<Vec<Step>, String>> {
        let guard = self.history[0].guard;
        let avoid = |s: &Step, history: &[(GuardId, bool)]| {
            let passive = history.iter().any(|&(g, v)| g == guard && v);
            also.contains(&(s.from, s.event, passive))
                || imp
                    .cannot(self.state_name(s.from), self.event_name(s.event), passive)
                    .is_some()
        };
        let t = tour::tour_avoiding(&self.model, &self.history, &avoid);
        let mut best: BTreeMap<usize, Vec<Step>> = BTreeMap::new();
        for seq in &t.sequences {
            for (i, s) in seq.iter().enumerate() {
                if let Some(p) = s.pair
                    && best.get(&p).is_none_or(|b| b.len() > i + 1)
                {
                    best.insert(p, seq[..=i].to_vec());
                }
            }
        }
        self.pairs
            .iter()
            .map(|p| {
                best.remove(&p.index).ok_or_else(|| {
                    // Why: the pair's own step cannot be driven, or no way
                    // to its state can.
                    [true, false]
                        .iter()
                        .find_map(|&passive| imp.cannot(&p.from, &p.event, passive))
                        .unwrap_or_else(|| {
                            format!(
                                "no way to {} that {} can be driven along",
                                p.from,
                                imp.name()
                            )
                        })
                })
            })
            .collect()
    }

    /// Runs every pair's sequence against `imp`; the verdicts in pair
    /// order.
    ///
    /// A pair whose way there goes elsewhere at some step (a difference
    /// of that step's own pair) is tried again round that step, a few
    /// times; if no way is left it is untestable, with the first reason.
    pub fn run(&self, imp: &mut dyn Implementation) -> Vec<Verdict> {
        let mut sequences = self.sequences(imp);
        let mut runs = 0;
        (0..self.pairs.len())
            .map(|p| {
                let mut avoided: Vec<(StateId, EventId, bool)> = Vec::new();
                let mut first: Option<Verdict> = None;
                loop {
                    let seq = match &sequences[p] {
                        Err(why) => {
                            break first.unwrap_or_else(|| Verdict::Untestable(why.clone()));
                        }
                        Ok(seq) => seq.clone(),
                    };
                    runs += 1;
                    let (verdict, failed_at) = self.play(imp, runs, &seq);
                    let Some(i) = failed_at else {
                        break verdict;
                    };
                    first.get_or_insert(verdict);
                    if avoided.len() >= 4 {
                        break first.expect("set above");
                    }
                    // Round the step that went elsewhere; if there is no
                    // way round it, round the step before (which may have
                    // left something undone that the state does not show).
                    let passive = self.passive_along(&seq);
                    let key = |k: usize| (seq[k].from, seq[k].event, passive[k]);
                    avoided.push(key(i));
                    let mut next = self.sequences_avoiding(imp, &avoided).swap_remove(p);
                    if next.is_err() && i > 0 {
                        avoided.pop();
                        avoided.push(key(i - 1));
                        next = self.sequences_avoiding(imp, &avoided).swap_remove(p);
                    }
                    sequences[p] = next;
                }
            })
            .collect()
    }

    /// Plays one sequence; the verdict on its last step, and the step of
    /// the way there that went elsewhere, if one did.
    pub fn play(
        &self,
        imp: &mut dyn Implementation,
        run: usize,
        seq: &[Step],
    ) -> (Verdict, Option<usize>) {
        let addrs = match imp.begin(run) {
            Ok(a) => a,
            Err(e) => return (Verdict::Untestable(format!("could not start: {e}")), None),
        };
        let mut peer = Peer::new(addrs);
        let mut log = String::new();
        let mut fin_queued = false;
        let mut verdict = Verdict::Agree;
        let mut failed_at = None;
        for (i, step) in seq.iter().enumerate() {
            let last = i + 1 == seq.len();
            let event = self.event_name(step.event).to_string();
            let from = self.state_name(step.from).to_string();
            let to = self.state_name(step.to).to_string();
            let pair = &self.pairs[step.pair.expect("a tour step fires")];
            let _ = writeln!(
                log,
                "{}. {} ({}:{})",
                i + 1,
                tour::describe(&self.model, step),
                self.file,
                pair.line
            );
            let mut packets = Vec::new();
            let kind = self.model.events[step.event.index()].kind;
            let done: Result<(), String> = match kind {
                EventKind::Call => {
                    let call = Call::of(&event).expect("a call of the runtime's vocabulary");
                    let _ = writeln!(log, "   {call:?}");
                    imp.call(call).map_err(|e| format!("{call:?} failed: {e}"))
                }
                EventKind::Segment => {
                    let fin_acked = self.guard_value(step, "fin_acked");
                    if fin_acked == Some(true) && peer.their_fin.is_none() {
                        // The FIN waits behind the SYN: acknowledge the SYN
                        // first, which lets the FIN out.
                        let seg = peer.ack_of(peer.their_nxt());
                        peer.send(imp, &seg, &mut log);
                        for p in imp.collect() {
                            let again = peer.observe(&p, &mut log);
                            packets.push((p, again));
                        }
                    }
                    let seg = peer.segment(&event, fin_acked);
                    peer.send(imp, &seg, &mut log);
                    Ok(())
                }
                EventKind::Timer => {
                    if event == "user_timeout"
                        && !peer.outstanding()
                        && self
                            .pairs
                            .iter()
                            .any(|p| p.from == from && p.event == "send" && p.to == from)
                    {
                        // Something must await an ACK for the user timeout
                        // to run.
                        let _ = writeln!(log, "   Send (so that something awaits an ACK)");
                        if let Err(e) = imp.call(Call::Send) {
                            let _ = writeln!(log, "   Send failed: {e}");
                        }
                        for p in imp.collect() {
                            let again = peer.observe(&p, &mut log);
                            packets.push((p, again));
                        }
                    }
                    let _ = writeln!(log, "   (time passes: {event})");
                    imp.expire(&event)
                }
            };
            for p in imp.collect() {
                let again = peer.observe(&p, &mut log);
                packets.push((p, again));
            }
            let notes = imp.notes();
            for n in &notes {
                let _ = writeln!(log, "   ({} says: {n})", imp.name());
            }
            let seen = imp.state();
            let _ = writeln!(log, "   state {seen} ({}: {to})", self.file);
            if let Err(e) = done {
                let _ = writeln!(log, "   differs: {e}");
                verdict = match (last, kind) {
                    // The implementation refused a call the spec takes.
                    (true, EventKind::Call) => Verdict::Differs(String::new()),
                    (true, _) => Verdict::Untestable(e),
                    (false, _) => Verdict::Untestable(format!(
                        "not reached: step {} ({}) {e}",
                        i + 1,
                        tour::describe(&self.model, step)
                    )),
                };
                failed_at = Some(i);
                break;
            }
            let mut problems = Vec::new();
            if seen != to {
                problems.push(format!("state {seen}, {} says {to}", self.file));
            }
            // An implementation that says which events it raised must have
            // raised this step's (not another with the same look on the
            // wire).
            let wanted = format!("{from} -{event}-> {to}");
            if imp.traces_events() && !notes.contains(&wanted) {
                problems.push(format!("{} did not raise {wanted}", imp.name()));
            }
            let timer = self.model.events[step.event.index()].kind == EventKind::Timer;
            problems.extend(check_sends(
                &pair.actions,
                &packets,
                timer,
                fin_queued,
                !peer.syn_acked(),
            ));
            if pair.actions.iter().any(|a| a == "send_fin") {
                fin_queued = true;
            }
            if !problems.is_empty() {
                let _ = writeln!(log, "   differs: {}", problems.join("; "));
                failed_at = Some(i);
                verdict = if last {
                    Verdict::Differs(String::new())
                } else {
                    Verdict::Untestable(format!(
                        "not reached: step {} ({}) differs: {}",
                        i + 1,
                        tour::describe(&self.model, step),
                        problems.join("; ")
                    ))
                };
                break;
            }
        }
        imp.end();
        let verdict = match verdict {
            Verdict::Differs(_) => Verdict::Differs(log.trim_end().to_string()),
            v => v,
        };
        (verdict, failed_at.filter(|&i| i + 1 < seq.len()))
    }
}

/// What the spec's send actions of a step require of the segments the
/// implementation sent, and what they forbid; the problems found.
fn check_sends(
    actions: &[String],
    packets: &[(Vec<u8>, bool)],
    timer: bool,
    fin_queued: bool,
    syn_unacked: bool,
) -> Vec<String> {
    let segs: Vec<(Flags, bool, bool)> = packets
        .iter()
        .filter_map(|(p, again)| wire::parse(p).ok().map(|(_, t)| (t, *again)))
        .map(|(t, again)| (t.flags, t.ack.is_some(), again))
        .collect();
    let has = |a: &str| actions.iter().any(|x| x == a);
    let any = |f: &dyn Fn(Flags, bool) -> bool| segs.iter().any(|&(fl, ack, _)| f(fl, ack));
    // A retransmission (a SYN or FIN sent before, again) is no new send:
    // it satisfies what the step sends but is not held against it.
    let new =
        |f: &dyn Fn(Flags, bool) -> bool| segs.iter().any(|&(fl, ack, again)| !again && f(fl, ack));
    let mut problems = Vec::new();
    let syn = |f: Flags, ack: bool| f.syn() && !ack && !f.rst();
    let syn_ack = |f: Flags, ack: bool| f.syn() && ack && !f.rst();
    let rst = |f: Flags, _: bool| f.rst();
    let fin = |f: Flags, _: bool| f.fin() && !f.rst();
    let ack = |f: Flags, ack: bool| ack && !f.syn() && !f.rst();
    if has("send_syn") && !any(&syn) {
        problems.push("no SYN (send_syn)".to_string());
    }
    if has("send_syn_ack") && !any(&syn_ack) {
        problems.push("no SYN-ACK (send_syn_ack)".to_string());
    }
    for a in ["send_ack", "send_challenge_ack"] {
        if has(a) && !any(&ack) {
            problems.push(format!("no ACK ({a})"));
        }
    }
    if has("send_fin") && !syn_unacked && !any(&fin) {
        problems.push("no FIN (send_fin)".to_string());
    }
    let rst_action = has("reply_rst") || has("send_rst");
    if rst_action && !any(&rst) {
        let a = if has("reply_rst") {
            "reply_rst"
        } else {
            "send_rst"
        };
        problems.push(format!("no RST ({a})"));
    }
    if !rst_action && new(&rst) {
        problems.push("an RST the spec does not send here".to_string());
    }
    if !timer {
        if !has("send_syn") && new(&syn) {
            problems.push("a SYN the spec does not send here".to_string());
        }
        if !has("send_syn_ack") && new(&syn_ack) {
            problems.push("a SYN-ACK the spec does not send here".to_string());
        }
        if !has("send_fin") && !fin_queued && new(&fin) {
            problems.push("a FIN the spec does not send here".to_string());
        }
    }
    problems
}

/// A segment the peer sends.
#[derive(Clone, Debug)]
pub struct Seg {
    /// Flags (the ACK flag follows `ack`).
    pub flags: Flags,
    /// Sequence number.
    pub seq: SeqNum,
    /// Acknowledgment number, if ACK.
    pub ack: Option<SeqNum>,
    /// Payload.
    pub payload: &'static [u8],
}

/// The abstract peer: turns a segment event of the spec into a concrete
/// segment, from what it sent and what it saw of the implementation's
/// sequence numbers (vocab.rs says when each event is raised).
pub struct Peer {
    addrs: Addrs,
    /// Our next sequence number.
    snd_nxt: SeqNum,
    /// Whether our SYN went out.
    syn_sent: bool,
    /// The sequence number of our FIN, once sent.
    fin: Option<SeqNum>,
    /// The implementation's ISS, once seen.
    their_iss: Option<SeqNum>,
    /// The end of what it sent (SYN, data and FIN counted).
    their_end: Option<SeqNum>,
    /// The sequence number of its FIN, once seen.
    their_fin: Option<SeqNum>,
    /// The last acknowledgment we sent.
    acked: Option<SeqNum>,
    /// The SYNs and FINs seen: (SYN, FIN, ACK, sequence number).
    sent_before: HashSet<(bool, bool, bool, u32)>,
}

/// Any acknowledgment number for a segment that acknowledges nothing sent.
const NOWHERE: SeqNum = SeqNum(0x5eed_0000);

impl Peer {
    /// A peer that has sent nothing.
    pub fn new(addrs: Addrs) -> Peer {
        Peer {
            addrs,
            snd_nxt: PEER_ISS,
            syn_sent: false,
            fin: None,
            their_iss: None,
            their_end: None,
            their_fin: None,
            acked: None,
            sent_before: HashSet::new(),
        }
    }

    fn their_nxt(&self) -> SeqNum {
        self.their_end.unwrap_or(NOWHERE)
    }

    /// Whether we acknowledged the implementation's SYN.
    fn syn_acked(&self) -> bool {
        match (self.their_iss, self.acked) {
            (Some(i), Some(a)) => (a - i) > 0,
            _ => false,
        }
    }

    /// Whether something the implementation sent is not yet acknowledged.
    fn outstanding(&self) -> bool {
        self.their_end.is_some() && self.acked != self.their_end
    }

    /// An ACK of `ack` at our next sequence number.
    fn ack_of(&self, ack: SeqNum) -> Seg {
        Seg {
            flags: Flags::empty(),
            seq: self.snd_nxt,
            ack: Some(ack),
            payload: &[],
        }
    }

    /// The concrete segment for segment event `event`; `fin_acked` is the
    /// step's value of that guard, if the cell has it.
    pub fn segment(&mut self, event: &str, fin_acked: Option<bool>) -> Seg {
        let their_nxt = self.their_nxt();
        let short_of_fin = self.their_fin.unwrap_or(their_nxt);
        let synchronized = self.syn_sent && self.their_iss.is_some();
        let seg = |flags, seq, ack: Option<SeqNum>| Seg {
            flags,
            seq,
            ack,
            payload: &[],
        };
        match event {
            "rcv_syn" if !self.syn_sent => {
                self.syn_sent = true;
                let s = seg(Flags::SYN, PEER_ISS, None);
                self.snd_nxt = PEER_ISS + 1;
                s
            }
            // RFC 5961 4: a SYN in a synchronized state, whatever its
            // sequence number.
            "rcv_syn" => seg(Flags::SYN, self.snd_nxt, None),
            "rcv_syn_ack" => {
                self.syn_sent = true;
                self.snd_nxt = PEER_ISS + 1;
                seg(Flags::SYN, PEER_ISS, Some(their_nxt))
            }
            "rcv_ack" => {
                let ack = match fin_acked {
                    Some(false) => short_of_fin,
                    _ => their_nxt,
                };
                self.ack_of(ack)
            }
            "rcv_fin" => {
                let ack = match fin_acked {
                    Some(true) => their_nxt,
                    Some(false) => short_of_fin,
                    None => self.acked.unwrap_or(short_of_fin),
                };
                let seq = match self.fin {
                    Some(f) => f,
                    None => {
                        let f = self.snd_nxt;
                        self.fin = Some(f);
                        self.snd_nxt = f + 1;
                        f
                    }
                };
                seg(Flags::FIN, seq, Some(ack))
            }
            // Acceptable in SYN_SENT: it acknowledges the SYN, as a closed
            // port's answer does.
            "rcv_rst" if !synchronized && self.their_iss.is_some() => {
                seg(Flags::RST, SeqNum(0), Some(their_nxt))
            }
            "rcv_rst" => seg(Flags::RST, self.snd_nxt, None),
            "rcv_rst_in_window" => seg(Flags::RST, self.snd_nxt + 5, None),
            "rcv_bad_ack" => match self.their_iss {
                None => seg(Flags::empty(), self.snd_nxt, Some(NOWHERE)),
                Some(_) => seg(Flags::empty(), self.snd_nxt, Some(their_nxt + 500)),
            },
            "rcv_unacceptable" => Seg {
                flags: Flags::empty(),
                seq: self.snd_nxt + 10_000_000,
                ack: Some(self.acked.unwrap_or(short_of_fin)),
                payload: b"far away",
            },
            // No TCB: anything but an RST.
            _ => seg(Flags::empty(), self.snd_nxt, Some(NOWHERE)),
        }
    }

    /// Sends `seg` to the implementation, logging it.
    fn send(&mut self, imp: &mut dyn Implementation, seg: &Seg, log: &mut String) {
        if let Some(a) = seg.ack {
            self.acked = Some(a);
        }
        let repr = TcpRepr {
            src_port: self.addrs.peer.port(),
            dst_port: self.addrs.implementation.port(),
            seq: seg.seq,
            ack: seg.ack,
            flags: seg.flags,
            window: 65_535,
            mss: seg.flags.syn().then_some(1460),
            payload: seg.payload,
            ..TcpRepr::default()
        };
        let _ = writeln!(log, "   > {}", self.show(&repr, false));
        let packet = wire::emit_vec(
            *self.addrs.peer.ip(),
            *self.addrs.implementation.ip(),
            &repr,
        );
        imp.inject(&packet);
    }

    /// Takes in what a packet from the implementation tells of its
    /// sequence numbers, logging it; whether it is a SYN or FIN sent
    /// before (a retransmission).
    fn observe(&mut self, packet: &[u8], log: &mut String) -> bool {
        let Ok((_, t)) = wire::parse(packet) else {
            let _ = writeln!(log, "   < (not a TCP packet: {} bytes)", packet.len());
            return false;
        };
        let f = t.flags;
        let again = (f.syn() || f.fin())
            && !f.rst()
            && !self
                .sent_before
                .insert((f.syn(), f.fin(), t.ack.is_some(), t.seq.0));
        if t.flags.syn() && !t.flags.rst() {
            self.their_iss = Some(t.seq);
        }
        if !t.flags.rst() {
            let end = t.seq + t.segment_len();
            if self.their_end.is_none_or(|e| (end - e) > 0) {
                self.their_end = Some(end);
            }
            if t.flags.fin() {
                self.their_fin = Some(t.seq + (t.segment_len() - 1));
            }
        }
        let again_note = if again { " (again)" } else { "" };
        let _ = writeln!(log, "   < {}{again_note}", self.show(&t, true));
        again
    }

    /// `SYN-ACK seq=i ack=p+1 len=0`: sequence numbers relative to the
    /// sender's ISS (`p` the peer's, `i` the implementation's).
    fn show(&self, t: &TcpRepr<'_>, theirs: bool) -> String {
        let rel = |n: SeqNum, base: Option<SeqNum>, name: &str| match base {
            Some(b) if (n - b).unsigned_abs() < 1 << 20 => match n - b {
                0 => name.to_string(),
                d if d > 0 => format!("{name}+{d}"),
                d => format!("{name}{d}"),
            },
            _ => n.0.to_string(),
        };
        let (seq_base, ack_base) = if theirs {
            ((self.their_iss, "i"), (Some(PEER_ISS), "p"))
        } else {
            ((Some(PEER_ISS), "p"), (self.their_iss, "i"))
        };
        let f = t.flags;
        let mut kind: Vec<&str> = Vec::new();
        if f.syn() {
            kind.push("SYN");
        }
        if f.fin() {
            kind.push("FIN");
        }
        if f.rst() {
            kind.push("RST");
        }
        if t.ack.is_some() {
            kind.push("ACK");
        }
        let mut s = format!(
            "{} seq={}",
            if kind.is_empty() {
                "(no flags)".to_string()
            } else {
                kind.join("+")
            },
            rel(t.seq, seq_base.0, seq_base.1)
        );
        if let Some(a) = t.ack {
            let _ = write!(s, " ack={}", rel(a, ack_base.0, ack_base.1));
        }
        if !t.payload.is_empty() {
            let _ = write!(s, " len={}", t.payload.len());
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs() -> Addrs {
        Addrs {
            implementation: SocketAddrV4::new([10, 0, 0, 1].into(), 80),
            peer: SocketAddrV4::new([10, 0, 0, 2].into(), 5000),
        }
    }

    fn packet(flags: Flags, seq: u32, ack: Option<u32>) -> Vec<u8> {
        let a = addrs();
        let repr = TcpRepr {
            src_port: 80,
            dst_port: 5000,
            seq: SeqNum(seq),
            ack: ack.map(SeqNum),
            flags,
            window: 1000,
            ..TcpRepr::default()
        };
        wire::emit_vec(*a.implementation.ip(), *a.peer.ip(), &repr)
    }

    fn actions(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn sends_are_held_against_the_actions() {
        let ack = (packet(Flags::empty(), 1, Some(2)), false);
        let rst = (packet(Flags::RST, 1, None), false);
        assert!(
            check_sends(
                &actions(&["send_ack"]),
                std::slice::from_ref(&ack),
                false,
                false,
                false
            )
            .is_empty()
        );
        assert_eq!(
            check_sends(&actions(&["send_ack"]), &[], false, false, false),
            ["no ACK (send_ack)"]
        );
        assert_eq!(
            check_sends(
                &actions(&[]),
                std::slice::from_ref(&rst),
                false,
                false,
                false
            ),
            ["an RST the spec does not send here"]
        );
        assert!(check_sends(&actions(&["reply_rst"]), &[rst], false, false, false).is_empty());
        // A SYN sent again is no new send; a FIN waits behind a SYN not
        // yet acknowledged.
        let syn_again = (packet(Flags::SYN, 1, None), true);
        assert!(check_sends(&actions(&[]), &[syn_again], false, false, false).is_empty());
        assert!(check_sends(&actions(&["send_fin"]), &[], false, false, true).is_empty());
    }

    #[test]
    fn the_peer_makes_each_segment_from_what_it_saw() {
        let mut log = String::new();
        let mut peer = Peer::new(addrs());
        // LISTEN: the peer's SYN.
        let syn = peer.segment("rcv_syn", None);
        assert!(syn.flags.syn() && syn.ack.is_none() && syn.seq == PEER_ISS);
        // The SYN-ACK seen, the peer acknowledges it; an RST at RCV.NXT
        // and one in the window but not at it.
        assert!(!peer.observe(&packet(Flags::SYN, 100, Some(PEER_ISS.0 + 1)), &mut log));
        assert_eq!(peer.segment("rcv_ack", None).ack, Some(SeqNum(101)));
        let rst = peer.segment("rcv_rst", None);
        assert_eq!((rst.seq, rst.ack), (PEER_ISS + 1, None));
        assert_eq!(peer.segment("rcv_rst_in_window", None).seq, PEER_ISS + 6);
        // Its FIN: an ACK short of it, and of it.
        assert!(!peer.observe(&packet(Flags::FIN, 101, Some(PEER_ISS.0 + 1)), &mut log));
        assert_eq!(peer.segment("rcv_ack", Some(false)).ack, Some(SeqNum(101)));
        assert_eq!(peer.segment("rcv_ack", Some(true)).ack, Some(SeqNum(102)));
        // The same FIN again is a retransmission.
        assert!(peer.observe(&packet(Flags::FIN, 101, Some(PEER_ISS.0 + 1)), &mut log));
        assert!(log.contains("< SYN+ACK seq=i ack=p+1"), "{log}");
    }

    #[test]
    fn in_syn_sent_an_rst_acknowledges_the_syn() {
        let mut log = String::new();
        let mut peer = Peer::new(addrs());
        peer.observe(&packet(Flags::SYN, 500, None), &mut log);
        let rst = peer.segment("rcv_rst", None);
        assert!(rst.flags.rst());
        assert_eq!(rst.ack, Some(SeqNum(501)));
        let bad = peer.segment("rcv_bad_ack", None);
        assert_eq!(bad.ack, Some(SeqNum(1001)));
    }
}

//! A schedule played back: what happened at each move, as text, as a
//! message sequence chart (drawn by `fsm_codegen::msc`), as `--trace-json`
//! lines and as a pcap of the datagrams.

use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::io;
use std::path::Path;
use std::time::Duration;

use fsm_codegen::msc::{Chart, Fate, Message, Row, State};
use fsm_runtime::pcap::PcapWriter;
use fsm_runtime::vocab::Machine;
use fsm_runtime::wire::{self, SeqNum};

use super::Violation;
use super::world::{Ctx, Happened, Move, Sink, World, side_name};

/// One move played back.
#[derive(Clone, Debug)]
pub struct Played {
    /// The move.
    pub mv: Move,
    /// Virtual time after it.
    pub at: Duration,
    /// What it did.
    pub(crate) happened: Vec<Happened>,
    /// The datagram it delivered, lost or duplicated, and the copy's id.
    pub(crate) datagram: Option<(u32, Option<u32>)>,
}

/// A schedule played back from the initial state.
#[derive(Clone, Debug)]
pub struct Replayed {
    /// What happened before the first move (the server listening, or both
    /// sides connecting).
    pub(crate) setup: Vec<Happened>,
    /// The moves played, with what each did.
    pub moves: Vec<Played>,
    /// The violation the schedule ran into, at its last move.
    pub violation: Option<Violation>,
    /// When no move is left at the end: how the state ends (`Ok(None)`
    /// desired, `Ok(Some(why))` acceptable).
    pub end: Option<Result<Option<String>, Violation>>,
    /// The schedule came back to the state after this many moves (a
    /// non-progress cycle).
    pub cycle: Option<usize>,
    /// The spec lines name these files, per side.
    pub(crate) specs: [String; 2],
    /// Each side's state before the first move.
    pub(crate) initial: [String; 2],
}

impl Replayed {
    /// Every state the schedule led either side into, in order, the
    /// states before the first move first.
    pub fn states(&self) -> Vec<String> {
        let mut out: Vec<String> = self.initial.to_vec();
        for h in self.moves.iter().flat_map(|p| p.happened.iter()) {
            if let Happened::Step(_, r) = h
                && r.transition.is_some()
                && r.to != r.from
            {
                out.push(r.to.to_owned());
            }
        }
        out
    }

    /// Whether the schedule ran into a violation or a bad end, or came
    /// back to a state it passed (how a non-progress counterexample
    /// plays back).
    pub fn failed(&self) -> bool {
        self.violation.is_some() || matches!(self.end, Some(Err(_))) || self.cycle.is_some()
    }

    /// How the schedule ends, in a line: `ends as desired`,
    /// `violated: …`, `moves remain`, …
    pub fn outcome(&self) -> String {
        match (&self.violation, &self.end) {
            (Some(v), _) => format!("violated: {v}"),
            (None, Some(Ok(None))) => "ends as desired".to_owned(),
            (None, Some(Ok(Some(why)))) => format!("ends acceptably: {why}"),
            (None, Some(Err(v))) => format!("ends badly: {v}"),
            (None, None) => match self.cycle {
                Some(n) => {
                    format!("moves remain; the last state is the state after move {n} (a cycle)")
                }
                None => "moves remain".to_owned(),
            },
        }
    }

    /// What went wrong, if anything.
    pub fn verdict(&self) -> Option<String> {
        match (&self.violation, &self.end) {
            (Some(v), _) | (None, Some(Err(v))) => Some(v.to_string()),
            _ => self
                .cycle
                .map(|n| format!("the schedule returns to the state after move {n}: a cycle")),
        }
    }

    /// Each event as a `--trace-json` line (`docs/trace-json.md`), sides
    /// `client` and `server`.
    pub fn trace_json<M: Machine>(&self, machines: [&M; 2]) -> String {
        let mut out = String::new();
        for h in self.all() {
            if let Happened::Step(side, r) = h {
                out.push_str(&crate::trace_json::line(
                    machines[*side],
                    side_name(*side),
                    r,
                ));
                out.push('\n');
            }
        }
        out
    }

    /// Writes every datagram sent, in order, to a pcap file (raw IPv4).
    pub fn write_pcap(&self, path: &Path) -> io::Result<()> {
        let mut pcap = PcapWriter::create(path)?;
        let mut at = Duration::ZERO;
        for (i, p) in self.moves.iter().enumerate() {
            at = at.max(p.at);
            for h in &p.happened {
                if let Happened::Sent(_, _, bytes) = h {
                    // A microsecond per move keeps the packets in order.
                    pcap.write(at + Duration::from_micros(i as u64), bytes)?;
                }
            }
        }
        pcap.flush()
    }

    fn all(&self) -> impl Iterator<Item = &Happened> {
        self.setup
            .iter()
            .chain(self.moves.iter().flat_map(|p| p.happened.iter()))
    }
}

/// Plays `schedule` from `world`, each move checked to be enabled.
pub(crate) fn replay<M: Machine>(
    world: &mut World<M>,
    ctx: &Ctx,
    schedule: &[Move],
) -> Result<Replayed, String> {
    let mut initial = [0, 1].map(|side| ctx.oracles[side].initial().to_owned());
    for h in &ctx.setup {
        if let Happened::Step(side, r) = h {
            initial[*side] = r.to.to_owned();
        }
    }
    let mut out = Replayed {
        initial,
        setup: ctx.setup.clone(),
        moves: Vec::new(),
        violation: None,
        end: None,
        cycle: None,
        specs: [ctx.oracles[0].name.clone(), ctx.oracles[1].name.clone()],
    };
    let mut seen = HashMap::from([(super::search::fingerprint(world, ctx), 0usize)]);
    let mut enabled = Vec::new();
    for (n, &mv) in schedule.iter().enumerate() {
        world.moves(ctx, &mut enabled);
        if !enabled.contains(&mv) {
            let list: Vec<String> = enabled.iter().map(|m| m.to_string()).collect();
            return Err(format!(
                "move {} ({mv}) is not enabled; the enabled moves are: {}",
                n + 1,
                list.join(", ")
            ));
        }
        let datagram = match mv {
            Move::Deliver(i) | Move::Lose(i) => Some((world.flights[usize::from(i)].id, None)),
            Move::Duplicate(i) => Some((world.flights[usize::from(i)].id, Some(world.next_id))),
            _ => None,
        };
        let mut sink = Sink {
            log: Some(Vec::new()),
            ..Sink::default()
        };
        let result = world.apply(mv, ctx, &mut sink);
        out.moves.push(Played {
            mv,
            at: world.now,
            happened: sink.log.unwrap_or_default(),
            datagram,
        });
        if let Err(v) = result {
            out.violation = Some(v);
            return Ok(out);
        }
        let fp = super::search::fingerprint(world, ctx);
        if let Some(&earlier) = seen.get(&fp) {
            out.cycle.get_or_insert(earlier);
        }
        seen.entry(fp).or_insert(n + 1);
    }
    world.moves(ctx, &mut enabled);
    if enabled.is_empty() {
        out.end = Some(world.classify(ctx));
    }
    Ok(out)
}

/// Sequence numbers relative to each side's first SYN.
#[derive(Default)]
struct Relative {
    isn: [Option<SeqNum>; 2],
}

impl Relative {
    /// `FLAGS seq=S ack=A len=N` of a datagram `side` sent.
    fn label(&mut self, side: usize, bytes: &[u8]) -> String {
        let Ok((_, seg)) = wire::parse(bytes) else {
            return "malformed".into();
        };
        if seg.flags.syn() {
            self.isn[side].get_or_insert(seg.seq);
        }
        let rel = |isn: Option<SeqNum>, s: SeqNum| match isn {
            Some(i) => s.distance(i).to_string(),
            None => s.0.to_string(),
        };
        let mut flags: Vec<String> = Vec::new();
        if !seg.flags.is_empty() {
            flags.push(seg.flags.to_string().replace('|', ","));
        }
        if seg.ack.is_some() {
            flags.push("ACK".into());
        }
        let mut text = format!("{} seq={}", flags.join(","), rel(self.isn[side], seg.seq));
        if let Some(ack) = seg.ack {
            let _ = write!(text, " ack={}", rel(self.isn[1 - side], ack));
        }
        let _ = write!(text, " len={}", seg.payload.len());
        text
    }
}

/// The sequence chart of a replay, titled `title`.
pub fn chart(r: &Replayed, title: &str) -> Chart {
    let mut rows = Vec::new();
    let mut messages: Vec<Message> = Vec::new();
    let mut by_id: HashMap<u32, usize> = HashMap::new();
    let mut rel = Relative::default();
    for h in &r.setup {
        if let Happened::Sent(side, id, bytes) = h {
            by_id.insert(*id, messages.len());
            messages.push(Message {
                from: *side,
                sent: 0,
                fate: Fate::InFlight,
                label: rel.label(*side, bytes),
                copy_of: None,
            });
        }
    }
    for (n, p) in r.moves.iter().enumerate() {
        let mut row = Row {
            label: format!("{}  {}", n + 1, p.mv),
            ..Row::default()
        };
        if let Some((id, copy)) = p.datagram
            && let Some(&m) = by_id.get(&id)
        {
            match (p.mv, copy) {
                (Move::Deliver(_), _) => messages[m].fate = Fate::Delivered(n),
                (Move::Lose(_), _) => messages[m].fate = Fate::Lost(n),
                (_, Some(copy)) => {
                    by_id.insert(copy, messages.len());
                    let original = messages[m].clone();
                    messages.push(Message {
                        sent: n,
                        fate: Fate::InFlight,
                        copy_of: Some(m),
                        ..original
                    });
                }
                _ => {}
            }
        }
        for h in &p.happened {
            match h {
                Happened::Step(side, rec) => {
                    if let Some(t) = &rec.transition
                        && rec.to != rec.from
                    {
                        row.states[*side].push(State {
                            name: rec.to.to_owned(),
                            line: Some(format!("{}:{}", short(&r.specs[*side]), t.line)),
                            event: Some(rec.event.name().to_owned()),
                        });
                    }
                }
                Happened::Sent(side, id, bytes) => {
                    by_id.insert(*id, messages.len());
                    messages.push(Message {
                        from: *side,
                        sent: n,
                        fate: Fate::InFlight,
                        label: rel.label(*side, bytes),
                        copy_of: None,
                    });
                }
                Happened::Call(side, text) => row.notes[*side].push(text.clone()),
                Happened::Timer(side) => {
                    row.timer[*side] = true;
                    row.notes[*side].push("timer".to_owned());
                }
            }
        }
        rows.push(row);
    }
    Chart {
        title: title.to_owned(),
        sides: [
            format!("client ({})", short(&r.specs[0])),
            format!("server ({})", short(&r.specs[1])),
        ],
        initial: r.initial.clone(),
        rows,
        messages,
        verdict: r.verdict(),
    }
}

/// A spec's file name without its folders.
fn short(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

impl fmt::Display for Replayed {
    /// Move by move: the move, then each side's calls, transitions and
    /// datagrams.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rel = Relative::default();
        let mut line = |f: &mut fmt::Formatter<'_>, h: &Happened| match h {
            Happened::Step(side, r) => match &r.transition {
                Some(t) => writeln!(
                    f,
                    "      {:<6} {} -> {} on {} ({}:{})",
                    side_name(*side),
                    r.from,
                    r.to,
                    r.event.name(),
                    short(&self.specs[*side]),
                    t.line
                ),
                None => writeln!(
                    f,
                    "      {:<6} {} refuses {}",
                    side_name(*side),
                    r.from,
                    r.event.name()
                ),
            },
            Happened::Sent(side, id, bytes) => writeln!(
                f,
                "      {:<6} sends #{id} {}",
                side_name(*side),
                rel.label(*side, bytes)
            ),
            Happened::Call(side, text) => writeln!(f, "      {:<6} {text}", side_name(*side)),
            Happened::Timer(side) => writeln!(f, "      {:<6} timer fires", side_name(*side)),
        };
        writeln!(f, "setup")?;
        for h in &self.setup {
            line(f, h)?;
        }
        for (n, p) in self.moves.iter().enumerate() {
            let what = match p.datagram {
                Some((id, _)) => format!(" (#{id})"),
                None => String::new(),
            };
            writeln!(
                f,
                "{:>4}  {}{what}  at {:.3} s",
                n + 1,
                p.mv,
                p.at.as_secs_f64()
            )?;
            for h in &p.happened {
                line(f, h)?;
            }
        }
        writeln!(f, "{}", self.outcome())
    }
}

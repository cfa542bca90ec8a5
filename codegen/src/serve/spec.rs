//! What the page knows of a spec: the figure, the diagnostics placed on
//! it, the events each state takes, and one step of the machine as the
//! generated code takes it.

use serde_json::{Map, Value, json};

use crate::diagnostic::line_col;
use crate::dot::DrawOptions;
use crate::model::{Model, StateId, TransitionId};
use crate::svg::{edge_id, state_id};
use crate::{Diagnostic, LoadError, Spec};

/// A spec as loaded for the page: the last figure that could be drawn
/// and what the latest read of the file found.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// The last spec that passed `fsm check` (its figure stays up while
    /// the file has errors).
    pub good: Option<Spec>,
    /// The figure of `good`, as `fsm svg` draws it.
    pub svg: String,
    /// What the latest read found: the diagnostics, or why it could not
    /// be read, as JSON for the page.
    pub diagnostics: Vec<Value>,
    /// Whether the latest read passed (`good` is then that read).
    pub ok: bool,
    /// Bumped at each read.
    pub version: u64,
}

impl Snapshot {
    /// An empty snapshot, before the first read.
    pub fn new() -> Snapshot {
        Snapshot {
            good: None,
            svg: String::new(),
            diagnostics: Vec::new(),
            ok: false,
            version: 0,
        }
    }

    /// Takes in a new read of the spec file, drawn in `lang`.
    pub fn update(&mut self, loaded: Result<Spec, LoadError>, lang: &str) {
        self.version += 1;
        match loaded {
            Ok(spec) => {
                self.diagnostics = spec
                    .warnings
                    .iter()
                    .map(|d| diagnostic_json(d, &spec.source, Some(&spec)))
                    .collect();
                self.svg = draw(&spec.model, lang);
                self.ok = true;
                self.good = Some(spec);
            }
            Err(LoadError::Rejected(r)) => {
                let good = self.good.as_ref();
                self.diagnostics = r
                    .diagnostics
                    .iter()
                    .map(|d| diagnostic_json(d, &r.source, good))
                    .collect();
                self.ok = false;
            }
            Err(other) => {
                self.diagnostics = vec![json!({
                    "severity": "error",
                    "message": other.to_string(),
                    "line": Value::Null,
                    "col": Value::Null,
                    "marks": [],
                })];
                self.ok = false;
            }
        }
    }

    /// The page's view of it: `{version, ok, svg, diagnostics, model}`.
    pub fn to_json(&self) -> Value {
        json!({
            "version": self.version,
            "ok": self.ok,
            "svg": self.svg,
            "diagnostics": self.diagnostics,
            "model": self.good.as_ref().map(|s| model_json(&s.model)),
            "file": self.good.as_ref().map(|s| s.file_name.clone()),
        })
    }
}

impl Default for Snapshot {
    fn default() -> Self {
        Snapshot::new()
    }
}

/// The figure as `fsm svg --lang LANG` draws it (English when the spec
/// has no such translation).
pub fn draw(model: &Model, lang: &str) -> String {
    let lang = if lang != "en" && model.languages().iter().any(|l| l == lang) {
        lang
    } else {
        "en"
    };
    crate::svg::render(
        model,
        &DrawOptions {
            lang: lang.to_owned(),
            ..DrawOptions::default()
        },
    )
}

/// A diagnostic for the page: severity, message, `line`:`col`, notes,
/// and `marks`: the ids of the figure's states and arrows it names in
/// `good` (the spec itself, or the last good one while the spec has
/// errors): a label whose text is a state's name, or a label on a line
/// where `good` declares a state or a transition.
pub fn diagnostic_json(d: &Diagnostic, source: &str, good: Option<&Spec>) -> Value {
    let (line, col) = d.line_col(source);
    let mut marks: Vec<String> = Vec::new();
    if let Some(good) = good {
        let m = &good.model;
        for l in &d.labels {
            let text = source.get(l.span.clone()).unwrap_or("");
            let (label_line, _) = line_col(source, l.span.start.min(source.len()));
            for s in &m.states {
                let declared = line_col(&good.source, s.name.span.start).0;
                if s.name.text == text || declared == label_line {
                    marks.push(state_id(&s.name.text));
                }
            }
            for (i, t) in m.transitions.iter().enumerate() {
                if t.line == label_line {
                    for &from in &t.sources {
                        marks.push(edge_id(i, &m.states[from.index()].name.text));
                    }
                }
            }
        }
    }
    marks.sort();
    marks.dedup();
    json!({
        "severity": if d.is_error() { "error" } else { "warning" },
        "message": d.message,
        "line": line,
        "col": col,
        "notes": d.notes,
        "marks": marks,
    })
}

/// The model as the page steps it: states (with their path steps), the
/// events and guards with their labels, and for each state the events it
/// takes with the guards they ask.
pub fn model_json(m: &Model) -> Value {
    let states: Vec<Value> = m
        .states
        .iter()
        .map(|s| {
            json!({
                "name": s.name.text,
                "id": state_id(&s.name.text),
                "initial": s.initial,
                "description": s.text.get("en"),
                "steps": s.steps.iter().map(|p| step_json(m, p.path.index(), p.step)).collect::<Vec<_>>(),
            })
        })
        .collect();
    let events: Vec<Value> = m
        .events
        .iter()
        .map(|e| json!({"name": e.name.text, "label": e.text.get("en")}))
        .collect();
    let guards: Vec<Value> = m
        .guards
        .iter()
        .map(|g| json!({"name": g.name.text, "label": g.text.get("en")}))
        .collect();
    let mut enabled = Map::new();
    for (si, s) in m.states.iter().enumerate() {
        let mut list: Vec<Value> = Vec::new();
        for (ei, e) in m.events.iter().enumerate() {
            let cands = m.candidates(StateId(si), crate::model::EventId(ei));
            if cands.is_empty() {
                continue;
            }
            let mut guards: Vec<String> = cands
                .iter()
                .filter_map(|t| m.transitions[t.index()].guard.as_ref())
                .flat_map(|g| {
                    g.vars()
                        .into_iter()
                        .map(|v| m.guards[v.index()].name.text.clone())
                })
                .collect();
            guards.sort();
            guards.dedup();
            list.push(json!({"event": e.name.text, "guards": guards}));
        }
        enabled.insert(s.name.text.clone(), Value::Array(list));
    }
    let figure = crate::figure::Figure::new(m, &DrawOptions::default());
    let paths: Vec<Value> = figure
        .paths
        .iter()
        .map(|p| {
            json!({
                "name": p.name,
                "marker": match p.marker {
                    crate::syntax::Marker::Circled => "circled",
                    crate::syntax::Marker::Boxed => "boxed",
                },
                "colour": p.color,
            })
        })
        .collect();
    json!({
        "name": m.name.text,
        "paths": paths,
        "initial": m.states[m.initial().index()].name.text,
        "states": states,
        "events": events,
        "guards": guards,
        "enabled": enabled,
    })
}

fn step_json(m: &Model, path: usize, step: u32) -> Value {
    json!({"path": m.paths[path].name.text, "step": step})
}

/// What one step of the machine does: the answer of `POST /api/step`.
#[derive(Clone, Debug, PartialEq)]
pub struct StepAnswer {
    /// The transition that fires, or `None` when the spec refuses the
    /// event in that state (nothing happens).
    pub transition: Option<TransitionId>,
    /// The state after the step (the same when refused).
    pub to: StateId,
}

/// One step as the generated code takes it: of the transitions for
/// (`state`, `event`) in declaration order, the first whose guard holds
/// under `guard` fires.
pub fn step(
    m: &Model,
    state: StateId,
    event: crate::model::EventId,
    guard: &mut impl FnMut(crate::model::GuardId) -> bool,
) -> StepAnswer {
    let fired = m.candidates(state, event).into_iter().find(|t| {
        m.transitions[t.index()]
            .guard
            .as_ref()
            .is_none_or(|g| g.eval(&mut |v| guard(*v)))
    });
    StepAnswer {
        transition: fired,
        to: fired.map_or(state, |t| m.transitions[t.index()].target_from(state)),
    }
}

/// `POST /api/step`: `{"state": "CLOSED", "event": "active_open",
/// "guards": {"passive": false}}` (guards not given are false) answers
/// `fired` true, `from`, `event`, `to`, `transition` (`index`, as in a
/// trace line the (transition, source state) pair's in the order of
/// [`Model::edges`]; `decl`, the transition's in [`Model::transitions`];
/// `line`), `edge` (the arrow's id, `edge-1-CLOSED`), `actions` and
/// `steps` (`{"path", "step"}`); or `fired` false with `to` = `from` when
/// the spec refuses the event.
/// A name the spec does not declare is an error message.
pub fn step_json_request(m: &Model, request: &Value) -> Result<Value, String> {
    let field = |k: &str| -> Result<&str, String> {
        request
            .get(k)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("`{k}`: expected a string"))
    };
    let state_name = field("state")?;
    let event_name = field("event")?;
    let state = m
        .state(state_name)
        .ok_or_else(|| format!("no state `{state_name}` in the spec"))?;
    let event = m
        .event(event_name)
        .ok_or_else(|| format!("no event `{event_name}` in the spec"))?;
    let values = request.get("guards").and_then(Value::as_object);
    if let Some(values) = values {
        for (k, v) in values {
            if !m.guards.iter().any(|g| &g.name.text == k) {
                return Err(format!("no guard `{k}` in the spec"));
            }
            if !v.is_boolean() {
                return Err(format!("guard `{k}`: expected true or false"));
            }
        }
    }
    let answer = step(m, state, event, &mut |g| {
        values
            .and_then(|v| v.get(&m.guards[g.index()].name.text))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    });
    Ok(answer_json(m, state, event, &answer))
}

fn answer_json(
    m: &Model,
    from: StateId,
    event: crate::model::EventId,
    answer: &StepAnswer,
) -> Value {
    let from_name = &m.states[from.index()].name.text;
    let to_name = &m.states[answer.to.index()].name.text;
    match answer.transition {
        None => json!({
            "fired": false,
            "from": from_name,
            "event": m.events[event.index()].name.text,
            "to": to_name,
            "transition": Value::Null,
            "edge": Value::Null,
            "actions": [],
            "steps": [],
        }),
        Some(t) => {
            let tr = &m.transitions[t.index()];
            let pair = m
                .edges()
                .position(|e| e.transition == t && e.from == from)
                .unwrap_or(0);
            json!({
                "fired": true,
                "from": from_name,
                "event": m.events[event.index()].name.text,
                "to": to_name,
                "transition": {"index": pair, "decl": t.index(), "line": tr.line},
                "edge": edge_id(t.index(), from_name),
                "actions": tr.actions.iter().map(|a| m.actions[a.index()].name.text.clone()).collect::<Vec<_>>(),
                "steps": tr.steps.iter().map(|p| step_json(m, p.path.index(), p.step)).collect::<Vec<_>>(),
            })
        }
    }
}

/// A tour as one JSON object, as `fsm tour --json` prints it: each step's
/// `from`, `event`, `guards`, `to`, `pair` and `line`.
pub fn tour_json(spec: &Spec, tour: &crate::tour::Tour) -> Value {
    let model = &spec.model;
    let name = |s: StateId| model.states[s.index()].name.text.clone();
    let edges: Vec<_> = model.edges().collect();
    let sequences: Vec<Value> = tour
        .sequences
        .iter()
        .map(|seq| {
            seq.iter()
                .map(|s| {
                    let guards: Map<String, Value> = s
                        .guards
                        .iter()
                        .map(|&(g, v)| (model.guards[g.index()].name.text.clone(), v.into()))
                        .collect();
                    json!({
                        "from": name(s.from),
                        "event": model.events[s.event.index()].name.text,
                        "guards": guards,
                        "to": name(s.to),
                        "pair": s.pair,
                        "line": s.pair.map(|p| model.transitions[edges[p].transition.index()].line),
                    })
                })
                .collect()
        })
        .collect();
    json!({
        "spec": spec.file_name,
        "pairs": tour.pairs,
        "pairs_taken": tour.pairs_taken,
        "outcomes": tour.outcomes,
        "outcomes_taken": tour.outcomes_taken,
        "events": tour.events(),
        "sequences": sequences,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp() -> Spec {
        crate::load(concat!(env!("CARGO_MANIFEST_DIR"), "/../tcp.fsm")).expect("tcp.fsm")
    }

    #[test]
    fn active_open_from_closed_goes_to_syn_sent() {
        let spec = tcp();
        let a = step_json_request(
            &spec.model,
            &json!({"state": "CLOSED", "event": "active_open", "guards": {}}),
        )
        .unwrap();
        assert_eq!(a["fired"], true);
        assert_eq!(a["to"], "SYN_SENT");
        assert_eq!(a["edge"], "edge-1-CLOSED");
        assert_eq!(a["steps"][0]["path"], "client");
    }

    #[test]
    fn a_refused_event_stays_and_an_unknown_name_is_an_error() {
        let spec = tcp();
        let a = step_json_request(&spec.model, &json!({"state": "CLOSED", "event": "rcv_fin"}))
            .unwrap();
        assert_eq!(a["fired"], false);
        assert_eq!(a["to"], "CLOSED");
        let e = step_json_request(&spec.model, &json!({"state": "NOPE", "event": "close"}));
        assert!(e.unwrap_err().contains("NOPE"));
        let e = step_json_request(
            &spec.model,
            &json!({"state": "CLOSED", "event": "close", "guards": {"nope": true}}),
        );
        assert!(e.unwrap_err().contains("nope"));
    }

    #[test]
    fn guards_pick_the_transition() {
        let spec = tcp();
        let fin = |v: bool| {
            step_json_request(
                &spec.model,
                &json!({"state": "FIN_WAIT_1", "event": "rcv_fin", "guards": {"fin_acked": v}}),
            )
            .unwrap()["to"]
                .clone()
        };
        assert_eq!(fin(false), "CLOSING");
        assert_eq!(fin(true), "TIME_WAIT");
    }
}

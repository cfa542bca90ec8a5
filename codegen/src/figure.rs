//! What the drawings show, decided once for DOT, Mermaid and SVG: the
//! figure 8-9 conventions as a small intermediate form.
//!
//! - one box per state, with its name and the path steps that sit on it
//!   (client 1 and server 1 on CLOSED);
//! - one [`Arrow`] per transition with a single source, labelled
//!   "condition / action"; an arrow carrying a path step is bold, solid or
//!   dashed as its [`Path`](crate::model::Path) says, and its label starts
//!   with the step's marker (① for circled paths, a boxed number for boxed
//!   ones); every other arrow is thin;
//! - transitions written with several sources (`any`, a group, a list) are
//!   not arrows but rows of the "in several states" legend;
//! - a key saying which line is which path.
//!
//! The renderers only decide how these look in their format; nothing here
//! depends on the model's names (paths come from `model.paths`).

use crate::model::{Model, SourceForm, Target, Transition};
use crate::syntax::{LineStyle, Marker};

/// The figure a renderer draws.
#[derive(Clone, Debug)]
pub struct Figure {
    /// The machine's name (`Tcp`), an identifier.
    pub name: String,
    /// The title, in the figure's language.
    pub title: String,
    /// The fixed words, in the figure's language.
    pub words: Words,
    /// States in declaration order; arrows refer to them by index.
    pub states: Vec<StateBox>,
    /// Index of the initial state.
    pub initial: usize,
    /// Single-source transitions in declaration order.
    pub arrows: Vec<Arrow>,
    /// The typical paths, in declaration order, for the key.
    pub paths: Vec<PathKey>,
    /// Transitions with several sources, in declaration order.
    pub several: Vec<SeveralRow>,
    /// The groups named by the rows of `several`, with their members.
    pub groups: Vec<GroupRow>,
    /// With a heat map: the most any one arrow or row fired (the top of
    /// the colour scale).
    pub fired_max: Option<u64>,
}

/// A state's box.
#[derive(Clone, Debug)]
pub struct StateBox {
    /// The name, as the spec spells it.
    pub name: String,
    /// The description, in the figure's language.
    pub description: String,
    /// Whether the machine starts here.
    pub initial: bool,
    /// Path steps that sit on the state.
    pub marks: Vec<StepMark>,
    /// With a heat map: whether a run reached it.
    pub reached: Option<bool>,
}

/// A step number of a typical path, drawn as that path's marker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StepMark {
    /// Index into [`Figure::paths`].
    pub path: usize,
    /// The step number.
    pub step: u32,
    /// How the path draws its numbers.
    pub marker: Marker,
}

impl StepMark {
    /// The marker as plain text, for formats that cannot draw a box:
    /// `①`…`⑳` (then `(21)`) for circled paths, `[1]` for boxed ones.
    pub fn text(&self) -> String {
        match self.marker {
            Marker::Circled => circled(self.step),
            Marker::Boxed => format!("[{}]", self.step),
        }
    }
}

/// The circled number `n` (① is 1), or `(n)` past what Unicode has.
pub fn circled(n: u32) -> String {
    let c = match n {
        1..=20 => char::from_u32(0x2460 + n - 1),
        21..=35 => char::from_u32(0x3251 + n - 21),
        36..=50 => char::from_u32(0x32B1 + n - 36),
        _ => None,
    };
    c.map_or_else(|| format!("({n})"), String::from)
}

/// How an arrow's line is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Line {
    /// A thin arrow: not on a typical path.
    Thin,
    /// A bold arrow of a typical path.
    Bold {
        /// Index into [`Figure::paths`].
        path: usize,
        /// Solid or dashed.
        style: LineStyle,
    },
}

/// One arrow: a transition with a single source.
#[derive(Clone, Debug)]
pub struct Arrow {
    /// Index into [`Model::transitions`].
    pub transition: usize,
    /// Source state (index into [`Figure::states`]).
    pub from: usize,
    /// Target state; equal to `from` for `same`.
    pub to: usize,
    /// "condition / action" (or the spec's label override).
    pub label: String,
    /// Step markers, written before the label.
    pub marks: Vec<StepMark>,
    /// Bold (a path's) or thin.
    pub line: Line,
    /// The RFC section, if given.
    pub rfc: Option<String>,
    /// With a heat map: how often it fired.
    pub fired: Option<u64>,
}

impl Arrow {
    /// The label with its step markers as text in front (`② active OPEN / SYN`).
    pub fn text_label(&self) -> String {
        with_marks(&self.marks, &self.label)
    }
}

/// A typical path, as the key shows it.
#[derive(Clone, Debug)]
pub struct PathKey {
    /// Its name in the spec (`client`), an identifier.
    pub name: String,
    /// Its label, in the figure's language.
    pub text: String,
    /// Solid or dashed.
    pub style: LineStyle,
    /// Circled or boxed numbers.
    pub marker: Marker,
    /// The colour its arrows and markers are drawn in.
    pub color: &'static str,
    /// Its first and last step numbers, if it has any.
    pub steps: Option<(u32, u32)>,
}

impl PathKey {
    /// The key's line for formats without drawn lines:
    /// `bold solid: typical client ①…⑦`.
    pub fn text_row(&self, words: &Words, index: usize) -> String {
        let line = match self.style {
            LineStyle::Solid => words.bold_solid,
            LineStyle::Dashed => words.bold_dashed,
        };
        let mut s = format!("{line}{}{}", words.colon, self.text);
        if let Some((first, last)) = self.steps {
            let mark = |step| {
                StepMark {
                    path: index,
                    step,
                    marker: self.marker,
                }
                .text()
            };
            s.push_str(&format!(" {}…{}", mark(first), mark(last)));
        }
        s
    }
}

/// Options shared by the drawings.
#[derive(Clone, Debug)]
pub struct DrawOptions {
    /// Language of the labels (`en`, `zh`).
    pub lang: String,
    /// Draw a run over the spec: each transition by how often it fired,
    /// states never reached greyed (SVG only; the other drawings ignore
    /// it).
    pub heat: Option<Heat>,
}

impl Default for DrawOptions {
    fn default() -> Self {
        DrawOptions {
            lang: "en".to_owned(),
            heat: None,
        }
    }
}

/// What a run did with a spec, to draw over its figure: how often each
/// (transition, source state) pair fired and which states were reached.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Heat {
    /// Times each pair fired, in [`Model::edges`] order (the generated
    /// `TRANSITIONS` order). Missing entries count as 0.
    pub fired: Vec<u64>,
    /// Whether each state was reached, in declaration order. Missing
    /// entries count as reached.
    pub reached: Vec<bool>,
}

impl Heat {
    /// The colour for a count, on a scale whose top is `max`: grey for 0,
    /// then from amber to dark red, logarithmically.
    pub fn color(count: u64, max: u64) -> String {
        if count == 0 {
            return NEVER.to_owned();
        }
        let t = Heat::level(count, max);
        let mix = |a: u8, b: u8| (f64::from(a) + (f64::from(b) - f64::from(a)) * t).round() as u8;
        let (lo, hi) = ((0xf2, 0xa5, 0x41), (0x8e, 0x12, 0x1b));
        format!(
            "#{:02x}{:02x}{:02x}",
            mix(lo.0, hi.0),
            mix(lo.1, hi.1),
            mix(lo.2, hi.2)
        )
    }

    /// Where a count sits between 1 and `max`, from 0.0 to 1.0
    /// (logarithmic, so that rare transitions still show).
    pub fn level(count: u64, max: u64) -> f64 {
        if count <= 1 || max <= 1 {
            return 0.0;
        }
        ((count as f64).ln() / (max as f64).ln()).clamp(0.0, 1.0)
    }
}

/// The colour of what a heat map shows as never fired or never reached.
pub const NEVER: &str = "#b4b4b4";

/// A row of the "in several states" legend.
#[derive(Clone, Debug)]
pub struct SeveralRow {
    /// Index into [`Model::transitions`].
    pub transition: usize,
    /// Where it applies: the state names, a group's name, or "any state".
    pub sources: String,
    /// "condition / action".
    pub label: String,
    /// Where it goes: a state's name, or the word for "stays".
    pub target: String,
    /// Whether the target is `same`.
    pub stays: bool,
    /// Step markers, if a path runs through it.
    pub marks: Vec<StepMark>,
    /// With a heat map: how often it fired, from all its sources.
    pub fired: Option<u64>,
    /// The names of its source states, in the model's order.
    pub source_states: Vec<String>,
}

impl SeveralRow {
    /// The row as one line of text:
    /// `any state · user timeout / – → CLOSED`, or `… · stays`.
    pub fn text_row(&self) -> String {
        let arrow = if self.stays { "·" } else { "→" };
        format!(
            "{} · {} {arrow} {}",
            self.sources,
            with_marks(&self.marks, &self.label),
            self.target
        )
    }
}

/// A group named in the legend, with its members.
#[derive(Clone, Debug)]
pub struct GroupRow {
    /// Its name.
    pub name: String,
    /// Its member states' names, in declaration order.
    pub members: Vec<String>,
}

impl GroupRow {
    /// `synchronized = SYN_RCVD, ESTABLISHED, …`.
    pub fn text_row(&self) -> String {
        format!("{} = {}", self.name, self.members.join(", "))
    }
}

/// The handful of fixed words a figure needs, in one language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Words {
    /// The language these words are in.
    pub lang: &'static str,
    /// Title of the legend of transitions with several sources.
    pub several: &'static str,
    /// Title of the key.
    pub key: &'static str,
    /// The target of a `same` transition.
    pub stays: &'static str,
    /// The sources of an `any` transition.
    pub any_state: &'static str,
    /// The key's name for bold solid arrows.
    pub bold_solid: &'static str,
    /// The key's name for bold dashed arrows.
    pub bold_dashed: &'static str,
    /// The key's row for thin arrows.
    pub thin: &'static str,
    /// The key's note on step markers that sit on a state.
    pub on_state: &'static str,
    /// Separator after a key's line name (`: ` or `：`).
    pub colon: &'static str,
}

/// The fixed words, by language; English first, the fallback.
pub const WORDS: &[Words] = &[
    Words {
        lang: "en",
        several: "In several states",
        key: "Key",
        stays: "stays",
        any_state: "any state",
        bold_solid: "bold solid",
        bold_dashed: "bold dashed",
        thin: "thin: other transitions",
        on_state: "a marker on a state: the path starts there",
        colon: ": ",
    },
    Words {
        lang: "zh",
        several: "在多个状态下的转换",
        key: "图例",
        stays: "状态不变",
        any_state: "任何状态",
        bold_solid: "粗实线",
        bold_dashed: "粗虚线",
        thin: "细线：其他(非典型)转换",
        on_state: "状态框上的标号：流程从该状态开始",
        colon: "：",
    },
];

impl Words {
    /// The words for `lang`, falling back to English.
    pub fn for_lang(lang: &str) -> Words {
        WORDS
            .iter()
            .find(|w| w.lang == lang)
            .copied()
            .unwrap_or(WORDS[0])
    }
}

/// Colours of the typical paths, by their index in the spec; further paths
/// reuse them in turn.
pub const PATH_COLORS: &[&str] = &["#1a4f9c", "#b5341e", "#1e7b47", "#7d3c98"];

/// The colour of thin arrows and of text.
pub const INK: &str = "#222222";

impl Figure {
    /// Decides what to draw for `model` in `opts.lang`.
    pub fn new(model: &Model, opts: &DrawOptions) -> Figure {
        let lang = opts.lang.as_str();
        let words = Words::for_lang(lang);
        let mark = |s: &crate::model::PathStep| StepMark {
            path: s.path.index(),
            step: s.step,
            marker: model.paths[s.path.index()].marker,
        };
        let heat = opts.heat.as_ref();
        let states = model
            .states
            .iter()
            .enumerate()
            .map(|(i, s)| StateBox {
                name: s.name.text.clone(),
                description: s.text.get(lang).to_owned(),
                initial: s.initial,
                marks: s.steps.iter().map(mark).collect(),
                reached: heat.map(|h| h.reached.get(i).copied().unwrap_or(true)),
            })
            .collect();
        // Times each declaration fired from each of its sources.
        let mut fired_from: std::collections::HashMap<(usize, usize), u64> = Default::default();
        if let Some(h) = heat {
            for (i, e) in model.edges().enumerate() {
                let n = h.fired.get(i).copied().unwrap_or(0);
                *fired_from
                    .entry((e.transition.index(), e.from.index()))
                    .or_default() += n;
            }
        }
        let fired = |t: usize, sources: &[crate::model::StateId]| {
            heat.map(|_| {
                sources
                    .iter()
                    .map(|s| fired_from.get(&(t, s.index())).copied().unwrap_or(0))
                    .sum::<u64>()
            })
        };
        let counted = |label: String, n: Option<u64>| match n {
            Some(n) => format!("{label} ×{n}"),
            None => label,
        };
        let mut arrows = Vec::new();
        let mut several = Vec::new();
        let mut group_ids: Vec<usize> = Vec::new();
        for (i, t) in model.transitions.iter().enumerate() {
            let marks: Vec<StepMark> = t.steps.iter().map(mark).collect();
            let n = fired(i, &t.sources);
            let label = counted(model.transition_label(t, lang), n);
            if t.is_single() {
                let from = t.sources[0];
                let line = match marks.first() {
                    Some(m) => Line::Bold {
                        path: m.path,
                        style: model.paths[m.path].style,
                    },
                    None => Line::Thin,
                };
                arrows.push(Arrow {
                    transition: i,
                    from: from.index(),
                    to: t.target_from(from).index(),
                    label,
                    marks,
                    line,
                    rfc: t.rfc.clone(),
                    fired: n,
                });
            } else {
                for &g in &t.named_groups {
                    if !group_ids.contains(&g) {
                        group_ids.push(g);
                    }
                }
                let (target, stays) = match t.target {
                    Target::Same => (words.stays.to_owned(), true),
                    Target::State(s) => (model.states[s.index()].name.text.clone(), false),
                };
                several.push(SeveralRow {
                    transition: i,
                    sources: sources_label(model, t, &words),
                    label,
                    target,
                    stays,
                    marks,
                    fired: n,
                    source_states: t
                        .sources
                        .iter()
                        .map(|s| model.states[s.index()].name.text.clone())
                        .collect(),
                });
            }
        }
        group_ids.sort_unstable();
        let groups = group_ids
            .iter()
            .map(|&g| GroupRow {
                name: model.groups[g].name.text.clone(),
                members: model.groups[g]
                    .members
                    .iter()
                    .map(|s| model.states[s.index()].name.text.clone())
                    .collect(),
            })
            .collect();
        let paths = model
            .paths
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let numbers = model
                    .states
                    .iter()
                    .flat_map(|s| &s.steps)
                    .chain(model.transitions.iter().flat_map(|t| &t.steps))
                    .filter(|s| s.path.index() == i)
                    .map(|s| s.step);
                let steps = numbers.clone().min().zip(numbers.max());
                PathKey {
                    name: p.name.text.clone(),
                    text: p.text.get(lang).to_owned(),
                    style: p.style,
                    marker: p.marker,
                    color: PATH_COLORS[i % PATH_COLORS.len()],
                    steps,
                }
            })
            .collect();
        let fired_max = heat.map(|_| {
            arrows
                .iter()
                .filter_map(|a: &Arrow| a.fired)
                .chain(several.iter().filter_map(|r: &SeveralRow| r.fired))
                .max()
                .unwrap_or(0)
        });
        Figure {
            name: model.name.text.clone(),
            title: model.title.get(lang).to_owned(),
            words,
            states,
            initial: model.initial().index(),
            arrows,
            paths,
            several,
            groups,
            fired_max,
        }
    }

    /// The row of each state, 0 on top, so that arrows mostly point down
    /// and each typical path runs down the figure as one chain.
    ///
    /// Arrows that close a cycle (found by a depth-first search from the
    /// initial state that follows path arrows first) point up and do not
    /// count. A state reached by a path arrow sits one row below the lowest
    /// path state that leads to it; any other state one row below the
    /// lowest state that leads to it. So an arrow off the paths may run
    /// sideways (LISTEN to SYN_SENT) rather than stretch a path.
    pub fn rows(&self) -> Vec<usize> {
        let n = self.states.len();
        let arrows = &self.arrows;
        // Outgoing arrows (indices), path arrows first (by path, then step).
        let mut order: Vec<usize> = (0..arrows.len())
            .filter(|&i| arrows[i].from != arrows[i].to)
            .collect();
        order.sort_by_key(|&i| match (arrows[i].line, arrows[i].marks.first()) {
            (Line::Bold { path, .. }, Some(m)) => (0, path, m.step, i),
            _ => (1, 0, 0, i),
        });
        let mut out: Vec<Vec<usize>> = vec![Vec::new(); n];
        for i in order {
            out[arrows[i].from].push(i);
        }
        // Depth-first search; an arrow to a state on the stack closes a cycle.
        let mut back = vec![false; arrows.len()];
        let mut seen = vec![false; n];
        let mut on_stack = vec![false; n];
        for root in std::iter::once(self.initial).chain(0..n) {
            if seen[root] {
                continue;
            }
            seen[root] = true;
            on_stack[root] = true;
            let mut stack = vec![(root, 0usize)];
            while let Some((u, next)) = stack.last_mut() {
                let u = *u;
                if let Some(&i) = out[u].get(*next) {
                    *next += 1;
                    let v = arrows[i].to;
                    if on_stack[v] {
                        back[i] = true;
                    } else if !seen[v] {
                        seen[v] = true;
                        on_stack[v] = true;
                        stack.push((v, 0));
                    }
                } else {
                    on_stack[u] = false;
                    stack.pop();
                }
            }
        }
        // Longest paths over the other arrows, in topological order (the
        // lowest state index first among the ready ones).
        let forward: Vec<&Arrow> = arrows
            .iter()
            .zip(&back)
            .filter(|(a, back)| !**back && a.from != a.to)
            .map(|(a, _)| a)
            .collect();
        let mut incoming: Vec<Vec<&Arrow>> = vec![Vec::new(); n];
        let mut outgoing: Vec<Vec<usize>> = vec![Vec::new(); n];
        for a in &forward {
            incoming[a.to].push(a);
            outgoing[a.from].push(a.to);
        }
        let mut indegree: Vec<usize> = incoming.iter().map(Vec::len).collect();
        let mut ready: std::collections::BinaryHeap<std::cmp::Reverse<usize>> = (0..n)
            .filter(|&u| indegree[u] == 0)
            .map(std::cmp::Reverse)
            .collect();
        let mut row = vec![0usize; n];
        while let Some(std::cmp::Reverse(u)) = ready.pop() {
            let on_path = incoming[u].iter().any(|a| a.line != Line::Thin);
            row[u] = incoming[u]
                .iter()
                .filter(|a| !on_path || a.line != Line::Thin)
                .map(|a| row[a.from] + 1)
                .max()
                .unwrap_or(0);
            for &v in &outgoing[u] {
                indegree[v] -= 1;
                if indegree[v] == 0 {
                    ready.push(std::cmp::Reverse(v));
                }
            }
        }
        row
    }

    /// The colour of a line.
    pub fn color(&self, line: Line) -> &'static str {
        match line {
            Line::Thin => INK,
            Line::Bold { path, .. } => self.paths[path].color,
        }
    }
}

/// The sources of a transition as the legend lists them.
fn sources_label(model: &Model, t: &Transition, words: &Words) -> String {
    match t.source_form {
        SourceForm::Any => words.any_state.to_owned(),
        _ => model.sources_label(t),
    }
}

/// `label` with the markers' text in front.
fn with_marks(marks: &[StepMark], label: &str) -> String {
    let mut s = String::new();
    for m in marks {
        s.push_str(&m.text());
        s.push(' ');
    }
    s.push_str(label);
    s
}

/// Where a generated drawing comes from and how to make it again; each
/// output starts with a comment saying so.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Provenance {
    /// The spec it was drawn from (`tcp.fsm`).
    pub source: String,
    /// The command that regenerates it.
    pub command: String,
}

impl Provenance {
    /// What the `fsm` CLI says when it does not know the spec's file:
    /// `fsm FORMAT SPEC.fsm [--lang L]`.
    pub fn cli(model: &Model, format: &str, opts: &DrawOptions) -> Provenance {
        let lang = if opts.lang == "en" {
            String::new()
        } else {
            format!(" --lang {}", opts.lang)
        };
        Provenance {
            source: format!("the spec of machine {}", model.name.text),
            command: format!("fsm {format} SPEC.fsm{lang}"),
        }
    }

    /// The header lines: what it was generated from, then the command.
    pub fn lines(&self) -> [String; 2] {
        [
            format!(
                "Generated from {} by fsm-codegen; do not edit by hand.",
                one_line(&self.source)
            ),
            format!("Regenerate: {}", one_line(&self.command)),
        ]
    }
}

/// `s` with line breaks turned into spaces, for comments.
pub fn one_line(s: &str) -> String {
    s.replace(['\r', '\n'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn circled_numbers_cover_the_unicode_ranges() {
        assert_eq!(circled(1), "①");
        assert_eq!(circled(7), "⑦");
        assert_eq!(circled(20), "⑳");
        assert_eq!(circled(21), "㉑");
        assert_eq!(circled(36), "㊱");
        assert_eq!(circled(50), "㊿");
        assert_eq!(circled(51), "(51)");
        assert_eq!(circled(0), "(0)");
    }

    #[test]
    fn unknown_languages_fall_back_to_english() {
        assert_eq!(Words::for_lang("fr"), WORDS[0]);
        assert_eq!(Words::for_lang("zh").key, "图例");
    }
}

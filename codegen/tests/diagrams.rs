//! The drawings: snapshots of the DOT and Mermaid for tcp.fsm, determinism,
//! the figure 8-9 conventions as properties of all three formats, Graphviz
//! accepting our DOT, and escaping on a tiny spec.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use fsm_codegen::dot::DrawOptions;
use fsm_codegen::figure::{Figure, Heat, Line, NEVER, StepMark};
use fsm_codegen::syntax::{LineStyle, Marker};
use fsm_codegen::{Model, dot, mermaid, svg};

fn tcp() -> Model {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tcp.fsm");
    match fsm_codegen::load(&path) {
        Ok(spec) => spec.model,
        Err(e) => panic!("{e}"),
    }
}

fn en() -> DrawOptions {
    DrawOptions::default()
}

fn zh() -> DrawOptions {
    DrawOptions {
        lang: "zh".to_owned(),
        ..DrawOptions::default()
    }
}

/// The lines of a DOT text that draw an arrow between two states.
fn dot_edges(dot: &str) -> Vec<&str> {
    dot.lines().filter(|l| l.contains("\" -> \"")).collect()
}

/// Every step marker the figure draws, on states and on arrows.
fn all_marks(fig: &Figure) -> Vec<StepMark> {
    let on_states = fig.states.iter().flat_map(|s| s.marks.iter());
    let on_arrows = fig.arrows.iter().flat_map(|a| a.marks.iter());
    on_states.chain(on_arrows).copied().collect()
}

// ---- Snapshots ---------------------------------------------------------------

#[test]
fn tcp_dot_snapshot() {
    insta::assert_snapshot!("tcp_dot", dot::render(&tcp(), &en()));
}

#[test]
fn tcp_dot_zh_snapshot() {
    insta::assert_snapshot!("tcp_dot_zh", dot::render(&tcp(), &zh()));
}

#[test]
fn tcp_mermaid_snapshot() {
    insta::assert_snapshot!("tcp_mermaid", mermaid::render(&tcp(), &en()));
}

// ---- Determinism -------------------------------------------------------------

#[test]
fn rendering_twice_gives_the_same_bytes() {
    let model = tcp();
    for opts in [en(), zh()] {
        assert_eq!(dot::render(&model, &opts), dot::render(&model, &opts));
        assert_eq!(
            mermaid::render(&model, &opts),
            mermaid::render(&model, &opts)
        );
        assert_eq!(svg::render(&model, &opts), svg::render(&model, &opts));
        // A model built again from the source draws the same too.
        assert_eq!(svg::render(&model, &opts), svg::render(&tcp(), &opts));
    }
}

// ---- Figure 8-9 as properties ----------------------------------------------

#[test]
fn every_output_starts_with_a_generated_comment() {
    let model = tcp();
    let opts = en();
    assert!(dot::render(&model, &opts).starts_with("// Generated from "));
    assert!(mermaid::render(&model, &opts).starts_with("%% Generated from "));
    assert!(svg::render(&model, &opts).starts_with("<!-- Generated from "));
    assert!(dot::render(&model, &opts).contains("\n// Regenerate: fsm dot SPEC.fsm\n"));
    assert!(svg::render(&model, &zh()).contains("Regenerate: fsm svg SPEC.fsm --lang zh</desc>"));
}

#[test]
fn every_state_appears_in_every_format() {
    let model = tcp();
    assert_eq!(model.states.len(), 11);
    for opts in [en(), zh()] {
        let outputs = [
            dot::render(&model, &opts),
            mermaid::render(&model, &opts),
            svg::render(&model, &opts),
        ];
        for s in &model.states {
            for out in &outputs {
                assert!(out.contains(&s.name.text), "{} missing", s.name.text);
            }
        }
    }
}

#[test]
fn each_path_shows_its_steps_one_to_seven() {
    let model = tcp();
    let fig = Figure::new(&model, &en());
    let dot = dot::render(&model, &en());
    let svg = svg::render(&model, &en());
    let mmd = mermaid::render(&model, &en());
    assert_eq!(fig.paths.len(), 2);
    for (i, p) in fig.paths.iter().enumerate() {
        assert_eq!(p.steps, Some((1, 7)), "path {}", p.name);
        let marks: Vec<StepMark> = all_marks(&fig)
            .into_iter()
            .filter(|m| m.path == i)
            .collect();
        let mut steps: Vec<u32> = marks.iter().map(|m| m.step).collect();
        steps.sort_unstable();
        assert_eq!(steps, (1..=7).collect::<Vec<_>>(), "path {}", p.name);
        for m in &marks {
            // DOT: circled numbers as text, boxed ones in a bordered cell.
            let in_dot = match m.marker {
                Marker::Circled => m.text(),
                Marker::Boxed => format!(
                    "<TD BORDER=\"1\" COLOR=\"{c}\" CELLPADDING=\"1\"><FONT COLOR=\"{c}\">{}</FONT></TD>",
                    m.step,
                    c = p.color
                ),
            };
            assert!(dot.contains(&in_dot), "DOT lacks {in_dot}");
            // SVG: a drawn marker.
            let in_svg = format!("data-path=\"{}\" data-step=\"{}\"", p.name, m.step);
            assert!(svg.contains(&in_svg), "SVG lacks {in_svg}");
            // Mermaid: the marker as text.
            assert!(mmd.contains(&m.text()), "Mermaid lacks {}", m.text());
        }
    }
    // The client path is circled and solid, the server path boxed and dashed.
    assert_eq!(
        (fig.paths[0].marker, fig.paths[0].style),
        (Marker::Circled, LineStyle::Solid)
    );
    assert_eq!(
        (fig.paths[1].marker, fig.paths[1].style),
        (Marker::Boxed, LineStyle::Dashed)
    );
    assert!(dot.contains("①") && dot.contains("⑦"));
    assert!(mmd.contains("[1]") && mmd.contains("[7]"));
}

#[test]
fn path_arrows_are_bold_solid_or_dashed_and_others_thin() {
    let model = tcp();
    let fig = Figure::new(&model, &en());
    let dot = dot::render(&model, &en());
    let edges = dot_edges(&dot);
    assert_eq!(edges.len(), fig.arrows.len(), "one DOT edge per arrow");
    for (a, line) in fig.arrows.iter().zip(&edges) {
        let ends = format!(
            "\"{}\" -> \"{}\" [",
            fig.states[a.from].name, fig.states[a.to].name
        );
        assert!(line.contains(&ends), "{line} is not {ends}");
        match a.line {
            Line::Thin => assert!(!line.contains("style="), "thin arrow drawn bold: {line}"),
            Line::Bold { style, .. } => {
                let want = match style {
                    LineStyle::Solid => "style=bold,",
                    LineStyle::Dashed => "style=\"bold,dashed\"",
                };
                assert!(line.contains(want), "{line} lacks {want}");
                assert!(line.contains("penwidth="), "{line} lacks penwidth");
            }
        }
    }
    let bold = |style| {
        fig.arrows
            .iter()
            .filter(|a| matches!(a.line, Line::Bold { style: s, .. } if s == style))
            .count()
    };
    assert_eq!(bold(LineStyle::Solid), 6);
    assert_eq!(bold(LineStyle::Dashed), 6);

    // SVG: each path arrow in its own group, bold, dashed for dashed paths.
    let svg = svg::render(&model, &en());
    for p in &fig.paths {
        let groups: Vec<&str> = svg
            .lines()
            .filter(|l| {
                l.starts_with("<g class=\"arrow\" id=\"edge-")
                    && l.contains(&format!(" data-path=\"{}\">", p.name))
            })
            .collect();
        assert_eq!(groups.len(), 6, "path {}", p.name);
        for g in groups {
            assert!(g.contains("stroke-width=\"2.6\""), "{g}");
            let dashed = g.contains("stroke-dasharray");
            assert_eq!(dashed, p.style == LineStyle::Dashed, "{g}");
        }
    }
    let thin = svg
        .lines()
        .filter(|l| l.starts_with("<g class=\"arrow\"") && !l.contains(" data-path="))
        .collect::<Vec<_>>();
    assert!(!thin.is_empty());
    assert!(
        thin.iter()
            .all(|g| g.contains("stroke-width=\"1.2\"") && !g.contains("dasharray"))
    );
}

#[test]
fn transitions_with_several_sources_are_legend_rows_not_arrows() {
    let model = tcp();
    let fig = Figure::new(&model, &en());
    let several: Vec<_> = model
        .transitions
        .iter()
        .filter(|t| !t.is_single())
        .collect();
    assert_eq!(fig.several.len(), several.len());
    assert_eq!(
        fig.arrows.len() + fig.several.len(),
        model.transitions.len()
    );

    let dot = dot::render(&model, &en());
    let mmd = mermaid::render(&model, &en());
    let svg = svg::render(&model, &en());
    let dot_edge_text = dot_edges(&dot).join("\n");
    let mmd_edge_text: String = mmd
        .lines()
        .filter(|l| l.contains(" --> "))
        .collect::<Vec<_>>()
        .join("\n");
    let svg_arrows: String = svg
        .lines()
        .filter(|l| l.starts_with("<g class=\"arrow\""))
        .collect::<Vec<_>>()
        .join("\n");
    let legend_start = dot
        .find("\"several\" [")
        .expect("DOT has the several-states table");
    let svg_legend = &svg[svg
        .find("<g class=\"several\">")
        .expect("SVG has the table")..];
    let note = &mmd[mmd.find("note right of").expect("Mermaid has the note")..];
    assert!(note.contains("In several states"));
    assert!(dot[legend_start..].contains("In several states"));
    assert!(svg_legend.contains("In several states"));
    for r in &fig.several {
        assert!(
            dot[legend_start..].contains(&dot::html(&r.label)),
            "{}",
            r.label
        );
        assert!(svg_legend.contains(&svg::xml(&r.label)), "{}", r.label);
        assert!(
            note.contains(&mermaid::escape(&r.text_row())),
            "{}",
            r.text_row()
        );
        // Labels no single-source arrow shares must not be on any arrow.
        if fig.arrows.iter().all(|a| a.label != r.label) {
            assert!(!dot_edge_text.contains(&dot::html(&r.label)), "{}", r.label);
            assert!(
                !mmd_edge_text.contains(&mermaid::escape(&r.label)),
                "{}",
                r.label
            );
            assert!(!svg_arrows.contains(&svg::xml(&r.label)), "{}", r.label);
        }
    }
    // A list of sources is written out: tcp.fsm's user timeout, in the
    // states where something can await an ACK.
    assert!(fig.several.iter().any(|r| r.label == "user timeout / –"
        && r.sources
            == "SYN_SENT, SYN_RCVD, ESTABLISHED, FIN_WAIT_1, CLOSE_WAIT, CLOSING, LAST_ACK"));
    assert!(
        fig.groups
            .iter()
            .any(|g| g.name == "synchronized" && g.members.len() == 8)
    );
    // Mermaid: one arrow per single-source transition, plus the start.
    assert_eq!(mmd_edge_text.lines().count(), fig.arrows.len() + 1);
}

#[test]
fn chinese_uses_the_translations_and_the_fixed_words() {
    let model = tcp();
    for out in [
        dot::render(&model, &zh()),
        mermaid::render(&model, &zh()),
        svg::render(&model, &zh()),
    ] {
        assert!(out.contains("TCP连接管理状态转换图"));
        assert!(out.contains("在多个状态下的转换"));
        assert!(out.contains("图例"));
        assert!(out.contains("主动打开"));
        assert!(out.contains("客户端的典型状态转换"));
        assert!(!out.contains("In several states"));
    }
}

#[test]
fn the_svg_has_a_title_a_key_and_the_legend() {
    let svg = svg::render(&tcp(), &en());
    assert!(svg.contains("<title>TCP connection state machine (RFC 9293)</title>"));
    assert!(svg.contains("<g class=\"key\">"));
    assert!(svg.contains("<g class=\"several\">"));
    assert_eq!(svg.matches("<g class=\"state\">").count(), 11);
    assert!(svg.trim_end().ends_with("</svg>"));
}

#[test]
fn graphviz_accepts_our_dot() {
    let model = tcp();
    for opts in [en(), zh()] {
        let dot = dot::render(&model, &opts);
        if !graphviz(&dot) {
            return;
        }
    }
    graphviz(&dot::render(&tiny(), &en()));
}

/// For a test that cannot run here because `why` (what is missing):
/// prints `skipped: WHY`, and the caller returns, so the test passes. In CI
/// (`CI=true`) nothing may be skipped: panics saying what is missing
/// instead.
#[track_caller]
fn skip(why: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "{why}: with CI=true no test may be skipped, so CI must install what is missing \
             (`.ci/run` installs graphviz)"
        );
    }
    println!("skipped: {why}");
}

/// Runs `dot -Tsvg` on `text`, asserting success; false when Graphviz is
/// not installed (and not in CI).
fn graphviz(text: &str) -> bool {
    use std::io::Write as _;
    let child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            skip("graphviz `dot` not found");
            return false;
        }
        Err(e) => panic!("running dot: {e}"),
    };
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(text.as_bytes())
        .expect("writing to dot");
    let out = child.wait_with_output().expect("waiting for dot");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "dot rejected our DOT:\n{stderr}\n{text}"
    );
    assert!(!stderr.contains("Warning"), "dot warned:\n{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("<svg"));
    true
}

// ---- A tiny spec ---------------------------------------------------------------

/// Three states, one path, labels full of characters that need escaping.
fn tiny() -> Model {
    let source = r#"
        machine Door "A \"door\" <with> & \\ backslash" zh "门"
        path usual solid circled "the usual way"
        state OPEN initial "open" usual 1
        state SHUT "shut"
        state LOCKED "locked\nfor the night"
        event push call "push \"hard\""
        event pull call "pull <gently> & slowly: 50%; #1 {x}"
        event turn call "turn the key"
        event knock call "knock"
        action bang "say \"bang\""
        OPEN -> SHUT on push / bang usual 2
        SHUT -> OPEN on pull usual 3
        SHUT -> LOCKED on turn
        LOCKED -> SHUT on turn
        OPEN, SHUT, LOCKED -> same on knock
    "#;
    match fsm_codegen::compile("door.fsm", source) {
        Ok(spec) => spec.model,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn a_tiny_spec_draws_in_all_three_formats() {
    let model = tiny();
    let fig = Figure::new(&model, &en());
    assert_eq!(fig.arrows.len(), 4);
    assert_eq!(fig.several.len(), 1);
    assert_eq!(fig.several[0].target, "stays");
    assert_eq!(fig.rows(), vec![0, 1, 2]);

    let dot = dot::render(&model, &en());
    for s in ["OPEN", "SHUT", "LOCKED"] {
        assert!(dot.contains(&format!("\"{s}\" [label=<")), "{s}");
    }
    // Quoted strings escape quotes, backslashes and newlines; HTML labels
    // use entities.
    assert!(dot.contains(r#"tooltip="locked\nfor the night""#));
    assert!(dot.contains("A &quot;door&quot; &lt;with&gt; &amp; \\ backslash"));
    assert!(dot.contains("pull &lt;gently&gt; &amp; slowly: 50%; #1 {x}"));
    assert!(dot.contains("push &quot;hard&quot; / say &quot;bang&quot;"));
    assert!(dot.contains("style=bold"));
    assert!(!dot.contains("dashed"));

    let mmd = mermaid::render(&model, &en());
    assert!(mmd.contains(
        "SHUT --> OPEN : ③ pull #60;gently#62; #38; slowly#58; 50#37;#59; #35;1 #123;x#125;"
    ));
    assert!(mmd.contains("OPEN --> SHUT : ② push #34;hard#34; / say #34;bang#34;"));
    assert!(mmd.contains("state \"OPEN ①\" as OPEN"));
    assert!(mmd.contains("OPEN, SHUT, LOCKED · knock / – · stays"));
    assert!(!mmd.contains("<gently>"));

    let svg = svg::render(&model, &en());
    assert!(svg.contains("pull &lt;gently&gt; &amp; slowly: 50%; #1 {x}"));
    assert!(svg.contains("A &quot;door&quot; &lt;with&gt; &amp; \\ backslash"));
    assert!(!svg.contains("<gently>"));
    assert!(!svg.contains("\"door\""));
    for step in 1..=3 {
        assert!(svg.contains(&format!("data-path=\"usual\" data-step=\"{step}\"")));
    }
    // Only well-formed-ish XML: every opened group is closed.
    assert_eq!(svg.matches("<g ").count(), svg.matches("</g>").count());

    // Chinese falls back to English where the spec has no translation.
    let zh_svg = svg::render(&model, &zh());
    assert!(zh_svg.contains("<title>门</title>"));
    assert!(zh_svg.contains("turn the key"));
    assert!(zh_svg.contains("状态不变"));
}

#[test]
fn a_spec_without_paths_or_several_sources_still_draws() {
    let source = r#"
        machine Lamp "lamp"
        state OFF initial "off"
        state ON "on"
        event flip call "flip"
        OFF -> ON on flip
        ON -> OFF on flip
    "#;
    let model = fsm_codegen::compile("lamp.fsm", source)
        .expect("compiles")
        .model;
    let dot = dot::render(&model, &en());
    assert!(!dot.contains("\"several\""));
    assert!(!dot.contains("style=bold"));
    let svg = svg::render(&model, &en());
    assert!(!svg.contains("class=\"several\""));
    assert!(!svg.contains("data-path"));
    let mmd = mermaid::render(&model, &en());
    assert!(!mmd.contains("classDef"));
    assert!(mmd.contains("OFF --> ON : flip / –"));
    graphviz(&dot);
}

#[test]
fn any_as_the_source_is_one_row_for_any_state() {
    let source = r#"
        machine Lamp "lamp" zh "灯"
        state OFF initial "off"
        state ON "on"
        event flip call "flip"
        event cut call "power cut" zh "停电"
        OFF -> ON on flip
        ON -> OFF on flip
        any -> OFF on cut
    "#;
    let model = fsm_codegen::compile("lamp.fsm", source)
        .expect("compiles")
        .model;
    let fig = Figure::new(&model, &en());
    assert_eq!(fig.arrows.len(), 2);
    assert_eq!(fig.several.len(), 1);
    assert_eq!(fig.several[0].sources, "any state");
    assert!(mermaid::render(&model, &en()).contains("any state · power cut / – → OFF"));
    assert!(svg::render(&model, &zh()).contains("任何状态"));
}

/// A heat map: the pairs of the client path fired (step 2 most often),
/// the rest never; TIME_WAIT never reached.
fn client_heat(model: &Model) -> Heat {
    let mut fired = vec![0; model.edges().count()];
    for (i, e) in model.edges().enumerate() {
        let t = &model.transitions[e.transition.index()];
        if let Some(s) = t
            .steps
            .iter()
            .find(|s| model.paths[s.path.index()].name.text == "client")
        {
            fired[i] = 10u64.pow(s.step.min(6));
        }
    }
    let reached = model
        .states
        .iter()
        .map(|s| s.name.text != "TIME_WAIT")
        .collect();
    Heat { fired, reached }
}

#[test]
fn a_heat_map_draws_counts_and_greys_what_never_happened() {
    let model = tcp();
    let heat = client_heat(&model);
    let max = *heat.fired.iter().max().unwrap();
    let opts = DrawOptions {
        heat: Some(heat),
        ..DrawOptions::default()
    };
    let fig = Figure::new(&model, &opts);
    assert_eq!(fig.fired_max, Some(max));
    let svg = svg::render(&model, &opts);
    if let Ok(path) = std::env::var("HEAT_SVG") {
        std::fs::write(path, &svg).unwrap();
    }
    // The client's ACTIVE OPEN fired 100 times, and says so.
    assert!(svg.contains("active OPEN / SYN ×100"), "count in the label");
    // The hottest arrow is dark red; a never-fired one dashed grey.
    assert!(svg.contains(&Heat::color(max, max)));
    assert!(svg.contains(&format!(
        "stroke=\"{NEVER}\" stroke-width=\"1.2\" stroke-dasharray"
    )));
    // TIME_WAIT's box is grey, the others white.
    let time_wait = svg
        .split("<g class=\"state\">")
        .find(|g| g.starts_with("<title>TIME_WAIT"))
        .unwrap();
    assert!(time_wait.contains(&format!("fill=\"#efefef\" stroke=\"{NEVER}\"")));
    let closed = svg
        .split("<g class=\"state\">")
        .find(|g| g.starts_with("<title>CLOSED"))
        .unwrap();
    assert!(closed.contains("fill=\"#ffffff\""));
    // Without heat, nothing of it.
    let plain = svg::render(&model, &DrawOptions::default());
    assert!(!plain.contains('×') && !plain.contains(NEVER));
}

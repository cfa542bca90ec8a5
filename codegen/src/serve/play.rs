//! `fsm play`: one trace (`--trace-json` lines, docs/trace-json.md) on
//! the figure, for documentation: a self-contained page (the figure, the
//! script and the trace inline, nothing from the network) and an SVG
//! animated with SMIL (`<set>` on overlays at the states' and arrows'
//! places), which plays inside an `<img>` with scripts off.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::spec::{Snapshot, draw};
use super::watch;
use crate::Spec;
use crate::svg::xml;

/// Seconds each event of the animation stays on show.
pub const STEP_SECONDS: f64 = 1.2;

/// The trace read against the spec: its events and segments, annotated,
/// of the side `side` only when given; and the counts.
pub fn read_trace(spec: &Spec, text: &str, side: Option<&str>) -> (Vec<Value>, watch::Stats) {
    let (mut lines, stats) = watch::read_all(Some(&spec.model), text);
    if let Some(side) = side {
        lines.retain(|l| l["side"] == side);
    }
    (lines, stats)
}

/// The page: the figure in `lang` and the trace, played on open.
pub fn html(spec: &Spec, lang: &str, name: &str, lines: &[Value], stats: watch::Stats) -> String {
    let mut snapshot = Snapshot::new();
    snapshot.update(Ok(spec.clone()), lang);
    super::page::html(&json!({
        "mode": "play",
        "spec": snapshot.to_json(),
        "trace": {"name": name, "lines": lines, "stats": stats.to_json()},
    }))
}

/// A state's box in the figure: x, y, width, height.
type Rect = (f64, f64, f64, f64);

/// The box of state `name` in `svg` (the renderer's `<g class="state"
/// id="state-NAME">` and the `<rect>` in it).
fn state_box(svg: &str, name: &str) -> Option<Rect> {
    let at = svg.find(&format!("id=\"state-{name}\""))?;
    let rect = at + svg[at..].find("<rect ")?;
    let end = rect + svg[rect..].find("/>")?;
    let tag = &svg[rect..end];
    let attr = |k: &str| -> Option<f64> {
        let i = tag.find(&format!(" {k}=\""))? + k.len() + 3;
        tag[i..].split('"').next()?.parse().ok()
    };
    Some((attr("x")?, attr("y")?, attr("width")?, attr("height")?))
}

/// The line (`d` of the first path) of the drawn arrow that shows pair
/// `edge`, and whether it stands for it alone; or the place of its row in
/// the "In several states" box.
fn edge_line(svg: &str, edge: &str) -> Option<String> {
    let mut from = 0;
    while let Some(i) = svg[from..].find("data-edges=\"") {
        let start = from + i + "data-edges=\"".len();
        let end = start + svg[start..].find('"')?;
        from = end;
        if !svg[start..end].split(' ').any(|e| e == edge) {
            continue;
        }
        let tag_start = svg[..start].rfind('<')?;
        if svg[tag_start..].starts_with("<g") {
            let p = end + svg[end..].find("<path d=\"")? + "<path d=\"".len();
            let q = p + svg[p..].find('"')?;
            return Some(svg[p..q].to_owned());
        }
        return None;
    }
    None
}

/// The figure with the trace's events played on it, over and over: each
/// event in turn for [`STEP_SECONDS`], its arrow drawn over in
/// vermillion, each connection's marker on its state, and a caption.
pub fn animated_svg(spec: &Spec, lang: &str, lines: &[Value]) -> String {
    let svg = draw(&spec.model, lang);
    let events: Vec<&Value> = lines.iter().filter(|l| l["kind"] == "event").collect();
    let total = STEP_SECONDS * (events.len() as f64 + 2.0);
    let caption_h = 44.0;
    // Make room for the caption below the figure.
    let (w, h) = size(&svg).unwrap_or((800.0, 600.0));
    let new_h = h + caption_h;
    let mut out = svg.replacen(
        &format!(
            "height=\"{}\" viewBox=\"0 0 {} {}\"",
            fmt(h),
            fmt(w),
            fmt(h)
        ),
        &format!(
            "height=\"{}\" viewBox=\"0 0 {} {}\"",
            fmt(new_h),
            fmt(w),
            fmt(new_h)
        ),
        1,
    );
    let body_end = out.rfind("</svg>").unwrap_or(out.len());
    let mut anim = String::new();
    let _ = writeln!(
        anim,
        "<g id=\"play\" pointer-events=\"none\">\n\
         <rect x=\"0\" y=\"{}\" width=\"{}\" height=\"{caption_h}\" fill=\"#f3f6f9\"/>\n\
         <animate id=\"clock\" attributeName=\"opacity\" from=\"1\" to=\"1\" dur=\"{}s\" \
         begin=\"0s;clock.end\" fill=\"remove\"/>",
        fmt(h),
        fmt(w),
        fmt(total)
    );
    let at = |k: usize| format!("clock.begin+{}s", fmt(STEP_SECONDS * (k as f64 + 1.0)));
    let mut sides: Vec<String> = Vec::new();
    // Where each connection is, from which step to which.
    // (connection, side, state, first step, step after the last).
    let mut spans: Vec<(String, String, String, usize, usize)> = Vec::new();
    let mut open: Vec<(String, String, String, usize)> = Vec::new();
    for (k, l) in events.iter().enumerate() {
        let side = l["side"].as_str().unwrap_or("").to_owned();
        if !sides.contains(&side) {
            sides.push(side.clone());
        }
        let key = l["key"].as_str().unwrap_or("").to_owned();
        let to = l["to"].as_str().unwrap_or("").to_owned();
        if let Some(i) = open.iter().position(|o| o.0 == key) {
            let (key, side, state, start) = open.remove(i);
            spans.push((key, side, state, start, k));
        }
        open.push((key, side.clone(), to.clone(), k));
        // The arrow taken, drawn over for this step.
        if let Some(d) = l["edge"].as_str().and_then(|e| edge_line(&svg, e)) {
            let _ = writeln!(
                anim,
                "<path d=\"{}\" fill=\"none\" stroke=\"#D55E00\" stroke-width=\"5\" \
                 stroke-opacity=\"0.85\" visibility=\"hidden\">\
                 <set attributeName=\"visibility\" to=\"visible\" begin=\"{}\" dur=\"{}s\"/></path>",
                xml(&d),
                at(k),
                fmt(STEP_SECONDS)
            );
        }
        // The caption.
        let steps: Vec<String> = l["steps"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|s| format!("{} {}", s["path"].as_str().unwrap_or(""), s["step"]))
                    .collect()
            })
            .unwrap_or_default();
        let what = if l["edge"].is_null() {
            format!("refuses {}", l["event"].as_str().unwrap_or(""))
        } else {
            format!(
                "{} —{}→ {}",
                l["from"].as_str().unwrap_or(""),
                l["event"].as_str().unwrap_or(""),
                to
            )
        };
        let steps = if steps.is_empty() {
            String::new()
        } else {
            format!(" ({})", steps.join(", "))
        };
        let _ = writeln!(
            anim,
            "<text x=\"16\" y=\"{}\" font-size=\"15\" font-weight=\"bold\" fill=\"#1a1a1a\" \
             visibility=\"hidden\">{}. {side}: {}{}\
             <set attributeName=\"visibility\" to=\"visible\" begin=\"{}\" dur=\"{}s\"/></text>",
            fmt(h + 27.0),
            k + 1,
            xml(&what),
            xml(&steps),
            at(k),
            fmt(STEP_SECONDS)
        );
    }
    for (key, side, state, start) in open {
        spans.push((key, side, state, start, events.len() + 1));
    }
    let colours = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9"];
    for (key, side, state, start, end) in &spans {
        let Some((x, y, bw, _)) = state_box(&svg, state) else {
            continue;
        };
        let si = sides.iter().position(|s| s == side).unwrap_or(0);
        // Each side's markers sit at a place of their own on the box.
        let cx = x + bw - 8.0 - (si as f64) * 20.0;
        let cy = y - 5.0;
        let colour = colours[si % colours.len()];
        let shape = if si % 2 == 1 {
            format!(
                "<rect x=\"{}\" y=\"{}\" width=\"17\" height=\"17\" fill=\"{colour}\" stroke=\"#ffffff\" stroke-width=\"1.5\"/>",
                fmt(cx - 8.5),
                fmt(cy - 8.5)
            )
        } else {
            format!(
                "<circle cx=\"{}\" cy=\"{}\" r=\"9\" fill=\"{colour}\" stroke=\"#ffffff\" stroke-width=\"1.5\"/>",
                fmt(cx),
                fmt(cy)
            )
        };
        let letter = side.chars().next().unwrap_or('?').to_uppercase();
        let _ = writeln!(
            anim,
            "<g class=\"marker\" data-key=\"{}\" data-state=\"{}\" visibility=\"hidden\">{shape}\
             <text x=\"{}\" y=\"{}\" font-size=\"10.5\" font-weight=\"bold\" text-anchor=\"middle\" \
             fill=\"#ffffff\">{letter}</text>\
             <set attributeName=\"visibility\" to=\"visible\" begin=\"{}\" dur=\"{}s\"/></g>",
            xml(key),
            xml(state),
            fmt(cx),
            fmt(cy + 3.7),
            at(*start),
            fmt(STEP_SECONDS * (*end - *start) as f64)
        );
    }
    // The key to the markers.
    let mut kx = w - 16.0;
    for (si, side) in sides.iter().enumerate().rev() {
        let colour = colours[si % colours.len()];
        let label = format!("{side} endpoint");
        kx -= crate::svg::text_width(&label, 12.0, false) + 30.0;
        let shape = if si % 2 == 1 {
            format!(
                "<rect x=\"{}\" y=\"{}\" width=\"14\" height=\"14\" fill=\"{colour}\"/>",
                fmt(kx),
                fmt(h + 15.0)
            )
        } else {
            format!(
                "<circle cx=\"{}\" cy=\"{}\" r=\"7\" fill=\"{colour}\"/>",
                fmt(kx + 7.0),
                fmt(h + 22.0)
            )
        };
        let _ = writeln!(
            anim,
            "{shape}<text x=\"{}\" y=\"{}\" font-size=\"12\" fill=\"#1a1a1a\">{}</text>",
            fmt(kx + 20.0),
            fmt(h + 26.0),
            xml(&label)
        );
    }
    anim.push_str("</g>\n");
    out.insert_str(body_end, &anim);
    out
}

fn size(svg: &str) -> Option<(f64, f64)> {
    let i = svg.find("viewBox=\"0 0 ")? + "viewBox=\"0 0 ".len();
    let mut it = svg[i..].split('"').next()?.split(' ');
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

fn fmt(x: f64) -> String {
    let r = (x * 100.0).round() / 100.0;
    if r == r.trunc() {
        format!("{}", r as i64)
    } else {
        format!("{r}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_boxes_and_arrow_lines_are_found() {
        let spec = crate::load(concat!(env!("CARGO_MANIFEST_DIR"), "/../tcp.fsm")).unwrap();
        let svg = draw(&spec.model, "en");
        assert!(state_box(&svg, "ESTABLISHED").is_some());
        assert!(edge_line(&svg, "edge-1-CLOSED").is_some_and(|d| d.starts_with('M')));
        assert!(
            edge_line(&svg, "edge-10-SYN_SENT").is_some(),
            "a bundled pair"
        );
        assert!(edge_line(&svg, "edge-999-CLOSED").is_none());
    }
}

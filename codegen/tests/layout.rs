//! The SVG layout, measured: how often labels sit on other arrows' lines,
//! labels overlap, and lines cross, for tcp.fsm (in both languages, and as
//! a heat map), and every other spec: congestion.fsm and those in
//! `examples/specs/`.
//!
//! `cargo test -p fsm-codegen --test layout -- --nocapture` prints the
//! counts and what collides.

use std::path::{Path, PathBuf};

use fsm_codegen::dot::DrawOptions;
use fsm_codegen::figure::Heat;
use fsm_codegen::svg::{self, Collisions};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("codegen/ sits in the workspace")
        .to_owned()
}

fn measure(spec: &Path, lang: &str) -> Collisions {
    let opts = DrawOptions {
        lang: lang.to_owned(),
        ..DrawOptions::default()
    };
    measure_with(spec, &opts, lang)
}

/// The collisions in `spec`'s figure drawn with `opts`, printed under
/// `name`.
fn measure_with(spec: &Path, opts: &DrawOptions, name: &str) -> Collisions {
    let model = match fsm_codegen::load(spec) {
        Ok(spec) => spec.model,
        Err(e) => panic!("{e}"),
    };
    let c = svg::collisions(&model, opts);
    println!(
        "{} ({name}): label-edge {}, label-label {}, label-state {}, edge-edge {} \
         (with a path arrow: {}), thin along bold {}",
        spec.strip_prefix(root()).unwrap_or(spec).display(),
        c.label_edge,
        c.label_label,
        c.label_state,
        c.edge_edge,
        c.bold_crossings,
        c.along_bold,
    );
    for note in &c.notes {
        println!("    {note}");
    }
    c
}

/// Every spec but tcp.fsm: the others at the top (congestion.fsm) and
/// those under `examples/specs/`, sorted.
fn variants() -> Vec<PathBuf> {
    fn specs_in(dir: &Path, deep: bool, out: &mut Vec<PathBuf>) {
        let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                if deep {
                    specs_in(&path, deep, out);
                }
            } else if path.extension().is_some_and(|x| x == "fsm") {
                out.push(path);
            }
        }
    }
    let mut specs = Vec::new();
    specs_in(&root(), false, &mut specs);
    specs.retain(|p| !p.ends_with("tcp.fsm"));
    specs_in(&root().join("examples/specs"), true, &mut specs);
    specs.sort();
    assert!(specs.len() > 1, "no variant specs found");
    specs
}

#[test]
fn tcp_labels_sit_clear_of_other_arrows() {
    let tcp = root().join("tcp.fsm");
    // A heat map's labels are wider (a count after each).
    let heat = DrawOptions {
        heat: Some(Heat {
            fired: vec![12_345; 200],
            reached: Vec::new(),
        }),
        ..DrawOptions::default()
    };
    let measured: Vec<(&str, Collisions)> = vec![
        ("en", measure(&tcp, "en")),
        ("zh", measure(&tcp, "zh")),
        ("heat map", measure_with(&tcp, &heat, "heat map")),
    ];
    for (lang, c) in measured {
        assert_eq!(c.label_edge, 0, "{lang}: {:#?}", c.notes);
        assert_eq!(c.label_label, 0, "{lang}: {:#?}", c.notes);
        assert_eq!(c.label_state, 0, "{lang}: {:#?}", c.notes);
        // One crossing is left: SYN_RCVD → FIN_WAIT_1 joins the server's
        // opening to the client's closing, and the two paths meet only in
        // ESTABLISHED, so a line between them crosses one of them (or
        // goes around the whole figure).
        assert!(c.edge_edge <= 1, "{lang}: {:#?}", c.notes);
        assert_eq!(c.along_bold, 0, "{lang}: {:#?}", c.notes);
    }
}

/// The most crossings and thin-along-bold runs a variant spec may have:
/// what the layout achieves. no_syn_rcvd_established.fsm has 3 crossings
/// (its server path stops at SYN_RCVD, so the paths do not keep to their
/// sides); no_time_wait.fsm has 3 runs (a thin arrow and the client's bold
/// one both go from FIN_WAIT_2 to CLOSED, and CLOSING -> CLOSED joins the
/// server's last step). Labels are never crossed or covered.
const VARIANT_CROSSINGS: usize = 3;
const VARIANT_ALONG_BOLD: usize = 3;

#[test]
fn variant_specs_keep_labels_clear_and_crossings_few() {
    let mut failed = Vec::new();
    for spec in variants() {
        for lang in ["en", "zh"] {
            let c = measure(&spec, lang);
            if c.label_edge + c.label_label + c.label_state > 0
                || c.edge_edge > VARIANT_CROSSINGS
                || c.along_bold > VARIANT_ALONG_BOLD
            {
                failed.push(format!("{} ({lang})", spec.display()));
            }
        }
    }
    assert!(failed.is_empty(), "over the bounds: {failed:#?}");
}

/// The gallery's specs, `examples/protocols/*.fsm`, sorted, each with the
/// languages it is drawn in (Chinese where its states are translated).
fn gallery() -> Vec<(PathBuf, Vec<&'static str>)> {
    let dir = root().join("examples/protocols");
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut specs: Vec<PathBuf> = entries
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "fsm"))
        .collect();
    specs.sort();
    assert!(specs.len() >= 8, "the gallery has lost specs: {specs:?}");
    specs
        .into_iter()
        .map(|spec| {
            let source = std::fs::read_to_string(&spec).expect("a readable spec");
            let translated = source
                .lines()
                .any(|l| l.starts_with("state ") && l.contains(" zh \""));
            let langs = if translated {
                vec!["en", "zh"]
            } else {
                vec!["en"]
            };
            (spec, langs)
        })
        .collect()
}

/// The most crossings a gallery figure may have: what the layout
/// achieves, none. Declaration order matters: quic_stream_recv.fsm
/// declares its two arrows that skip a state (Recv -> Data Recvd on a
/// STREAM+FIN, None -> Size Known) after the others, which takes its
/// figure from 3 crossings to 0. Labels are never crossed or covered.
const GALLERY_CROSSINGS: usize = 0;

#[test]
fn gallery_specs_keep_labels_clear_and_crossings_few() {
    let mut failed = Vec::new();
    for (spec, langs) in gallery() {
        for lang in langs {
            let c = measure(&spec, lang);
            if c.label_edge + c.label_label + c.label_state > 0 || c.edge_edge > GALLERY_CROSSINGS {
                failed.push(format!("{} ({lang})", spec.display()));
            }
        }
    }
    assert!(failed.is_empty(), "over the bounds: {failed:#?}");
}

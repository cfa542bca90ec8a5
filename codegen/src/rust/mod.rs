//! Rust output: one set of items per spec, the same through every front
//! end (the `fsm!` macro via [`expand_macro`], [`Builder`] in a build
//! script, `fsm rust FILE` via [`generate_file`]; those two, which format
//! the items as a file, come with the feature `pretty`).
//!
//! The items need nothing beyond `core`:
//!
//! - the dynamic API: `enum State`, `Event`, `Guard`, `Action`, `Path` with
//!   names, descriptions and translations; per group of states,
//!   `State::in_<group>(self) -> bool`; `TRANSITIONS`, one row per
//!   (declaration, source state); a table-driven, allocation-free
//!   `step(state, event, &guards) -> Result<Step, NoTransition>`;
//! - the typestate API: a zero-sized type per state, the machine type
//!   `Machine<S, D>` whose transitions are consuming methods named after
//!   their events, and the trait `MachineActions` whose methods the
//!   transitions call;
//! - with a [`Vocabulary`], conversions to and from the runtime's own enums,
//!   and, when it lists groups, `State::in_vocabulary_group(self, group)`.
//!
//! Modules: `names` (Rust names and their collisions), [`table`] (the
//! dispatch table, shared with the tests), `emit` (dynamic API),
//! `typestate`, `vocabulary`, `expand` (the macro front end), `builder`.

#[cfg(feature = "pretty")]
mod builder;
mod emit;
mod expand;
mod names;
pub mod table;
mod typestate;
mod vocabulary;

use proc_macro2::TokenStream;

use crate::diagnostic::Diagnostic;
use crate::dot::DrawOptions;
use crate::model::Model;
use crate::{Rejected, Spec};

#[cfg(feature = "pretty")]
pub use builder::{BuildError, Builder};
pub use expand::{expand_macro, expand_macro_in};
pub use names::{camel, snake};
pub use table::{DispatchTable, TableLayout};
pub use vocabulary::Vocabulary;

/// How to generate.
#[derive(Clone, Debug, Default)]
pub struct RustOptions {
    /// Bind the spec to a runtime's vocabulary: every event, guard and
    /// action must be one of its words, every group it lists must be
    /// declared, and conversions to and from its enums are generated.
    pub vocabulary: Option<Vocabulary>,
    /// The dispatch table's layout; `None` chooses by size (dense up to
    /// [`table::DENSE_LIMIT`] (state, event) pairs).
    pub layout: Option<TableLayout>,
}

impl RustOptions {
    /// Options with `vocabulary`.
    pub fn with_vocabulary(vocabulary: Vocabulary) -> RustOptions {
        RustOptions {
            vocabulary: Some(vocabulary),
            layout: None,
        }
    }
}

/// The generated items for `spec`, unformatted. Fails with spec
/// diagnostics when a name has no usable Rust form, two names collide, the
/// spec is too big for the generated integer types, a name is missing
/// from the vocabulary, or a group of the vocabulary from the spec.
pub fn generate(spec: &Spec, options: &RustOptions) -> Result<TokenStream, Rejected> {
    generate_model(&spec.model, options, false).map_err(|mut diagnostics| {
        diagnostics.sort_by_key(Diagnostic::offset);
        Rejected {
            file_name: spec.file_name.clone(),
            source: spec.source.clone(),
            diagnostics,
        }
    })
}

/// Generates from a resolved model, checked or not. With `stub`, the
/// vocabulary is not enforced and its conversions only panic: that is the
/// output that accompanies an error, so that code using the items still
/// type-checks and the error stands alone.
pub(crate) fn generate_model(
    model: &Model,
    options: &RustOptions,
    stub: bool,
) -> Result<TokenStream, Vec<Diagnostic>> {
    let layout = options
        .layout
        .unwrap_or_else(|| TableLayout::for_size(model.states.len(), model.events.len()));
    let table = DispatchTable::build_with(model, layout);
    let mut diags = limits(model, &table);
    let names = match names::Names::new(model, &table) {
        Ok(n) => Some(n),
        Err(d) => {
            diags.extend(d);
            None
        }
    };
    let mut vocab_misfit = false;
    if let Some(v) = &options.vocabulary {
        let d = vocabulary::check(model, v);
        vocab_misfit = !d.is_empty();
        if !stub {
            diags.extend(d);
        }
    }
    let Some(names) = names.filter(|_| diags.is_empty()) else {
        return Err(diags);
    };
    let dot = crate::dot::render(model, &DrawOptions::default());
    let mut out = emit::dynamic(model, &names, &table, &dot);
    let diagram = diagram_html(model, &table);
    out.extend(typestate::typestate(
        model,
        &names,
        &table,
        diagram.as_deref(),
    ));
    if let Some(v) = &options.vocabulary {
        out.extend(vocabulary::emit(model, &names, v, stub && vocab_misfit));
    }
    Ok(out)
}

/// Up to this many states, and (transition, source state) pairs, the
/// machine type's documentation shows the spec's figure; beyond, the
/// figure would be too big to read (and to lay out at every build).
const DIAGRAM_STATES: usize = 16;
const DIAGRAM_PAIRS: usize = 120;

/// The spec's figure as inline SVG for rustdoc, on one line (a Markdown
/// HTML block ends at a blank line), if the spec is small enough.
fn diagram_html(model: &Model, table: &DispatchTable) -> Option<String> {
    if model.states.len() > DIAGRAM_STATES || table.entries.len() > DIAGRAM_PAIRS {
        return None;
    }
    let svg = crate::svg::render(model, &DrawOptions::default());
    // Scaled to the page's width (the figure has a viewBox).
    let svg = svg.trim().replace('\n', " ").replacen(
        "<svg ",
        "<svg style=\"max-width: 100%; height: auto\" ",
        1,
    );
    Some(format!("<div class=\"fsm-diagram\">{svg}</div>"))
}

/// Sizes the generated integer types cannot hold.
fn limits(model: &Model, table: &DispatchTable) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    let max = usize::try_from(u32::MAX).unwrap_or(usize::MAX);
    if model.transitions.len() > max {
        diags.push(
            Diagnostic::error(format!(
                "the spec has {} transition declarations; the generated Rust numbers them \
                 with `u32`, so at most {max}",
                model.transitions.len()
            ))
            .with_primary(
                model.transitions[max].span.clone(),
                "this one is one too many",
            ),
        );
    } else if table.entries.len() > max {
        diags.push(
            Diagnostic::error(format!(
                "the spec has {} (transition, source state) pairs; the generated Rust numbers \
                 them with `u32`, so at most {max}",
                table.entries.len()
            ))
            .with_primary(model.name.span.clone(), "in this machine"),
        );
    }
    let steps = model
        .states
        .iter()
        .flat_map(|s| &s.steps)
        .chain(model.transitions.iter().flat_map(|t| &t.steps));
    for st in steps {
        if st.step > u32::from(u8::MAX) {
            diags.push(
                Diagnostic::error(format!(
                    "step {} is too big: the generated Rust numbers steps with `u8`",
                    st.step
                ))
                .with_primary(st.span.clone(), "at most 255"),
            );
        }
    }
    diags
}

/// Formats generated items as a file: prettyplease, after a header naming
/// the spec (by its file name alone, so that every front end writes the
/// same header).
///
/// # Panics
///
/// If `tokens` are not a Rust file, which [`generate`] never produces.
#[cfg(feature = "pretty")]
pub fn format(tokens: TokenStream, file_name: &str) -> String {
    let file: syn::File = syn::parse2(tokens).unwrap_or_else(|e| {
        panic!("fsm-codegen generated Rust that does not parse ({e}); please report it")
    });
    let base = std::path::Path::new(file_name).file_name().map_or_else(
        || file_name.to_owned(),
        |n| n.to_string_lossy().into_owned(),
    );
    format!(
        "// Generated from {base} by fsm-codegen. Do not edit.\n\n{}",
        prettyplease::unparse(&file)
    )
}

/// The formatted Rust for `spec` with default options: what `fsm rust`
/// prints.
#[cfg(feature = "pretty")]
pub fn generate_file(spec: &Spec) -> Result<String, Rejected> {
    generate_file_with(spec, &RustOptions::default())
}

/// The formatted Rust for `spec`.
#[cfg(feature = "pretty")]
pub fn generate_file_with(spec: &Spec, options: &RustOptions) -> Result<String, Rejected> {
    Ok(format(generate(spec, options)?, &spec.file_name))
}

/// `compile_error!(message)`, spanned.
pub(crate) fn compile_error(span: proc_macro2::Span, message: &str) -> TokenStream {
    quote::quote_spanned!(span=> ::core::compile_error!(#message);)
}

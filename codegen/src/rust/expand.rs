//! The `fsm!` macro's front end, as a library function on
//! `proc_macro2::TokenStream` (the macro crate is a shell around it).
//!
//! ```text
//! fsm!("tcp.fsm")
//! fsm!("tcp.fsm", vocabulary = crate::vocab { events: [..], guards: [..], actions: [..] })
//! fsm!("tcp.fsm", vocabulary = crate::vocab { events: [..], guards: [..], actions: [..], groups: [..] })
//! ```
//!
//! The `groups` list is optional: groups of states the runtime reads
//! through `State::in_vocabulary_group`, each of which the spec must
//! declare (see [`Vocabulary`](super::Vocabulary)).
//!
//! The path is relative to the invoking crate's `CARGO_MANIFEST_DIR`; when
//! no file is there, relative to the directory of the file that invokes the
//! macro (as with `include_str!`).

use std::path::{Path, PathBuf};

use proc_macro2::{Ident, Span, TokenStream};
use quote::quote;
use syn::parse::{Parse, ParseStream};
use syn::{LitStr, Token};

use crate::{LoadError, Rejected, Spec};

use super::{RustOptions, Vocabulary, compile_error, generate, generate_model};

/// What `fsm!` takes.
struct MacroInput {
    path: LitStr,
    vocabulary: Option<Vocabulary>,
}

const USAGE: &str = "`fsm!(\"path/to/spec.fsm\")` or \
    `fsm!(\"path/to/spec.fsm\", vocabulary = some::path { events: [..], guards: [..], actions: [..], groups: [..] })`";

impl Parse for MacroInput {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let path: LitStr = input.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                format!("expected the spec's path as a string: {USAGE}"),
            )
        })?;
        let mut vocabulary = None;
        while !input.is_empty() {
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                break;
            }
            let key: Ident = input.parse()?;
            if key != "vocabulary" {
                return Err(syn::Error::new(
                    key.span(),
                    format!("unknown option `{key}`: {USAGE}"),
                ));
            }
            if vocabulary.is_some() {
                return Err(syn::Error::new(key.span(), "`vocabulary` is given twice"));
            }
            input.parse::<Token![=]>()?;
            vocabulary = Some(input.parse()?);
        }
        Ok(MacroInput { path, vocabulary })
    }
}

/// Expands `fsm!(…)`: `input` is what the macro was given, `manifest_dir`
/// the invoking crate's `CARGO_MANIFEST_DIR`. See [`expand_macro_in`].
pub fn expand_macro(input: TokenStream, manifest_dir: &Path) -> TokenStream {
    expand_macro_in(input, manifest_dir, None)
}

/// Expands `fsm!(…)`, looking for the spec first under `manifest_dir`, then
/// beside `invoking_file` (the source file that contains the macro call).
///
/// On success: the generated items, and a `const _: &[u8] =
/// include_bytes!("/absolute/spec.fsm")` so that editing the spec rebuilds
/// the crate. On failure: one `compile_error!` spanned on the path literal,
/// carrying the rendered diagnostics (`file:line:col`, source line, caret),
/// and, when the spec's names resolve, the items generated from it anyway,
/// so that code using them reports nothing more.
pub fn expand_macro_in(
    input: TokenStream,
    manifest_dir: &Path,
    invoking_file: Option<&Path>,
) -> TokenStream {
    let input = match syn::parse2::<MacroInput>(input) {
        Ok(i) => i,
        Err(e) => return e.to_compile_error(),
    };
    let written = input.path.value();
    let span = input.path.span();
    let mut tried = vec![manifest_dir.join(&written)];
    if let Some(dir) = invoking_file.and_then(Path::parent) {
        tried.push(dir.join(&written));
    }
    let Some(found) = tried.iter().find(|p| p.is_file()) else {
        let looked: Vec<String> = tried.iter().map(|p| format!("`{}`", p.display())).collect();
        return compile_error(
            span,
            &format!(
                "cannot find the spec `{written}`: looked for {}",
                looked.join(" and ")
            ),
        );
    };
    let absolute = std::path::absolute(found).unwrap_or_else(|_| found.clone());
    let absolute = absolute.to_string_lossy();
    let track = quote!(
        const _: &[u8] = ::core::include_bytes!(#absolute);
    );

    let options = RustOptions {
        vocabulary: input.vocabulary,
        layout: None,
    };
    match load_as(found, &written) {
        Ok(spec) => match generate(&spec, &options) {
            Ok(items) => quote!(#items #track),
            Err(rejected) => {
                let stub = generate_model(&spec.model, &options, true).unwrap_or_default();
                failure(span, &rejected.render(), stub, track)
            }
        },
        Err(LoadError::Rejected(r)) => {
            let stub = stub_for(&r, &options);
            failure(span, &r.render(), stub, track)
        }
        Err(other) => failure(span, &other.to_string(), TokenStream::new(), track),
    }
}

fn failure(span: Span, message: &str, stub: TokenStream, track: TokenStream) -> TokenStream {
    // rustc writes `error: ` before the message already.
    let message = message.strip_prefix("error: ").unwrap_or(message);
    let error = compile_error(span, message.trim_end());
    quote!(#error #stub #track)
}

/// Loads `path`, calling it `name` in diagnostics and errors.
pub(crate) fn load_as(path: &Path, name: &str) -> Result<Spec, LoadError> {
    let named = PathBuf::from(name);
    match crate::load(path) {
        Ok(mut spec) => {
            spec.file_name = name.to_owned();
            Ok(spec)
        }
        Err(LoadError::Rejected(mut r)) => {
            r.file_name = name.to_owned();
            Err(LoadError::Rejected(r))
        }
        Err(LoadError::Io { error, .. }) => Err(LoadError::Io { path: named, error }),
        Err(LoadError::NotUtf8 {
            offset,
            line,
            column,
            byte,
            ..
        }) => Err(LoadError::NotUtf8 {
            path: named,
            offset,
            line,
            column,
            byte,
        }),
        Err(LoadError::Empty { .. }) => Err(LoadError::Empty { path: named }),
    }
}

/// The items of a rejected spec whose names still resolve.
fn stub_for(rejected: &Rejected, options: &RustOptions) -> TokenStream {
    let Ok(tree) = crate::syntax::parse(&rejected.source) else {
        return TokenStream::new();
    };
    let (Some(model), _) = crate::model::resolve(&tree, &rejected.source) else {
        return TokenStream::new();
    };
    if model.states.is_empty() {
        // No state to be the initial one: nothing to generate.
        return TokenStream::new();
    }
    generate_model(&model, options, true).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(tokens: TokenStream) -> syn::Result<MacroInput> {
        syn::parse2(tokens)
    }

    #[test]
    fn input_with_and_without_vocabulary() {
        let i = parse(quote!("tcp.fsm")).unwrap();
        assert_eq!(i.path.value(), "tcp.fsm");
        assert!(i.vocabulary.is_none());
        let i = parse(quote!("tcp.fsm",)).unwrap();
        assert!(i.vocabulary.is_none());
        let i = parse(quote!(
            "tcp.fsm",
            vocabulary = crate::vocab {
                events: [a, r#type],
                guards: [],
                actions: [b,]
            }
        ))
        .unwrap();
        let v = i.vocabulary.unwrap();
        assert_eq!(v.path(), "crate::vocab");
        assert_eq!(v.events().collect::<Vec<_>>(), ["a", "type"]);
        assert_eq!(v.guards().count(), 0);
        assert_eq!(v.actions().collect::<Vec<_>>(), ["b"]);
        assert!(v.groups().is_none());
        let i = parse(quote!(
            "tcp.fsm",
            vocabulary = crate::vocab {
                events: [a],
                groups: [open, r#loop]
            }
        ))
        .unwrap();
        let v = i.vocabulary.unwrap();
        assert_eq!(v.groups().unwrap().collect::<Vec<_>>(), ["open", "loop"]);
        assert_eq!(v.actions().count(), 0);
    }

    #[test]
    fn bad_inputs_say_what_is_expected() {
        let e = parse(quote!(tcp)).err().unwrap();
        assert!(e.to_string().contains("expected the spec's path"), "{e}");
        let e = parse(quote!("a.fsm", layout = dense)).err().unwrap();
        assert!(e.to_string().contains("unknown option `layout`"), "{e}");
        let e = parse(quote!("a.fsm", vocabulary = v { events: [a, a] }))
            .err()
            .unwrap();
        assert!(e.to_string().contains("`a` is listed twice"), "{e}");
        let e = parse(quote!("a.fsm", vocabulary = v { states: [a] }))
            .err()
            .unwrap();
        assert!(e.to_string().contains("unknown list `states`"), "{e}");
    }

    #[test]
    fn a_missing_file_is_one_error_on_the_literal() {
        let out = expand_macro(quote!("no/such.fsm"), Path::new("/nonexistent"));
        let text = out.to_string();
        assert!(text.contains("compile_error"), "{text}");
        assert!(
            text.contains("cannot find the spec `no/such.fsm`"),
            "{text}"
        );
        assert_eq!(text.matches("compile_error").count(), 1);
    }
}

//! `fsm lsp`: a language server for `.fsm` files over standard input and
//! output. Everything it answers comes from the library's own pipeline:
//! diagnostics from [`crate::compile`] (the spans `fsm check` reports),
//! names from the syntax tree (`index.rs`).
//!
//! While a document does not parse, requests are answered from its last
//! text that did (positions may then be off by the edit since), or not
//! at all when it never parsed. A request never takes the server down: bad
//! positions are clamped, and a handler that panics answers an error.

mod complete;
mod hover;
mod index;
mod position;
mod symbols;

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

use lsp_server::{Connection, ErrorCode, Message, Notification, Request, Response};
use lsp_types::notification::{
    DidChangeTextDocument, DidCloseTextDocument, DidOpenTextDocument,
    Notification as NotificationType, PublishDiagnostics,
};
use lsp_types::request::{
    Completion, DocumentSymbolRequest, GotoDefinition, HoverRequest, PrepareRenameRequest,
    References, Rename, Request as RequestType,
};
use lsp_types::{
    CompletionItem, CompletionItemKind, CompletionOptions, CompletionParams, CompletionResponse,
    DiagnosticRelatedInformation, DiagnosticSeverity, DocumentSymbolParams, DocumentSymbolResponse,
    GotoDefinitionParams, GotoDefinitionResponse, Hover, HoverContents, HoverParams,
    HoverProviderCapability, InitializeResult, Location, MarkupContent, MarkupKind, OneOf,
    Position, PrepareRenameResponse, PublishDiagnosticsParams, ReferenceParams, RenameOptions,
    RenameParams, ServerCapabilities, ServerInfo, TextDocumentPositionParams,
    TextDocumentSyncCapability, TextDocumentSyncKind, TextEdit, Uri, WorkspaceEdit,
};

use crate::diagnostic::{Diagnostic, Severity};
use crate::syntax::{self, SyntaxTree};
use index::{Index, Kind, Occurrence};
use position::LineMap;

/// Serves one client over standard input and output until it asks the
/// server to shut down and exit.
pub fn run_stdio() -> Result<(), String> {
    let (connection, io_threads) = Connection::stdio();
    serve(&connection)?;
    drop(connection);
    io_threads.join().map_err(|e| format!("lsp: {e}"))
}

/// Serves one client over `connection`: the `initialize` handshake, then
/// requests and notifications until `shutdown` and `exit`.
pub fn serve(connection: &Connection) -> Result<(), String> {
    // The answer to `initialize` is sent here rather than by
    // `Connection::initialize`, which would stop at any message that comes
    // before `initialized`; the loop below ignores that notification.
    let (id, _params) = connection
        .initialize_start()
        .map_err(|e| format!("lsp: {e}"))?;
    let result = InitializeResult {
        capabilities: capabilities(),
        server_info: Some(ServerInfo {
            name: "fsm".to_owned(),
            version: Some(env!("CARGO_PKG_VERSION").to_owned()),
        }),
    };
    connection
        .sender
        .send(Response::new_ok(id, result).into())
        .map_err(|e| format!("lsp: {e}"))?;
    let mut server = Server::default();
    for message in &connection.receiver {
        let replies = match message {
            Message::Request(request) => {
                if connection
                    .handle_shutdown(&request)
                    .map_err(|e| format!("lsp: {e}"))?
                {
                    return Ok(());
                }
                vec![Message::Response(server.request(request))]
            }
            Message::Notification(n) if n.method == "exit" => {
                return Err("lsp: `exit` before `shutdown`".to_owned());
            }
            Message::Notification(n) => server.notification(n),
            Message::Response(_) => Vec::new(),
        };
        for reply in replies {
            connection
                .sender
                .send(reply)
                .map_err(|e| format!("lsp: {e}"))?;
        }
    }
    Ok(())
}

/// What the server can do, as it tells the client.
fn capabilities() -> ServerCapabilities {
    ServerCapabilities {
        text_document_sync: Some(TextDocumentSyncCapability::Kind(TextDocumentSyncKind::FULL)),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        definition_provider: Some(OneOf::Left(true)),
        references_provider: Some(OneOf::Left(true)),
        rename_provider: Some(OneOf::Right(RenameOptions {
            prepare_provider: Some(true),
            work_done_progress_options: Default::default(),
        })),
        completion_provider: Some(CompletionOptions {
            trigger_characters: Some(vec!["[".into(), "/".into(), ",".into()]),
            ..CompletionOptions::default()
        }),
        document_symbol_provider: Some(OneOf::Left(true)),
        ..ServerCapabilities::default()
    }
}

/// A parsed text: the syntax tree and the names in it, with the text they
/// point into.
struct Analysis {
    source: String,
    lines: LineMap,
    tree: SyntaxTree,
    index: Index,
}

impl Analysis {
    fn new(source: &str) -> Option<Self> {
        let tree = syntax::parse(source).ok()?;
        Some(Analysis {
            source: source.to_owned(),
            lines: LineMap::new(source),
            index: Index::new(&tree),
            tree,
        })
    }

    fn offset(&self, position: Position) -> usize {
        self.lines.offset(&self.source, position)
    }

    fn location(&self, uri: &Uri, occurrence: &Occurrence) -> Location {
        Location::new(
            uri.clone(),
            self.lines.range(&self.source, &occurrence.span),
        )
    }
}

/// An open document: its text, and the last analysis of a text that parsed.
struct Document {
    text: String,
    parsed: Option<Analysis>,
}

/// The open documents.
#[derive(Default)]
struct Server {
    documents: HashMap<Uri, Document>,
}

/// A handler's answer: a result, or the message of an error response.
type Answer<T> = Result<T, String>;

impl Server {
    fn request(&mut self, request: Request) -> Response {
        match request.method.as_str() {
            HoverRequest::METHOD => self.answer::<HoverRequest>(request, Self::hover),
            GotoDefinition::METHOD => self.answer::<GotoDefinition>(request, Self::definition),
            References::METHOD => self.answer::<References>(request, Self::references),
            PrepareRenameRequest::METHOD => {
                self.answer::<PrepareRenameRequest>(request, Self::prepare_rename)
            }
            Rename::METHOD => self.answer::<Rename>(request, Self::rename),
            Completion::METHOD => self.answer::<Completion>(request, Self::completion),
            DocumentSymbolRequest::METHOD => {
                self.answer::<DocumentSymbolRequest>(request, Self::symbols)
            }
            other => Response::new_err(
                request.id,
                ErrorCode::MethodNotFound as i32,
                format!("fsm lsp does not answer `{other}`"),
            ),
        }
    }

    /// Decodes a request's parameters, runs its handler, and encodes the
    /// answer; a handler that panics answers an internal error.
    fn answer<R: RequestType>(
        &self,
        request: Request,
        handler: fn(&Self, R::Params) -> Answer<R::Result>,
    ) -> Response {
        let params = match serde_json::from_value::<R::Params>(request.params) {
            Ok(params) => params,
            Err(e) => {
                return Response::new_err(
                    request.id,
                    ErrorCode::InvalidParams as i32,
                    e.to_string(),
                );
            }
        };
        match catch_unwind(AssertUnwindSafe(|| handler(self, params))) {
            Ok(Ok(result)) => Response::new_ok(request.id, result),
            Ok(Err(message)) => {
                Response::new_err(request.id, ErrorCode::RequestFailed as i32, message)
            }
            Err(_) => Response::new_err(
                request.id,
                ErrorCode::InternalError as i32,
                format!("fsm lsp failed on `{}`", R::METHOD),
            ),
        }
    }

    fn notification(&mut self, n: Notification) -> Vec<Message> {
        let uri = match n.method.as_str() {
            DidOpenTextDocument::METHOD => {
                let Ok(p) =
                    n.extract::<lsp_types::DidOpenTextDocumentParams>(DidOpenTextDocument::METHOD)
                else {
                    return Vec::new();
                };
                self.set_text(p.text_document.uri.clone(), p.text_document.text);
                p.text_document.uri
            }
            DidChangeTextDocument::METHOD => {
                let Ok(p) = n.extract::<lsp_types::DidChangeTextDocumentParams>(
                    DidChangeTextDocument::METHOD,
                ) else {
                    return Vec::new();
                };
                let mut text = self
                    .documents
                    .get(&p.text_document.uri)
                    .map(|d| d.text.clone())
                    .unwrap_or_default();
                for change in p.content_changes {
                    apply_change(&mut text, change);
                }
                self.set_text(p.text_document.uri.clone(), text);
                p.text_document.uri
            }
            DidCloseTextDocument::METHOD => {
                let Ok(p) = n
                    .extract::<lsp_types::DidCloseTextDocumentParams>(DidCloseTextDocument::METHOD)
                else {
                    return Vec::new();
                };
                self.documents.remove(&p.text_document.uri);
                // Closed: its problems leave the problems list with it.
                return vec![publish(p.text_document.uri, Vec::new())];
            }
            _ => return Vec::new(),
        };
        let diagnostics = self
            .documents
            .get(&uri)
            .map(|d| diagnostics(&uri, &d.text))
            .unwrap_or_default();
        vec![publish(uri, diagnostics)]
    }

    fn set_text(&mut self, uri: Uri, text: String) {
        let analysis = Analysis::new(&text);
        let document = self.documents.entry(uri).or_insert(Document {
            text: String::new(),
            parsed: None,
        });
        if analysis.is_some() {
            document.parsed = analysis;
        }
        document.text = text;
    }

    fn analysis(&self, uri: &Uri) -> Option<&Analysis> {
        self.documents.get(uri)?.parsed.as_ref()
    }

    /// The analysis of a document and the name at a position in it.
    fn name_at(&self, at: &TextDocumentPositionParams) -> Option<(&Analysis, &Occurrence)> {
        let analysis = self.analysis(&at.text_document.uri)?;
        let occurrence = analysis.index.at(analysis.offset(at.position))?;
        Some((analysis, occurrence))
    }

    fn hover(&self, p: HoverParams) -> Answer<Option<Hover>> {
        let at = &p.text_document_position_params;
        let Some((analysis, occurrence)) = self.name_at(at) else {
            return Ok(None);
        };
        let Some(value) = hover::hover(&analysis.tree, &analysis.source, occurrence) else {
            return Ok(None);
        };
        Ok(Some(Hover {
            contents: HoverContents::Markup(MarkupContent {
                kind: MarkupKind::Markdown,
                value,
            }),
            range: Some(analysis.lines.range(&analysis.source, &occurrence.span)),
        }))
    }

    fn definition(&self, p: GotoDefinitionParams) -> Answer<Option<GotoDefinitionResponse>> {
        let at = &p.text_document_position_params;
        let Some((analysis, occurrence)) = self.name_at(at) else {
            return Ok(None);
        };
        Ok(analysis
            .index
            .declaration(occurrence.kind, &occurrence.name)
            .map(|d| GotoDefinitionResponse::Scalar(analysis.location(&at.text_document.uri, d))))
    }

    fn references(&self, p: ReferenceParams) -> Answer<Option<Vec<Location>>> {
        let at = &p.text_document_position;
        let Some((analysis, occurrence)) = self.name_at(at) else {
            return Ok(None);
        };
        let uri = &at.text_document.uri;
        Ok(Some(
            analysis
                .index
                .occurrences_of(occurrence.kind, &occurrence.name)
                .filter(|o| p.context.include_declaration || !o.declaration)
                .map(|o| analysis.location(uri, o))
                .collect(),
        ))
    }

    fn prepare_rename(
        &self,
        at: TextDocumentPositionParams,
    ) -> Answer<Option<PrepareRenameResponse>> {
        let Some((analysis, occurrence)) = self.name_at(&at) else {
            return Ok(None);
        };
        Ok(Some(PrepareRenameResponse::RangeWithPlaceholder {
            range: analysis.lines.range(&analysis.source, &occurrence.span),
            placeholder: occurrence.name.clone(),
        }))
    }

    fn rename(&self, p: RenameParams) -> Answer<Option<WorkspaceEdit>> {
        let at = &p.text_document_position;
        let uri = &at.text_document.uri;
        let Some(document) = self.documents.get(uri) else {
            return Ok(None);
        };
        let Some((analysis, occurrence)) = self.name_at(at) else {
            return Err("there is no name here to rename".to_owned());
        };
        if analysis.source != document.text {
            return Err("the file does not parse; fix it before renaming".to_owned());
        }
        analysis.index.check_rename(occurrence, &p.new_name)?;
        let edits = analysis
            .index
            .occurrences_of(occurrence.kind, &occurrence.name)
            .map(|o| TextEdit {
                range: analysis.lines.range(&analysis.source, &o.span),
                new_text: p.new_name.clone(),
            })
            .collect();
        Ok(Some(WorkspaceEdit {
            changes: Some(HashMap::from([(uri.clone(), edits)])),
            ..WorkspaceEdit::default()
        }))
    }

    fn completion(&self, p: CompletionParams) -> Answer<Option<CompletionResponse>> {
        let at = &p.text_document_position;
        let Some(document) = self.documents.get(&at.text_document.uri) else {
            return Ok(None);
        };
        // The context comes from the text as it is now, the names from the
        // last text that parsed.
        let lines = LineMap::new(&document.text);
        let offset = lines.offset(&document.text, at.position);
        let line_start = document.text[..offset].rfind('\n').map_or(0, |i| i + 1);
        let slot = complete::slot(&document.text[line_start..offset]);
        let mut items = Vec::new();
        if let Some(analysis) = &document.parsed {
            for &kind in &slot.kinds {
                for name in analysis.index.declared(kind) {
                    items.push(CompletionItem {
                        label: name.to_owned(),
                        kind: Some(completion_kind(kind)),
                        detail: Some(match hover::description(&analysis.tree, kind, name) {
                            Some(d) => format!("{} — {d}", kind.keyword()),
                            None => kind.keyword().to_owned(),
                        }),
                        ..CompletionItem::default()
                    });
                }
            }
        }
        items.extend(slot.keywords.iter().map(|k| CompletionItem {
            label: (*k).to_owned(),
            kind: Some(CompletionItemKind::KEYWORD),
            ..CompletionItem::default()
        }));
        Ok(Some(CompletionResponse::Array(items)))
    }

    fn symbols(&self, p: DocumentSymbolParams) -> Answer<Option<DocumentSymbolResponse>> {
        Ok(self.analysis(&p.text_document.uri).map(|a| {
            DocumentSymbolResponse::Nested(symbols::outline(&a.tree, &a.source, &a.lines))
        }))
    }
}

/// Applies one change: the whole text, or a range of it replaced.
fn apply_change(text: &mut String, change: lsp_types::TextDocumentContentChangeEvent) {
    match change.range {
        None => *text = change.text,
        Some(range) => {
            let lines = LineMap::new(text);
            let start = lines.offset(text, range.start);
            let end = lines.offset(text, range.end).max(start);
            text.replace_range(start..end, &change.text);
        }
    }
}

fn completion_kind(kind: Kind) -> CompletionItemKind {
    match kind {
        Kind::Machine => CompletionItemKind::CLASS,
        Kind::State => CompletionItemKind::ENUM_MEMBER,
        Kind::Group => CompletionItemKind::MODULE,
        Kind::Event => CompletionItemKind::EVENT,
        Kind::Guard => CompletionItemKind::VARIABLE,
        Kind::Action => CompletionItemKind::FUNCTION,
        Kind::Message => CompletionItemKind::STRUCT,
        Kind::Path => CompletionItemKind::REFERENCE,
    }
}

fn publish(uri: Uri, diagnostics: Vec<lsp_types::Diagnostic>) -> Message {
    let params = PublishDiagnosticsParams {
        uri,
        diagnostics,
        version: None,
    };
    Message::Notification(Notification::new(
        PublishDiagnostics::METHOD.to_owned(),
        params,
    ))
}

/// The errors and warnings `fsm check` reports for `text`, located by
/// their primary spans; secondary labels become related information.
fn diagnostics(uri: &Uri, text: &str) -> Vec<lsp_types::Diagnostic> {
    let found = match crate::compile("spec.fsm", text) {
        Ok(spec) => spec.warnings,
        Err(rejected) => rejected.diagnostics,
    };
    let lines = LineMap::new(text);
    found.iter().map(|d| to_lsp(uri, text, &lines, d)).collect()
}

fn to_lsp(uri: &Uri, text: &str, lines: &LineMap, d: &Diagnostic) -> lsp_types::Diagnostic {
    let primary = d.labels.iter().find(|l| l.primary).or(d.labels.first());
    let span = primary.map_or(d.offset()..d.offset(), |l| l.span.clone());
    let mut message = d.message.clone();
    for note in &d.notes {
        message.push('\n');
        message.push_str(note);
    }
    let related: Vec<DiagnosticRelatedInformation> = d
        .labels
        .iter()
        .filter(|l| !l.primary)
        .map(|l| DiagnosticRelatedInformation {
            location: Location::new(uri.clone(), lines.range(text, &l.span)),
            message: l.message.clone(),
        })
        .collect();
    lsp_types::Diagnostic {
        range: lines.range(text, &span),
        severity: Some(match d.severity {
            Severity::Error => DiagnosticSeverity::ERROR,
            Severity::Warning => DiagnosticSeverity::WARNING,
        }),
        source: Some("fsm".to_owned()),
        message,
        related_information: (!related.is_empty()).then_some(related),
        ..lsp_types::Diagnostic::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsp_types::{
        PartialResultParams, ReferenceContext, TextDocumentIdentifier, WorkDoneProgressParams,
    };

    const TCP: &str = include_str!("../../../tcp.fsm");

    fn position_params(uri: &Uri, position: Position) -> TextDocumentPositionParams {
        TextDocumentPositionParams {
            text_document: TextDocumentIdentifier { uri: uri.clone() },
            position,
        }
    }

    /// Every request at every position of `text`, through the handlers
    /// themselves: a panic fails the test instead of becoming an error
    /// response.
    fn ask_everywhere(server: &Server, uri: &Uri, text: &str) {
        let lines: Vec<&str> = text.split('\n').collect();
        for (line, content) in lines.iter().enumerate().chain([(lines.len() + 3, &"")]) {
            for character in 0..=content.encode_utf16().count() + 2 {
                let at = position_params(uri, Position::new(line as u32, character as u32));
                let work = WorkDoneProgressParams::default();
                let partial = PartialResultParams::default();
                server
                    .hover(HoverParams {
                        text_document_position_params: at.clone(),
                        work_done_progress_params: work.clone(),
                    })
                    .unwrap();
                server
                    .definition(GotoDefinitionParams {
                        text_document_position_params: at.clone(),
                        work_done_progress_params: work.clone(),
                        partial_result_params: partial.clone(),
                    })
                    .unwrap();
                server
                    .references(ReferenceParams {
                        text_document_position: at.clone(),
                        work_done_progress_params: work.clone(),
                        partial_result_params: partial.clone(),
                        context: ReferenceContext {
                            include_declaration: true,
                        },
                    })
                    .unwrap();
                server.prepare_rename(at.clone()).unwrap();
                let _ = server.rename(RenameParams {
                    text_document_position: at.clone(),
                    new_name: "renamed".to_owned(),
                    work_done_progress_params: work.clone(),
                });
                server
                    .completion(CompletionParams {
                        text_document_position: at,
                        work_done_progress_params: work,
                        partial_result_params: partial,
                        context: None,
                    })
                    .unwrap();
            }
        }
    }

    #[test]
    fn no_position_of_good_broken_or_strange_text_panics_a_handler() {
        let uri: Uri = "file:///t.fsm".parse().unwrap();
        let mut server = Server::default();
        let head = &TCP[..TCP.find("// ---- Guards").unwrap()];
        let texts = [
            TCP.to_owned(),
            // Parsed once, then cut mid-statement: answers come from the
            // last text that parsed, at positions the new text lacks.
            format!("{head}CLOSED -> "),
            "machine M \"m\"\r\nstate A initial \"不\" zh \"𝄞①\" A -> A on e\r\n".to_owned(),
            "\"unterminated 不".to_owned(),
            String::new(),
        ];
        for text in &texts {
            server.set_text(uri.clone(), text.clone());
            ask_everywhere(&server, &uri, text);
            let _ = diagnostics(&uri, text);
            server
                .symbols(DocumentSymbolParams {
                    text_document: TextDocumentIdentifier { uri: uri.clone() },
                    work_done_progress_params: WorkDoneProgressParams::default(),
                    partial_result_params: PartialResultParams::default(),
                })
                .unwrap();
        }
    }
}

// Starts `fsm lsp` (the command and arguments come from the settings
// `fsm.server.path` and `fsm.server.args`) for every .fsm file.
"use strict";

const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const config = vscode.workspace.getConfiguration("fsm.server");
  const command = config.get("path", "fsm");
  const args = config.get("args", ["lsp"]);
  const server = { command, args };
  client = new LanguageClient(
    "fsm",
    "fsm language server",
    { run: server, debug: server },
    { documentSelector: [{ language: "fsm" }] }
  );
  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration("fsm.server")) {
        vscode.window.showInformationMessage(
          "fsm: reload the window to restart the language server with the new settings."
        );
      }
    })
  );
  return client.start().catch((error) => {
    vscode.window.showErrorMessage(
      `fsm: could not start \`${command} ${args.join(" ")}\` (${error.message}). ` +
        "Set fsm.server.path to the fsm binary."
    );
  });
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };

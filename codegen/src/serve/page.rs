//! The page: `page.html` with `page.css` and `page.js` inline, and the
//! data it starts from, embedded in the binary (no build step, nothing
//! from the network).

use serde_json::Value;

const HTML: &str = include_str!("page.html");
const CSS: &str = include_str!("page.css");
const JS: &str = include_str!("page.js");

/// The page, self-contained, starting from `data`: `{"mode": "serve"}`
/// (it asks the server for the rest), or `{"mode": "play", "spec": …,
/// "trace": …}` (everything inline, see [`super::play`]).
pub fn html(data: &Value) -> String {
    // Inside <script>, "</" could end the element: JSON allows "<\/".
    let data = data.to_string().replace("</", "<\\/");
    HTML.replace("/*FSM_CSS*/", CSS)
        .replace("/*FSM_DATA*/", &data)
        .replace("/*FSM_JS*/", JS)
}

// A spec with an error: one compile error on the path, showing the spec's
// file:line:col, the line and a caret.
mod door {
    fsm_macros::fsm!("bad_spec.fsm");
}

fn main() {}

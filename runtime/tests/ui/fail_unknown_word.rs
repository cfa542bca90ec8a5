// `knock` is no event of the runtime's vocabulary: the spec does not bind.
mod door {
    fsm_runtime::machine!("../../../../runtime/tests/ui/knock.fsm");
}

fn main() {}

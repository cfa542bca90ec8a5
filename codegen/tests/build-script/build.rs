//! Generates, through `fsm_codegen::rust::Builder`: tcp.fsm as is, with the
//! sparse dispatch table, and bound to a vocabulary; a machine with nothing
//! but one state; one whose names are Rust keywords or clash with the
//! generated code's generic parameters; and a random machine.
use fsm_codegen::rust::{Builder, TableLayout, Vocabulary};

#[allow(dead_code)]
mod support {
    include!("../support/random_spec.rs");
}

fn main() {
    Builder::new("../../../tcp.fsm").build().unwrap();
    Builder::new("../../../tcp.fsm")
        .layout(TableLayout::Sparse)
        .out_file("tcp_sparse.rs")
        .build()
        .unwrap();
    let vocabulary = Vocabulary::parse(include_str!("src/vocabulary.txt")).unwrap();
    Builder::new("../../../tcp.fsm")
        .vocabulary(vocabulary)
        .out_file("tcp_bound.rs")
        .build()
        .unwrap();
    Builder::new("src/tiny.fsm").build().unwrap();
    Builder::new("src/odd.fsm").build().unwrap();

    let out_dir = std::path::PathBuf::from(std::env::var_os("OUT_DIR").unwrap());
    let random = support::random_spec(42, 40, 7, 3, 3);
    std::fs::write(out_dir.join("random.fsm"), random).unwrap();
    Builder::new(out_dir.join("random.fsm")).build().unwrap();
    println!("cargo:rerun-if-changed=../support/random_spec.rs");
    println!("cargo:rerun-if-changed=src/vocabulary.txt");
}

//! Rust output.
use crate::{Rejected, Spec};

/// Generates the formatted Rust module for `spec`.
pub fn generate_file(spec: &Spec) -> Result<String, Rejected> {
    let _ = spec;
    Ok(String::new())
}

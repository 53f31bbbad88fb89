//! Intentionally empty: it exists so that `[build-dependencies]` in Cargo.toml can give the
//! host-side `syn` the features the dev-dependencies' proc-macros need, and `cargo build`
//! and `cargo test` then share every compiled dependency (see the comment there).

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
}

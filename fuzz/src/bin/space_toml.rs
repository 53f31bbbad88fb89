//! AFL++ target `space_toml`: see `targets.rs`.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        let _ = evonas_fuzz::targets::space_toml(data);
    });
}

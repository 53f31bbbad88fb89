//! AFL++ target `cache_import`: see `targets.rs`.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        let _ = evonas_fuzz::targets::cache_import(data);
    });
}

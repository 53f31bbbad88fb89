//! AFL++ target `network`: see `targets.rs`.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        let _ = evonas_fuzz::targets::network(data);
    });
}

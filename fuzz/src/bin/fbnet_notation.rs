//! AFL++ target `fbnet_notation`: see `targets.rs`.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        let _ = evonas_fuzz::targets::fbnet_notation(data);
    });
}

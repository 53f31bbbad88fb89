//! AFL++ target `nb201_notation`: see `targets.rs`.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        let _ = evonas_fuzz::targets::nb201_notation(data);
    });
}

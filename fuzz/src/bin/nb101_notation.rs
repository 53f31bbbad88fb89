//! AFL++ target `nb101_notation`: see `targets.rs`.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        let _ = evonas_fuzz::targets::nb101_notation(data);
    });
}

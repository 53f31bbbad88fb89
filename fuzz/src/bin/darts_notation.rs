//! AFL++ target `darts_notation`: see `targets.rs`.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        let _ = evonas_fuzz::targets::darts_notation(data);
    });
}

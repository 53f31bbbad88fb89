//! AFL++ target `nb201_csv`: see `targets.rs`.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        let _ = evonas_fuzz::targets::nb201_csv(data);
    });
}

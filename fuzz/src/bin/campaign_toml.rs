//! AFL++ target `campaign_toml`: see `targets.rs`.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        let _ = evonas_fuzz::targets::campaign_toml(data);
    });
}

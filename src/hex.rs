//! Lowercase hex, the printed form of every digest evonas stores (functional and structural
//! hashes, protocol fingerprints, cache keys). One place, so every reader accepts what every
//! writer prints.

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Lowercase hex of `bytes`. Hashes are printed several times per proposal (journal events,
/// the history chain), so this is a table lookup, not `format!` per byte.
pub fn encode(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    s
}

/// The bytes `text` spells in hex (either case), or None if it is not an even number of hex
/// digits.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    let b = text.as_bytes();
    // `from_str_radix` alone would take "+f" for a digit pair.
    if b.len() % 2 != 0 || !b.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
    Some(
        b.chunks_exact(2)
            .map(|pair| (digit(pair[0]) << 4) | digit(pair[1]))
            .collect(),
    )
}

/// The 32 bytes `text` spells in hex (either case), or None if it is not exactly 64 hex digits.
pub fn decode32(text: &str) -> Option<[u8; 32]> {
    decode(text)?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_malformed_text() {
        let bytes: [u8; 32] = std::array::from_fn(|i| (i * 37) as u8);
        let text = encode(&bytes);
        assert_eq!(text.len(), 64);
        assert_eq!(decode32(&text), Some(bytes));
        assert_eq!(decode32(&text.to_uppercase()), Some(bytes));
        assert_eq!(decode32(&text[..62]), None);
        assert_eq!(decode32(&format!("{}zz", &text[..62])), None);
        assert_eq!(decode32(&format!("{}+1", &text[..62])), None);
        assert_eq!(decode32("é".repeat(32).as_str()), None);
        assert_eq!(decode("0aFf"), Some(vec![10, 255]));
        assert_eq!(decode("0aF"), None);
    }
}

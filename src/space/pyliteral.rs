//! A small subset of Python literal syntax, read into JSON values, so that genotypes copied
//! from Python sources read exactly as they are written there: DARTS' `Genotype(normal=[
//! ('sep_conv_3x3', 0), ...], normal_concat=range(2, 6), ...)` (its `genotypes.py`) and
//! NASLib's compact NAS-Bench-301 encoding `[[(0, 3), (1, 5), ...], [...]]` (the keys of its
//! zero-cost score files).
//!
//! What it reads: lists `[..]` and tuples `(..)` (arrays; `(x)` without a comma is `x`, as in
//! Python), non-negative integers, strings in single or double quotes (without escapes),
//! `range(a, b)` and `range(b)` (the array of integers), and a call `Name(key=value, ..)` of any
//! dotted name (`Genotype`, `genotypes.Genotype`), which becomes the object of its keyword
//! arguments. Trailing commas are allowed. Anything else is an error naming the character
//! where it starts; nothing is evaluated.

use serde_json::{Map, Value};

/// Deeper nesting than any genotype needs is refused before it can exhaust the stack.
const MAX_DEPTH: usize = 32;
/// A `range` longer than this is refused before it is allocated (a concat list has a handful).
const MAX_RANGE: u64 = 4096;

/// Why a text is not a literal this module reads, and where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("at character {at}: {problem}")]
pub struct LiteralError {
    /// 1-based character (byte) position where the problem starts.
    pub at: usize,
    /// What is wrong.
    pub problem: String,
}

type Result<T> = std::result::Result<T, LiteralError>;

/// Reads `text` as one Python literal; the error says what is wrong and where.
pub fn parse(text: &str) -> Result<Value> {
    let mut r = Reader {
        bytes: text.as_bytes(),
        at: 0,
    };
    let v = r.value(0)?;
    r.skip_space();
    if r.at < r.bytes.len() {
        return Err(r.unexpected("the end of the input"));
    }
    Ok(v)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn skip_space(&mut self) {
        while self.bytes.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_space();
        self.bytes.get(self.at).copied()
    }

    /// `problem` at the current position.
    fn fail(&self, problem: impl Into<String>) -> LiteralError {
        LiteralError {
            at: self.at + 1,
            problem: problem.into(),
        }
    }

    /// "expected WHAT, found `...`" at the current position.
    fn unexpected(&self, what: &str) -> LiteralError {
        let rest = String::from_utf8_lossy(&self.bytes[self.at..]);
        let found: String = rest.chars().take(12).collect();
        if found.is_empty() {
            self.fail(format!("expected {what}, found the end of the input"))
        } else {
            self.fail(format!("expected {what}, found `{found}`"))
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value> {
        if depth > MAX_DEPTH {
            return Err(self.fail(format!("nested deeper than {MAX_DEPTH} levels")));
        }
        match self.peek() {
            Some(b'[') => {
                self.at += 1;
                Ok(Value::Array(self.items(b']', depth)?.0))
            }
            Some(b'(') => {
                self.at += 1;
                let (mut items, comma) = self.items(b')', depth)?;
                // `(x)` is a parenthesised value, `(x,)` a one-element tuple.
                Ok(if items.len() == 1 && !comma {
                    items.remove(0)
                } else {
                    Value::Array(items)
                })
            }
            Some(q @ (b'\'' | b'"')) => self.string(q).map(Value::String),
            Some(c) if c.is_ascii_digit() => self.integer().map(Value::from),
            Some(c) if c.is_ascii_alphabetic() || c == b'_' => {
                let start = self.at;
                let name = self.name();
                if !self.eat(b'(') {
                    self.at = start;
                    return Err(self.fail(format!(
                        "`{name}` is not a value here (only `range(..)` and `Name(key=value, ..)` calls are read)"
                    )));
                }
                if name == "range" {
                    self.range()
                } else {
                    self.keywords(depth)
                }
            }
            _ => Err(self.unexpected("a list, tuple, string, integer or call")),
        }
    }

    /// Comma-separated values up to `close`; also whether a comma followed the last one.
    fn items(&mut self, close: u8, depth: usize) -> Result<(Vec<Value>, bool)> {
        let mut items = Vec::new();
        let mut comma = false;
        while !self.eat(close) {
            if !items.is_empty() && !comma {
                return Err(self.unexpected(&format!("`,` or `{}`", char::from(close))));
            }
            items.push(self.value(depth + 1)?);
            comma = self.eat(b',');
        }
        Ok((items, comma))
    }

    fn string(&mut self, quote: u8) -> Result<String> {
        let start = self.at + 1;
        let len = self.bytes[start..]
            .iter()
            .position(|&c| c == quote || c == b'\\' || c == b'\n');
        match len.map(|n| (n, self.bytes[start + n])) {
            Some((n, c)) if c == quote => {
                self.at = start + n + 1;
                Ok(String::from_utf8_lossy(&self.bytes[start..start + n]).into_owned())
            }
            Some((_, b'\\')) => Err(self.fail("escape sequences in strings are not read")),
            _ => Err(self.fail("the string is not closed")),
        }
    }

    fn integer(&mut self) -> Result<u64> {
        let start = self.at;
        while self.bytes.get(self.at).is_some_and(u8::is_ascii_digit) {
            self.at += 1;
        }
        let digits = String::from_utf8_lossy(&self.bytes[start..self.at]);
        digits.parse().map_err(|_| LiteralError {
            at: start + 1,
            problem: format!("`{digits}` is too large"),
        })
    }

    fn name(&mut self) -> String {
        let start = self.at;
        while self
            .bytes
            .get(self.at)
            .is_some_and(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.')
        {
            self.at += 1;
        }
        String::from_utf8_lossy(&self.bytes[start..self.at]).into_owned()
    }

    /// `range(b)` or `range(a, b)`, after the `(`.
    fn range(&mut self) -> Result<Value> {
        let mut bounds = Vec::new();
        while !self.eat(b')') {
            if !matches!(self.peek(), Some(c) if c.is_ascii_digit()) || bounds.len() == 2 {
                return Err(self.unexpected("`range(stop)` or `range(start, stop)` of integers"));
            }
            bounds.push(self.integer()?);
            if !self.eat(b',') && self.peek() != Some(b')') {
                return Err(self.unexpected("`,` or `)`"));
            }
        }
        let (start, stop) = match bounds[..] {
            [stop] => (0, stop),
            [start, stop] => (start, stop),
            _ => return Err(self.fail("`range()` needs a stop")),
        };
        if stop.saturating_sub(start) > MAX_RANGE {
            return Err(self.fail(format!(
                "`range({start}, {stop})` is longer than {MAX_RANGE}"
            )));
        }
        Ok(Value::Array((start..stop).map(Value::from).collect()))
    }

    /// `key=value, ..` up to `)`, after the `(`.
    fn keywords(&mut self, depth: usize) -> Result<Value> {
        let mut object = Map::new();
        while !self.eat(b')') {
            if !matches!(self.peek(), Some(c) if c.is_ascii_alphabetic() || c == b'_') {
                return Err(self.unexpected("a keyword argument `name=value`"));
            }
            let start = self.at;
            let key = self.name();
            if !self.eat(b'=') {
                return Err(self.unexpected(&format!("`=` after `{key}`")));
            }
            let v = self.value(depth + 1)?;
            if object.contains_key(&key) {
                self.at = start;
                return Err(self.fail(format!("`{key}` is given twice")));
            }
            object.insert(key, v);
            if !self.eat(b',') && self.peek() != Some(b')') {
                return Err(self.unexpected("`,` or `)`"));
            }
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::parse;
    use serde_json::json;

    #[test]
    fn reads_darts_genotypes_and_naslib_tuples() {
        let g = "Genotype(normal=[('sep_conv_3x3', 1), (\"skip_connect\", 0),], \
                 normal_concat=range(2, 6), reduce=[], reduce_concat=[2, 3])";
        assert_eq!(
            parse(g).unwrap(),
            json!({"normal": [["sep_conv_3x3", 1], ["skip_connect", 0]],
                   "normal_concat": [2, 3, 4, 5], "reduce": [], "reduce_concat": [2, 3]})
        );
        assert_eq!(
            parse(" ((0, 3), (1, 5)), ").unwrap_err().to_string(),
            "at character 18: expected the end of the input, found `, `"
        );
        assert_eq!(
            parse("[((0, 3), (1, 5)), ((1, 0),)]").unwrap(),
            json!([[[0, 3], [1, 5]], [[1, 0]]])
        );
        assert_eq!(parse("(7)").unwrap(), json!(7));
        assert_eq!(parse("range(3)").unwrap(), json!([0, 1, 2]));
    }

    #[test]
    fn refuses_what_it_does_not_read_with_the_place() {
        for (text, says) in [
            ("[(0, -3)]", "at character 6: expected a list"),
            ("[(0, 3) (1, 2)]", "expected `,` or `]`"),
            ("['sep", "the string is not closed"),
            ("['a\\'b']", "escape sequences"),
            ("Genotype(normal=[], normal=[])", "`normal` is given twice"),
            ("Genotype([1])", "keyword argument"),
            ("range(0, 99999999)", "longer than 4096"),
            ("none", "`none` is not a value here"),
            (
                "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[0]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
                "nested",
            ),
            ("99999999999999999999999", "too large"),
            ("", "found the end of the input"),
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains(says), "{text}: {e}");
        }
    }
}

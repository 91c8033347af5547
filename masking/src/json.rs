//! A small JSON validator (RFC 8259), used to check `constant` values for JSON columns.

/// Nesting deeper than this is refused (no recursion blow-up on hostile input).
const MAX_DEPTH: usize = 128;

/// Whether `v` is exactly one valid JSON value, surrounded by optional whitespace.
pub(crate) fn is_valid(v: &[u8]) -> bool {
    let mut p = Parser { s: v, i: 0 };
    p.ws();
    if !p.value(0) {
        return false;
    }
    p.ws();
    p.i == v.len()
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }
    fn lit(&mut self, w: &[u8]) -> bool {
        if self.s.get(self.i..self.i + w.len()) == Some(w) {
            self.i += w.len();
            true
        } else {
            false
        }
    }
    fn value(&mut self, depth: usize) -> bool {
        if depth > MAX_DEPTH {
            return false;
        }
        match self.peek() {
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => self.string(),
            Some(b't') => self.lit(b"true"),
            Some(b'f') => self.lit(b"false"),
            Some(b'n') => self.lit(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => false,
        }
    }
    fn object(&mut self, depth: usize) -> bool {
        self.i += 1;
        self.ws();
        if self.lit(b"}") {
            return true;
        }
        loop {
            self.ws();
            if !self.string() {
                return false;
            }
            self.ws();
            if !self.lit(b":") {
                return false;
            }
            self.ws();
            if !self.value(depth + 1) {
                return false;
            }
            self.ws();
            if self.lit(b"}") {
                return true;
            }
            if !self.lit(b",") {
                return false;
            }
        }
    }
    fn array(&mut self, depth: usize) -> bool {
        self.i += 1;
        self.ws();
        if self.lit(b"]") {
            return true;
        }
        loop {
            self.ws();
            if !self.value(depth + 1) {
                return false;
            }
            self.ws();
            if self.lit(b"]") {
                return true;
            }
            if !self.lit(b",") {
                return false;
            }
        }
    }
    fn string(&mut self) -> bool {
        if !self.lit(b"\"") {
            return false;
        }
        let start = self.i;
        loop {
            match self.peek() {
                None => return false,
                Some(b'"') => {
                    self.i += 1;
                    return std::str::from_utf8(&self.s[start..self.i - 1]).is_ok();
                }
                Some(b'\\') => {
                    self.i += 1;
                    match self.peek() {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.i += 1,
                        Some(b'u') => {
                            let hex = self.s.get(self.i + 1..self.i + 5);
                            if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                                return false;
                            }
                            self.i += 5;
                        }
                        _ => return false,
                    }
                }
                Some(0..=0x1f) => return false,
                Some(_) => self.i += 1,
            }
        }
    }
    fn digits(&mut self) -> usize {
        let start = self.i;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        self.i - start
    }
    fn number(&mut self) -> bool {
        self.lit(b"-");
        if self.lit(b"0") {
            // no leading zeros
        } else if self.digits() == 0 {
            return false;
        }
        if self.lit(b".") && self.digits() == 0 {
            return false;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return false;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::is_valid;

    #[test]
    fn validates() {
        for ok in [
            "null",
            " {\"a\": [1, -2.5e3, true, \"x\\u00e9\"]} ",
            "0",
            "\"\"",
            "[]",
        ] {
            assert!(is_valid(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "",
            "nul",
            "{a:1}",
            "[1,]",
            "01",
            "1.",
            "\"\\x\"",
            "[1] 2",
            "{\"a\" 1}",
        ] {
            assert!(!is_valid(bad.as_bytes()), "{bad}");
        }
        assert!(!is_valid("[".repeat(1000).as_bytes()));
    }
}

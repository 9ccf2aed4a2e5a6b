//! A reader for Java `.properties` text, following what
//! `java.util.Properties.load` accepts, so a Kafka `server.properties` file
//! means the same thing to Sluice as it does to Kafka.

use crate::ConfigError;

/// Largest properties file Sluice reads. Real broker configs are a few KiB;
/// the cap keeps a mistaken path (a log file, a device) from exhausting memory.
pub const MAX_FILE_BYTES: usize = 1024 * 1024;

/// Longest logical line (after joining continuations). Bounds the work and
/// memory spent on a single entry.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// Most entries accepted from one source; Kafka knows a few hundred keys.
pub const MAX_ENTRIES: usize = 10_000;

/// One `key=value` entry with the line it started on, so later validation
/// errors and warnings can point at the file position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertyEntry {
    /// The unescaped key.
    pub key: String,
    /// The unescaped value; leading whitespace is dropped, trailing kept,
    /// exactly as Java does.
    pub value: String,
    /// 1-based physical line where the entry starts, for messages.
    pub line: usize,
}

/// Parses properties text. Later duplicates of a key replace earlier ones
/// (as `Properties.load` does); the returned list keeps only the last
/// occurrence of each key, in first-seen order.
pub fn parse_properties(text: &str) -> Result<Vec<PropertyEntry>, ConfigError> {
    if text.len() > MAX_FILE_BYTES {
        return Err(ConfigError::TooLarge {
            what: "properties text".into(),
            limit: MAX_FILE_BYTES,
        });
    }
    let mut out: Vec<PropertyEntry> = Vec::new();
    // Java ends lines at \n, \r or \r\n; normalise so old Mac files work too.
    let normalised;
    let text = if text.contains('\r') {
        normalised = text.replace("\r\n", "\n").replace('\r', "\n");
        normalised.as_str()
    } else {
        text
    };
    let mut lines = text.split('\n').enumerate().peekable();
    while let Some((idx, raw)) = lines.next() {
        let start_line = idx + 1;
        let first = strip_cr(raw).trim_start_matches([' ', '\t', '\x0c']);
        if first.is_empty() || first.starts_with('#') || first.starts_with('!') {
            continue;
        }
        // Join continuation lines: a line ending in an odd number of
        // backslashes continues on the next one, whose leading whitespace
        // is dropped.
        let mut logical = String::new();
        let mut cur = first.to_string();
        loop {
            if ends_with_odd_backslashes(&cur) {
                cur.pop();
                logical.push_str(&cur);
                if logical.len() > MAX_LINE_BYTES {
                    return Err(line_too_long(start_line));
                }
                match lines.next() {
                    Some((_, next)) => {
                        cur = strip_cr(next).trim_start_matches([' ', '\t', '\x0c']).to_string();
                    }
                    None => break,
                }
            } else {
                logical.push_str(&cur);
                break;
            }
        }
        if logical.len() > MAX_LINE_BYTES {
            return Err(line_too_long(start_line));
        }
        let (key, value) = split_entry(&logical, start_line)?;
        if let Some(existing) = out.iter_mut().find(|e| e.key == key) {
            existing.value = value;
            existing.line = start_line;
        } else {
            if out.len() >= MAX_ENTRIES {
                return Err(ConfigError::TooLarge {
                    what: "number of properties".into(),
                    limit: MAX_ENTRIES,
                });
            }
            out.push(PropertyEntry {
                key,
                value,
                line: start_line,
            });
        }
    }
    Ok(out)
}

fn line_too_long(line: usize) -> ConfigError {
    ConfigError::Syntax {
        line,
        message: format!("the line is longer than {MAX_LINE_BYTES} bytes"),
    }
}

fn strip_cr(s: &str) -> &str {
    s.strip_suffix('\r').unwrap_or(s)
}

fn ends_with_odd_backslashes(s: &str) -> bool {
    s.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 1
}

/// Splits a logical line into key and value. The key ends at the first
/// unescaped `=`, `:` or whitespace; then whitespace, at most one `=`/`:`,
/// and more whitespace are skipped.
fn split_entry(line: &str, line_no: usize) -> Result<(String, String), ConfigError> {
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    let mut key_end = chars.len();
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            '=' | ':' | ' ' | '\t' | '\x0c' => {
                key_end = i;
                break;
            }
            _ => i += 1,
        }
    }
    let key_end = key_end.min(chars.len());
    let mut v = key_end;
    while v < chars.len() && matches!(chars[v], ' ' | '\t' | '\x0c') {
        v += 1;
    }
    if v < chars.len() && matches!(chars[v], '=' | ':') {
        v += 1;
    }
    while v < chars.len() && matches!(chars[v], ' ' | '\t' | '\x0c') {
        v += 1;
    }
    let key = unescape(&chars[..key_end], line_no)?;
    let value = unescape(&chars[v.min(chars.len())..], line_no)?;
    Ok((key, value))
}

/// Applies Java's escapes: `\t \n \r \f`, `\uXXXX` (with surrogate pairs
/// combined), and `\x` meaning `x` for any other character.
fn unescape(chars: &[char], line_no: usize) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(chars.len());
    let mut units: Vec<u16> = Vec::new();
    let mut i = 0;
    let flush = |units: &mut Vec<u16>, out: &mut String| {
        if !units.is_empty() {
            out.push_str(&String::from_utf16_lossy(units));
            units.clear();
        }
    };
    while i < chars.len() {
        let c = chars[i];
        if c != '\\' {
            flush(&mut units, &mut out);
            out.push(c);
            i += 1;
            continue;
        }
        let Some(&n) = chars.get(i + 1) else {
            // A lone trailing backslash at end of input: Java drops it.
            break;
        };
        i += 2;
        if n == 'u' {
            let hex: String = chars.get(i..i + 4).map(|s| s.iter().collect()).unwrap_or_default();
            let unit = if hex.len() == 4 {
                u16::from_str_radix(&hex, 16).ok()
            } else {
                None
            };
            let Some(unit) = unit else {
                return Err(ConfigError::Syntax {
                    line: line_no,
                    message: "malformed \\uXXXX escape (needs four hex digits)".into(),
                });
            };
            units.push(unit);
            i += 4;
            continue;
        }
        flush(&mut units, &mut out);
        out.push(match n {
            't' => '\t',
            'n' => '\n',
            'r' => '\r',
            'f' => '\x0c',
            other => other,
        });
    }
    flush(&mut units, &mut out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(text: &str) -> Vec<(String, String)> {
        parse_properties(text)
            .unwrap()
            .into_iter()
            .map(|e| (e.key, e.value))
            .collect()
    }

    fn one(k: &str, v: &str) -> Vec<(String, String)> {
        vec![(k.to_string(), v.to_string())]
    }

    #[test]
    fn separators() {
        assert_eq!(kv("a=b"), one("a", "b"));
        assert_eq!(kv("a: b"), one("a", "b"));
        assert_eq!(kv("a b"), one("a", "b"));
        assert_eq!(kv("a   =   b"), one("a", "b"));
        assert_eq!(kv("   a=b"), one("a", "b"));
        assert_eq!(kv("a"), one("a", ""));
        assert_eq!(kv("a="), one("a", ""));
        assert_eq!(kv("a=b=c"), one("a", "b=c"));
        assert_eq!(kv("a = b  "), one("a", "b  "));
        assert_eq!(kv("a\t:\tb"), one("a", "b"));
    }

    #[test]
    fn comments_and_blank_lines() {
        let t = "# c\n! c\n\n   # indented\nx=1\r\ny=2 # not a comment\n";
        assert_eq!(
            kv(t),
            vec![("x".into(), "1".into()), ("y".into(), "2 # not a comment".into())]
        );
    }

    #[test]
    fn continuations() {
        assert_eq!(kv("a=one,\\\n    two,\\\n  three"), one("a", "one,two,three"));
        // An even number of backslashes is an escaped backslash, not a continuation.
        assert_eq!(
            kv("a=x\\\\\nb=y"),
            vec![("a".into(), "x\\".into()), ("b".into(), "y".into())]
        );
        // Continuation at end of input just ends.
        assert_eq!(kv("a=x\\"), one("a", "x"));
        // A comment marker on a continuation line is data.
        assert_eq!(kv("a=x\\\n#y"), one("a", "x#y"));
    }

    #[test]
    fn escapes() {
        assert_eq!(kv("a=\\t\\n\\\\\\u0041\\z"), one("a", "\t\n\\Az"));
        assert_eq!(kv("key\\=with\\:seps\\ sp=v"), one("key=with:seps sp", "v"));
        assert_eq!(kv("a=\\uD83D\\uDE00"), one("a", "\u{1F600}"));
    }

    #[test]
    fn bad_unicode_escape_names_line() {
        let e = parse_properties("ok=1\n\nbad=\\u12G4").unwrap_err();
        assert!(matches!(e, ConfigError::Syntax { line: 3, .. }), "{e}");
        assert!(e.to_string().contains("Line 3"), "{e}");
    }

    #[test]
    fn last_duplicate_wins() {
        let e = parse_properties("a=1\nb=2\na=3").unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].value, "3");
        assert_eq!(e[0].line, 3);
    }

    #[test]
    fn line_endings_and_comment_continuations() {
        assert_eq!(
            kv("a=1\rb=2\r\nc=3"),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "2".into()),
                ("c".into(), "3".into())
            ]
        );
        // A comment ending in a backslash does not continue (Java ignores it whole).
        assert_eq!(kv("# comment \\\na=1"), one("a", "1"));
        // An empty continuation line ends the value.
        assert_eq!(
            kv("a=x\\\n\nb=y"),
            vec![("a".into(), "x".into()), ("b".into(), "y".into())]
        );
    }

    /// Arbitrary input never panics; it either parses or names a line.
    #[test]
    fn arbitrary_input_does_not_panic() {
        let alphabet: Vec<char> = "ab=: \\\t\n\r#!u0F\u{e9}\u{1F600}".chars().collect();
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..5000 {
            let mut s = String::new();
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 40) as usize;
            for _ in 0..len {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                s.push(alphabet[(state % alphabet.len() as u64) as usize]);
            }
            let _ = parse_properties(&s);
            let _ = crate::load_from_str(Some(&s), &[], &[]);
        }
    }

    #[test]
    fn limits() {
        let big = "a".repeat(MAX_FILE_BYTES + 1);
        assert!(matches!(parse_properties(&big), Err(ConfigError::TooLarge { .. })));
        let long = format!("a={}", "x".repeat(MAX_LINE_BYTES + 1));
        assert!(matches!(
            parse_properties(&long),
            Err(ConfigError::Syntax { line: 1, .. })
        ));
    }
}

//! Kafka's JAAS configuration strings: `sasl.jaas.config` and
//! `listener.name.<listener>.<mechanism>.sasl.jaas.config`.
//!
//! ```text
//! org.apache.kafka.common.security.plain.PlainLoginModule required
//!     username="admin" password="admin-secret" user_alice="alice-secret";
//! ```
//!
//! Operators copy these strings from Kafka set-ups, so they are read with the tokenizer rules of
//! Kafka's `JaasConfig` (a `java.io.StreamTokenizer` configured in a particular way), including its
//! surprises: `/` starts a comment even inside an unquoted value, an unterminated quote ends at the
//! end of the line, and option names are case-sensitive while the control flag is not.
//!
//! The options hold passwords, so neither errors nor `Debug` ever show an option value.

use std::fmt;

use zeroize::Zeroizing;

/// How the login module's result counts, as in JAAS. Kafka only checks that it is one of the four;
/// its own login modules ignore it, and so does Sluice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ControlFlag {
    /// `required`
    Required,
    /// `requisite`
    Requisite,
    /// `sufficient`
    Sufficient,
    /// `optional`
    Optional,
}

impl ControlFlag {
    /// The flag as it is written in a JAAS config.
    pub fn as_str(self) -> &'static str {
        match self {
            ControlFlag::Required => "required",
            ControlFlag::Requisite => "requisite",
            ControlFlag::Sufficient => "sufficient",
            ControlFlag::Optional => "optional",
        }
    }

    fn parse(text: &str) -> Option<ControlFlag> {
        // Kafka upper-cases with Locale.ROOT, i.e. ASCII-only case folding for these words.
        [
            ControlFlag::Required,
            ControlFlag::Requisite,
            ControlFlag::Sufficient,
            ControlFlag::Optional,
        ]
        .into_iter()
        .find(|f| f.as_str().eq_ignore_ascii_case(text))
    }
}

/// One login module entry: class, control flag and options in the order written (a repeated key
/// keeps its first position and its last value, as Kafka's map does).
#[derive(Clone, PartialEq, Eq)]
pub struct JaasConfig {
    /// The login module class, e.g. `org.apache.kafka.common.security.scram.ScramLoginModule`;
    /// the broker uses it to check that the config belongs to the mechanism it is given for.
    pub login_module: String,
    /// The control flag.
    pub control_flag: ControlFlag,
    options: Vec<(String, Zeroizing<String>)>,
}

impl JaasConfig {
    /// Parses a `sasl.jaas.config` value, which Kafka requires to hold exactly one login module.
    pub fn parse(text: &str) -> Result<JaasConfig, JaasError> {
        let mut entries = parse_jaas_entries(text)?;
        if entries.len() != 1 {
            return Err(JaasError::NotOneModule(entries.len()));
        }
        Ok(entries.remove(0))
    }

    /// The value of option `key` (case-sensitive), e.g. `user_alice` for PLAIN.
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// All options, in the order written.
    pub fn options(&self) -> impl Iterator<Item = (&str, &str)> {
        self.options.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    fn insert(&mut self, key: String, value: String) {
        let value = Zeroizing::new(value);
        match self.options.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => *v = value,
            None => self.options.push((key, value)),
        }
    }
}

impl fmt::Debug for JaasConfig {
    /// Shows the class, the flag and the option names; every value is `<redacted>`, since options
    /// such as `password` and `user_<name>` are secrets and configs end up in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Redacted<'a>(&'a [(String, Zeroizing<String>)]);
        impl fmt::Debug for Redacted<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_map()
                    .entries(self.0.iter().map(|(k, _)| (k, format_args!("<redacted>"))))
                    .finish()
            }
        }
        f.debug_struct("JaasConfig")
            .field("login_module", &self.login_module)
            .field("control_flag", &self.control_flag)
            .field("options", &Redacted(&self.options))
            .finish()
    }
}

/// Why a JAAS config was refused. Positions count tokens from 1; an option name is shown only
/// when it was written unquoted (a quoted "name" is more likely a misplaced password), and a value
/// never is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JaasError {
    /// The string holds no login module at all.
    #[error("Login module not specified in JAAS config")]
    NoModule,
    /// `sasl.jaas.config` must name exactly one login module.
    #[error("JAAS config property contains {0} login modules, should be 1 module")]
    NotOneModule(usize),
    /// The token where the login module class should be is not a name (e.g. a stray `;`).
    #[error("Login module name missing at token {0} in JAAS config")]
    InvalidModuleName(usize),
    /// The string ends right after the login module class.
    #[error("Login module control flag not specified in JAAS config")]
    MissingControlFlag,
    /// The control flag is not `required`, `requisite`, `sufficient` or `optional`.
    #[error("Invalid login module control flag at token {0} in JAAS config")]
    InvalidControlFlag(usize),
    /// An option name is not followed by `=` and a value.
    #[error("Value not specified for key {} in JAAS config", describe_key(.key, *.position))]
    MissingValue {
        /// The option name, if it was an unquoted word.
        key: Option<String>,
        /// The token number of the option name.
        position: usize,
    },
    /// The token where an option name should be is `=` or another stray character.
    #[error("Option name missing at token {0} in JAAS config")]
    InvalidKey(usize),
    /// The entry does not end with `;`.
    #[error("JAAS config entry not terminated by semi-colon")]
    MissingSemicolon,
}

fn describe_key(key: &Option<String>, position: usize) -> String {
    match key {
        Some(k) => format!("'{k}' (token {position})"),
        None => format!("at token {position}"),
    }
}

/// Parses a JAAS string that may hold several login modules, as Kafka's `JaasConfig` does; for
/// `sasl.jaas.config` use [`JaasConfig::parse`], which insists on one.
pub fn parse_jaas_entries(text: &str) -> Result<Vec<JaasConfig>, JaasError> {
    let mut tokens = Tokenizer::new(text);
    let mut entries = Vec::new();
    loop {
        let token = tokens.next_token();
        if token == Token::Eof {
            break;
        }
        entries.push(parse_entry(&mut tokens, token)?);
    }
    if entries.is_empty() {
        return Err(JaasError::NoModule);
    }
    Ok(entries)
}

fn parse_entry(tokens: &mut Tokenizer<'_>, first: Token) -> Result<JaasConfig, JaasError> {
    let login_module = match first {
        Token::Word(w) | Token::Quoted(w) if !w.is_empty() => w,
        _ => return Err(JaasError::InvalidModuleName(tokens.count)),
    };
    let flag = match tokens.next_token() {
        Token::Eof => return Err(JaasError::MissingControlFlag),
        Token::Word(w) | Token::Quoted(w) => ControlFlag::parse(&w),
        Token::Char(_) => None,
    };
    let control_flag = flag.ok_or(JaasError::InvalidControlFlag(tokens.count))?;
    let mut entry = JaasConfig {
        login_module,
        control_flag,
        options: Vec::new(),
    };
    loop {
        let (key, shown) = match tokens.next_token() {
            Token::Eof => return Err(JaasError::MissingSemicolon),
            Token::Char(';') => return Ok(entry),
            Token::Word(w) => (w.clone(), Some(w)),
            Token::Quoted(q) => (q, None),
            Token::Char(_) => return Err(JaasError::InvalidKey(tokens.count)),
        };
        let position = tokens.count;
        let missing = || JaasError::MissingValue {
            key: shown.clone(),
            position,
        };
        if tokens.next_token() != Token::Char('=') {
            return Err(missing());
        }
        match tokens.next_token() {
            Token::Word(value) | Token::Quoted(value) => entry.insert(key, value),
            _ => return Err(missing()),
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Token {
    Eof,
    Word(String),
    Quoted(String),
    /// An "ordinary" character, which is a token on its own (`;`, `=`, and chars 129-159).
    Char(char),
}

/// `java.io.StreamTokenizer` as Kafka's `JaasConfig` sets it up:
/// `resetSyntax(); wordChars(32, 128); wordChars(160, 255); ordinaryChar(';'); ordinaryChar('=');
/// whitespaceChars(0, ' '); commentChar('/'); quoteChar('"'); quoteChar('\'');
/// slashSlashComments(true); slashStarComments(true)`. Characters above 255 are word characters,
/// as in StreamTokenizer.
struct Tokenizer<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    /// Tokens returned so far, for error positions.
    count: usize,
}

#[derive(PartialEq, Eq)]
enum Class {
    Whitespace,
    Word,
    Quote,
    Comment,
    Ordinary,
}

fn class(c: char) -> Class {
    match c as u32 {
        0..=32 => Class::Whitespace,
        0x22 | 0x27 => Class::Quote,
        0x2f => Class::Comment,
        0x3b | 0x3d => Class::Ordinary,
        33..=128 | 160.. => Class::Word,
        _ => Class::Ordinary,
    }
}

impl<'a> Tokenizer<'a> {
    fn new(text: &'a str) -> Self {
        Tokenizer {
            chars: text.chars().peekable(),
            count: 0,
        }
    }

    fn next_token(&mut self) -> Token {
        let token = self.scan();
        if token != Token::Eof {
            self.count += 1;
        }
        token
    }

    fn scan(&mut self) -> Token {
        loop {
            let Some(c) = self.chars.next() else {
                return Token::Eof;
            };
            match class(c) {
                Class::Whitespace => continue,
                Class::Word => {
                    let mut word = String::from(c);
                    while let Some(&next) = self.chars.peek() {
                        if class(next) != Class::Word {
                            break;
                        }
                        word.push(next);
                        self.chars.next();
                    }
                    return Token::Word(word);
                }
                Class::Quote => return Token::Quoted(self.quoted(c)),
                Class::Comment => {
                    if self.chars.peek() == Some(&'*') {
                        self.chars.next();
                        if !self.skip_block_comment() {
                            return Token::Eof;
                        }
                    } else {
                        // `//` and a lone `/` (the comment character) both run to the end of line.
                        while let Some(&next) = self.chars.peek() {
                            if next == '\n' || next == '\r' {
                                break;
                            }
                            self.chars.next();
                        }
                    }
                }
                Class::Ordinary => return Token::Char(c),
            }
        }
    }

    /// Skips to the end of a `/* */` comment; false if the input ends first.
    fn skip_block_comment(&mut self) -> bool {
        let mut previous = '\0';
        loop {
            let Some(mut c) = self.chars.next() else {
                return false;
            };
            if c == '/' && previous == '*' {
                return true;
            }
            // StreamTokenizer consumes the character after a line end without looking at it.
            if c == '\r' || c == '\n' {
                let was_cr = c == '\r';
                match self.chars.next() {
                    None => return false,
                    Some(n) => c = n,
                }
                if was_cr && c == '\n' {
                    match self.chars.next() {
                        None => return false,
                        Some(n) => c = n,
                    }
                }
            }
            previous = c;
        }
    }

    /// A quoted string up to the matching quote, or to the end of the line or input, with
    /// StreamTokenizer's escapes (`\n`, `\t`, octal `\123`, and `\x` for any other x).
    fn quoted(&mut self, quote: char) -> String {
        let mut out = String::new();
        while let Some(&d) = self.chars.peek() {
            if d == '\n' || d == '\r' {
                break;
            }
            self.chars.next();
            if d == quote {
                break;
            }
            if d != '\\' {
                out.push(d);
                continue;
            }
            let Some(e) = self.chars.next() else {
                break;
            };
            let escaped = match e {
                'a' => '\u{7}',
                'b' => '\u{8}',
                'f' => '\u{c}',
                'n' => '\n',
                'r' => '\r',
                't' => '\t',
                'v' => '\u{b}',
                '0'..='7' => {
                    let mut value = e as u32 - '0' as u32;
                    if let Some(&c2 @ '0'..='7') = self.chars.peek() {
                        self.chars.next();
                        value = value * 8 + (c2 as u32 - '0' as u32);
                        if e <= '3' {
                            if let Some(&c3 @ '0'..='7') = self.chars.peek() {
                                self.chars.next();
                                value = value * 8 + (c3 as u32 - '0' as u32);
                            }
                        }
                    }
                    char::from_u32(value).expect("at most 0o377")
                }
                other => other,
            };
            out.push(escaped);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN: &str = "org.apache.kafka.common.security.plain.PlainLoginModule";

    #[test]
    fn parses_kafka_plain_example() {
        let text = "org.apache.kafka.common.security.plain.PlainLoginModule required \n\
                    username=\"admin\"\n password=\"admin-secret\"\n user_admin=\"admin-secret\"\n \
                    user_alice=\"alice-secret\";";
        let config = JaasConfig::parse(text).unwrap();
        assert_eq!(config.login_module, PLAIN);
        assert_eq!(config.control_flag, ControlFlag::Required);
        let options: Vec<_> = config.options().collect();
        assert_eq!(
            options,
            [
                ("username", "admin"),
                ("password", "admin-secret"),
                ("user_admin", "admin-secret"),
                ("user_alice", "alice-secret")
            ]
        );
        assert_eq!(config.option("user_alice"), Some("alice-secret"));
        assert_eq!(config.option("USER_ALICE"), None);
    }

    #[test]
    fn tokenizer_rules() {
        // Flags are case-insensitive; unquoted values; single quotes; escapes; comments.
        let text = "a.B$c OPTIONAL k1=v1 k2='single' k3=\"tab\\tq\\\"\\101\\7x\" /* c */ k4=x//rest\n k5=\"\" ;";
        let config = JaasConfig::parse(text).unwrap();
        assert_eq!(config.login_module, "a.B$c");
        assert_eq!(config.control_flag, ControlFlag::Optional);
        let options: Vec<_> = config.options().collect();
        assert_eq!(
            options,
            [
                ("k1", "v1"),
                ("k2", "single"),
                ("k3", "tab\tq\"A\u{7}x"),
                ("k4", "x"),
                ("k5", "")
            ]
        );
    }

    #[test]
    fn adjacent_quotes_are_two_tokens() {
        let err = JaasConfig::parse("M required k='it''s';").unwrap_err();
        assert_eq!(err, JaasError::MissingValue { key: None, position: 6 });
    }

    #[test]
    fn slash_in_unquoted_value_starts_a_comment() {
        let err = JaasConfig::parse("M required path=/etc/x;").unwrap_err();
        assert_eq!(
            err,
            JaasError::MissingValue {
                key: Some("path".into()),
                position: 3
            }
        );
        let config = JaasConfig::parse("M required path=\"/etc/x\";").unwrap();
        assert_eq!(config.option("path"), Some("/etc/x"));
    }

    #[test]
    fn unterminated_quote_ends_at_line_end() {
        let config = JaasConfig::parse("M required a=\"open\n;").unwrap();
        assert_eq!(config.option("a"), Some("open"));
    }

    #[test]
    fn repeated_key_keeps_last_value() {
        let config = JaasConfig::parse("M required a=1 b=2 a=3;").unwrap();
        assert_eq!(config.options().collect::<Vec<_>>(), [("a", "3"), ("b", "2")]);
    }

    #[test]
    fn several_entries() {
        let entries = parse_jaas_entries("A required; B sufficient x=y;").unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].control_flag, ControlFlag::Sufficient);
        assert_eq!(
            JaasConfig::parse("A required; B sufficient x=y;"),
            Err(JaasError::NotOneModule(2))
        );
    }

    #[test]
    fn errors_name_keys_or_positions_never_values() {
        let cases: &[(&str, JaasError, &str)] = &[
            ("", JaasError::NoModule, "Login module not specified in JAAS config"),
            (
                "  /* only a comment */ ",
                JaasError::NoModule,
                "Login module not specified in JAAS config",
            ),
            (
                PLAIN,
                JaasError::MissingControlFlag,
                "Login module control flag not specified in JAAS config",
            ),
            (
                "M hunter2 password=\"x\";",
                JaasError::InvalidControlFlag(2),
                "Invalid login module control flag at token 2 in JAAS config",
            ),
            (
                "M required password=\"hunter2\"",
                JaasError::MissingSemicolon,
                "JAAS config entry not terminated by semi-colon",
            ),
            (
                "M required password;",
                JaasError::MissingValue {
                    key: Some("password".into()),
                    position: 3,
                },
                "Value not specified for key 'password' (token 3) in JAAS config",
            ),
            (
                "M required password=;",
                JaasError::MissingValue {
                    key: Some("password".into()),
                    position: 3,
                },
                "Value not specified for key 'password' (token 3) in JAAS config",
            ),
            (
                "M required password=\"hunter2\" \"s3cret\";",
                JaasError::MissingValue { key: None, position: 6 },
                "Value not specified for key at token 6 in JAAS config",
            ),
            (
                "M required =hunter2;",
                JaasError::InvalidKey(3),
                "Option name missing at token 3 in JAAS config",
            ),
            (
                "; M required;",
                JaasError::InvalidModuleName(1),
                "Login module name missing at token 1 in JAAS config",
            ),
            (
                "M ;",
                JaasError::InvalidControlFlag(2),
                "Invalid login module control flag at token 2 in JAAS config",
            ),
        ];
        for (text, expected, message) in cases {
            let err = JaasConfig::parse(text).unwrap_err();
            assert_eq!(&err, expected, "{text}");
            assert_eq!(err.to_string(), *message);
            assert!(!err.to_string().contains("hunter2") && !err.to_string().contains("s3cret"));
        }
    }

    #[test]
    fn debug_redacts_values() {
        let config = JaasConfig::parse("M required username=\"admin\" password=\"hunter2\";").unwrap();
        let debug = format!("{config:?}");
        assert!(debug.contains("password") && debug.contains("<redacted>"), "{debug}");
        assert!(!debug.contains("hunter2") && !debug.contains("admin\""), "{debug}");
    }
}

//! `ssl.principal.mapping.rules`: how the subject of a client certificate becomes a principal
//! name, as Kafka's `SslPrincipalMapper` does it.
//!
//! ```text
//! RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,
//! RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L,
//! RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/L,
//! DEFAULT
//! ```
//!
//! Rules are tried in order and the first whose regex matches the whole subject wins; `DEFAULT`
//! keeps the subject as it is. Rules are separated by commas (whitespace and newlines around them
//! are ignored; a newline alone does not separate two rules, exactly as in Kafka). The subject is
//! the certificate's distinguished name in the form Java's `X500Principal.getName()` gives
//! (RFC 2253: `CN=client,OU=eng,O=Acme,C=US`), which is what the broker must produce from the
//! certificate before calling [`SslPrincipalMapper::map`].
//!
//! The rules string is split and parsed with Kafka's own regexes, and replacements are expanded
//! with Java's `Matcher.replaceAll` rules (`$1`, `${name}`, `\` escapes, `$12` read as group 12 only
//! if there are 12 groups) after Kafka's escaping of references to missing groups, so configs
//! copied from Kafka give the same principals. The rule regexes themselves are compiled by the
//! `regex` crate: Java-only syntax (back-references, look-around, possessive quantifiers) is
//! refused when the rules are parsed.

use std::fmt;
use std::sync::LazyLock;

use regex::{Captures, Regex};

/// Kafka's default `ssl.principal.mapping.rules`: the subject itself is the principal name.
pub const DEFAULT_RULES: &str = "DEFAULT";

/// Java's `.`: any character but a line terminator.
const JAVA_DOT: &str = r"[^\n\r\x{85}\x{2028}\x{2029}]";
/// Java's `\s`: ASCII whitespace only.
const JAVA_SPACE: &str = r"[ \t\n\x0B\x0C\r]";

/// Kafka's `RULE_PATTERN`, with Java's `.` spelled out and the inner groups made non-capturing.
/// Groups: 1 `DEFAULT`, 2 pattern, 3 replacement, 4 case flag, 5 anything else.
fn rule_pattern() -> String {
    let d = JAVA_DOT;
    format!(r"(DEFAULT)|RULE:((?:\\{d}|[^\\/])*)/((?:\\{d}|[^\\/])*)/([LU]?){d}*?|({d}*?)")
}

static RULE_SPLITTER: LazyLock<Regex> = LazyLock::new(|| {
    let s = JAVA_SPACE;
    Regex::new(&format!(r"{s}*({}){s}*(?:,{s}*|$)", rule_pattern())).expect("valid splitter regex")
});

static RULE_PARSER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!(r"\A(?:{})", rule_pattern())).expect("valid rule regex"));

static BACK_REFERENCE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\$([0-9]+)").expect("valid regex"));

/// Why mapping rules or a mapping failed. Subjects and rules are not secret, so they are shown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    /// A rule is not `DEFAULT` nor `RULE:<regex>/<replacement>/[LU]`.
    #[error("Invalid rule: {0}")]
    InvalidRule(String),
    /// A rule is followed by text that belongs to no rule.
    #[error("Invalid rule: `{rule}`, unmatched substring: `{rest}`")]
    UnmatchedSubstring {
        /// The rule as split from the config.
        rule: String,
        /// What follows the part that parsed.
        rest: String,
    },
    /// The rule's regex does not compile (or uses Java-only syntax).
    #[error("Invalid rule regex `{pattern}`: {reason}")]
    InvalidRegex {
        /// The regex.
        pattern: String,
        /// The compiler's explanation.
        reason: String,
    },
    /// No rule matched the subject; Kafka's `NoMatchingRule`, which fails the TLS authentication.
    #[error("No rules apply to {subject}, rules [{rules}]")]
    NoMatchingRule {
        /// The certificate subject.
        subject: String,
        /// The rules, as Kafka prints them.
        rules: String,
    },
    /// A matching rule's replacement cannot be expanded (Java would throw at this point too).
    #[error("Invalid replacement in rule {rule}: {reason}")]
    InvalidReplacement {
        /// The rule, as Kafka prints it.
        rule: String,
        /// What is wrong with the replacement.
        reason: String,
    },
}

/// Parsed `ssl.principal.mapping.rules`, built once per listener and applied to every client
/// certificate.
#[derive(Clone)]
pub struct SslPrincipalMapper {
    rules: Vec<Rule>,
}

#[derive(Clone)]
enum Rule {
    Default,
    Replace {
        source: String,
        pattern: Regex,
        whole: Regex,
        replacement: String,
        case: Case,
    },
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Case {
    Keep,
    Lower,
    Upper,
}

impl SslPrincipalMapper {
    /// Parses a rules string as Kafka's `SslPrincipalMapper.fromRules` does. Empty rules (as in
    /// `,,DEFAULT`) are skipped, and an empty string gives a mapper with no rule, which maps
    /// nothing.
    pub fn parse(rules: &str) -> Result<SslPrincipalMapper, MappingError> {
        let trimmed = rules.trim_matches(|c: char| c <= ' ');
        let mut parsed = Vec::new();
        for split in RULE_SPLITTER.captures_iter(trimmed) {
            let rule = split.get(1).map_or("", |m| m.as_str());
            if let Some(r) = parse_rule(rule)? {
                parsed.push(r);
            }
        }
        Ok(SslPrincipalMapper { rules: parsed })
    }

    /// The principal name for a certificate subject: the result of the first rule that matches,
    /// or [`MappingError::NoMatchingRule`].
    pub fn map(&self, subject: &str) -> Result<String, MappingError> {
        for rule in &self.rules {
            if let Some(name) = rule.apply(subject)? {
                return Ok(name);
            }
        }
        Err(MappingError::NoMatchingRule {
            subject: subject.to_string(),
            rules: self.rules_text(),
        })
    }

    fn rules_text(&self) -> String {
        self.rules.iter().map(Rule::to_string).collect::<Vec<_>>().join(", ")
    }
}

impl Default for SslPrincipalMapper {
    /// Kafka's default rules: `DEFAULT`.
    fn default() -> Self {
        SslPrincipalMapper {
            rules: vec![Rule::Default],
        }
    }
}

impl fmt::Display for SslPrincipalMapper {
    /// Kafka's `toString`: `SslPrincipalMapper(rules = [RULE:..., DEFAULT])`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SslPrincipalMapper(rules = [{}])", self.rules_text())
    }
}

impl fmt::Debug for SslPrincipalMapper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

fn parse_rule(rule: &str) -> Result<Option<Rule>, MappingError> {
    let caps = RULE_PARSER
        .captures(rule)
        .ok_or_else(|| MappingError::InvalidRule(rule.to_string()))?;
    let end = caps.get(0).map_or(0, |m| m.end());
    if end != rule.len() {
        return Err(MappingError::UnmatchedSubstring {
            rule: rule.to_string(),
            rest: rule[end..].to_string(),
        });
    }
    if caps.get(1).is_some() {
        return Ok(Some(Rule::Default));
    }
    let Some(source) = caps.get(2) else {
        return Ok(None);
    };
    let source = source.as_str().to_string();
    let invalid = |e: regex::Error| MappingError::InvalidRegex {
        pattern: source.clone(),
        reason: e.to_string(),
    };
    let pattern = Regex::new(&source).map_err(invalid)?;
    let whole = Regex::new(&format!(r"\A(?:{source})\z")).map_err(invalid)?;
    let case = match caps.get(4).map(|m| m.as_str()) {
        Some("L") => Case::Lower,
        Some("U") => Case::Upper,
        _ => Case::Keep,
    };
    Ok(Some(Rule::Replace {
        source,
        pattern,
        whole,
        replacement: caps.get(3).map_or("", |m| m.as_str()).to_string(),
        case,
    }))
}

impl Rule {
    fn apply(&self, subject: &str) -> Result<Option<String>, MappingError> {
        let Rule::Replace {
            pattern,
            whole,
            replacement,
            case,
            ..
        } = self
        else {
            return Ok(Some(subject.to_string()));
        };
        if !whole.is_match(subject) {
            return Ok(None);
        }
        let groups = pattern.captures_len() - 1;
        let replacement = escape_literal_back_references(replacement, groups);
        let result =
            java_replace_all(pattern, subject, &replacement).map_err(|reason| MappingError::InvalidReplacement {
                rule: self.to_string(),
                reason,
            })?;
        Ok(Some(match case {
            Case::Keep => result,
            Case::Lower => result.to_lowercase(),
            Case::Upper => result.to_uppercase(),
        }))
    }
}

impl fmt::Display for Rule {
    /// Kafka's `Rule.toString`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::Default => f.write_str("DEFAULT"),
            Rule::Replace {
                source,
                replacement,
                case,
                ..
            } => {
                write!(f, "RULE:{source}/{replacement}")?;
                match case {
                    Case::Lower => f.write_str("/L"),
                    Case::Upper => f.write_str("/U"),
                    Case::Keep => Ok(()),
                }
            }
        }
    }
}

/// Kafka's `escapeLiteralBackReferences` (taken by Kafka from Apache NiFi): a `$N` naming a group
/// the regex does not have is escaped so that it stays literal text, after dropping trailing
/// digits while the number is too big. Replicated with its quirk: positions come from the
/// original string even after earlier insertions shifted the text.
fn escape_literal_back_references(unescaped: &str, groups: usize) -> String {
    if groups == 0 {
        return unescaped.to_string();
    }
    let original: Vec<char> = unescaped.chars().collect();
    let mut value = original.clone();
    for m in BACK_REFERENCE.captures_iter(unescaped) {
        let digits = m.get(1).expect("group 1 always takes part");
        if digits.as_str().starts_with('0') {
            continue;
        }
        // Kafka uses Integer.parseInt, which would throw on overflow; saturating keeps the same
        // outcome for every realistic rule (a number that large is no group, so it is escaped).
        let mut index: u64 = digits.as_str().parse().unwrap_or(u64::MAX);
        let groups = groups as u64;
        while index > groups && index >= 10 {
            index /= 10;
        }
        if index > groups {
            let dollar_at = unescaped[..digits.start()].chars().count() - 1;
            let at = dollar_at.min(value.len());
            value.insert(at, '\\');
        }
    }
    debug_assert!(original.len() <= value.len());
    value.into_iter().collect()
}

/// Java's `String.replaceAll(regex, replacement)`: every match, left to right, is replaced by the
/// expanded replacement; after an empty match the search resumes one character later.
fn java_replace_all(pattern: &Regex, text: &str, replacement: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut last_end = 0;
    let mut search_from = 0;
    while search_from <= text.len() {
        let Some(caps) = pattern.captures_at(text, search_from) else {
            break;
        };
        let whole = caps.get(0).expect("group 0 always takes part");
        out.push_str(&text[last_end..whole.start()]);
        expand_java_replacement(&caps, pattern, replacement, &mut out)?;
        last_end = whole.end();
        search_from = if whole.is_empty() {
            match text[whole.end()..].chars().next() {
                Some(c) => whole.end() + c.len_utf8(),
                None => break,
            }
        } else {
            whole.end()
        };
    }
    out.push_str(&text[last_end..]);
    Ok(out)
}

/// Java's `Matcher.appendReplacement` expansion of one replacement.
fn expand_java_replacement(
    caps: &Captures<'_>,
    pattern: &Regex,
    replacement: &str,
    out: &mut String,
) -> Result<(), String> {
    let group_count = pattern.captures_len() - 1;
    let mut chars = replacement.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(escaped) => out.push(escaped),
                None => return Err("character to be escaped is missing".to_string()),
            },
            '$' => {
                let Some(first) = chars.next() else {
                    return Err("Illegal group reference: group index is missing".to_string());
                };
                let group = if first == '{' {
                    let mut name = String::new();
                    while let Some(&n) = chars.peek() {
                        if !n.is_ascii_alphanumeric() {
                            break;
                        }
                        name.push(n);
                        chars.next();
                    }
                    if name.is_empty() {
                        return Err("named capturing group has 0 length name".to_string());
                    }
                    if chars.next() != Some('}') {
                        return Err("named capturing group is missing trailing '}'".to_string());
                    }
                    if name.starts_with(|c: char| c.is_ascii_digit()) {
                        return Err(format!("capturing group name {{{name}}} starts with digit character"));
                    }
                    match caps.name(&name) {
                        Some(m) => {
                            out.push_str(m.as_str());
                            continue;
                        }
                        None if pattern.capture_names().flatten().any(|n| n == name) => continue,
                        None => return Err(format!("No group with name {{{name}}}")),
                    }
                } else {
                    let mut group = first.to_digit(10).ok_or("Illegal group reference")? as usize;
                    while let Some(digit) = chars.peek().and_then(|d| d.to_digit(10)) {
                        let wider = group * 10 + digit as usize;
                        if wider > group_count {
                            break;
                        }
                        group = wider;
                        chars.next();
                    }
                    group
                };
                if group > group_count {
                    return Err(format!("No group {group}"));
                }
                if let Some(m) = caps.get(group) {
                    out.push_str(m.as_str());
                }
            }
            other => out.push(other),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapper(rules: &str) -> SslPrincipalMapper {
        SslPrincipalMapper::parse(rules).unwrap_or_else(|e| panic!("{rules}: {e}"))
    }

    // SslPrincipalMapperTest.testValidRules
    #[test]
    fn valid_rules() {
        for rules in [
            "DEFAULT",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L, DEFAULT",
            "RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/",
            "RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/L",
            "RULE:^cn=(.?),ou=(.?),dc=(.?),dc=(.?)$/$1@$2/U",
            "RULE:^CN=([^,ADEFLTU,]+)(,.*|$)/$1/",
            "RULE:^CN=([^,DEFAULT,]+)(,.*|$)/$1/",
        ] {
            mapper(rules);
        }
    }

    // SslPrincipalMapperTest.testInvalidRules
    #[test]
    fn invalid_rules() {
        for rules in [
            "default",
            "DEFAUL",
            "DEFAULT/L",
            "DEFAULT/U",
            "RULE:CN=(.*?),OU=ServiceUsers.*/$1",
            "rule:^CN=(.*?),OU=ServiceUsers.*$/$1/",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L/U",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/L",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/U",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/LU",
        ] {
            assert!(SslPrincipalMapper::parse(rules).is_err(), "{rules}");
        }
        assert_eq!(
            SslPrincipalMapper::parse("DEFAULT/L").unwrap_err().to_string(),
            "Invalid rule: `DEFAULT/L`, unmatched substring: `/L`"
        );
        assert!(matches!(
            SslPrincipalMapper::parse("RULE:(a/b/"),
            Err(MappingError::InvalidRegex { .. })
        ));
        // Java-only syntax is refused up front.
        assert!(SslPrincipalMapper::parse("RULE:(a)\\1/x/").is_err());
    }

    // SslPrincipalMapperTest.testSslPrincipalMapper
    #[test]
    fn kafka_mapper_examples() {
        let rules = [
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L",
            "RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L",
            "RULE:^cn=(.*?),ou=(.*?),dc=(.*?),dc=(.*?)$/$1@$2/U",
            "RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/U",
            "DEFAULT",
        ]
        .join(", ");
        let m = mapper(&rules);
        assert_eq!(m.map("CN=Duke,OU=ServiceUsers,O=Org,C=US").unwrap(), "duke");
        assert_eq!(m.map("CN=Duke,OU=SME,O=mycp,L=Fulton,ST=MD,C=US").unwrap(), "duke@sme");
        assert_eq!(m.map("cn=duke,ou=sme,dc=mycp,dc=com").unwrap(), "DUKE@SME");
        assert_eq!(m.map("cN=duke,OU=JavaSoft,O=Sun Microsystems").unwrap(), "DUKE");
        assert_eq!(
            m.map("OU=JavaSoft,O=Sun Microsystems,C=US").unwrap(),
            "OU=JavaSoft,O=Sun Microsystems,C=US"
        );
    }

    // The example of Kafka's security docs, "Customizing SSL User Name".
    #[test]
    fn kafka_docs_example() {
        let rules = "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,\n\
                     RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L,\n\
                     RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/L,\n\
                     DEFAULT";
        let m = mapper(rules);
        assert_eq!(
            m.map("CN=serviceuser,OU=ServiceUsers,O=Unknown,L=Unknown,ST=Unknown,C=Unknown")
                .unwrap(),
            "serviceuser"
        );
        assert_eq!(
            m.map("CN=adminUser,OU=Admin,O=Unknown,L=Unknown,ST=Unknown,C=Unknown")
                .unwrap(),
            "adminuser@admin"
        );
        assert_eq!(m.map("CN=client,OU=eng,O=Acme,C=US").unwrap(), "client");
        assert_eq!(m.map("O=Acme,C=US").unwrap(), "O=Acme,C=US");
    }

    fn split(expected: &str, rules: &str) {
        assert_eq!(
            mapper(rules).to_string(),
            format!("SslPrincipalMapper(rules = {expected})"),
            "{rules:?}"
        );
    }

    // SslPrincipalMapperTest.testRulesSplitting
    #[test]
    fn rules_splitting() {
        split("[]", "");
        split("[DEFAULT]", "DEFAULT");
        split("[RULE:/]", "RULE://");
        split("[RULE:/.*]", "RULE:/.*/");
        split("[RULE:/.*/L]", "RULE:/.*/L");
        split("[RULE:/, DEFAULT]", "RULE://,DEFAULT");
        split("[RULE:/, DEFAULT]", "  RULE:// ,  DEFAULT  ");
        split("[RULE:   /     , DEFAULT]", "  RULE:   /     / ,  DEFAULT  ");
        split("[RULE:  /     /U, DEFAULT]", "  RULE:  /     /U   ,DEFAULT  ");
        split(
            "[RULE:([A-Z]*)/$1/U, RULE:([a-z]+)/$1, DEFAULT]",
            "  RULE:([A-Z]*)/$1/U   ,RULE:([a-z]+)/$1/,   DEFAULT  ",
        );
        // empty rules are ignored
        split("[]", ",   , , ,      , , ,   ");
        split("[RULE:/, DEFAULT]", ",,RULE://,,,DEFAULT,,");
        split("[RULE: /   , DEFAULT]", ",  , RULE: /   /    ,,,   DEFAULT, ,   ");
        split("[RULE:   /  /U, DEFAULT]", "     ,  , RULE:   /  /U    ,,  ,DEFAULT, ,");
        // escape sequences
        split(r"[RULE:\/\\\(\)\n\t/\/\/]", r"RULE:\/\\\(\)\n\t/\/\//");
        split(r"[RULE:\**\/+/*/L, RULE:\/*\**/**]", r"RULE:\**\/+/*/L,RULE:\/*\**/**/");
        // rules rule
        split(
            r"[RULE:,RULE:,/,RULE:,\//U, RULE:,/RULE:,, RULE:,RULE:,/L,RULE:,/L, RULE:, DEFAULT, /DEFAULT, DEFAULT]",
            r"RULE:,RULE:,/,RULE:,\//U,RULE:,/RULE:,/,RULE:,RULE:,/L,RULE:,/L,RULE:, DEFAULT, /DEFAULT/,DEFAULT",
        );
    }

    // SslPrincipalMapperTest.testCommaWithWhitespace
    #[test]
    fn comma_with_whitespace() {
        let m = mapper(r"RULE:^CN=((\\, *|\w)+)(,.*|$)/$1/,DEFAULT");
        assert_eq!(m.map(r"CN=Tkac\, Adam,OU=ITZ,DC=geodis,DC=cz").unwrap(), r"Tkac\, Adam");
    }

    #[test]
    fn no_matching_rule_is_kafkas_error() {
        let m = mapper("RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L");
        assert_eq!(
            m.map("CN=x,OU=Other").unwrap_err().to_string(),
            "No rules apply to CN=x,OU=Other, rules [RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L]"
        );
        assert!(matches!(
            mapper("").map("CN=x"),
            Err(MappingError::NoMatchingRule { .. })
        ));
        assert_eq!(SslPrincipalMapper::default().map("CN=x,O=y").unwrap(), "CN=x,O=y");
        assert_eq!(mapper(DEFAULT_RULES).map("CN=x").unwrap(), "CN=x");
    }

    #[test]
    fn java_replacement_rules() {
        // $12 with two groups is group 1 followed by "2"; a missing group stays literal.
        assert_eq!(mapper("RULE:^CN=(a)(b)$/$12-$3-$2/").map("CN=ab").unwrap(), "a2-$3-b");
        // Two missing groups: Kafka's escaping takes positions from the original string, so its
        // second backslash lands one place early (`\$\7$8`) and Java then fails on `$8`.
        assert_eq!(escape_literal_back_references("$7$8", 1), r"\$\7$8");
        let err = mapper("RULE:^CN=(a)$/$7$8/").map("CN=a").unwrap_err();
        assert_eq!(
            err.to_string(),
            "Invalid replacement in rule RULE:^CN=(a)$/$7$8: No group 8"
        );
        // Named groups, escapes, $0 and an optional group that did not take part.
        assert_eq!(
            mapper(r"RULE:^CN=(?P<name>\w+)(x)?$/${name}\$0=$0[$2]/")
                .map("CN=joe")
                .unwrap(),
            "joe$0=CN=joe[]"
        );
        // No group at all: Kafka does not escape, and Java throws for $1.
        assert!(matches!(
            mapper("RULE:^CN=a$/$1/").map("CN=a"),
            Err(MappingError::InvalidReplacement { .. })
        ));
        // An escaped backslash.
        assert!(matches!(
            mapper(r"RULE:^(CN)=a$/x\\/").map("CN=a"),
            Ok(s) if s == r"x\"
        ));
        // Upper-casing applies to the whole result.
        assert_eq!(
            mapper("RULE:^CN=([a-z]+),.*$/$1@corp/U").map("CN=bob,O=x").unwrap(),
            "BOB@CORP"
        );
    }

    #[test]
    fn replace_all_replaces_every_match() {
        // The whole subject must match, but replaceAll then replaces each match of the regex.
        assert_eq!(mapper("RULE:[a-z]*/x/").map("abc").unwrap(), "xx");
        assert_eq!(
            java_replace_all(&Regex::new("a*").unwrap(), "baaa", "X").unwrap(),
            "XbXX"
        );
    }
}

//! Kafka message schemas: reading the JSON files and merging the legacy versions back in.

use serde_json::Value;
use std::path::Path;

/// An inclusive version range; `None` in the places that hold one means "no versions".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Versions {
    pub lo: i16,
    pub hi: i16,
}

impl Versions {
    /// Parses "3", "3+", "3-7" and "none".
    pub fn parse(s: &str) -> Result<Option<Versions>, String> {
        let s = s.trim();
        if s == "none" {
            return Ok(None);
        }
        let num = |x: &str| x.trim().parse::<i16>().map_err(|e| format!("bad version {s:?}: {e}"));
        if let Some(lo) = s.strip_suffix('+') {
            return Ok(Some(Versions {
                lo: num(lo)?,
                hi: i16::MAX,
            }));
        }
        if let Some((lo, hi)) = s.split_once('-') {
            return Ok(Some(Versions {
                lo: num(lo)?,
                hi: num(hi)?,
            }));
        }
        let v = num(s)?;
        Ok(Some(Versions { lo: v, hi: v }))
    }

    pub fn contains(&self, v: i16) -> bool {
        self.lo <= v && v <= self.hi
    }

    /// The part of `self` inside `within`, if any.
    pub fn intersect(&self, within: Versions) -> Option<Versions> {
        let lo = self.lo.max(within.lo);
        let hi = self.hi.min(within.hi);
        (lo <= hi).then_some(Versions { lo, hi })
    }

    pub fn describe(&self) -> String {
        if self.hi == i16::MAX {
            format!("{}+", self.lo)
        } else if self.lo == self.hi {
            format!("{}", self.lo)
        } else {
            format!("{}-{}", self.lo, self.hi)
        }
    }
}

/// One field of a message or struct, as the schema declares it.
#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    /// The schema type: a primitive, `[]Elem`, or a struct name.
    pub ty: String,
    pub versions: Option<Versions>,
    pub nullable: Option<Versions>,
    pub tagged: Option<Versions>,
    pub tag: Option<u32>,
    pub ignorable: bool,
    pub default: Option<String>,
    /// A per-field override of the message's flexible versions (the request header's client id).
    pub flexible: Option<Option<Versions>>,
    pub about: String,
    pub entity_type: Option<String>,
    pub map_key: bool,
    /// Inline struct definition, for struct and array-of-struct fields.
    pub fields: Option<Vec<Field>>,
}

/// A struct shared by several fields of a message.
#[derive(Debug, Clone)]
pub struct CommonStruct {
    pub name: String,
    pub fields: Vec<Field>,
}

/// One schema file.
#[derive(Debug, Clone)]
pub struct Schema {
    pub api_key: Option<i16>,
    /// request, response, header, data or metadata.
    pub kind: String,
    pub name: String,
    pub valid: Option<Versions>,
    pub flexible: Option<Versions>,
    pub deprecated: Option<Versions>,
    pub listeners: Vec<String>,
    pub latest_version_unstable: bool,
    pub fields: Vec<Field>,
    pub common_structs: Vec<CommonStruct>,
    /// Where the versions below the current schema's came from, if anywhere.
    pub legacy_versions: Option<Versions>,
}

/// Removes `//` comments that stand outside JSON strings.
fn strip_comments(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let mut chars = src.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            if c == '\\' {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if c == '/' && chars.peek() == Some(&'/') {
            for n in chars.by_ref() {
                if n == '\n' {
                    out.push('\n');
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn str_of(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn versions_of(v: &Value, key: &str) -> Result<Option<Versions>, String> {
    match str_of(v, key) {
        None => Ok(None),
        Some(s) => Versions::parse(&s),
    }
}

fn parse_field(v: &Value) -> Result<Field, String> {
    let name = str_of(v, "name").ok_or("field without a name")?;
    let ctx = |e: String| format!("field {name}: {e}");
    let fields = match v.get("fields") {
        None => None,
        Some(list) => Some(
            list.as_array()
                .ok_or_else(|| ctx("fields is not an array".into()))?
                .iter()
                .map(parse_field)
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    let default = match v.get("default") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => Some(other.to_string()),
    };
    let flexible = match str_of(v, "flexibleVersions") {
        None => None,
        Some(s) => Some(Versions::parse(&s).map_err(ctx)?),
    };
    Ok(Field {
        ty: str_of(v, "type").ok_or_else(|| ctx("no type".into()))?,
        versions: versions_of(v, "versions").map_err(ctx)?,
        nullable: versions_of(v, "nullableVersions").map_err(ctx)?,
        tagged: versions_of(v, "taggedVersions").map_err(ctx)?,
        tag: v.get("tag").and_then(Value::as_u64).map(|t| t as u32),
        ignorable: v.get("ignorable").and_then(Value::as_bool).unwrap_or(false),
        default,
        flexible,
        about: str_of(v, "about").unwrap_or_default(),
        entity_type: str_of(v, "entityType"),
        map_key: v.get("mapKey").and_then(Value::as_bool).unwrap_or(false),
        fields,
        name,
    })
}

pub fn load(path: &Path) -> Result<Schema, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let v: Value = serde_json::from_str(&strip_comments(&text)).map_err(|e| format!("{}: {e}", path.display()))?;
    let ctx = |e: String| format!("{}: {e}", path.display());
    let fields = match v.get("fields").and_then(Value::as_array) {
        None => Vec::new(),
        Some(list) => list.iter().map(parse_field).collect::<Result<_, _>>().map_err(ctx)?,
    };
    let mut common_structs = Vec::new();
    for c in v.get("commonStructs").and_then(Value::as_array).into_iter().flatten() {
        let name = str_of(c, "name").ok_or_else(|| ctx("common struct without a name".into()))?;
        let fields = c
            .get("fields")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(parse_field)
            .collect::<Result<_, _>>()
            .map_err(ctx)?;
        common_structs.push(CommonStruct { name, fields });
    }
    Ok(Schema {
        api_key: v.get("apiKey").and_then(Value::as_i64).map(|k| k as i16),
        kind: str_of(&v, "type").ok_or_else(|| ctx("no type".into()))?,
        name: str_of(&v, "name").ok_or_else(|| ctx("no name".into()))?,
        valid: versions_of(&v, "validVersions").map_err(ctx)?,
        flexible: versions_of(&v, "flexibleVersions").map_err(ctx)?,
        deprecated: versions_of(&v, "deprecatedVersions").map_err(ctx)?,
        listeners: v
            .get("listeners")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|l| l.as_str().map(str::to_owned))
            .collect(),
        latest_version_unstable: v.get("latestVersionUnstable").and_then(Value::as_bool).unwrap_or(false),
        fields,
        common_structs,
        legacy_versions: None,
    })
}

/// Puts back the fields that only the legacy schema declares, each right after the field that
/// precedes it in the legacy list, recursively. Fields both declare keep the current definition,
/// whose version ranges Kafka kept valid for the old versions.
fn merge_fields(current: &mut Vec<Field>, legacy: &[Field]) {
    let mut insert_at = 0;
    for old in legacy {
        match current.iter().position(|f| f.name == old.name) {
            Some(i) => {
                if let (Some(cur), Some(old_fields)) = (current[i].fields.as_mut(), old.fields.as_ref()) {
                    merge_fields(cur, old_fields);
                }
                insert_at = i + 1;
            }
            None => {
                current.insert(insert_at, old.clone());
                insert_at += 1;
            }
        }
    }
}

/// Extends `current` down to the versions `legacy` declares and it no longer does.
pub fn merge_legacy(current: &mut Schema, legacy: Schema) {
    let Some(old_valid) = legacy.valid else { return };
    match current.valid {
        // Kafka 4 removed the API entirely: serve it from the legacy schema as it was.
        None => {
            let mut merged = legacy;
            merged.legacy_versions = merged.valid;
            *current = merged;
        }
        Some(valid) if old_valid.lo < valid.lo => {
            merge_fields(&mut current.fields, &legacy.fields);
            for old in &legacy.common_structs {
                match current.common_structs.iter_mut().find(|c| c.name == old.name) {
                    Some(c) => merge_fields(&mut c.fields, &old.fields),
                    None => current.common_structs.push(old.clone()),
                }
            }
            current.legacy_versions = Some(Versions {
                lo: old_valid.lo,
                hi: valid.lo - 1,
            });
            current.valid = Some(Versions {
                lo: old_valid.lo,
                hi: valid.hi,
            });
        }
        Some(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_inside_strings_survive() {
        let s = strip_comments("{\"a\": \"x // y\"} // gone\n");
        assert_eq!(s.trim(), "{\"a\": \"x // y\"}");
    }

    #[test]
    fn version_ranges_parse() {
        assert_eq!(Versions::parse("3+").unwrap(), Some(Versions { lo: 3, hi: i16::MAX }));
        assert_eq!(Versions::parse("0-2").unwrap(), Some(Versions { lo: 0, hi: 2 }));
        assert_eq!(Versions::parse("5").unwrap(), Some(Versions { lo: 5, hi: 5 }));
        assert_eq!(Versions::parse("none").unwrap(), None);
    }
}

//! The typed view of a schema that the emitters work from: field kinds, Rust names and types,
//! defaults, and the structs each message defines.

use crate::schema::{Field, Schema, Versions};
use std::collections::BTreeMap;

/// A primitive wire type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prim {
    Bool,
    Int8,
    Int16,
    Uint16,
    Int32,
    Uint32,
    Int64,
    Float64,
    String,
    Bytes,
    Records,
    Uuid,
}

impl Prim {
    pub fn parse(s: &str) -> Option<Prim> {
        Some(match s {
            "bool" => Prim::Bool,
            "int8" => Prim::Int8,
            "int16" => Prim::Int16,
            "uint16" => Prim::Uint16,
            "int32" => Prim::Int32,
            "uint32" => Prim::Uint32,
            "int64" => Prim::Int64,
            "float64" => Prim::Float64,
            "string" => Prim::String,
            "bytes" => Prim::Bytes,
            "records" => Prim::Records,
            "uuid" => Prim::Uuid,
            _ => return None,
        })
    }

    pub fn rust(self) -> &'static str {
        match self {
            Prim::Bool => "bool",
            Prim::Int8 => "i8",
            Prim::Int16 => "i16",
            Prim::Uint16 => "u16",
            Prim::Int32 => "i32",
            Prim::Uint32 => "u32",
            Prim::Int64 => "i64",
            Prim::Float64 => "f64",
            Prim::String => "String",
            Prim::Bytes | Prim::Records => "Bytes",
            Prim::Uuid => "c::Uuid",
        }
    }

    /// Fixed wire size, for the types that have one.
    pub fn fixed_size(self) -> Option<usize> {
        match self {
            Prim::Bool | Prim::Int8 => Some(1),
            Prim::Int16 | Prim::Uint16 => Some(2),
            Prim::Int32 | Prim::Uint32 => Some(4),
            Prim::Int64 | Prim::Float64 => Some(8),
            Prim::Uuid => Some(16),
            Prim::String | Prim::Bytes | Prim::Records => None,
        }
    }
}

/// What a field holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Prim(Prim),
    Struct(String),
    ArrayPrim(Prim),
    ArrayStruct(String),
}

impl Kind {
    pub fn of(ty: &str) -> Kind {
        if let Some(elem) = ty.strip_prefix("[]") {
            match Prim::parse(elem) {
                Some(p) => Kind::ArrayPrim(p),
                None => Kind::ArrayStruct(elem.to_owned()),
            }
        } else {
            match Prim::parse(ty) {
                Some(p) => Kind::Prim(p),
                None => Kind::Struct(ty.to_owned()),
            }
        }
    }

    pub fn struct_name(&self) -> Option<&str> {
        match self {
            Kind::Struct(s) | Kind::ArrayStruct(s) => Some(s),
            _ => None,
        }
    }
}

/// A struct the message defines: the message itself, an inline struct, or a common struct.
#[derive(Debug, Clone)]
pub struct StructDef {
    pub name: String,
    pub fields: Vec<Field>,
    /// The versions in which the struct can appear.
    pub versions: Versions,
    pub top_level: bool,
}

/// The message with its structs, ready to emit.
pub struct Model<'a> {
    pub schema: &'a Schema,
    pub valid: Versions,
    pub structs: Vec<StructDef>,
    pub by_name: BTreeMap<String, usize>,
}

const RESERVED_TYPE_NAMES: &[&str] = &[
    "String", "Vec", "Option", "Result", "Bytes", "BytesMut", "Box", "Some", "None", "Ok", "Err", "Self",
];

impl<'a> Model<'a> {
    pub fn build(schema: &'a Schema) -> Result<Model<'a>, String> {
        let valid = schema
            .valid
            .ok_or_else(|| format!("{} has no valid versions", schema.name))?;
        let mut model = Model {
            schema,
            valid,
            structs: Vec::new(),
            by_name: BTreeMap::new(),
        };
        model.add(StructDef {
            name: schema.name.clone(),
            fields: schema.fields.clone(),
            versions: valid,
            top_level: true,
        })?;
        let fields = schema.fields.clone();
        model.collect(&fields, valid)?;
        for common in &schema.common_structs {
            if !model.by_name.contains_key(&common.name) {
                // A common struct that no field uses still gets a type, so the module is complete.
                model.add(StructDef {
                    name: common.name.clone(),
                    fields: common.fields.clone(),
                    versions: valid,
                    top_level: false,
                })?;
                model.collect(&common.fields, valid)?;
            }
        }
        // Every struct a field names must exist.
        for s in &model.structs {
            for f in &s.fields {
                if let Some(n) = Kind::of(&f.ty).struct_name()
                    && !model.by_name.contains_key(n)
                {
                    return Err(format!("{}: field {} names unknown struct {n}", schema.name, f.name));
                }
            }
        }
        Ok(model)
    }

    fn add(&mut self, def: StructDef) -> Result<(), String> {
        if RESERVED_TYPE_NAMES.contains(&def.name.as_str()) {
            return Err(format!(
                "{}: struct name {} would shadow a Rust type",
                self.schema.name, def.name
            ));
        }
        if self.by_name.contains_key(&def.name) {
            return Err(format!("{}: struct {} is defined twice", self.schema.name, def.name));
        }
        self.by_name.insert(def.name.clone(), self.structs.len());
        self.structs.push(def);
        Ok(())
    }

    fn collect(&mut self, fields: &[Field], within: Versions) -> Result<(), String> {
        for f in fields {
            let Some(fv) = f.versions.and_then(|v| v.intersect(within)) else {
                continue;
            };
            let kind = Kind::of(&f.ty);
            let Some(name) = kind.struct_name() else { continue };
            if let Some(inner) = &f.fields {
                self.add(StructDef {
                    name: name.to_owned(),
                    fields: inner.clone(),
                    versions: fv,
                    top_level: false,
                })?;
                self.collect(inner, fv)?;
            } else if let Some(common) = self.schema.common_structs.iter().find(|c| c.name == name) {
                match self.by_name.get(name) {
                    Some(&i) => {
                        // Widen to every place the common struct is used.
                        let cur = self.structs[i].versions;
                        self.structs[i].versions = Versions {
                            lo: cur.lo.min(fv.lo),
                            hi: cur.hi.max(fv.hi),
                        };
                    }
                    None => {
                        let inner = common.fields.clone();
                        self.add(StructDef {
                            name: name.to_owned(),
                            fields: inner.clone(),
                            versions: fv,
                            top_level: false,
                        })?;
                        self.collect(&inner, fv)?;
                    }
                }
            }
        }
        Ok(())
    }

    pub fn get(&self, name: &str) -> &StructDef {
        &self.structs[self.by_name[name]]
    }

    /// Whether `v` is a flexible version of the message.
    pub fn flexible_at(&self, v: i16) -> bool {
        self.schema.flexible.is_some_and(|f| f.contains(v))
    }

    pub fn has_flexible(&self) -> bool {
        self.schema.flexible.and_then(|f| f.intersect(self.valid)).is_some()
    }

    /// The smallest number of bytes one value of `def` takes on the wire in any version it has.
    pub fn min_size(&self, def: &StructDef) -> usize {
        (def.versions.lo..=def.versions.hi.min(self.valid.hi))
            .map(|v| self.min_size_at(def, v))
            .min()
            .unwrap_or(0)
    }

    fn min_size_at(&self, def: &StructDef, v: i16) -> usize {
        let mut size = usize::from(self.flexible_at(v));
        for f in &def.fields {
            if !in_range(f.versions, v) || in_range(f.tagged, v) {
                continue;
            }
            let compact = self.field_compact_at(f, v);
            size += match Kind::of(&f.ty) {
                Kind::Prim(p) => p.fixed_size().unwrap_or(match (p, compact) {
                    (_, true) => 1,
                    (Prim::String, false) => 2,
                    _ => 4,
                }),
                Kind::ArrayPrim(_) | Kind::ArrayStruct(_) => {
                    if compact {
                        1
                    } else {
                        4
                    }
                }
                Kind::Struct(name) => {
                    if in_range(f.nullable, v) {
                        1
                    } else {
                        self.min_size_at(self.get(&name), v)
                    }
                }
            };
        }
        size
    }

    /// Whether a field uses compact encodings at `v`.
    pub fn field_compact_at(&self, f: &Field, v: i16) -> bool {
        match f.flexible {
            Some(over) => in_range(over, v),
            None => self.flexible_at(v),
        }
    }
}

pub fn in_range(r: Option<Versions>, v: i16) -> bool {
    r.is_some_and(|r| r.contains(v))
}

/// `ThrottleTimeMs` -> `throttle_time_ms`, `IPAddress` -> `ip_address`.
pub fn snake(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev_lower = i > 0 && (chars[i - 1].is_ascii_lowercase() || chars[i - 1].is_ascii_digit());
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            let prev_upper = i > 0 && chars[i - 1].is_ascii_uppercase();
            if i > 0 && (prev_lower || (prev_upper && next_lower)) {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

const KEYWORDS: &[&str] = &[
    "as", "break", "const", "continue", "crate", "else", "enum", "extern", "false", "fn", "for", "if", "impl", "in",
    "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return", "self", "static", "struct", "super", "trait",
    "true", "type", "unsafe", "use", "where", "while", "async", "await", "dyn", "abstract", "become", "box", "do",
    "final", "macro", "override", "priv", "typeof", "unsized", "virtual", "yield", "try", "gen",
];

/// The Rust identifier of a field.
pub fn field_ident(name: &str) -> String {
    let s = snake(name);
    if KEYWORDS.contains(&s.as_str()) {
        format!("r#{s}")
    } else {
        s
    }
}

/// Whether the field's Rust type is an `Option`.
pub fn is_option(f: &Field) -> bool {
    matches!(Kind::of(&f.ty), Kind::Prim(Prim::Records)) || f.nullable.is_some()
}

/// The Rust type of a field.
pub fn rust_type(f: &Field) -> String {
    let inner = match Kind::of(&f.ty) {
        Kind::Prim(p) => p.rust().to_owned(),
        Kind::Struct(s) => s,
        Kind::ArrayPrim(p) => format!("Vec<{}>", p.rust()),
        Kind::ArrayStruct(s) => format!("Vec<{s}>"),
    };
    if is_option(f) {
        format!("Option<{inner}>")
    } else {
        inner
    }
}

fn parse_int(s: &str) -> Result<i128, String> {
    let s = s.trim();
    let (neg, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let v = if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        i128::from_str_radix(hex, 16)
    } else if body.len() > 1 && body.starts_with('0') {
        i128::from_str_radix(&body[1..], 8)
    } else {
        body.parse::<i128>()
    }
    .map_err(|e| format!("bad integer default {s:?}: {e}"))?;
    Ok(if neg { -v } else { v })
}

/// The default value of a field as a Rust expression, following Kafka's rules: zero, false, empty
/// string, empty bytes, zero UUID, null records, empty array, unless the schema says otherwise.
pub fn default_expr(f: &Field) -> Result<String, String> {
    let d = f.default.as_deref();
    let null = d == Some("null");
    if null && !is_option(f) {
        return Err(format!("field {} defaults to null but is never nullable", f.name));
    }
    let wrap = |e: String| if is_option(f) { format!("Some({e})") } else { e };
    Ok(match Kind::of(&f.ty) {
        Kind::Prim(Prim::Records) => "None".into(),
        _ if null => "None".into(),
        Kind::Prim(p) => match p {
            Prim::Bool => d.unwrap_or("false").to_owned(),
            Prim::Int8 | Prim::Int16 | Prim::Uint16 | Prim::Int32 | Prim::Uint32 | Prim::Int64 => {
                let v = match d {
                    None => 0,
                    Some(s) => parse_int(s).map_err(|e| format!("field {}: {e}", f.name))?,
                };
                let (lo, hi): (i128, i128) = match p {
                    Prim::Int8 => (i8::MIN.into(), i8::MAX.into()),
                    Prim::Int16 => (i16::MIN.into(), i16::MAX.into()),
                    Prim::Uint16 => (0, u16::MAX.into()),
                    Prim::Int32 => (i32::MIN.into(), i32::MAX.into()),
                    Prim::Uint32 => (0, u32::MAX.into()),
                    _ => (i64::MIN.into(), i64::MAX.into()),
                };
                if v < lo || v > hi {
                    return Err(format!("field {}: default {v} out of range", f.name));
                }
                if p == Prim::Int64 && v == i128::from(i64::MIN) {
                    "i64::MIN".into()
                } else {
                    v.to_string()
                }
            }
            Prim::Float64 => {
                let v: f64 = d.unwrap_or("0").parse().map_err(|e| format!("field {}: {e}", f.name))?;
                format!("{v:?}")
            }
            Prim::String => match d {
                None | Some("") => wrap("String::new()".into()),
                Some(s) => wrap(format!("String::from({s:?})")),
            },
            Prim::Bytes => wrap("Bytes::new()".into()),
            Prim::Uuid => "c::Uuid::ZERO".into(),
            Prim::Records => unreachable!("handled above"),
        },
        Kind::Struct(s) => wrap(format!("{s}::default()")),
        Kind::ArrayPrim(_) | Kind::ArrayStruct(_) => wrap("Vec::new()".into()),
    })
}

/// A Rust condition that is true when the field differs from its default.
pub fn non_default_cond(f: &Field, access: &str) -> Result<String, String> {
    let d = default_expr(f)?;
    Ok(match (Kind::of(&f.ty), d.as_str()) {
        (_, "None") => format!("{access}.is_some()"),
        (Kind::Prim(Prim::Uuid), _) => format!("!{access}.is_zero()"),
        (Kind::Prim(Prim::String | Prim::Bytes) | Kind::ArrayPrim(_) | Kind::ArrayStruct(_), _)
            if !is_option(f) && !d.contains('"') =>
        {
            format!("!{access}.is_empty()")
        }
        (Kind::Prim(Prim::String), _) if !is_option(f) => format!("{access} != {d}"),
        _ => format!("{access} != {d}"),
    })
}

//! Writes the Rust source of one message module: types, defaults, decode, encode and size.

use crate::model::{Kind, Model, Prim, StructDef, default_expr, field_ident, is_option, non_default_cond, rust_type};
use crate::schema::{Field, Versions};
use std::fmt::Write;

/// A version condition, simplified against the versions the message (or struct) can have.
pub enum Cond {
    Always,
    Never,
    Expr(String),
}

impl Cond {
    pub fn of(r: Option<Versions>, within: Versions) -> Cond {
        let Some(r) = r.and_then(|r| r.intersect(within)) else {
            return Cond::Never;
        };
        match (r.lo > within.lo, r.hi < within.hi) {
            (false, false) => Cond::Always,
            (true, false) => Cond::Expr(format!("v >= {}", r.lo)),
            (false, true) => Cond::Expr(format!("v <= {}", r.hi)),
            (true, true) if r.lo == r.hi => Cond::Expr(format!("v == {}", r.lo)),
            (true, true) => Cond::Expr(format!("({}..={}).contains(&v)", r.lo, r.hi)),
        }
    }

    pub fn expr(&self) -> String {
        match self {
            Cond::Always => "true".into(),
            Cond::Never => "false".into(),
            Cond::Expr(e) => e.clone(),
        }
    }

    /// Wraps `body` in an `if` unless the condition is constant.
    pub fn guard(&self, body: &str) -> String {
        match self {
            Cond::Always => body.to_owned(),
            Cond::Never => String::new(),
            Cond::Expr(e) => format!("if {e} {{\n{body}\n}}\n"),
        }
    }
}

/// The regular (untagged) versions of a field: its versions minus its tagged versions.
fn regular_cond(f: &Field, within: Versions) -> Cond {
    let Some(v) = f.versions.and_then(|v| v.intersect(within)) else {
        return Cond::Never;
    };
    match f.tagged.and_then(|t| t.intersect(v)) {
        None => Cond::of(Some(v), within),
        // Tagged versions are open-ended, so the regular part is what comes before them.
        Some(t) if t.lo > v.lo => Cond::of(Some(Versions { lo: v.lo, hi: t.lo - 1 }), within),
        Some(_) => Cond::Never,
    }
}

fn tagged_cond(f: &Field, within: Versions) -> Cond {
    match (f.tagged, f.versions) {
        (Some(t), Some(v)) => Cond::of(t.intersect(v), within),
        _ => Cond::Never,
    }
}

/// Rust expression for whether a field is compact at the runtime version `v`.
fn compact_expr(m: &Model, f: &Field, within: Versions) -> String {
    match f.flexible {
        Some(over) => Cond::of(over, within).expr(),
        None => match Cond::of(m.schema.flexible, within) {
            Cond::Always => "true".into(),
            Cond::Never => "false".into(),
            Cond::Expr(_) => "flexible".into(),
        },
    }
}

fn doc_lines(out: &mut String, text: &str) {
    for line in text.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            out.push_str("///\n");
        } else {
            let _ = writeln!(out, "/// {line}");
        }
    }
}

fn field_doc(f: &Field) -> String {
    let mut doc = if f.about.is_empty() {
        format!("{}.", f.name)
    } else {
        f.about.clone()
    };
    let mut notes = Vec::new();
    if let Some(v) = f.versions {
        notes.push(format!("versions {}", v.describe()));
    }
    if let (Some(t), Some(tag)) = (f.tagged, f.tag) {
        notes.push(format!("tagged field {tag} in {}", t.describe()));
    }
    if let Some(n) = f.nullable {
        notes.push(format!("nullable in {}", n.describe()));
    }
    if let Some(d) = &f.default {
        notes.push(format!("default {d}"));
    }
    if f.ignorable {
        notes.push("ignorable".into());
    }
    if let Some(e) = &f.entity_type {
        notes.push(format!("entity type {e}"));
    }
    if f.map_key {
        notes.push("map key".into());
    }
    doc.push_str(&format!("\n\nSchema: {}.", notes.join("; ")));
    doc
}

/// Decodes one element (or a non-null value) of a primitive.
fn prim_decode(p: Prim, compact: &str, name: &str) -> String {
    match p {
        Prim::Bool => "c::get_bool(buf)?".into(),
        Prim::Int8 => "c::get_i8(buf)?".into(),
        Prim::Int16 => "c::get_i16(buf)?".into(),
        Prim::Uint16 => "c::get_u16(buf)?".into(),
        Prim::Int32 => "c::get_i32(buf)?".into(),
        Prim::Uint32 => "c::get_u32(buf)?".into(),
        Prim::Int64 => "c::get_i64(buf)?".into(),
        Prim::Float64 => "c::get_f64(buf)?".into(),
        Prim::Uuid => "c::get_uuid(buf)?".into(),
        Prim::String => format!("c::get_string(buf, {compact}, {name:?})?"),
        Prim::Bytes | Prim::Records => format!("c::get_bytes(buf, {compact}, {name:?})?"),
    }
}

/// Decodes a nullable primitive into an `Option`.
fn prim_decode_nullable(p: Prim, compact: &str) -> String {
    match p {
        Prim::String => format!("c::get_nullable_string(buf, {compact})?"),
        _ => format!("c::get_nullable_bytes(buf, {compact})?"),
    }
}

fn elem_min_size(m: &Model, kind: &Kind) -> usize {
    match kind {
        Kind::ArrayPrim(p) => p.fixed_size().unwrap_or(1),
        Kind::ArrayStruct(s) => m.min_size(m.get(s)).max(1),
        _ => 1,
    }
}

/// The expression that decodes field `f` at a version where it is present.
fn field_decode(m: &Model, f: &Field, within: Versions) -> String {
    let compact = compact_expr(m, f, within);
    let nullable = Cond::of(f.nullable, within);
    let name = &f.name;
    let opt = is_option(f);
    let wrap_some = |e: String| if opt { format!("Some({e})") } else { e };
    match Kind::of(&f.ty) {
        Kind::Prim(p @ (Prim::String | Prim::Bytes | Prim::Records)) => match nullable {
            Cond::Always => prim_decode_nullable(p, &compact),
            Cond::Never => wrap_some(prim_decode(p, &compact, name)),
            Cond::Expr(e) => format!(
                "if {e} {{ {} }} else {{ Some({}) }}",
                prim_decode_nullable(p, &compact),
                prim_decode(p, &compact, name)
            ),
        },
        Kind::Prim(p) => prim_decode(p, &compact, name),
        Kind::Struct(s) => {
            let read = format!("{s}::decode(buf, v)?");
            match nullable {
                Cond::Never => wrap_some(read),
                cond => format!(
                    "if !({}) || c::get_presence(buf)? {{ Some({read}) }} else {{ None }}",
                    cond.expr()
                ),
            }
        }
        kind @ (Kind::ArrayPrim(_) | Kind::ArrayStruct(_)) => {
            let elem = match &kind {
                Kind::ArrayPrim(p) => prim_decode(*p, &compact, name),
                Kind::ArrayStruct(s) => format!("{s}::decode(buf, v)?"),
                _ => unreachable!(),
            };
            let min = elem_min_size(m, &kind);
            let fill = format!("let mut items = c::vec_for(n); for _ in 0..n {{ items.push({elem}); }} items");
            match nullable {
                Cond::Never => {
                    let body =
                        format!("{{ let n = c::get_array_len_required(buf, {compact}, {min}, {name:?})?; {fill} }}");
                    wrap_some(body)
                }
                cond => format!(
                    "{{ let n = if {} {{ c::get_array_len(buf, {compact}, {min})? }} else {{ Some(c::get_array_len_required(buf, {compact}, {min}, {name:?})?) }}; match n {{ None => None, Some(n) => {{ let mut items = c::vec_for(n); for _ in 0..n {{ items.push({elem}); }} Some(items) }} }} }}",
                    cond.expr(),
                ),
            }
        }
    }
}

fn prim_put(p: Prim, x: &str, compact: &str, name: &str) -> String {
    match p {
        Prim::Bool => format!("c::put_bool(buf, *{x});"),
        Prim::Int8 => format!("buf.put_i8(*{x});"),
        Prim::Int16 => format!("buf.put_i16(*{x});"),
        Prim::Uint16 => format!("buf.put_u16(*{x});"),
        Prim::Int32 => format!("buf.put_i32(*{x});"),
        Prim::Uint32 => format!("buf.put_u32(*{x});"),
        Prim::Int64 => format!("buf.put_i64(*{x});"),
        Prim::Float64 => format!("buf.put_f64(*{x});"),
        Prim::Uuid => format!("c::put_uuid(buf, {x});"),
        Prim::String => format!("c::put_string(buf, {x}, {compact}, {name:?})?;"),
        Prim::Bytes | Prim::Records => format!("c::put_bytes(buf, {x}, {compact}, {name:?})?;"),
    }
}

fn prim_size(p: Prim, x: &str, compact: &str) -> String {
    match p.fixed_size() {
        Some(n) => n.to_string(),
        None => match p {
            Prim::String => format!("c::string_size(Some({x}.as_str()), {compact})"),
            _ => format!("c::bytes_size(Some(&{x}[..]), {compact})"),
        },
    }
}

/// Statements that write the non-null value `x` (a reference) of field `f`.
fn value_put(m: &Model, f: &Field, x: &str, within: Versions, nullable: &Cond) -> String {
    let compact = compact_expr(m, f, within);
    let name = &f.name;
    match Kind::of(&f.ty) {
        Kind::Prim(p) => prim_put(p, x, &compact, name),
        Kind::Struct(_) => {
            let marker = match nullable {
                Cond::Never => String::new(),
                c => c.guard("buf.put_i8(1);"),
            };
            format!("{marker}{x}.encode(buf, v)?;")
        }
        Kind::ArrayPrim(p) => format!(
            "c::put_array_len(buf, Some({x}.len()), {compact}, {name:?})?; for e in {x}.iter() {{ {} }}",
            prim_put(p, "e", &compact, name)
        ),
        Kind::ArrayStruct(_) => format!(
            "c::put_array_len(buf, Some({x}.len()), {compact}, {name:?})?; for e in {x}.iter() {{ e.encode(buf, v)?; }}"
        ),
    }
}

/// Expression for the size of the non-null value `x` (a reference) of field `f`.
fn value_size(m: &Model, f: &Field, x: &str, within: Versions, nullable: &Cond) -> String {
    let compact = compact_expr(m, f, within);
    match Kind::of(&f.ty) {
        Kind::Prim(p) => prim_size(p, x, &compact),
        Kind::Struct(_) => {
            let marker = match nullable {
                Cond::Never => "0".to_owned(),
                c => format!("usize::from({})", c.expr()),
            };
            format!("{marker} + {x}.encoded_size(v)")
        }
        Kind::ArrayPrim(p) => {
            let each = match p.fixed_size() {
                Some(n) => format!("{x}.len() * {n}"),
                None => format!("{x}.iter().map(|e| {}).sum::<usize>()", prim_size(p, "e", &compact)),
            };
            format!("c::array_len_size(Some({x}.len()), {compact}) + {each}")
        }
        Kind::ArrayStruct(_) => format!(
            "c::array_len_size(Some({x}.len()), {compact}) + {x}.iter().map(|e| e.encoded_size(v)).sum::<usize>()"
        ),
    }
}

fn null_put(f: &Field, compact: &str) -> String {
    let name = &f.name;
    match Kind::of(&f.ty) {
        Kind::Prim(Prim::String) => format!("c::put_nullable_string(buf, None, {compact}, {name:?})?;"),
        Kind::Prim(_) => format!("c::put_nullable_bytes(buf, None, {compact}, {name:?})?;"),
        Kind::Struct(_) => "buf.put_i8(-1);".into(),
        _ => format!("c::put_array_len(buf, None, {compact}, {name:?})?;"),
    }
}

fn null_size(f: &Field, compact: &str) -> String {
    match Kind::of(&f.ty) {
        Kind::Prim(Prim::String) => format!("c::string_size(None, {compact})"),
        Kind::Prim(_) => format!("c::bytes_size(None, {compact})"),
        Kind::Struct(_) => "1".into(),
        _ => format!("c::array_len_size(None, {compact})"),
    }
}

/// Statements that write field `f` of `self`.
fn field_put(m: &Model, f: &Field, within: Versions) -> String {
    let ident = field_ident(&f.name);
    let nullable = Cond::of(f.nullable, within);
    if !is_option(f) {
        return format!(
            "{{ let x = &self.{ident}; {} }}",
            value_put(m, f, "x", within, &nullable)
        );
    }
    let compact = compact_expr(m, f, within);
    let none = match &nullable {
        Cond::Always => null_put(f, &compact),
        Cond::Never => format!(
            "return Err(EncodeError::NullNotAllowed {{ field: {:?}, version: v }});",
            f.name
        ),
        Cond::Expr(e) => format!(
            "if {e} {{ {} }} else {{ return Err(EncodeError::NullNotAllowed {{ field: {:?}, version: v }}); }}",
            null_put(f, &compact),
            f.name
        ),
    };
    format!(
        "match &self.{ident} {{ None => {{ {none} }} Some(x) => {{ {} }} }}",
        value_put(m, f, "x", within, &nullable)
    )
}

/// Expression for the size of field `f` of `self`.
fn field_size(m: &Model, f: &Field, within: Versions) -> String {
    let ident = field_ident(&f.name);
    let nullable = Cond::of(f.nullable, within);
    if !is_option(f) {
        return format!(
            "{{ let x = &self.{ident}; {} }}",
            value_size(m, f, "x", within, &nullable)
        );
    }
    let compact = compact_expr(m, f, within);
    format!(
        "match &self.{ident} {{ None => {}, Some(x) => {} }}",
        null_size(f, &compact),
        value_size(m, f, "x", within, &nullable)
    )
}

/// Emits one struct: its type, `Default`, and codec methods.
pub fn emit_struct(m: &Model, def: &StructDef, out: &mut String) -> Result<(), String> {
    let within = Versions {
        lo: m.valid.lo.max(def.versions.lo),
        hi: m.valid.hi.min(def.versions.hi),
    };
    let flexible = m.has_flexible();
    let vis_fields: Vec<&Field> = def
        .fields
        .iter()
        .filter(|f| f.versions.and_then(|v| v.intersect(m.valid)).is_some())
        .collect();
    let mut tagged: Vec<&Field> = vis_fields
        .iter()
        .copied()
        .filter(|f| f.tag.is_some() && f.tagged.is_some())
        .collect();
    tagged.sort_by_key(|f| f.tag);

    // The type.
    if def.top_level {
        let what = match m.schema.kind.as_str() {
            "request" | "response" => format!(
                "The {} of API key {} ({}), versions {}.",
                m.schema.kind,
                m.schema.api_key.unwrap_or(-1),
                m.schema.name.trim_end_matches("Request").trim_end_matches("Response"),
                m.valid.describe()
            ),
            kind => format!(
                "The `{}` {kind} message, versions {}.",
                m.schema.name,
                m.valid.describe()
            ),
        };
        doc_lines(out, &what);
        if let Some(f) = m.schema.flexible.and_then(|f| f.intersect(m.valid)) {
            doc_lines(
                out,
                &format!("\nFlexible (compact encodings, tagged fields) in {}.", f.describe()),
            );
        }
        if let Some(l) = m.schema.legacy_versions {
            doc_lines(
                out,
                &format!(
                    "\nVersions {} come from the schema before Kafka 4.0 (KIP-896).",
                    l.describe()
                ),
            );
        }
    } else {
        doc_lines(
            out,
            &format!("Part of `{}` (versions {}).", m.schema.name, within.describe()),
        );
    }
    let _ = writeln!(out, "#[derive(Debug, Clone, PartialEq)]\npub struct {} {{", def.name);
    for f in &vis_fields {
        doc_lines(out, &field_doc(f));
        let _ = writeln!(out, "pub {}: {},", field_ident(&f.name), rust_type(f));
    }
    if flexible {
        let _ = writeln!(
            out,
            "/// Tagged fields this codec does not know, kept as their wire bytes so they survive a re-encode.\npub unknown_tagged_fields: c::UnknownTaggedFields,"
        );
    }
    out.push_str("}\n\n");

    // Default.
    let _ = writeln!(
        out,
        "impl Default for {} {{\nfn default() -> Self {{\nSelf {{",
        def.name
    );
    for f in &vis_fields {
        let _ = writeln!(out, "{}: {},", field_ident(&f.name), default_expr(f)?);
    }
    if flexible {
        out.push_str("unknown_tagged_fields: c::UnknownTaggedFields::new(),\n");
    }
    out.push_str("}\n}\n}\n\n");

    // The message's own methods are private: callers go through `Message`, which checks the version.
    let (vis, dec_fn, enc_fn, size_fn) = if def.top_level {
        ("", "decode_fields", "encode_fields", "size_fields")
    } else {
        ("pub ", "decode", "encode", "encoded_size")
    };
    let flex_line = match Cond::of(m.schema.flexible, within) {
        Cond::Expr(e) => format!("let flexible = {e};\n"),
        _ => String::new(),
    };
    let flex_test = Cond::of(m.schema.flexible, within);

    // Decode.
    let mut dec = String::new();
    let _ = writeln!(
        dec,
        "/// Reads one value of version `v`, advancing `buf` past it.\n{vis}fn {dec_fn}(buf: &mut Bytes, v: i16) -> Result<Self, DecodeError> {{\n{flex_line}let mut this = Self::default();"
    );
    for f in &vis_fields {
        let cond = regular_cond(f, within);
        let stmt = format!("this.{} = {};", field_ident(&f.name), field_decode(m, f, within));
        dec.push_str(&cond.guard(&stmt));
        dec.push('\n');
    }
    if flexible {
        let mut arms = String::new();
        for f in &tagged {
            let cond = tagged_cond(f, within);
            if matches!(cond, Cond::Never) {
                continue;
            }
            let guard = match &cond {
                Cond::Expr(e) => format!(" if {e}"),
                _ => String::new(),
            };
            let _ = writeln!(
                arms,
                "{}{guard} => {{ let buf = &mut data; this.{} = {}; }}",
                f.tag.unwrap_or(0),
                field_ident(&f.name),
                field_decode(m, f, within)
            );
        }
        // The section reader caps the field count (c::TAGGED_FIELDS_MAX) and keeps the unknown
        // fields as wire bytes, so every struct gets the same bound.
        let body = format!(
            "let mut fields = c::TaggedFieldsReader::new(buf)?;\nwhile let Some((tag, mut data)) = fields.next_field(buf)? {{\n#[allow(clippy::match_single_binding)]\nmatch tag {{\n{arms}_ => fields.keep_unknown(),\n}}\n}}\nthis.unknown_tagged_fields = fields.finish();"
        );
        dec.push_str(&flex_test.guard(&body));
    }
    dec.push_str("Ok(this)\n}\n\n");

    // Encode.
    let mut enc = String::new();
    let _ = writeln!(
        enc,
        "/// Appends the value encoded in version `v`.\n{vis}fn {enc_fn}(&self, buf: &mut BytesMut, v: i16) -> Result<(), EncodeError> {{\n{flex_line}"
    );
    for f in &vis_fields {
        let cond = regular_cond(f, within);
        let put = field_put(m, f, within);
        let absent = Cond::of(f.versions, within);
        let check = if f.ignorable {
            None
        } else {
            Some(format!(
                "if {} {{ return Err(EncodeError::FieldNotInVersion {{ field: {:?}, version: v }}); }}",
                non_default_cond(f, &format!("self.{}", field_ident(&f.name)))?,
                f.name
            ))
        };
        let tagged_somewhere = !matches!(tagged_cond(f, within), Cond::Never);
        match (&cond, &absent, check) {
            (Cond::Always, _, _) => enc.push_str(&put),
            (_, Cond::Always, _) | (_, _, None) => enc.push_str(&cond.guard(&put)),
            // Never a regular field here: absent, or only tagged.
            (Cond::Never, Cond::Never, Some(check)) => enc.push_str(&check),
            (Cond::Never, absent, Some(check)) => {
                let _ = write!(enc, "if !({}) {{ {check} }}", absent.expr());
            }
            // A regular field in some versions and absent in all the others.
            (Cond::Expr(c), _, Some(check)) if !tagged_somewhere => {
                let _ = write!(enc, "if {c} {{ {put} }} else {{ {check} }}");
            }
            (Cond::Expr(c), absent, Some(check)) => {
                let _ = write!(enc, "if {c} {{ {put} }} else if !({}) {{ {check} }}", absent.expr());
            }
        }
        enc.push('\n');
    }
    if flexible {
        let mut body = String::from("let mut tagged_count = self.unknown_tagged_fields.len();\n");
        let mut writes = String::from("let mut raw_next = 0usize;\n");
        for f in &tagged {
            let cond = tagged_cond(f, within);
            if matches!(cond, Cond::Never) {
                continue;
            }
            let tag = f.tag.unwrap_or(0);
            let present = format!(
                "{} && {}",
                cond.expr(),
                non_default_cond(f, &format!("self.{}", field_ident(&f.name)))?
            );
            let _ = writeln!(body, "if {present} {{ tagged_count += 1; }}");
            let _ = writeln!(
                writes,
                "if {present} {{ c::put_raw_tagged_below(buf, &self.unknown_tagged_fields, &mut raw_next, {tag}); let size = {}; c::put_tag_header(buf, {tag}, size); {} }}",
                field_size(m, f, within),
                field_put(m, f, within)
            );
        }
        body.push_str("c::put_uvarint(buf, tagged_count as u32);\n");
        body.push_str(&writes);
        body.push_str("c::put_raw_tagged_below(buf, &self.unknown_tagged_fields, &mut raw_next, u64::MAX);");
        enc.push_str(&flex_test.guard(&body));
    }
    enc.push_str("Ok(())\n}\n\n");

    // Size.
    let mut size = String::new();
    let _ = writeln!(
        size,
        "/// The exact number of bytes written for version `v`.\n{vis}fn {size_fn}(&self, v: i16) -> usize {{\n{flex_line}let mut size = 0usize;"
    );
    for f in &vis_fields {
        let cond = regular_cond(f, within);
        size.push_str(&cond.guard(&format!("size += {};", field_size(m, f, within))));
        size.push('\n');
    }
    if flexible {
        let mut body = String::from(
            "let mut tagged_count = self.unknown_tagged_fields.len();\nsize += c::raw_tagged_size(&self.unknown_tagged_fields);\n",
        );
        for f in &tagged {
            let cond = tagged_cond(f, within);
            if matches!(cond, Cond::Never) {
                continue;
            }
            let present = format!(
                "{} && {}",
                cond.expr(),
                non_default_cond(f, &format!("self.{}", field_ident(&f.name)))?
            );
            let _ = writeln!(
                body,
                "if {present} {{ tagged_count += 1; size += c::tagged_size({}, {}); }}",
                f.tag.unwrap_or(0),
                field_size(m, f, within)
            );
        }
        body.push_str("size += c::uvarint_size(tagged_count as u32);");
        size.push_str(&flex_test.guard(&body));
    }
    size.push_str("size\n}\n");

    let _ = writeln!(out, "impl {} {{\n{dec}{enc}{size}}}\n", def.name);
    Ok(())
}

/// Emits the whole module of one message.
pub fn emit_module(m: &Model) -> Result<String, String> {
    let s = m.schema;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "// @generated by `cargo xtask codegen` from Kafka's {}.json. Do not edit.\n",
        s.name
    );
    let _ = writeln!(
        out,
        "//! `{}`: the generated codec for this message and its structs.\n",
        s.name
    );
    out.push_str("#![allow(unused_variables, unused_mut, clippy::all, clippy::pedantic)]\n\n");
    out.push_str("use crate::codec::{self as c, DecodeError, EncodeError};\n#[allow(unused_imports)]\nuse bytes::{BufMut, Bytes, BytesMut};\n\n");
    for def in &m.structs {
        emit_struct(m, def, &mut out)?;
    }
    let top = &m.structs[0];
    let first_flex = match s.flexible.and_then(|f| f.intersect(m.valid)) {
        Some(f) => format!("Some({})", f.lo),
        None => "None".into(),
    };
    let _ = writeln!(
        out,
        "impl c::Message for {name} {{\nconst NAME: &'static str = {name:?};\nconst VERSIONS: (i16, i16) = ({lo}, {hi});\nconst FIRST_FLEXIBLE_VERSION: Option<i16> = {first_flex};\n\
         fn decode(buf: &mut Bytes, version: i16) -> Result<Self, DecodeError> {{\nif !(({lo}..={hi}).contains(&version)) {{ return Err(DecodeError::UnsupportedVersion {{ message: {name:?}, version }}); }}\n{name}::decode_fields(buf, version)\n}}\n\
         fn encode(&self, buf: &mut BytesMut, version: i16) -> Result<(), EncodeError> {{\nif !(({lo}..={hi}).contains(&version)) {{ return Err(EncodeError::UnsupportedVersion {{ message: {name:?}, version }}); }}\n{name}::encode_fields(self, buf, version)\n}}\n\
         fn encoded_size(&self, version: i16) -> usize {{\n{name}::size_fields(self, version)\n}}\n}}\n",
        name = top.name,
        lo = m.valid.lo,
        hi = m.valid.hi,
    );
    Ok(out)
}

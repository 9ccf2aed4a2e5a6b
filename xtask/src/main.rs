//! Project automation. `cargo xtask codegen` regenerates the protocol crate's message code from
//! Kafka's schemas; `cargo xtask codegen --check` fails if the committed code differs.

mod emit;
mod model;
mod registry;
mod schema;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

/// Where the schemas live relative to the workspace root: beside the repository, never inside it.
/// `SLUICE_KAFKA_REFERENCE` names another `kafka-reference` directory, for checkouts (git
/// worktrees) that do not sit beside `shared/`.
const REFERENCE_DIR: &str = "../shared/kafka-reference";
const REFERENCE_DIR_ENV: &str = "SLUICE_KAFKA_REFERENCE";
const OUT_DIR: &str = "crates/protocol/src/generated";
const TEST_OUT: &str = "crates/protocol/tests/round_trip_generated.rs";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("codegen") => codegen(&workspace_root(), args.iter().any(|a| a == "--check")),
        _ => Err("usage: cargo xtask codegen [--check]".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Loads every schema, with the versions Kafka 4 dropped merged back in from the legacy files.
fn load_schemas(root: &Path) -> Result<Vec<schema::Schema>, String> {
    let reference = std::env::var_os(REFERENCE_DIR_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(REFERENCE_DIR));
    let dir = reference.join("message");
    let legacy_dir = reference.join("message-legacy");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    names.sort();
    let mut schemas = Vec::new();
    for path in names {
        let mut s = schema::load(&path)?;
        let legacy = legacy_dir.join(path.file_name().unwrap_or_default());
        if legacy.exists() {
            schema::merge_legacy(&mut s, schema::load(&legacy)?);
        }
        if s.valid.is_some() {
            schemas.push(s);
        }
    }
    Ok(schemas)
}

fn rustfmt(src: &str) -> Result<String, String> {
    let mut child = Command::new("rustfmt")
        .args(["--edition", "2024", "--config", "max_width=120"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run rustfmt: {e}"))?;
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    let input = src.to_owned();
    let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, input.as_bytes()));
    let output = child.wait_with_output().map_err(|e| e.to_string())?;
    writer
        .join()
        .map_err(|_| "writer panicked")?
        .map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(format!("rustfmt failed: {}", String::from_utf8_lossy(&output.stderr)));
    }
    String::from_utf8(output.stdout).map_err(|e| e.to_string())
}

fn codegen(root: &Path, check: bool) -> Result<(), String> {
    let schemas = load_schemas(root)?;
    let models = schemas.iter().map(model::Model::build).collect::<Result<Vec<_>, _>>()?;
    let mut files: Vec<(PathBuf, String)> = Vec::new();
    for m in &models {
        let name = format!("{}.rs", model::snake(&m.schema.name));
        files.push((root.join(OUT_DIR).join(name), emit::emit_module(m)?));
    }
    files.push((root.join(OUT_DIR).join("mod.rs"), registry::emit_mod(&schemas)?));
    files.push((root.join(TEST_OUT), registry::emit_round_trip_test(&models)?));

    let mut stale = Vec::new();
    for (path, src) in &files {
        let formatted = rustfmt(src).map_err(|e| format!("{}: {e}", path.display()))?;
        let current = std::fs::read_to_string(path).unwrap_or_default();
        if current == formatted {
            continue;
        }
        if check {
            stale.push(path.display().to_string());
        } else {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
            }
            std::fs::write(path, formatted).map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    // Files the generator no longer writes would otherwise linger.
    let expected: Vec<&PathBuf> = files.iter().map(|(p, _)| p).collect();
    if let Ok(entries) = std::fs::read_dir(root.join(OUT_DIR)) {
        for e in entries.flatten() {
            let p = e.path();
            if !expected.contains(&&p) {
                if check {
                    stale.push(format!("{} (not generated)", p.display()));
                } else {
                    std::fs::remove_file(&p).map_err(|e| e.to_string())?;
                }
            }
        }
    }
    if check && !stale.is_empty() {
        return Err(format!(
            "generated code is out of date; run `cargo xtask codegen` and commit:\n  {}",
            stale.join("\n  ")
        ));
    }
    eprintln!(
        "codegen: {} schemas, {} files {}",
        schemas.len(),
        files.len(),
        if check { "up to date" } else { "written" }
    );
    Ok(())
}

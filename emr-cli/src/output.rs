//! What a command prints: its result as lines for a person or one JSON
//! object, and an error as one `error: <kind>: <message>` line with the
//! exit code its kind maps to.

use std::io::Write as _;
use std::process::ExitCode;

use serde_json::{json, Map, Value};

use crate::error::CliError;

/// A command's result: lines for a person, fields for `--json`.
pub struct Output {
    pub text: String,
    pub json: Map<String, Value>,
}

impl Output {
    pub fn new(text: impl Into<String>, json: Value) -> Output {
        let json = match json {
            Value::Object(map) => map,
            other => Map::from_iter([("result".to_owned(), other)]),
        };
        Output {
            text: text.into(),
            json,
        }
    }
}

pub fn report(result: Result<Output, CliError>, json: bool, name: &str) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    match result {
        Ok(output) => {
            if json {
                let mut map = Map::new();
                map.insert("ok".into(), Value::Bool(true));
                map.insert("command".into(), Value::String(name.into()));
                map.extend(output.json);
                let _ = writeln!(stdout, "{}", Value::Object(map));
            } else if !output.text.is_empty() {
                let _ = writeln!(stdout, "{}", output.text.trim_end());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            let code = e.exit_code();
            if json {
                let mut value = json!({
                    "ok": false,
                    "command": name,
                    "error": {"kind": e.kind, "message": e.message, "exit_code": code, "positions": e.positions},
                });
                if let (Some(partial), Value::Object(map)) = (&e.partial, &mut value) {
                    for (k, v) in &partial.1 {
                        map.entry(k.clone()).or_insert_with(|| v.clone());
                    }
                }
                let _ = writeln!(stdout, "{value}");
            } else if let Some(partial) = &e.partial {
                let _ = writeln!(stdout, "{}", partial.0.trim_end());
            }
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(stderr, "{}", e.line());
            if let Some(detail) = &e.detail {
                let _ = writeln!(stderr, "{detail}");
            }
            ExitCode::from(code as u8)
        }
    }
}

//! Settings: a flag, then a `WEIR_*` environment variable (clap reads both), then `weir.toml` in the
//! working directory, then the default.

use std::collections::HashMap;

use anyhow::{bail, Context};

use crate::cli::{Cli, LogFormat};

#[derive(Debug, Clone)]
pub struct Settings {
    pub store: String,
    pub log_level: String,
    pub log_format: LogFormat,
    /// Where the system namespace's listener binds (`system_addr`).
    pub system_addr: String,
}

/// Reads `key = "value"` lines of `weir.toml` (flat keys only).
fn file_settings() -> anyhow::Result<HashMap<String, String>> {
    let path = std::path::Path::new("weir.toml");
    let mut out = HashMap::new();
    if !path.exists() {
        return Ok(out);
    }
    let text = std::fs::read_to_string(path).context("weir.toml")?;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            bail!("weir.toml: line {}: expected key = \"value\"", i + 1);
        };
        out.insert(k.trim().to_string(), v.trim().trim_matches('"').to_string());
    }
    Ok(out)
}

impl Settings {
    pub fn resolve(cli: &Cli) -> anyhow::Result<Self> {
        let file = file_settings()?;
        let store = cli
            .store
            .clone()
            .or_else(|| file.get("store").cloned())
            .unwrap_or_else(|| "sqlite://.weir/weir.db".into());
        let log_level = cli
            .log_level
            .clone()
            .or_else(|| file.get("log_level").cloned())
            .unwrap_or_else(|| "info".into());
        let log_format = match cli.log_format {
            Some(f) => f,
            None => match file.get("log_format").map(String::as_str) {
                None | Some("text") => LogFormat::Text,
                Some("json") => LogFormat::Json,
                Some(other) => {
                    bail!("weir.toml: field \"log_format\": unknown format \"{other}\" (text or json)")
                }
            },
        };
        let system_addr = match &cli.command {
            crate::cli::Command::Start(a) => a.system_addr.clone(),
            _ => None,
        }
        .or_else(|| file.get("system_addr").cloned())
        .unwrap_or_else(|| crate::system_ns::DEFAULT_ADDR.into());
        Ok(Settings {
            system_addr,
            store,
            log_level,
            log_format,
        })
    }
}

/// Logs go to stderr, so stdout carries only what tests read (the `listening` lines).
pub fn init_logging(settings: &Settings) {
    let filter = tracing_subscriber::EnvFilter::try_new(&settings.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    match settings.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

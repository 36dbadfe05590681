//! The command line, as DESIGN.md's Interfaces section lays it out.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(name = "weir", version, about = "A declarative, streaming workflow engine")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// Log level: error, warn, info, debug, trace (or a tracing filter).
    #[arg(long, global = true, env = "WEIR_LOG_LEVEL")]
    pub log_level: Option<String>,

    /// Log format.
    #[arg(long, global = true, value_enum, env = "WEIR_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,

    /// The store: sqlite://PATH (default sqlite://.weir/weir.db), memory://, or mongodb://HOST/DATABASE (a replica set).
    #[arg(long, global = true, env = "WEIR_STORE")]
    pub store: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Runs namespaces: loads their specs and keeps them in step with the store.
    Start(StartArgs),
    /// Validates resources from files and upserts them in the store, all or none.
    Apply(ApplyArgs),
    /// Lists resources in the store.
    Get(GetArgs),
    /// Deletes resources from the store, by name or as listed in files.
    Delete(DeleteArgs),
    /// Runs one job through a node and prints its events as they come.
    Run(RunArgs),
}

/// How `run` prints events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RunOutput {
    /// Tokens inline, other events as lines, then the result.
    Text,
    /// Every event as one JSON line.
    Json,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The node (spec name) to write the input into.
    pub node: String,

    /// The namespace of the node.
    #[arg(short = 'n', long = "namespace", default_value = "default")]
    pub namespace: String,

    /// The input: JSON, or else taken as a string.
    #[arg(short = 'i', long = "input", conflicts_with = "file")]
    pub input: Option<String>,

    /// A YAML or JSON file holding the input; `-` reads stdin.
    #[arg(short = 'f', long = "filename")]
    pub file: Option<PathBuf>,

    /// The in port index of the node to write into.
    #[arg(long, default_value_t = 0)]
    pub port: usize,

    /// A file of specs to store before running (repeatable).
    #[arg(long = "from-specs")]
    pub from_specs: Vec<PathBuf>,

    /// A file of values to store before running (repeatable).
    #[arg(long = "from-values")]
    pub from_values: Vec<PathBuf>,

    /// Env for templating, KEY=VALUE (repeatable).
    #[arg(short = 'e', long = "env", visible_alias = "environment")]
    pub env: Vec<String>,

    /// How to print events.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = RunOutput::Text)]
    pub output: RunOutput,

    /// Run the job on this host (its system API, `http://HOST:PORT`) instead of in this process.
    #[arg(long)]
    pub server: Option<String>,

    /// The access token for `--server` (also `WEIR_TOKEN`).
    #[arg(long, env = "WEIR_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// Which resources a command is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    #[value(alias = "spec")]
    Specs,
    #[value(alias = "value")]
    Values,
    #[value(alias = "chart")]
    Charts,
}

/// How `get` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
    Yaml,
}

#[derive(Args, Debug)]
pub struct ApplyArgs {
    /// specs, values or charts.
    #[arg(value_enum)]
    pub kind: Kind,

    /// A file of resources (YAML or JSON, one object or a list); `-` reads stdin (repeatable).
    #[arg(short = 'f', long = "filename", required = true)]
    pub files: Vec<PathBuf>,

    /// The namespace of entries that name none (the first given; `default` when none is).
    #[arg(short = 'n', long = "namespace")]
    pub namespaces: Vec<String>,

    /// Prints what would change, with a diff of each changed resource, and writes nothing.
    #[arg(long = "dry-run")]
    pub dry_run: bool,
}

#[derive(Args, Debug)]
pub struct GetArgs {
    /// specs, values or charts.
    #[arg(value_enum)]
    pub kind: Kind,

    /// Only resources with these names.
    pub names: Vec<String>,

    /// Only these namespaces (repeatable); every namespace when none is given.
    #[arg(short = 'n', long = "namespace")]
    pub namespaces: Vec<String>,

    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "table")]
    pub output: Output,

    /// Shows values' data instead of a mask.
    #[arg(long = "show-values")]
    pub show_values: bool,
}

#[derive(Args, Debug)]
pub struct DeleteArgs {
    /// specs, values or charts.
    #[arg(value_enum)]
    pub kind: Kind,

    /// Names of the resources to delete (in the namespaces given by -n, else `default`).
    pub names: Vec<String>,

    /// A file listing the resources to delete, by id or (namespace, name); `-` reads stdin.
    #[arg(short = 'f', long = "filename")]
    pub files: Vec<PathBuf>,

    /// The namespaces of the names given, and of file entries that name none (the first).
    #[arg(short = 'n', long = "namespace")]
    pub namespaces: Vec<String>,
}

#[derive(Args, Debug)]
pub struct StartArgs {
    /// A namespace to run (repeatable); all namespaces in the store when none is named.
    #[arg(short = 'n', long = "namespace")]
    pub namespaces: Vec<String>,

    /// A file of specs (YAML or JSON, one object or a list) to store before starting (repeatable).
    #[arg(long = "from-specs")]
    pub from_specs: Vec<PathBuf>,

    /// A file of values to store before starting (repeatable).
    #[arg(long = "from-values")]
    pub from_values: Vec<PathBuf>,

    /// A file of charts to store before starting (repeatable); each chart's name is a kind in its namespace.
    #[arg(long = "from-charts")]
    pub from_charts: Vec<PathBuf>,

    /// Env for templating, KEY=VALUE (repeatable).
    #[arg(short = 'e', long = "env", visible_alias = "environment")]
    pub env: Vec<String>,

    /// Address of the system namespace's listener, HOST:PORT (default 127.0.0.1:7777; port 0 picks one).
    /// Anywhere but loopback, a token Value must exist in `system` (see README, System API).
    #[arg(long = "system-addr", env = "WEIR_SYSTEM_ADDR")]
    pub system_addr: Option<String>,

    /// Do not run the system namespace.
    #[arg(long = "no-system")]
    pub no_system: bool,
}

//! The `weir` binary: parses the command line (`cli.rs`), sets up logging, and runs the command.
//! `weir start` runs a host (`host.rs`): a store, one symbol table and loader per namespace.

mod cli;
mod host;
mod settings;

use clap::Parser;

/// mimalloc: many small, short-lived allocations per request (sessions, lanes, values).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    let settings = match settings::Settings::resolve(&cli) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("weir: {e:#}");
            return std::process::ExitCode::from(2);
        }
    };
    settings::init_logging(&settings);
    // One rustls crypto provider (ring) for every TLS user in the process.
    weir_extensions::net::tls::install_crypto_provider();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("weir: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match &cli.command {
            cli::Command::Start(args) => host::start(args, &settings).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("weir: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

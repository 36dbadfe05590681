//! The `weir` binary: parses the command line (`cli.rs`), sets up logging, and runs the command.
//! `weir start` runs a host (`host.rs`): a store, one symbol table and loader per namespace;
//! the `system` namespace's host side is `system_ns.rs`; `weir apply|get|delete` (`apply.rs`,
//! `get.rs`, `delete.rs`) edit the store; `weir run` (`run.rs`) runs one job and prints its events.

mod apply;
mod cli;
mod delete;
mod get;
mod host;
mod output;
mod resources;
mod run;
mod run_remote;
mod runtimes;
mod settings;
mod store;
mod system_ns;
mod validate;

use clap::Parser;

/// mimalloc: many small, short-lived allocations per request (sessions, lanes, values).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `apply`, `get` and `delete`, for the resource kind they name.
fn resource_command(command: &cli::Command, settings: &settings::Settings) -> anyhow::Result<()> {
    use cli::{Command, Kind};
    use weir_codecs::resource::{Chart, Spec, ValueResource};
    let opened = store::open_store(&settings.store)?;
    let store = opened.as_ref();
    match command {
        Command::Start(_) | Command::Run(_) => Ok(()),
        Command::Apply(args) => {
            let scheme = system_ns::scheme(&system_ns::services(opened.clone()));
            match args.kind {
                Kind::Specs => apply::apply::<Spec>(args, store, &scheme),
                Kind::Values => apply::apply::<ValueResource>(args, store, &scheme),
                Kind::Charts => apply::apply::<Chart>(args, store, &scheme),
            }
        }
        Command::Get(args) => match args.kind {
            Kind::Specs => get::get::<Spec>(args, store),
            Kind::Values => get::get::<ValueResource>(args, store),
            Kind::Charts => get::get::<Chart>(args, store),
        },
        Command::Delete(args) => match args.kind {
            Kind::Specs => delete::delete::<Spec>(args, store),
            Kind::Values => delete::delete::<ValueResource>(args, store),
            Kind::Charts => delete::delete::<Chart>(args, store),
        },
    }
}

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
    if let cli::Command::Run(args) = &cli.command {
        return match runtime.block_on(run::run(args, &settings)) {
            Ok(weir_engine::job::JobStatus::Completed) => std::process::ExitCode::SUCCESS,
            Ok(_) => std::process::ExitCode::FAILURE,
            Err(e) => {
                eprintln!("weir: {e:#}");
                std::process::ExitCode::from(2)
            }
        };
    }
    let result = runtime.block_on(async {
        match &cli.command {
            cli::Command::Start(args) => host::start(args, &settings).await,
            command => resource_command(command, &settings),
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

//! The `bondxdp` command: parses the command line and hands it to the library.

use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() -> std::process::ExitCode {
    let cli = bondxdp::cli::Cli::parse();
    // netlink-packet-route warns about every attribute newer than itself; not our news.
    let default_level = match cli.verbose {
        0 => "info,netlink_packet_route=error",
        1 => "debug,netlink_packet_route=error",
        _ => "trace",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result: anyhow::Result<()> = runtime.block_on(bondxdp::cli::run(cli)).map_err(Into::into);
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bondxdp: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

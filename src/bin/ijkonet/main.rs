//! `ijkonet`: the command-line tool. Generate synthetic snapshot data, train iJKOnet on snapshots,
//! predict, simulate, evaluate and plot a trained model. Every failure is one `error: …` line on
//! stderr and a non-zero exit status (1 for a failed command, 2 for a bad command line).
//!
//! Built with the cargo feature `cli` (`cargo build --release --features cli --bin ijkonet`). One
//! module per subcommand; `args` holds the command line, `data` and `files` the inputs and sidecar
//! files they share, `report` the tables and JSON of `eval` and `train`.

mod args;
mod data;
mod eval;
mod files;
mod generate;
mod info;
mod plot;
mod predict;
mod query;
mod report;
mod train;

use args::{Cli, Command};
use clap::Parser;
use ijkonet::{DeviceSpec, Result};
use std::process::ExitCode;

fn main() -> ExitCode {
    // A bug must still end in one line, not a backtrace.
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        eprintln!("error: internal error: {}", one_line(&msg));
    }));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_line(e.message()));
            ExitCode::from(1)
        }
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Help and version print as usual; a bad command line becomes one line (clap's message without the usage block).
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        let _ = e.print();
        return ExitCode::from(2);
    }
    let text = e.to_string();
    let message: Vec<&str> = text
        .lines()
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let message = message.join(" ");
    let message = message.strip_prefix("error:").unwrap_or(&message).trim();
    eprintln!("error: {message} (see 'ijkonet --help')");
    ExitCode::from(2)
}

fn run(cli: Cli) -> Result<()> {
    let device = cli.device.as_deref().map(str::parse::<DeviceSpec>).transpose()?;
    match cli.command {
        Command::Generate(a) => generate::cmd_generate(a),
        Command::Train(a) => train::cmd_train(a, device),
        Command::Predict(a) => predict::cmd_predict(a, device),
        Command::Simulate(a) => predict::cmd_simulate(a, device),
        Command::Eval(a) => eval::cmd_eval(a, device),
        Command::Plot(a) => plot::cmd_plot(a, device),
        Command::Info(a) => info::cmd_info(a, device),
        Command::Potential(a) => query::cmd_query(a, device, false),
        Command::Grad(a) => query::cmd_query(a, device, true),
    }
}

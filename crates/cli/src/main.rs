//! `kezek`: one binary for the server and every administrative command.

use clap::{Parser, Subcommand};

mod calendar_cmd;

#[derive(Parser)]
#[command(name = "kezek", version, about = "Public services in education: regulations as data and the kindergarten queue")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The Kazakhstan working-day calendar: due dates of terms.
    Calendar(calendar_cmd::CalendarArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Calendar(args) => calendar_cmd::run(args),
    }
}

//! `kezek`: one binary for the server and every administrative command.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "kezek", version, about = "Public services in education: regulations as data and the kindergarten queue")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {}
}

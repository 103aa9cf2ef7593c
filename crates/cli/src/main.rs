//! `kezek`: one binary for the server and every administrative command.

use clap::{Parser, Subcommand};

mod allocate;
mod bench_queue;
mod calendar_cmd;
mod catalog_cmd;
mod import_cmd;
mod registry_cmd;
mod eds_cmd;
mod queue_log_cmd;
mod round_cmd;
mod server_cmd;

#[derive(Parser)]
#[command(name = "kezek", version, about = "Public services in education: regulations as data and the kindergarten queue")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the web server and API (embedded SQLite by default, DATABASE_URL for PostgreSQL).
    Serve(kezek_web::ServerConfig),
    /// Apply database migrations and exit.
    Migrate(server_cmd::DatabaseArgs),
    /// Verify the audit log's hash chain (or with --queue a region's queue log); exits 1 naming
    /// the first broken entry.
    VerifyLog(server_cmd::VerifyLogArgs),
    /// The verifiable queue log: sign today's head, print a child's inclusion proofs.
    QueueLog(queue_log_cmd::QueueLogArgs),
    /// The Kazakhstan working-day calendar: due dates of terms.
    Calendar(calendar_cmd::CalendarArgs),
    /// The service catalog: definitions of the regulations as data.
    Catalog(catalog_cmd::CatalogArgs),
    /// Allocate a round's free places: the child-optimal stable assignment of an instance.
    Allocate(allocate::AllocateArgs),
    /// Verify an assignment of a round: capacities, eligibility, no justified envy, no waste,
    /// equality with the child-optimal outcome. Exits 1 on any violation.
    CheckRound(allocate::CheckRoundArgs),
    /// Benchmark the allocator on generated instances (needs python3 with numpy).
    Bench(allocate::BenchArgs),
    /// Benchmark one allocation round of a generated city-sized region end to end through the
    /// database (SQLite, or PostgreSQL with --postgres), printing each phase's time.
    BenchQueue(bench_queue::BenchQueueArgs),
    /// Import data: `kezek import registry person|entity|notary FILE.csv`, `kezek import queue`.
    Import(import_cmd::ImportArgs),
    /// Recorded allocation rounds: export as instance files, replay.
    Round(round_cmd::RoundArgs),
    /// Electronic digital signatures: verify a CMS signature against the national CA's roots.
    Eds(eds_cmd::EdsArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(config) => server_cmd::serve(config),
        Command::Migrate(args) => server_cmd::migrate(args),
        Command::VerifyLog(args) => {
            if !server_cmd::verify_log(args)? {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Calendar(args) => calendar_cmd::run(args),
        Command::Allocate(args) => allocate::run_allocate(args),
        Command::CheckRound(args) => allocate::run_check_round(args),
        Command::Bench(args) => allocate::run_bench(args),
        Command::BenchQueue(args) => bench_queue::run(args),
        Command::Import(args) => import_cmd::run(args),
        Command::Round(args) => round_cmd::run(args),
        Command::Catalog(args) => catalog_cmd::run(args),
        Command::Eds(args) => eds_cmd::run(args),
        Command::QueueLog(args) => queue_log_cmd::run(args),
    }
}

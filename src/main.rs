//! The `evonas` command line: parses arguments, runs the command, prints errors. The commands
//! live in `cli/`; this file only wires them to the process.

mod cli;

use std::process::ExitCode;

use clap::Parser;

use cli::args::Cli;
use cli::Request;

/// Every allocation is charged to the evaluation running on its thread, so an evaluation that
/// holds more than its `max_memory_mb` is stopped and recorded as a failure, never left to the
/// kernel's OOM killer (see `evonas::eval::memory`).
#[global_allocator]
static ALLOC: evonas::eval::memory::CountingAlloc = evonas::eval::memory::CountingAlloc;

/// Exit codes: 0 success, 1 any error (printed once, with its causes), 2 bad flags (clap's
/// own, from `parse`), 130 a second Ctrl-C during a campaign.
fn main() -> ExitCode {
    let cli = Cli::parse();
    cli::progress::init_logging(cli.verbose, cli.log_json);
    match Request::new(cli.command).and_then(Request::run) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

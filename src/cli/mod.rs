//! The `evonas` command line, in two layers (after ripgrep's `flags/`):
//!
//! - [`args`]: the flags as clap parses them (the low level, which `--help` is made from);
//! - one typed request per command (the high level): checked values, resolved defaults and
//!   config overrides applied, built once by [`Request::new`]. Each command module defines its
//!   request, the conversion from its flags, and `run`, which takes only the request.
//!
//! Shared pieces have their own modules: [`overrides`] (the only place flags change a config),
//! [`campaign`] (finding a stored campaign and driving one), [`input`] and [`output`] (reading
//! architectures, writing files), [`store`] (opening the store folder) and [`progress`].

pub mod args;
pub mod progress;

mod campaign;
mod input;
mod output;
mod overrides;
mod store;
mod training;

mod cache;
mod enumerate;
mod export;
mod hash;
mod mutate;
mod rank;
mod report;
mod resume;
mod retrain;
mod sample;
mod search;
mod show;
mod spaces;
mod status;
mod train;
mod worker;

use std::process::ExitCode;

use args::Command;

/// A command with its flags converted: what it runs on.
pub enum Request {
    Spaces,
    Sample(sample::Request),
    Mutate(mutate::Request),
    Show(show::Request),
    Hash(hash::Request),
    Enumerate(enumerate::Request),
    Search(search::Request),
    Train(train::Request),
    Retrain(retrain::Request),
    Export(export::Request),
    Report(report::Request),
    Resume(resume::Request),
    Status(status::Request),
    Cache(cache::Request),
    Worker(worker::Request),
    Rank(rank::Request),
}

impl Request {
    /// Converts parsed flags into a request: the one place flags are read.
    pub fn new(command: Command) -> anyhow::Result<Request> {
        Ok(match command {
            Command::Spaces => Request::Spaces,
            Command::Sample(a) => Request::Sample(sample::Request::new(a)?),
            Command::Mutate(a) => Request::Mutate(mutate::Request::new(a)?),
            Command::Show(a) => Request::Show(show::Request::new(a)?),
            Command::Hash(a) => Request::Hash(hash::Request::new(a)?),
            Command::Enumerate(a) => Request::Enumerate(enumerate::Request::new(a)?),
            Command::Search(a) => Request::Search(search::Request::new(a)?),
            Command::Train(a) => Request::Train(train::Request::new(a)?),
            Command::Retrain(a) => Request::Retrain(retrain::Request::new(a)?),
            Command::Export(a) => Request::Export(export::Request::new(a)?),
            Command::Report(a) => Request::Report(report::Request::new(a)),
            Command::Resume(a) => Request::Resume(resume::Request::new(a)?),
            Command::Status(a) => Request::Status(status::Request::new(a)),
            Command::Cache { command } => Request::Cache(cache::Request::new(command)),
            Command::Worker(a) => Request::Worker(worker::Request::new(a)?),
            Command::Rank(a) => Request::Rank(rank::Request::new(a)?),
        })
    }

    /// Runs the command; the exit code is its outcome when it ran to the end (`train` exits 1
    /// on a failed training run that it still reports).
    pub fn run(self) -> anyhow::Result<ExitCode> {
        match self {
            Request::Spaces => spaces::run(),
            Request::Sample(r) => sample::run(r),
            Request::Mutate(r) => mutate::run(r),
            Request::Show(r) => show::run(r),
            Request::Hash(r) => hash::run(r),
            Request::Enumerate(r) => enumerate::run(r),
            Request::Search(r) => search::run(r),
            Request::Train(r) => train::run(r),
            Request::Retrain(r) => retrain::run(r),
            Request::Export(r) => export::run(r),
            Request::Report(r) => report::run(r),
            Request::Resume(r) => resume::run(r),
            Request::Status(r) => status::run(r),
            Request::Cache(r) => cache::run(r),
            Request::Worker(r) => worker::run(r),
            Request::Rank(r) => rank::run(r),
        }
    }
}

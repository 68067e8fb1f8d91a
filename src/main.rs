//! The `image-server` binary: parse the command line and hand over to the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = image_server::cli::Cli::parse();
    match image_server::run::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(exit) => {
            eprintln!("image-server: {}", exit.message);
            ExitCode::from(exit.code)
        }
    }
}

//! `redstream-sink-scylla`: see [`redstream_sink::scylla`].

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = redstream_sink::scylla::Cli::parse();
    redstream_sink::run::exit(redstream_sink::scylla::main(cli).await)
}

//! `redstream-sink-elasticsearch`: see [`redstream_sink::elasticsearch`].

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = redstream_sink::elasticsearch::Cli::parse();
    redstream_sink::run::exit(redstream_sink::elasticsearch::main(cli).await)
}

//! The `sovra` binary: parses the command line and wires the crates together.
//!
//! Subcommands live in their own modules; none of them holds logic that a
//! library crate should own.

mod admin;
mod audit;
mod bench;
mod chat;
mod cli;
mod data;
mod knowledge;
mod models;
mod quotas;
mod safety;
mod serve;
mod setup;
mod signin;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    // The document reader's child: before any runtime or thread exists, so
    // its memory limit is spent on the document alone.
    if let cli::Command::ExtractDocument(args) = &cli.command {
        return knowledge::extract_document(args);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            cli::Command::Serve(args) => serve::serve(args).await,
            cli::Command::SimNode(args) => serve::sim_node(args).await,
            cli::Command::Models(args) => models::run(args).await,
            cli::Command::Chat(args) => chat::run(args).await,
            cli::Command::Bench(args) => bench::run(args).await,
            cli::Command::Data(args) => data::run(args).await,
            cli::Command::Audit(args) => audit::run(args).await,
            cli::Command::Admin(args) => admin::run(args).await,
            cli::Command::Knowledge(args) => knowledge::run(args).await,
            cli::Command::ExtractDocument(_) => Ok(()),
            cli::Command::Eval(args) => match args.command {
                cli::EvalCommand::Safety(a) => safety::eval(a).await,
                command @ cli::EvalCommand::Knowledge { .. } => {
                    knowledge::eval(cli::EvalArgs {
                        command,
                        config: args.config,
                    })
                    .await
                }
            },
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.downcast_ref::<audit::Unverified>().is_some() => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
        Err(e) => {
            // One line per cause, outermost first.
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(2)
        }
    }
}

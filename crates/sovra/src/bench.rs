//! `sovra bench`: the load generator of `sovra-bench` on the command line.

#![allow(clippy::print_stdout)] // the report is the output

use std::time::Duration;

use anyhow::{Context, Result};

use crate::cli::BenchArgs;

pub async fn run(args: BenchArgs) -> Result<()> {
    let options = sovra_bench::BenchOptions {
        base_url: args.url,
        api_key: args.api_key,
        model: args.model,
        concurrency: args.concurrency,
        requests_per_stream: args.requests.max(1),
        max_tokens: args.max_tokens,
        prompt_words: args.prompt_words,
        shared_prefix: args.shared_prefix,
        prefill_words: args.prefill_words,
        timeout: Duration::from_secs(600),
    };
    let report = sovra_bench::run(&options)
        .await
        .context("the benchmark failed")?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).context("could not render JSON")?
        );
    } else {
        print!("{}", report.render());
    }
    Ok(())
}

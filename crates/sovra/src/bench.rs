//! `sovra bench`: the load generator of `sovra-bench` on the command line.
//! Without `--rate`/`--users`/`--workload` it runs the concurrency levels;
//! with them, open- or closed-loop load with a progress bar on stderr.

#![allow(clippy::print_stdout)] // the report is the output

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sovra_bench::load::{Arrival, LoadOptions, Progress};
use sovra_bench::workload::{Workload, WorkloadShape};

use crate::cli::{BenchArgs, WorkloadArg};

pub async fn run(args: BenchArgs) -> Result<()> {
    if args.rate.is_some() || args.users.is_some() || args.workload.is_some() {
        return load(args).await;
    }
    let options = sovra_bench::BenchOptions {
        base_url: args.url,
        api_key: args.api_key,
        model: args.model,
        concurrency: args.concurrency,
        requests_per_stream: usize::try_from(args.requests.unwrap_or(2).max(1)).unwrap_or(2),
        max_tokens: args.max_tokens,
        prompt_words: args.prompt_words,
        shared_prefix: args.shared_prefix,
        prefill_words: args.prefill_words,
        timeout: Duration::from_secs(args.timeout_secs),
    };
    let report = sovra_bench::run(&options)
        .await
        .context("the benchmark failed")?;
    let json = serde_json::to_string_pretty(&report).context("could not render JSON")?;
    output(args.json.as_deref(), &report.render(), &json)
}

/// The table on stdout, or the JSON instead (`--json`), or both (`--json FILE`).
fn output(json_to: Option<&Path>, table: &str, json: &str) -> Result<()> {
    match json_to {
        Some(p) if p == Path::new("-") => println!("{json}"),
        Some(p) => {
            std::fs::write(p, format!("{json}\n"))
                .with_context(|| format!("could not write {}", p.display()))?;
            print!("{table}");
        }
        None => print!("{table}"),
    }
    Ok(())
}

async fn load(args: BenchArgs) -> Result<()> {
    let arrival = match (args.rate, args.users) {
        (Some(rate), _) => {
            anyhow::ensure!(rate.is_finite() && rate > 0.0, "--rate must be > 0");
            Arrival::Poisson { rate }
        }
        (None, Some(users)) => Arrival::Closed { users },
        (None, None) => Arrival::Closed { users: 1 },
    };
    let duration = match (args.duration, args.requests) {
        (Some(d), _) => {
            anyhow::ensure!(d.is_finite() && d > 0.0, "--duration must be > 0");
            Some(Duration::from_secs_f64(d))
        }
        (None, Some(_)) => None,
        (None, None) => Some(Duration::from_secs(30)),
    };
    let ms = |v: Option<f64>| {
        v.filter(|x| x.is_finite() && *x >= 0.0)
            .map(|x| Duration::from_secs_f64(x / 1e3))
    };
    let options = LoadOptions {
        base_url: args.url,
        api_key: args.api_key,
        model: args.model,
        arrival,
        shape: WorkloadShape {
            workload: match args.workload.unwrap_or(WorkloadArg::SingleTurn) {
                WorkloadArg::SingleTurn => Workload::SingleTurn,
                WorkloadArg::MultiTurn => Workload::MultiTurn,
                WorkloadArg::LongDocument => Workload::LongDocument,
            },
            prompt_words: args.prompt_words,
            system_prompts: args.system_prompts,
            system_words: args.system_words,
            turns: args.turns,
            documents: args.documents,
            document_words: args.document_words,
            seed: args.seed,
        },
        duration,
        requests: args.requests,
        max_tokens: args.max_tokens,
        conversations: args.conversations,
        max_in_flight: args.max_in_flight.max(1),
        slo_ttft: ms(args.slo_ttft_ms),
        slo_itl: ms(args.slo_itl_ms),
        timeout: Duration::from_secs(args.timeout_secs),
        http2: args.http2,
    };
    let progress = Arc::new(Progress::default());
    let bar = progress_bar(&options);
    let ticker = {
        let bar = bar.clone();
        let progress = Arc::clone(&progress);
        let started = std::time::Instant::now();
        let by_time = options.requests.is_none();
        tokio::spawn(async move {
            loop {
                let sent = progress.sent.load(Ordering::Relaxed);
                if by_time {
                    bar.set_position(started.elapsed().as_secs());
                } else {
                    bar.set_position(sent);
                }
                bar.set_message(format!(
                    "sent {sent}, ok {}, errors {}",
                    progress.ok.load(Ordering::Relaxed),
                    progress.errors.load(Ordering::Relaxed)
                ));
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    let result = sovra_bench::load::run(&options, progress).await;
    ticker.abort();
    bar.finish_and_clear();
    let report = result.context("the benchmark failed")?;
    let json = serde_json::to_string_pretty(&report).context("could not render JSON")?;
    output(args.json.as_deref(), &report.render(), &json)
}

fn progress_bar(options: &LoadOptions) -> ProgressBar {
    let (len, unit) = match (options.requests, options.duration) {
        (Some(n), None) => (n, "req"),
        (_, Some(d)) => (d.as_secs().max(1), "s"),
        (None, None) => (0, "req"),
    };
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    let template = format!("{{elapsed_precise}} [{{bar:30}}] {{pos}}/{{len}} {unit} {{msg}}");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar
}

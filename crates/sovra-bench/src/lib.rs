//! A load generator for any OpenAI-compatible server.
//!
//! `sovra bench` drives Sovra, llama.cpp's `llama-server`, vLLM or anything
//! else that speaks `/v1/chat/completions` with the same requests, so their
//! numbers can be printed side by side. For each concurrency level it runs
//! that many client streams, each sending its requests one after the other,
//! and measures time to first token, each stream's decode rate and the
//! aggregate generated tokens per second. Every prompt starts with a unique
//! nonce, so no server can answer from a prompt cache unless asked to
//! (`shared_prefix`), which measures the cache instead.
//!
//! [`load`] is the other mode: open-loop (Poisson) or closed-loop load with
//! the workloads of [`workload`] (single-turn, multi-turn, long-document),
//! reporting latency percentiles, errors by kind and goodput under an SLO.

pub mod load;
mod stats;
pub mod workload;

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::Serialize;
use serde_json::{Value, json};
use sovra_core::sse::SseDecoder;

pub use stats::{Summary, summarize};

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Base URL including `/v1`, e.g. `http://127.0.0.1:8080/v1`.
    pub base_url: String,
    pub api_key: Option<String>,
    /// Model name; `None` takes the first one `/models` lists.
    pub model: Option<String>,
    pub concurrency: Vec<usize>,
    /// Sequential requests per client stream.
    pub requests_per_stream: usize,
    pub max_tokens: u32,
    /// About this many words of user prompt (tokens are close to words for English).
    pub prompt_words: usize,
    /// All requests share one long system prompt (measures prefix caching).
    pub shared_prefix: bool,
    /// Also measure prompt processing: requests of about this many words, one token out.
    pub prefill_words: Option<usize>,
    pub timeout: Duration,
}

impl Default for BenchOptions {
    fn default() -> Self {
        Self {
            base_url: "http://127.0.0.1:8080/v1".into(),
            api_key: None,
            model: None,
            concurrency: vec![1, 4, 8],
            requests_per_stream: 2,
            max_tokens: 128,
            prompt_words: 40,
            shared_prefix: false,
            prefill_words: None,
            timeout: Duration::from_secs(300),
        }
    }
}

/// One finished request.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Sample {
    pub ttft_s: f64,
    pub total_s: f64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

impl Sample {
    /// Tokens per second after the first token (the stream's decode rate).
    pub fn decode_rate(&self) -> Option<f64> {
        let span = self.total_s - self.ttft_s;
        (self.completion_tokens > 1 && span > 0.0)
            .then(|| (self.completion_tokens - 1) as f64 / span)
    }
}

/// Results of one concurrency level.
#[derive(Debug, Clone, Serialize)]
pub struct LevelReport {
    pub concurrency: usize,
    pub requests: usize,
    pub wall_s: f64,
    pub ttft_median_s: f64,
    pub ttft_p95_s: f64,
    pub stream_decode_tok_s_median: f64,
    pub aggregate_tok_s: f64,
    pub mean_completion_tokens: f64,
    pub mean_prompt_tokens: f64,
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub base_url: String,
    pub model: String,
    pub max_tokens: u32,
    pub prefill: Option<PrefillReport>,
    pub levels: Vec<LevelReport>,
}

/// Prompt processing speed: a long prompt, one generated token, one stream.
#[derive(Debug, Clone, Serialize)]
pub struct PrefillReport {
    pub requests: usize,
    pub mean_prompt_tokens: f64,
    pub ttft_median_s: f64,
    /// Prompt tokens over time to first token (includes HTTP and one decode step).
    pub prompt_tok_s: f64,
}

impl BenchReport {
    /// A plain-text table.
    pub fn render(&self) -> String {
        let mut out = format!(
            "{} model={} max_tokens={}\n{:>5} {:>5} {:>9} {:>9} {:>12} {:>13} {:>8} {:>8}\n",
            self.base_url,
            self.model,
            self.max_tokens,
            "conc",
            "reqs",
            "ttft p50",
            "ttft p95",
            "stream tok/s",
            "aggregate t/s",
            "gen tok",
            "prompt"
        );
        if let Some(p) = &self.prefill {
            out.push_str(&format!(
                "prefill: {:.0} prompt tokens, ttft p50 {:.0}ms -> {:.0} prompt tok/s ({} requests)\n",
                p.mean_prompt_tokens,
                p.ttft_median_s * 1e3,
                p.prompt_tok_s,
                p.requests
            ));
        }
        for l in &self.levels {
            out.push_str(&format!(
                "{:>5} {:>5} {:>8.0}ms {:>8.0}ms {:>12.1} {:>13.1} {:>8.1} {:>8.1}\n",
                l.concurrency,
                l.requests,
                l.ttft_median_s * 1e3,
                l.ttft_p95_s * 1e3,
                l.stream_decode_tok_s_median,
                l.aggregate_tok_s,
                l.mean_completion_tokens,
                l.mean_prompt_tokens
            ));
        }
        out
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("request to {url} failed: {source}")]
    Http {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{url} answered {status}: {body}")]
    Status {
        url: String,
        status: u16,
        body: String,
    },
    #[error("bad stream from the server: {0}")]
    Stream(String),
    #[error("the server lists no models")]
    NoModel,
    #[error("no requests finished at concurrency {0}")]
    Empty(usize),
}

const SYSTEM: &str = "You are a helpful assistant of a national public service. You explain \
procedures to citizens in plain language, step by step, with enough detail to act on.";

const TOPICS: &[&str] = &[
    "renewing a passport",
    "registering a newborn child",
    "enrolling a child in primary school",
    "applying for a driving licence",
    "filing an income tax return",
    "finding a family doctor",
    "applying for unemployment benefits",
    "registering a small business",
];

fn prompt(index: usize, words: usize, shared_prefix: bool) -> Vec<Value> {
    let topic = TOPICS[index % TOPICS.len()];
    let mut user =
        format!("Please explain in detail, with numbered steps, the whole process of {topic}.");
    let filler =
        " Mention the documents, the offices, the fees, the waiting times and common mistakes.";
    while user.split_whitespace().count() < words {
        user.push_str(filler);
    }
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let system = if shared_prefix {
        SYSTEM.to_owned()
    } else {
        // A unique first line defeats every prompt cache.
        format!("Request {nonce}. {SYSTEM}")
    };
    vec![
        json!({"role": "system", "content": system}),
        json!({"role": "user", "content": user}),
    ]
}

struct Client {
    http: reqwest::Client,
    base: String,
    key: Option<String>,
}

impl Client {
    fn request(&self, path: &str) -> reqwest::RequestBuilder {
        let r = self.http.get(format!("{}{path}", self.base));
        match &self.key {
            Some(k) => r.bearer_auth(k),
            None => r,
        }
    }

    async fn first_model(&self) -> Result<String, BenchError> {
        let url = format!("{}/models", self.base);
        let r = self
            .request("/models")
            .send()
            .await
            .map_err(|source| BenchError::Http {
                url: url.clone(),
                source,
            })?;
        let v: Value = r
            .json()
            .await
            .map_err(|source| BenchError::Http { url, source })?;
        v["data"][0]["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or(BenchError::NoModel)
    }

    async fn one(
        &self,
        model: &str,
        messages: Vec<Value>,
        max_tokens: u32,
    ) -> Result<Sample, BenchError> {
        let url = format!("{}/chat/completions", self.base);
        let body = json!({
            "model": model, "messages": messages, "max_tokens": max_tokens, "temperature": 0,
            "stream": true, "stream_options": {"include_usage": true},
        });
        let mut req = self.http.post(&url).json(&body);
        if let Some(k) = &self.key {
            req = req.bearer_auth(k);
        }
        let started = Instant::now();
        let r = req.send().await.map_err(|source| BenchError::Http {
            url: url.clone(),
            source,
        })?;
        if !r.status().is_success() {
            let status = r.status().as_u16();
            let body = r.text().await.unwrap_or_default();
            return Err(BenchError::Status { url, status, body });
        }
        let mut decoder = SseDecoder::default();
        let mut bytes = r.bytes_stream();
        let mut first = None;
        let mut deltas = 0u64;
        let mut usage: Option<(u64, u64)> = None;
        'read: while let Some(chunk) = bytes.next().await {
            let chunk = chunk.map_err(|source| BenchError::Http {
                url: url.clone(),
                source,
            })?;
            for data in decoder.push(&chunk).map_err(BenchError::Stream)? {
                if data == "[DONE]" {
                    break 'read;
                }
                let v: Value =
                    serde_json::from_str(&data).map_err(|e| BenchError::Stream(e.to_string()))?;
                if let Some(e) = v.get("error") {
                    return Err(BenchError::Stream(e.to_string()));
                }
                if v["choices"][0]["delta"]["content"]
                    .as_str()
                    .is_some_and(|c| !c.is_empty())
                {
                    deltas += 1;
                    first.get_or_insert_with(|| started.elapsed());
                }
                if let (Some(p), Some(c)) = (
                    v["usage"]["prompt_tokens"].as_u64(),
                    v["usage"]["completion_tokens"].as_u64(),
                ) {
                    usage = Some((p, c));
                }
            }
        }
        let total = started.elapsed();
        let (prompt_tokens, completion_tokens) = usage.unwrap_or((0, deltas));
        Ok(Sample {
            ttft_s: first.unwrap_or(total).as_secs_f64(),
            total_s: total.as_secs_f64(),
            prompt_tokens,
            completion_tokens,
        })
    }
}

/// Run every level in turn.
pub async fn run(options: &BenchOptions) -> Result<BenchReport, BenchError> {
    // No connection reuse: llama-server (cpp-httplib) closes idle keep-alive
    // connections after 5 s, and a request sent on one as it closes fails with
    // "connection closed before message completed". A loopback connect costs
    // well under a millisecond, next to requests that take seconds.
    let http = reqwest::Client::builder()
        .timeout(options.timeout)
        .pool_max_idle_per_host(0)
        .build()
        .map_err(|source| BenchError::Http {
            url: options.base_url.clone(),
            source,
        })?;
    let client = std::sync::Arc::new(Client {
        http,
        base: options.base_url.trim_end_matches('/').to_owned(),
        key: options.api_key.clone(),
    });
    let model = match &options.model {
        Some(m) => m.clone(),
        None => client.first_model().await?,
    };
    // One untimed request warms the server (page cache, lazy init).
    client
        .one(
            &model,
            prompt(0, options.prompt_words, options.shared_prefix),
            8,
        )
        .await?;
    let prefill = match options.prefill_words {
        Some(words) => {
            let mut samples = Vec::new();
            for i in 0..3 {
                samples.push(client.one(&model, prompt(i, words, false), 1).await?);
            }
            let ttft = summarize(samples.iter().map(|s| s.ttft_s)).median;
            let tokens =
                samples.iter().map(|s| s.prompt_tokens).sum::<u64>() as f64 / samples.len() as f64;
            Some(PrefillReport {
                requests: samples.len(),
                mean_prompt_tokens: tokens,
                ttft_median_s: ttft,
                prompt_tok_s: if ttft > 0.0 { tokens / ttft } else { 0.0 },
            })
        }
        None => None,
    };
    let mut levels = Vec::new();
    for &concurrency in &options.concurrency {
        let started = Instant::now();
        let tasks: Vec<_> = (0..concurrency)
            .map(|stream| {
                let client = std::sync::Arc::clone(&client);
                let model = model.clone();
                let o = options.clone();
                tokio::spawn(async move {
                    let mut samples = Vec::with_capacity(o.requests_per_stream);
                    for i in 0..o.requests_per_stream {
                        let messages = prompt(
                            stream * o.requests_per_stream + i,
                            o.prompt_words,
                            o.shared_prefix,
                        );
                        samples.push(client.one(&model, messages, o.max_tokens).await?);
                    }
                    Ok::<_, BenchError>(samples)
                })
            })
            .collect();
        let mut samples = Vec::new();
        for t in tasks {
            match t.await {
                Ok(result) => samples.extend(result?),
                Err(e) => return Err(BenchError::Stream(format!("a client task failed: {e}"))),
            }
        }
        let wall = started.elapsed().as_secs_f64();
        if samples.is_empty() {
            return Err(BenchError::Empty(concurrency));
        }
        levels.push(level_report(concurrency, wall, &samples));
    }
    Ok(BenchReport {
        base_url: options.base_url.clone(),
        model,
        max_tokens: options.max_tokens,
        prefill,
        levels,
    })
}

fn level_report(concurrency: usize, wall_s: f64, samples: &[Sample]) -> LevelReport {
    let ttft = summarize(samples.iter().map(|s| s.ttft_s));
    let rates = summarize(samples.iter().filter_map(Sample::decode_rate));
    let n = samples.len() as f64;
    let generated: u64 = samples.iter().map(|s| s.completion_tokens).sum();
    LevelReport {
        concurrency,
        requests: samples.len(),
        wall_s,
        ttft_median_s: ttft.median,
        ttft_p95_s: ttft.p95,
        stream_decode_tok_s_median: rates.median,
        aggregate_tok_s: if wall_s > 0.0 {
            generated as f64 / wall_s
        } else {
            0.0
        },
        mean_completion_tokens: generated as f64 / n,
        mean_prompt_tokens: samples.iter().map(|s| s.prompt_tokens).sum::<u64>() as f64 / n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_are_unique_unless_shared() {
        let a = prompt(0, 40, false);
        let b = prompt(0, 40, false);
        assert_ne!(a[0]["content"], b[0]["content"]);
        assert_eq!(
            prompt(0, 40, true)[0]["content"],
            prompt(1, 40, true)[0]["content"]
        );
        let words = a[1]["content"]
            .as_str()
            .unwrap_or("")
            .split_whitespace()
            .count();
        assert!(words >= 40, "{words}");
    }

    #[test]
    fn level_report_adds_up() {
        let s = |ttft: f64, total: f64, c: u64| Sample {
            ttft_s: ttft,
            total_s: total,
            prompt_tokens: 50,
            completion_tokens: c,
        };
        let r = level_report(2, 2.0, &[s(0.1, 1.1, 101), s(0.3, 2.0, 101)]);
        assert_eq!(r.requests, 2);
        assert!((r.aggregate_tok_s - 101.0).abs() < 1e-9);
        assert!((r.ttft_median_s - 0.2).abs() < 1e-9);
        assert!((r.mean_prompt_tokens - 50.0).abs() < 1e-9);
        // Decode rates 100 and ~58.8 tok/s; the median of two is their mean.
        assert!((r.stream_decode_tok_s_median - (100.0 + 100.0 / 1.7) / 2.0).abs() < 1e-6);
    }
}

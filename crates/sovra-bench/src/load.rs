//! The load generator's open and closed loops over the workloads of
//! [`crate::workload`], and the report they produce.
//!
//! Open loop: requests arrive as a Poisson process at a fixed rate whatever
//! the server does (seeded, so two runs send the same schedule), the way
//! real users do; a slow server builds a queue instead of slowing the
//! clients. Closed loop: N users, each sending its next request when the
//! last one finished. Every request streams (SSE); the report gives time to
//! first token, inter-token latency and end-to-end latency percentiles,
//! throughput, errors by kind, and goodput: requests per second that met
//! the SLO. In-flight requests are bounded (`max_in_flight`): an arrival
//! beyond it is counted as a `client_overflow` error, not queued.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::{Value, json};
use sovra_core::sse::SseDecoder;
use tokio::sync::Mutex;
use tokio::task::JoinSet;

use crate::BenchError;
use crate::workload::{Conversation, Corpus, WorkloadShape};

/// How requests arrive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arrival {
    /// Open loop: Poisson arrivals at this many requests per second.
    Poisson { rate: f64 },
    /// Closed loop: this many users, each waiting for its answer.
    Closed { users: usize },
}

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Base URL including `/v1`.
    pub base_url: String,
    pub api_key: Option<String>,
    /// Model name; `None` takes the first one `/models` lists.
    pub model: Option<String>,
    pub arrival: Arrival,
    pub shape: WorkloadShape,
    /// Stop sending after this long...
    pub duration: Option<Duration>,
    /// ...or after this many requests, whichever comes first.
    pub requests: Option<u64>,
    pub max_tokens: u32,
    /// Open loop: conversations in the pool (multi-turn).
    pub conversations: usize,
    pub max_in_flight: usize,
    pub slo_ttft: Option<Duration>,
    pub slo_itl: Option<Duration>,
    /// Per request.
    pub timeout: Duration,
    /// Speak HTTP/2 without TLS (prior knowledge), as an L7 load balancer in
    /// front of Sovra would: many streams share a few connections, so one
    /// process can hold more streams open than it has file descriptors.
    pub http2: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            base_url: "http://127.0.0.1:8080/v1".into(),
            api_key: None,
            model: None,
            arrival: Arrival::Closed { users: 4 },
            shape: WorkloadShape::default(),
            duration: Some(Duration::from_secs(30)),
            requests: None,
            max_tokens: 64,
            conversations: 256,
            max_in_flight: 2048,
            slo_ttft: None,
            slo_itl: None,
            timeout: Duration::from_secs(120),
            http2: false,
        }
    }
}

/// Live counters, for a progress bar.
#[derive(Debug, Default)]
pub struct Progress {
    pub sent: AtomicU64,
    pub ok: AtomicU64,
    pub errors: AtomicU64,
}

/// Mean and percentiles of one measure, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Percentiles {
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl Percentiles {
    /// Nearest-rank percentiles of `values` (seconds), reported in ms.
    pub fn of_seconds(values: &[f64]) -> Self {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return Self::default();
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let at = |p: f64| v[((p * n as f64).ceil() as usize).clamp(1, n) - 1] * 1e3;
        Self {
            mean: v.iter().sum::<f64>() / n as f64 * 1e3,
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            max: v[n - 1] * 1e3,
        }
    }
}

/// Requests per second that met the SLO.
#[derive(Debug, Clone, Serialize)]
pub struct Goodput {
    pub slo_ttft_ms: Option<f64>,
    pub slo_itl_ms: Option<f64>,
    pub requests: u64,
    pub req_s: f64,
    /// Share of all sent requests that met the SLO.
    pub fraction: f64,
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    pub base_url: String,
    pub model: String,
    pub workload: String,
    /// `open` or `closed`.
    pub mode: String,
    pub rate: Option<f64>,
    pub users: Option<usize>,
    pub max_tokens: u32,
    /// From the first request sent to the last one finished.
    pub wall_s: f64,
    pub sent: u64,
    pub ok: u64,
    pub errors: BTreeMap<String, u64>,
    pub error_total: u64,
    pub ttft_ms: Percentiles,
    /// Over every gap between two tokens of a stream.
    pub itl_ms: Percentiles,
    pub e2e_ms: Percentiles,
    pub throughput_req_s: f64,
    pub output_tok_s: f64,
    pub prompt_tokens_mean: f64,
    pub completion_tokens_mean: f64,
    pub goodput: Goodput,
}

impl LoadReport {
    /// A plain-text table.
    pub fn render(&self) -> String {
        let mut out = format!(
            "{} model={} workload={} {} max_tokens={}\n",
            self.base_url,
            self.model,
            self.workload,
            match (self.rate, self.users) {
                (Some(r), _) => format!("open loop {r} req/s"),
                (_, Some(u)) => format!("closed loop {u} users"),
                _ => self.mode.clone(),
            },
            self.max_tokens
        );
        out.push_str(&format!(
            "requests: {} sent, {} ok, {} errors in {:.1} s\n",
            self.sent, self.ok, self.error_total, self.wall_s
        ));
        out.push_str(&format!(
            "{:<10} {:>9} {:>9} {:>9} {:>9} {:>9}\n",
            "ms", "mean", "p50", "p90", "p99", "max"
        ));
        for (name, p) in [
            ("ttft", self.ttft_ms),
            ("itl", self.itl_ms),
            ("e2e", self.e2e_ms),
        ] {
            out.push_str(&format!(
                "{:<10} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1}\n",
                name, p.mean, p.p50, p.p90, p.p99, p.max
            ));
        }
        out.push_str(&format!(
            "throughput: {:.2} req/s, {:.1} output tok/s; prompt {:.0} tok, answer {:.1} tok on average\n",
            self.throughput_req_s,
            self.output_tok_s,
            self.prompt_tokens_mean,
            self.completion_tokens_mean
        ));
        let slo = match (self.goodput.slo_ttft_ms, self.goodput.slo_itl_ms) {
            (None, None) => "no SLO set: every success counts".to_owned(),
            (t, i) => format!(
                "SLO ttft <= {} ms, itl <= {} ms",
                t.map_or("-".into(), |v| format!("{v}")),
                i.map_or("-".into(), |v| format!("{v}"))
            ),
        };
        out.push_str(&format!(
            "goodput: {:.2} req/s ({:.1}% of requests; {slo})\n",
            self.goodput.req_s,
            self.goodput.fraction * 100.0
        ));
        if !self.errors.is_empty() {
            let kinds: Vec<String> = self
                .errors
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            out.push_str(&format!("errors: {}\n", kinds.join(" ")));
        }
        out
    }
}

/// One finished stream.
#[derive(Debug, Clone)]
struct Done {
    ttft_s: f64,
    e2e_s: f64,
    gaps: Vec<f64>,
    prompt_tokens: u64,
    completion_tokens: u64,
    answer: String,
}

type Outcome = Result<Done, String>;

/// Streams one HTTP/2 connection carries (hyper's servers allow 200).
const STREAMS_PER_H2_CONNECTION: usize = 100;

struct Client {
    /// One client per connection under HTTP/2 (requests take turns), one
    /// pooled client under HTTP/1.1.
    http: Vec<reqwest::Client>,
    next: AtomicU64,
    base: String,
    key: Option<String>,
    model: String,
    max_tokens: u32,
}

fn error_kind(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_connect() {
        "connect".into()
    } else {
        "transport".into()
    }
}

impl Client {
    fn http(&self) -> &reqwest::Client {
        let i = self.next.fetch_add(1, Ordering::Relaxed) as usize % self.http.len().max(1);
        &self.http[i]
    }

    async fn chat(&self, messages: Vec<Value>) -> Outcome {
        let url = format!("{}/chat/completions", self.base);
        let body = json!({
            "model": self.model, "messages": messages, "max_tokens": self.max_tokens,
            "temperature": 0, "stream": true, "stream_options": {"include_usage": true},
        });
        let mut req = self.http().post(&url).json(&body);
        if let Some(k) = &self.key {
            req = req.bearer_auth(k);
        }
        let started = Instant::now();
        let r = req.send().await.map_err(|e| error_kind(&e))?;
        if !r.status().is_success() {
            return Err(format!("http_{}", r.status().as_u16()));
        }
        let mut decoder = SseDecoder::default();
        let mut bytes = r.bytes_stream();
        let mut first: Option<f64> = None;
        let mut last = 0.0;
        let mut gaps = Vec::new();
        let mut deltas = 0u64;
        let mut answer = String::new();
        let mut usage: Option<(u64, u64)> = None;
        let mut finished = false;
        'read: while let Some(chunk) = bytes.next().await {
            let chunk = chunk.map_err(|e| error_kind(&e))?;
            let events = decoder.push(&chunk).map_err(|_| "bad_stream".to_owned())?;
            for data in events {
                if data == "[DONE]" {
                    finished = true;
                    break 'read;
                }
                let v: Value = serde_json::from_str(&data).map_err(|_| "bad_stream".to_owned())?;
                if v.get("error").is_some() {
                    return Err("stream_error".into());
                }
                if let Some(text) = v["choices"][0]["delta"]["content"].as_str()
                    && !text.is_empty()
                {
                    let now = started.elapsed().as_secs_f64();
                    if first.is_none() {
                        first = Some(now);
                    } else {
                        gaps.push(now - last);
                    }
                    last = now;
                    deltas += 1;
                    answer.push_str(text);
                }
                if v["choices"][0]["finish_reason"].is_string() {
                    finished = true;
                }
                if let (Some(p), Some(c)) = (
                    v["usage"]["prompt_tokens"].as_u64(),
                    v["usage"]["completion_tokens"].as_u64(),
                ) {
                    usage = Some((p, c));
                }
            }
        }
        if !finished {
            return Err("incomplete".into());
        }
        let e2e = started.elapsed().as_secs_f64();
        let (prompt_tokens, completion_tokens) = usage.unwrap_or((0, deltas));
        Ok(Done {
            ttft_s: first.unwrap_or(e2e),
            e2e_s: e2e,
            gaps,
            prompt_tokens,
            completion_tokens,
            answer,
        })
    }

    async fn first_model(&self) -> Result<String, BenchError> {
        let url = format!("{}/models", self.base);
        let mut req = self.http().get(&url);
        if let Some(k) = &self.key {
            req = req.bearer_auth(k);
        }
        let r = req.send().await.map_err(|source| BenchError::Http {
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
}

/// Conversations waiting for their next turn (open loop).
struct Pool {
    idle: std::collections::VecDeque<Conversation>,
    rng: StdRng,
}

/// Everything the request tasks share.
struct Run {
    client: Client,
    corpus: Corpus,
    progress: Arc<Progress>,
}

impl Run {
    /// One turn of `conversation`; returns the conversation for its next
    /// turn (a fresh one when it is over or failed) and the outcome.
    async fn turn(
        &self,
        mut conversation: Conversation,
        question: String,
        rng: &Mutex<StdRng>,
    ) -> (Conversation, Outcome) {
        let messages = conversation.ask(question);
        let mut outcome = self.client.chat(messages).await;
        match &mut outcome {
            Ok(done) => {
                self.progress.ok.fetch_add(1, Ordering::Relaxed);
                conversation.answered(std::mem::take(&mut done.answer));
            }
            Err(_) => {
                self.progress.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        if outcome.is_err() || conversation.turns >= self.corpus.turns() {
            conversation = self.corpus.start(&mut *rng.lock().await);
        }
        (conversation, outcome)
    }
}

/// Run the load and report.
pub async fn run(options: &LoadOptions, progress: Arc<Progress>) -> Result<LoadReport, BenchError> {
    let connections = if options.http2 {
        let streams = match options.arrival {
            Arrival::Closed { users } => users,
            Arrival::Poisson { .. } => options.max_in_flight,
        };
        streams.div_ceil(STREAMS_PER_H2_CONNECTION).max(1)
    } else {
        1
    };
    let http = (0..connections)
        .map(|_| {
            let builder = reqwest::Client::builder().timeout(options.timeout);
            let builder = if options.http2 {
                builder.http2_prior_knowledge()
            } else {
                builder.pool_max_idle_per_host(options.max_in_flight.min(1024))
            };
            builder.build().map_err(|source| BenchError::Http {
                url: options.base_url.clone(),
                source,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut client = Client {
        http,
        next: AtomicU64::new(0),
        base: options.base_url.trim_end_matches('/').to_owned(),
        key: options.api_key.clone(),
        model: options.model.clone().unwrap_or_default(),
        max_tokens: options.max_tokens,
    };
    if options.model.is_none() {
        client.model = client.first_model().await?;
    }
    let corpus = Corpus::new(options.shape.clone());
    let run = Arc::new(Run {
        client,
        corpus,
        progress: Arc::clone(&progress),
    });
    let rng = Arc::new(Mutex::new(StdRng::seed_from_u64(options.shape.seed)));
    let deadline = options.duration.map(|d| Instant::now() + d);
    let limit = options.requests.unwrap_or(u64::MAX);
    let started = Instant::now();
    let mut outcomes: Vec<Outcome> = Vec::new();
    let mut tasks: JoinSet<Outcome> = JoinSet::new();
    let mut overflow = 0u64;
    match options.arrival {
        Arrival::Poisson { rate } => {
            let rate = rate.max(1e-6);
            let mut arrivals = StdRng::seed_from_u64(options.shape.seed ^ 0x5eed);
            let pool = Arc::new(Mutex::new(Pool {
                idle: std::collections::VecDeque::new(),
                rng: StdRng::seed_from_u64(options.shape.seed.wrapping_add(1)),
            }));
            {
                let mut p = pool.lock().await;
                let mut r = rng.lock().await;
                for _ in 0..options.conversations.max(1) {
                    let c = run.corpus.start(&mut r);
                    p.idle.push_back(c);
                }
            }
            let mut at = 0.0f64;
            let mut sent = 0u64;
            while sent < limit {
                let u: f64 = arrivals.random_range(f64::EPSILON..1.0);
                at += -u.ln() / rate;
                let when = started + Duration::from_secs_f64(at);
                if deadline.is_some_and(|d| when > d) {
                    break;
                }
                tokio::time::sleep_until(when.into()).await;
                while let Some(done) = tasks.try_join_next() {
                    outcomes.push(done.unwrap_or_else(|_| Err("client_task".into())));
                }
                sent += 1;
                progress.sent.fetch_add(1, Ordering::Relaxed);
                let (conversation, question) = {
                    let mut p = pool.lock().await;
                    let question = run.corpus.question(&mut p.rng);
                    let next = if tasks.len() < options.max_in_flight {
                        p.idle.pop_front()
                    } else {
                        None
                    };
                    (next, question)
                };
                let Some(conversation) = conversation else {
                    overflow += 1;
                    progress.errors.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                let run = Arc::clone(&run);
                let pool = Arc::clone(&pool);
                let rng = Arc::clone(&rng);
                tasks.spawn(async move {
                    let (next, outcome) = run.turn(conversation, question, &rng).await;
                    pool.lock().await.idle.push_back(next);
                    outcome
                });
            }
        }
        Arrival::Closed { users } => {
            let sent = Arc::new(AtomicU64::new(0));
            let mut users_set: JoinSet<Vec<Outcome>> = JoinSet::new();
            for user in 0..users.max(1) {
                let run = Arc::clone(&run);
                let rng = Arc::clone(&rng);
                let sent = Arc::clone(&sent);
                let progress = Arc::clone(&progress);
                let mut user_rng =
                    StdRng::seed_from_u64(options.shape.seed.wrapping_add(1000 + user as u64));
                let mut conversation = run.corpus.start(&mut user_rng);
                users_set.spawn(async move {
                    let mut mine = Vec::new();
                    while deadline.is_none_or(|d| Instant::now() < d)
                        && sent.fetch_add(1, Ordering::Relaxed) < limit
                    {
                        progress.sent.fetch_add(1, Ordering::Relaxed);
                        let question = run.corpus.question(&mut user_rng);
                        let (next, outcome) = run.turn(conversation, question, &rng).await;
                        conversation = next;
                        mine.push(outcome);
                    }
                    mine
                });
            }
            while let Some(done) = users_set.join_next().await {
                match done {
                    Ok(mine) => outcomes.extend(mine),
                    Err(_) => outcomes.push(Err("client_task".into())),
                }
            }
        }
    }
    while let Some(done) = tasks.join_next().await {
        outcomes.push(done.unwrap_or_else(|_| Err("client_task".into())));
    }
    let wall = started.elapsed().as_secs_f64();
    Ok(report(
        options,
        &run.client.model,
        wall,
        &outcomes,
        overflow,
    ))
}

fn report(
    options: &LoadOptions,
    model: &str,
    wall_s: f64,
    outcomes: &[Outcome],
    overflow: u64,
) -> LoadReport {
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    if overflow > 0 {
        errors.insert("client_overflow".into(), overflow);
    }
    let mut ttft = Vec::new();
    let mut e2e = Vec::new();
    let mut gaps = Vec::new();
    let mut prompt = 0u64;
    let mut completion = 0u64;
    let mut good = 0u64;
    for o in outcomes {
        match o {
            Ok(d) => {
                ttft.push(d.ttft_s);
                e2e.push(d.e2e_s);
                gaps.extend_from_slice(&d.gaps);
                prompt += d.prompt_tokens;
                completion += d.completion_tokens;
                let mean_itl = if d.gaps.is_empty() {
                    0.0
                } else {
                    d.gaps.iter().sum::<f64>() / d.gaps.len() as f64
                };
                let ttft_ok = options.slo_ttft.is_none_or(|s| d.ttft_s <= s.as_secs_f64());
                let itl_ok = options.slo_itl.is_none_or(|s| mean_itl <= s.as_secs_f64());
                if ttft_ok && itl_ok {
                    good += 1;
                }
            }
            Err(kind) => *errors.entry(kind.clone()).or_default() += 1,
        }
    }
    let ok = ttft.len() as u64;
    let error_total: u64 = errors.values().sum();
    let sent = ok + error_total;
    let per_s = |n: f64| if wall_s > 0.0 { n / wall_s } else { 0.0 };
    let (rate, users, mode) = match options.arrival {
        Arrival::Poisson { rate } => (Some(rate), None, "open"),
        Arrival::Closed { users } => (None, Some(users), "closed"),
    };
    LoadReport {
        base_url: options.base_url.clone(),
        model: model.to_owned(),
        workload: options.shape.workload.name().to_owned(),
        mode: mode.to_owned(),
        rate,
        users,
        max_tokens: options.max_tokens,
        wall_s,
        sent,
        ok,
        errors,
        error_total,
        ttft_ms: Percentiles::of_seconds(&ttft),
        itl_ms: Percentiles::of_seconds(&gaps),
        e2e_ms: Percentiles::of_seconds(&e2e),
        throughput_req_s: per_s(ok as f64),
        output_tok_s: per_s(completion as f64),
        prompt_tokens_mean: if ok > 0 {
            prompt as f64 / ok as f64
        } else {
            0.0
        },
        completion_tokens_mean: if ok > 0 {
            completion as f64 / ok as f64
        } else {
            0.0
        },
        goodput: Goodput {
            slo_ttft_ms: options.slo_ttft.map(|d| d.as_secs_f64() * 1e3),
            slo_itl_ms: options.slo_itl.map(|d| d.as_secs_f64() * 1e3),
            requests: good,
            req_s: per_s(good as f64),
            fraction: if sent > 0 {
                good as f64 / sent as f64
            } else {
                0.0
            },
        },
    }
}

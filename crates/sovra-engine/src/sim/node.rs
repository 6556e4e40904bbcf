//! A simulated GPU inference node: what `sovra sim-node` serves.
//!
//! [`SimNode`] models an engine like vLLM closely enough for routing to
//! matter, without running a model:
//! - **continuous batching**: one scheduler task runs a step loop; each step
//!   every running sequence gets one token, and a step lasts
//!   `step_base + step_per_seq * batch` (a throughput curve that bends with
//!   batch size), up to `max_batch` sequences;
//! - **prefill**: a step that admits new sequences also computes their
//!   *uncached* prompt tokens (`prefill_per_token` each, plus a fixed
//!   overhead), so time to first token is queueing plus the prefill of what
//!   the cache did not hold, and long prefills slow every running stream;
//! - **KV cache** of fixed size ([`super::kv`]): hash-chained 16-token
//!   blocks, LRU eviction, a request's cached prefix skips prefill; a
//!   finished conversation's history stays cached for its next turn;
//! - **faults on demand** ([`Faults`]): refuse (503), hang before the first
//!   token, die mid-stream, slow down by a factor; changeable while running.
//!
//! Tokens are words: the simulated tokenizer splits on whitespace, plus one
//! token per message for its role marker. Answers are the deterministic text
//! of [`SimEngine::answer_pieces`]. All times are multiplied by
//! `time_scale`, so a benchmark can run the same load shape faster.
//! Everything is bounded: at most `max_waiting` requests wait, each stream's
//! channel holds at most its own answer, the cache holds `kv_blocks` blocks.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use sovra_core::openai::Role;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::kv::{Admission, KvCache, block_hashes, token_id};
use super::{SimEngine, SimStream};
use crate::stop::StopMatcher;
use crate::{Engine, EngineError, Event, EventStream, GenerateRequest, ModelCard, Prompt, Turn};

/// Faults the node injects, settable at start and while running.
#[derive(Debug, Clone, PartialEq)]
pub struct Faults {
    /// Refuse every new request as overloaded (HTTP 503).
    pub refuse: bool,
    /// Accept new requests but never send their first token.
    pub hang: bool,
    /// New streams fail after this many tokens.
    pub die_after_tokens: Option<u32>,
    /// Every step takes this many times longer (1 = normal).
    pub slowdown: f64,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            refuse: false,
            hang: false,
            die_after_tokens: None,
            slowdown: 1.0,
        }
    }
}

/// How the simulated node behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct SimNodeConfig {
    pub model_id: String,
    pub context_length: u32,
    /// Answer length when the request sets no `max_tokens`.
    pub default_answer_tokens: u32,
    /// Most sequences decoded together.
    pub max_batch: usize,
    /// A decode step's fixed cost (the batch-of-one inter-token latency).
    pub step_base: Duration,
    /// What each running sequence adds to a step.
    pub step_per_seq: Duration,
    /// Fixed cost of a step that prefills anything.
    pub prefill_overhead: Duration,
    /// Prefill cost of one uncached prompt token.
    pub prefill_per_token: Duration,
    /// Uncached prompt tokens one step may prefill (one request always fits).
    pub max_prefill_tokens: usize,
    /// KV cache size in tokens.
    pub kv_tokens: usize,
    /// Tokens per cache block.
    pub block_tokens: usize,
    /// Requests waiting to be scheduled before new ones are refused.
    pub max_waiting: usize,
    /// Multiplies every simulated duration (0.1 = ten times faster).
    pub time_scale: f64,
    pub faults: Faults,
}

impl Default for SimNodeConfig {
    fn default() -> Self {
        Self {
            model_id: "sim".to_owned(),
            context_length: 32768,
            default_answer_tokens: 48,
            max_batch: 32,
            step_base: Duration::from_millis(10),
            step_per_seq: Duration::from_micros(500),
            prefill_overhead: Duration::from_millis(5),
            prefill_per_token: Duration::from_micros(100),
            max_prefill_tokens: 8192,
            kv_tokens: 65536,
            block_tokens: 16,
            max_waiting: 1024,
            time_scale: 1.0,
            faults: Faults::default(),
        }
    }
}

/// Counters and gauges of the node, as `/sim/stats` shows them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SimStats {
    pub requests: u64,
    pub finished: u64,
    pub refused: u64,
    pub failed: u64,
    pub running: u64,
    pub waiting: u64,
    /// Prompt tokens found in the cache (prefill skipped).
    pub prompt_tokens_cached: u64,
    /// Prompt tokens prefilled.
    pub prompt_tokens_computed: u64,
    pub completion_tokens: u64,
    pub kv_blocks_used: u64,
    pub kv_blocks_capacity: u64,
    pub steps: u64,
}

impl SimStats {
    /// Share of prompt tokens served from the cache (0 before any request).
    pub fn cache_hit_rate(&self) -> f64 {
        let total = self.prompt_tokens_cached + self.prompt_tokens_computed;
        if total == 0 {
            0.0
        } else {
            self.prompt_tokens_cached as f64 / total as f64
        }
    }
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    finished: AtomicU64,
    refused: AtomicU64,
    failed: AtomicU64,
    running: AtomicU64,
    waiting: AtomicU64,
    cached: AtomicU64,
    computed: AtomicU64,
    completion: AtomicU64,
    kv_used: AtomicU64,
    kv_capacity: AtomicU64,
    steps: AtomicU64,
}

struct Shared {
    faults: Mutex<Faults>,
    counters: Counters,
}

/// A handle to change a node's faults and read its stats (for `/sim/*`).
#[derive(Clone)]
pub struct SimControl {
    shared: Arc<Shared>,
}

impl SimControl {
    pub fn faults(&self) -> Faults {
        match self.shared.faults.lock() {
            Ok(f) => f.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn set_faults(&self, faults: Faults) {
        match self.shared.faults.lock() {
            Ok(mut f) => *f = faults,
            Err(poisoned) => *poisoned.into_inner() = faults,
        }
    }

    pub fn stats(&self) -> SimStats {
        let c = &self.shared.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        SimStats {
            requests: get(&c.requests),
            finished: get(&c.finished),
            refused: get(&c.refused),
            failed: get(&c.failed),
            running: get(&c.running),
            waiting: get(&c.waiting),
            prompt_tokens_cached: get(&c.cached),
            prompt_tokens_computed: get(&c.computed),
            completion_tokens: get(&c.completion),
            kv_blocks_used: get(&c.kv_used),
            kv_blocks_capacity: get(&c.kv_capacity),
            steps: get(&c.steps),
        }
    }
}

/// One request on its way through the scheduler.
struct Job {
    tokens: Vec<u64>,
    stream: SimStream,
    answer: String,
    die_after: Option<u32>,
    tx: mpsc::Sender<Result<Event, EngineError>>,
}

struct Running {
    job: Job,
    admission: Admission,
}

/// The scheduler task; stops when the node (every sender) is dropped.
struct TaskGuard(tokio::task::JoinHandle<()>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A simulated GPU node. Cloning shares the node.
#[derive(Clone)]
pub struct SimNode {
    card: ModelCard,
    config: Arc<SimNodeConfig>,
    jobs: mpsc::Sender<Job>,
    shared: Arc<Shared>,
    _task: Arc<TaskGuard>,
}

impl SimNode {
    /// Start the node's scheduler on the current tokio runtime.
    pub fn start(config: SimNodeConfig) -> Self {
        let card = ModelCard {
            id: config.model_id.clone(),
            context_length: config.context_length,
            description: format!(
                "simulated GPU node (batch {}, step {:?} + {:?}/seq, prefill {:?}/token, kv {} tokens, time x{})",
                config.max_batch,
                config.step_base,
                config.step_per_seq,
                config.prefill_per_token,
                config.kv_tokens,
                config.time_scale
            ),
        };
        let shared = Arc::new(Shared {
            faults: Mutex::new(config.faults.clone()),
            counters: Counters::default(),
        });
        let (tx, rx) = mpsc::channel(config.max_waiting.max(1));
        let scheduler = Scheduler {
            kv: KvCache::new(config.kv_tokens / config.block_tokens.max(1)),
            config: config.clone(),
            shared: Arc::clone(&shared),
            waiting: VecDeque::new(),
            running: Vec::new(),
        };
        let task = tokio::spawn(scheduler.run(rx));
        Self {
            card,
            config: Arc::new(config),
            jobs: tx,
            shared,
            _task: Arc::new(TaskGuard(task)),
        }
    }

    /// The handle the HTTP layer uses for `/sim/faults` and `/sim/stats`.
    pub fn control(&self) -> SimControl {
        SimControl {
            shared: Arc::clone(&self.shared),
        }
    }
}

/// The simulated tokenizer: a role marker per message, then its words.
pub fn prompt_tokens(prompt: &Prompt) -> Vec<u64> {
    let mut tokens = Vec::new();
    match prompt {
        Prompt::Chat(turns) => {
            for t in turns {
                tokens.push(role_token(t.role));
                tokens.extend(t.content.split_whitespace().map(token_id));
            }
        }
        Prompt::Text(text) => tokens.extend(text.split_whitespace().map(token_id)),
    }
    if tokens.is_empty() {
        tokens.push(token_id("<|bos|>"));
    }
    tokens
}

fn role_token(role: Role) -> u64 {
    token_id(&format!("<|{}|>", role.as_str()))
}

#[async_trait::async_trait]
impl Engine for SimNode {
    fn model(&self) -> &ModelCard {
        &self.card
    }

    async fn count_prompt_tokens(&self, prompt: &Prompt) -> Option<u32> {
        Some(u32::try_from(prompt_tokens(prompt).len()).unwrap_or(u32::MAX))
    }

    async fn generate(&self, request: GenerateRequest) -> Result<EventStream, EngineError> {
        super::refuse_what_sim_cannot_do(&request.params)?;
        let faults = self.control().faults();
        let counters = &self.shared.counters;
        counters.requests.fetch_add(1, Ordering::Relaxed);
        if faults.refuse {
            counters.refused.fetch_add(1, Ordering::Relaxed);
            return Err(EngineError::Overloaded(self.config.max_waiting));
        }
        let tokens = prompt_tokens(&request.prompt);
        let prompt_len = u32::try_from(tokens.len()).unwrap_or(u32::MAX);
        let params = crate::SamplingParams {
            ceiling: request
                .params
                .ceiling
                .min(self.config.default_answer_tokens),
            ..request.params.clone()
        };
        let max_tokens = params.budget(prompt_len, self.config.context_length)?;
        let answer_len = self.config.default_answer_tokens.max(1);
        let limit = max_tokens.min(answer_len);
        let bt = self.config.block_tokens.max(1);
        let blocks = (tokens.len() + limit as usize + 1).div_ceil(bt);
        if blocks > self.config.kv_tokens / bt {
            return Err(EngineError::ContextLength {
                prompt_tokens: prompt_len,
                max_tokens: limit,
                context: u32::try_from(self.config.kv_tokens).unwrap_or(u32::MAX),
            });
        }
        if faults.hang {
            return Ok(futures::stream::pending().boxed());
        }
        let turns = match &request.prompt {
            Prompt::Chat(turns) => turns.clone(),
            Prompt::Text(text) => vec![Turn::new(Role::User, text.clone())],
        };
        let pieces = SimEngine::answer_pieces(&turns, request.params.seed, answer_len);
        let stream = SimStream {
            pieces: pieces.into_iter(),
            stop: StopMatcher::new(&request.params.stop),
            emitted: 0,
            limit,
            prompt_tokens: prompt_len,
            fail_after: None,
            done: false,
        };
        // Room for every event of this answer: the scheduler never waits on a client.
        let (tx, rx) = mpsc::channel(limit as usize + 4);
        let job = Job {
            tokens,
            stream,
            answer: String::new(),
            die_after: faults.die_after_tokens,
            tx,
        };
        // The waiting count bounds the scheduler's queue as well as the channel.
        let waiting = counters.waiting.fetch_add(1, Ordering::Relaxed);
        if waiting as usize >= self.config.max_waiting || self.jobs.try_send(job).is_err() {
            counters.waiting.fetch_sub(1, Ordering::Relaxed);
            counters.refused.fetch_add(1, Ordering::Relaxed);
            return Err(EngineError::Overloaded(self.config.max_waiting));
        }
        Ok(tokio_stream::wrappers::ReceiverStream::new(rx).boxed())
    }
}

struct Scheduler {
    config: SimNodeConfig,
    shared: Arc<Shared>,
    kv: KvCache,
    waiting: VecDeque<Job>,
    running: Vec<Running>,
}

impl Scheduler {
    fn scaled(&self, d: Duration, slowdown: f64) -> Duration {
        let factor = self.config.time_scale * slowdown.max(0.0);
        Duration::try_from_secs_f64(d.as_secs_f64() * factor).unwrap_or(Duration::ZERO)
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Job>) {
        self.shared
            .counters
            .kv_capacity
            .store(self.kv.capacity() as u64, Ordering::Relaxed);
        let mut clock = Instant::now();
        loop {
            if self.running.is_empty() && self.waiting.is_empty() {
                match rx.recv().await {
                    Some(job) => self.waiting.push_back(job),
                    None => return,
                }
                clock = Instant::now();
            }
            while let Ok(job) = rx.try_recv() {
                self.waiting.push_back(job);
            }
            let prefill = self.admit();
            let slowdown = match self.shared.faults.lock() {
                Ok(f) => f.slowdown,
                Err(p) => p.into_inner().slowdown,
            };
            let mut step = self.config.step_base
                + self
                    .config
                    .step_per_seq
                    .saturating_mul(u32::try_from(self.running.len()).unwrap_or(u32::MAX));
            if prefill > 0 {
                step += self.config.prefill_overhead
                    + self
                        .config
                        .prefill_per_token
                        .saturating_mul(u32::try_from(prefill).unwrap_or(u32::MAX));
            }
            let step = self.scaled(step, slowdown);
            if step.is_zero() {
                tokio::task::yield_now().await;
            } else {
                // A fixed cadence: a late wake-up shortens the next sleep,
                // but a long stall (CPU starvation) is not paid back in a burst.
                let now = Instant::now();
                let floor = now
                    .checked_sub(Duration::from_millis(2).min(step))
                    .unwrap_or(now);
                clock = clock.max(floor) + step;
                tokio::time::sleep_until(clock).await;
            }
            self.decode();
            self.publish();
        }
    }

    /// Move waiting requests into the batch while slots, cache and the
    /// step's prefill budget allow; returns the tokens to prefill.
    fn admit(&mut self) -> usize {
        let bt = self.config.block_tokens.max(1);
        let mut prefill = 0;
        while self.running.len() < self.config.max_batch.max(1) {
            let Some(job) = self.waiting.front() else {
                break;
            };
            if job.tx.is_closed() {
                self.waiting.pop_front();
                self.shared.counters.waiting.fetch_sub(1, Ordering::Relaxed);
                continue;
            }
            let hashes = block_hashes(&job.tokens, bt);
            let hit_tokens = (self.kv.cached_prefix(&hashes) * bt).min(job.tokens.len() - 1);
            let uncached = job.tokens.len() - hit_tokens;
            if prefill > 0 && prefill + uncached > self.config.max_prefill_tokens {
                break;
            }
            let total = (job.tokens.len() + job.stream.limit as usize + 1).div_ceil(bt);
            let Some(admission) = self.kv.admit(&hashes, total) else {
                break;
            };
            let Some(job) = self.waiting.pop_front() else {
                break;
            };
            let c = &self.shared.counters;
            c.waiting.fetch_sub(1, Ordering::Relaxed);
            c.cached.fetch_add(hit_tokens as u64, Ordering::Relaxed);
            c.computed.fetch_add(uncached as u64, Ordering::Relaxed);
            prefill += uncached;
            self.running.push(Running { job, admission });
        }
        prefill
    }

    /// One token for every running sequence; finished ones leave the batch.
    fn decode(&mut self) {
        let bt = self.config.block_tokens.max(1);
        let c = &self.shared.counters;
        c.steps.fetch_add(1, Ordering::Relaxed);
        let mut i = 0;
        while i < self.running.len() {
            let r = &mut self.running[i].job;
            let outcome = step_one(r);
            if outcome == Outcome::Continue {
                i += 1;
                continue;
            }
            let Running { job, admission } = self.running.swap_remove(i);
            c.completion
                .fetch_add(u64::from(job.stream.emitted), Ordering::Relaxed);
            match outcome {
                Outcome::Finished => {
                    c.finished.fetch_add(1, Ordering::Relaxed);
                    let mut history = job.tokens;
                    history.push(role_token(Role::Assistant));
                    history.extend(job.answer.split_whitespace().map(token_id));
                    self.kv.release(admission, &block_hashes(&history, bt));
                }
                Outcome::Failed | Outcome::Gone => {
                    if outcome == Outcome::Failed {
                        c.failed.fetch_add(1, Ordering::Relaxed);
                    }
                    self.kv.release(admission, &[]);
                }
                Outcome::Continue => {}
            }
        }
    }

    fn publish(&self) {
        let c = &self.shared.counters;
        c.running
            .store(self.running.len() as u64, Ordering::Relaxed);
        c.kv_used.store(self.kv.used() as u64, Ordering::Relaxed);
        let cached = c.cached.load(Ordering::Relaxed);
        let computed = c.computed.load(Ordering::Relaxed);
        metrics::gauge!("sovra_sim_running").set(self.running.len() as f64);
        metrics::gauge!("sovra_sim_waiting").set(c.waiting.load(Ordering::Relaxed) as f64);
        metrics::gauge!("sovra_sim_kv_blocks_used").set(self.kv.used() as f64);
        metrics::counter!("sovra_sim_prompt_tokens_cached_total").absolute(cached);
        metrics::counter!("sovra_sim_prompt_tokens_computed_total").absolute(computed);
        if cached + computed > 0 {
            metrics::gauge!("sovra_sim_cache_hit_rate")
                .set(cached as f64 / (cached + computed) as f64);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Continue,
    Finished,
    Failed,
    Gone,
}

/// Send this step's token of one sequence (and its finish, if that is next).
fn step_one(job: &mut Job) -> Outcome {
    if job.die_after.is_some_and(|n| job.stream.emitted >= n) {
        let e = EngineError::Internal(format!(
            "simulated failure after {} tokens (sim fault die_after_tokens)",
            job.stream.emitted
        ));
        let _ = job.tx.try_send(Err(e));
        return Outcome::Failed;
    }
    loop {
        let event = job.stream.next_event();
        let finished = matches!(event, Event::Finish(_));
        if let Event::Delta(text) = &event {
            job.answer.push_str(text);
        }
        if job.tx.try_send(Ok(event)).is_err() {
            return Outcome::Gone;
        }
        if finished {
            return Outcome::Finished;
        }
        // The last token's step also ends the stream, without a step of its own.
        if !job.stream.at_end() {
            return Outcome::Continue;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SamplingParams;

    fn chat(system: &str, user: &str) -> GenerateRequest {
        GenerateRequest::chat(
            vec![Turn::new(Role::System, system), Turn::new(Role::User, user)],
            SamplingParams::default(),
        )
    }

    async fn run(node: &SimNode, req: GenerateRequest) -> (String, Option<crate::Finish>, bool) {
        let mut s = match node.generate(req).await {
            Ok(s) => s,
            Err(_) => return (String::new(), None, true),
        };
        let mut text = String::new();
        while let Some(ev) = s.next().await {
            match ev {
                Ok(Event::Delta(d)) => text.push_str(&d),
                Ok(Event::Logprobs(_)) => {}
                Ok(Event::Finish(f)) => return (text, Some(f), false),
                Err(_) => return (text, None, true),
            }
        }
        (text, None, false)
    }

    fn fast() -> SimNodeConfig {
        SimNodeConfig {
            step_base: Duration::from_millis(1),
            step_per_seq: Duration::ZERO,
            prefill_overhead: Duration::ZERO,
            prefill_per_token: Duration::from_micros(200),
            default_answer_tokens: 8,
            ..SimNodeConfig::default()
        }
    }

    #[tokio::test]
    async fn answers_like_the_simple_engine_and_counts_words() {
        let node = SimNode::start(fast());
        let (text, finish, failed) = run(&node, chat("be brief", "hello there")).await;
        assert!(!failed);
        assert!(text.starts_with("You said: hello there."), "{text}");
        let f = finish.unwrap();
        assert_eq!(f.completion_tokens, 8);
        // <|system|> be brief <|user|> hello there
        assert_eq!(f.prompt_tokens, 6);
    }

    #[tokio::test]
    async fn shared_prefix_is_cached_and_skips_prefill() {
        let node = SimNode::start(fast());
        let system = "word ".repeat(400);
        run(&node, chat(&system, "first question")).await;
        let before = node.control().stats();
        assert_eq!(before.prompt_tokens_cached, 0);
        let started = std::time::Instant::now();
        run(&node, chat(&system, "second question")).await;
        let cached_time = started.elapsed();
        let after = node.control().stats();
        assert!(
            after.prompt_tokens_cached >= 384,
            "{after:?} should reuse the 400-word system prompt"
        );
        assert!(after.cache_hit_rate() > 0.4, "{after:?}");
        let started = std::time::Instant::now();
        run(&node, chat(&"other ".repeat(400), "third question")).await;
        let uncached_time = started.elapsed();
        assert!(
            uncached_time > cached_time + Duration::from_millis(40),
            "uncached {uncached_time:?} vs cached {cached_time:?}"
        );
    }

    #[tokio::test]
    async fn faults_refuse_hang_die_and_clear() {
        let node = SimNode::start(fast());
        let control = node.control();
        control.set_faults(Faults {
            refuse: true,
            ..Faults::default()
        });
        assert!(matches!(
            node.generate(chat("s", "u")).await.err(),
            Some(EngineError::Overloaded(_))
        ));
        control.set_faults(Faults {
            die_after_tokens: Some(3),
            ..Faults::default()
        });
        let (text, finish, failed) = run(&node, chat("s", "u")).await;
        assert!(failed && finish.is_none(), "{text}");
        control.set_faults(Faults {
            hang: true,
            ..Faults::default()
        });
        let mut s = node
            .generate(chat("s", "u"))
            .await
            .unwrap_or_else(|_| futures::stream::empty().boxed());
        let first = tokio::time::timeout(Duration::from_millis(100), s.next()).await;
        assert!(first.is_err(), "a hung node sends nothing");
        control.set_faults(Faults::default());
        let (_, finish, failed) = run(&node, chat("s", "u")).await;
        assert!(!failed && finish.is_some());
        let stats = control.stats();
        assert_eq!(stats.refused, 1);
        assert_eq!(stats.failed, 1);
    }

    #[tokio::test]
    async fn batch_is_bounded_and_everyone_finishes() {
        let node = SimNode::start(SimNodeConfig {
            max_batch: 4,
            ..fast()
        });
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let node = node.clone();
                tokio::spawn(async move { run(&node, chat("s", &format!("q{i}"))).await })
            })
            .collect();
        let mut ok = 0;
        for t in tasks {
            if let Ok((_, Some(_), false)) = t.await {
                ok += 1;
            }
        }
        assert_eq!(ok, 20);
        let stats = node.control().stats();
        assert_eq!(stats.finished, 20);
        assert_eq!(stats.running, 0);
        // 20 requests x 8 tokens at 4 per step: at least 40 steps.
        assert!(stats.steps >= 40, "{stats:?}");
    }

    #[tokio::test]
    async fn full_queue_refuses() {
        let node = SimNode::start(SimNodeConfig {
            max_waiting: 1,
            max_batch: 1,
            step_base: Duration::from_millis(50),
            ..fast()
        });
        let mut held = Vec::new();
        let mut refused = 0;
        for _ in 0..5 {
            match node.generate(chat("s", "u")).await {
                Ok(s) => held.push(s),
                Err(EngineError::Overloaded(_)) => refused += 1,
                Err(e) => panic!("{e}"),
            }
        }
        assert!(refused >= 3, "{refused}");
    }
}

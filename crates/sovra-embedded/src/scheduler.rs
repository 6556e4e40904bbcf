//! The scheduler thread: continuous batching over one llama.cpp context.
//!
//! Each step builds one batch: one token for every conversation that is
//! generating, then chunks of waiting prompts up to the batch budget (so a
//! long prompt never stalls streams that are already talking). After the
//! decode every slot whose logits are ready samples its next token, which is
//! streamed out through the request's own channel. Slots keep their KV cache
//! when a request ends; [`Scheduler::admit`] reuses the longest cached token
//! prefix, from an idle slot or copied from a busy one.
//!
//! Every slot has its own KV stream (`kv_unified = false`, as llama-server
//! runs): a token attends only to its own conversation's cells, so the cost
//! of attention does not grow with the number of other live conversations.
//! llama.cpp splits a batch into micro-batches of consecutive sequence ids,
//! so the batch is laid out in slot order and new requests take the lowest
//! free slot when no cached prefix says otherwise.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use llama_cpp_2::token::logit_bias::LlamaLogitBias;
use sovra_core::openai::FinishReason;
use sovra_engine::stop::{StopMatcher, StopOutcome};
use sovra_engine::{EngineError, Event, Finish, SamplingParams, TokenLogprob, TokenText};
use tokio::sync::mpsc;

use crate::grammar::Grammar;
use crate::text::Utf8Assembler;
use crate::{EngineStats, LoadedModel};

/// A tokenized request on its way to a slot.
pub(crate) struct Job {
    pub prompt: Vec<LlamaToken>,
    /// The output constraint, already converted (see [`crate::grammar`]).
    pub grammar: Option<Grammar>,
    pub params: SamplingParams,
    pub max_tokens: u32,
    pub events: mpsc::Sender<Result<Event, EngineError>>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct SchedulerConfig {
    pub threads: u32,
    pub parallel: u32,
    pub context_per_sequence: u32,
    pub batch_tokens: u32,
}

/// Below this many shared tokens, copying another slot's cache is not worth it.
const MIN_PREFIX_COPY: usize = 16;

struct Slot {
    seq: i32,
    /// Tokens whose keys and values sit in the KV cache at positions 0..len.
    cached: Vec<LlamaToken>,
    active: Option<Active>,
}

struct Active {
    events: mpsc::Sender<Result<Event, EngineError>>,
    prompt: Vec<LlamaToken>,
    /// How many prompt tokens are in the cache.
    prefilled: usize,
    sampler: LlamaSampler,
    /// Report log-probabilities, with this many alternatives.
    logprobs: Option<u8>,
    stop: StopMatcher,
    utf8: Utf8Assembler,
    max_tokens: u32,
    generated: u32,
    /// Sampled but not yet decoded.
    next_token: Option<LlamaToken>,
    /// Where this slot's logits are in the batch just decoded.
    logits_at: Option<i32>,
}

pub(crate) struct Scheduler<'m> {
    loaded: &'m LoadedModel,
    ctx: LlamaContext<'m>,
    batch: LlamaBatch<'static>,
    slots: Vec<Slot>,
    config: SchedulerConfig,
    stats: Arc<EngineStats>,
}

fn common_prefix(a: &[LlamaToken], b: &[LlamaToken]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// The sampler chain for one request, in llama.cpp's usual order: logit
/// bias, then repetition penalties over what this request has generated so
/// far (the sampler sees each token it picks; prompt tokens are not fed to
/// it, as OpenAI penalises only the answer), then the grammar that enforces
/// the output's shape, then greedy or top-p sampling.
fn sampler_for(
    params: &SamplingParams,
    grammar: Option<&Grammar>,
    model: &LlamaModel,
    context: u32,
) -> Result<LlamaSampler, EngineError> {
    let n_vocab = model.n_vocab();
    let mut chain = Vec::with_capacity(6);
    if !params.logit_bias.is_empty() {
        let biases: Vec<LlamaLogitBias> = params
            .logit_bias
            .iter()
            .filter_map(|&(token, bias)| {
                i32::try_from(token)
                    .ok()
                    .map(|t| LlamaLogitBias::new(LlamaToken::new(t), bias))
            })
            .collect();
        chain.push(LlamaSampler::logit_bias(n_vocab, &biases));
    }
    if params.presence_penalty != 0.0 || params.frequency_penalty != 0.0 {
        // The window covers a whole answer: penalties apply to every token so far.
        let window = i32::try_from(context).unwrap_or(i32::MAX);
        chain.push(LlamaSampler::penalties(
            n_vocab,
            window,
            1.0,
            params.frequency_penalty,
            params.presence_penalty,
        ));
    }
    if let Some(grammar) = grammar {
        let sampler = match &grammar.trigger {
            None => LlamaSampler::grammar(model, &grammar.gbnf, "root"),
            Some(word) => {
                LlamaSampler::grammar_lazy(model, &grammar.gbnf, "root", [word.as_bytes()], &[])
            }
        };
        chain.push(
            sampler.map_err(|e| {
                EngineError::Internal(format!("the output grammar did not load: {e}"))
            })?,
        );
    }
    if params.temperature <= 0.0 {
        chain.push(LlamaSampler::greedy());
    } else {
        let seed = match params.seed {
            Some(s) => (s ^ (s >> 32)) as u32,
            None => rand::random(),
        };
        chain.push(LlamaSampler::top_p(params.top_p.clamp(0.0, 1.0), 1));
        chain.push(LlamaSampler::temp(params.temperature));
        chain.push(LlamaSampler::dist(seed));
    }
    Ok(LlamaSampler::chain_simple(chain))
}

/// The log-probability of `token` under the model's raw distribution (the
/// logits before any sampling setting: what OpenAI's `logprobs` report),
/// and the `top` most likely tokens with theirs, most likely first.
fn log_softmax_at(logits: &[f32], token: usize, top: usize) -> (f32, Vec<(usize, f32)>) {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = logits.iter().map(|&l| f64::from(l - max).exp()).sum();
    let log_z = max + sum.ln() as f32;
    let logprob = logits.get(token).map_or(f32::NEG_INFINITY, |&l| l - log_z);
    // A partial selection: keep the `top` best seen so far, sorted.
    let mut best: Vec<(usize, f32)> = Vec::with_capacity(top + 1);
    if top > 0 {
        for (i, &l) in logits.iter().enumerate() {
            if best.len() == top && best.last().is_some_and(|&(_, worst)| l <= worst) {
                continue;
            }
            let at = best.partition_point(|&(_, b)| b >= l);
            best.insert(at, (i, l));
            best.truncate(top);
        }
    }
    let best = best.into_iter().map(|(i, l)| (i, l - log_z)).collect();
    (logprob, best)
}

impl<'m> Scheduler<'m> {
    pub fn new(
        backend: &LlamaBackend,
        loaded: &'m LoadedModel,
        config: SchedulerConfig,
        stats: Arc<EngineStats>,
    ) -> Result<Self, String> {
        let total = config
            .parallel
            .checked_mul(config.context_per_sequence)
            .ok_or("parallel × context_per_sequence overflows")?;
        let threads = i32::try_from(config.threads.max(1)).unwrap_or(2);
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(total))
            .with_n_batch(config.batch_tokens)
            .with_n_ubatch(config.batch_tokens)
            .with_n_seq_max(config.parallel)
            .with_n_threads(threads)
            .with_n_threads_batch(threads)
            // One KV stream per slot: attention stays within a conversation.
            .with_kv_unified(false);
        let ctx = loaded
            .model
            .new_context(backend, params)
            .map_err(|e| format!("could not create a llama.cpp context: {e}"))?;
        let slots = (0..config.parallel)
            .map(|i| Slot {
                seq: i32::try_from(i).unwrap_or(0),
                cached: Vec::new(),
                active: None,
            })
            .collect();
        Ok(Self {
            loaded,
            ctx,
            batch: LlamaBatch::new(config.batch_tokens as usize, 1),
            slots,
            config,
            stats,
        })
    }

    /// Serve jobs until the engine is dropped.
    pub fn run(&mut self, mut jobs: mpsc::Receiver<Job>, stop: &AtomicBool) {
        let mut open = true;
        loop {
            if stop.load(Ordering::Relaxed) {
                self.fail_all(EngineError::Stopped);
                return;
            }
            self.drop_cancelled();
            if !self.any_active() {
                if !open {
                    return;
                }
                match jobs.blocking_recv() {
                    Some(job) => self.admit(job),
                    None => return,
                }
            }
            while open && self.slots.iter().any(|s| s.active.is_none()) {
                match jobs.try_recv() {
                    Ok(job) => self.admit(job),
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => open = false,
                }
            }
            if self.any_active()
                && let Err(e) = self.step()
            {
                tracing::error!(error = %e, "embedded engine step failed; failing live requests");
                self.fail_all(EngineError::Internal(e));
                self.ctx.clear_kv_cache();
                for slot in &mut self.slots {
                    slot.cached.clear();
                }
            }
        }
    }

    fn any_active(&self) -> bool {
        self.slots.iter().any(|s| s.active.is_some())
    }

    fn drop_cancelled(&mut self) {
        for slot in &mut self.slots {
            if slot.active.as_ref().is_some_and(|a| a.events.is_closed()) {
                slot.active = None;
            }
        }
    }

    fn fail_all(&mut self, error: EngineError) {
        for slot in &mut self.slots {
            if let Some(active) = slot.active.take() {
                let _ = active.events.try_send(Err(error.clone()));
            }
        }
    }

    /// Put a job in the free slot that lets it skip the most prompt tokens.
    fn admit(&mut self, job: Job) {
        if job.events.is_closed() {
            // The client left while the request was queued.
            return;
        }
        let Some((dst, mut reuse)) = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.active.is_none())
            .map(|(i, s)| (i, common_prefix(&s.cached, &job.prompt)))
            // The longest reusable prefix; among equals the lowest slot, which
            // keeps live sequence ids together (fewer micro-batches).
            .max_by_key(|&(i, n)| (n, std::cmp::Reverse(i)))
        else {
            // Callers admit only while a slot is free.
            let _ = job.events.try_send(Err(EngineError::Overloaded(0)));
            return;
        };
        let donor = self
            .slots
            .iter()
            .filter(|s| s.active.is_some())
            .map(|s| (s.seq, common_prefix(&s.cached, &job.prompt)))
            .max_by_key(|&(_, n)| n);
        let dst_seq = self.slots[dst].seq;
        if let Some((src_seq, shared)) = donor
            && shared >= reuse + MIN_PREFIX_COPY
        {
            // Across KV streams llama.cpp copies whole sequences only: copy,
            // then cut the copy back to the shared prefix.
            let copied = self
                .ctx
                .copy_kv_cache_seq(src_seq, dst_seq, None, None)
                .map_err(|e| e.to_string())
                .and_then(|()| {
                    self.ctx
                        .clear_kv_cache_seq(Some(dst_seq as u32), Some(shared as u32), None)
                        .map_err(|e| e.to_string())
                });
            let donor_tokens = self
                .slots
                .iter()
                .find(|s| s.seq == src_seq)
                .map(|s| s.cached[..shared].to_vec());
            match (copied, donor_tokens) {
                (Ok(true), Some(tokens)) => {
                    self.slots[dst].cached = tokens;
                    reuse = shared;
                    self.stats.prefix_copies.fetch_add(1, Ordering::Relaxed);
                }
                _ => {
                    let _ = self
                        .ctx
                        .clear_kv_cache_seq(Some(dst_seq as u32), None, None);
                    self.slots[dst].cached.clear();
                    reuse = 0;
                }
            }
        }
        // The last prompt token is always decoded again: its logits start the answer.
        reuse = reuse.min(job.prompt.len().saturating_sub(1));
        let slot = &mut self.slots[dst];
        if slot.cached.len() > reuse {
            let trimmed =
                self.ctx
                    .clear_kv_cache_seq(Some(dst_seq as u32), Some(reuse as u32), None);
            if matches!(trimmed, Ok(true)) {
                slot.cached.truncate(reuse);
            } else {
                let _ = self
                    .ctx
                    .clear_kv_cache_seq(Some(dst_seq as u32), None, None);
                slot.cached.clear();
                reuse = 0;
            }
        }
        tracing::debug!(
            slot = dst_seq,
            prompt = job.prompt.len(),
            reused = reuse,
            "admitted"
        );
        self.stats
            .prompt_tokens
            .fetch_add(job.prompt.len() as u64, Ordering::Relaxed);
        self.stats
            .reused_prompt_tokens
            .fetch_add(reuse as u64, Ordering::Relaxed);
        metrics::counter!("sovra_prompt_tokens_reused_total").increment(reuse as u64);
        let sampler = match sampler_for(
            &job.params,
            job.grammar.as_ref(),
            &self.loaded.model,
            self.config.context_per_sequence,
        ) {
            Ok(sampler) => sampler,
            Err(e) => {
                let _ = job.events.try_send(Err(e));
                return;
            }
        };
        slot.active = Some(Active {
            sampler,
            logprobs: job.params.logprobs,
            stop: StopMatcher::new(&job.params.stop),
            events: job.events,
            prompt: job.prompt,
            prefilled: reuse,
            utf8: Utf8Assembler::default(),
            max_tokens: job.max_tokens,
            generated: 0,
            next_token: None,
            logits_at: None,
        });
    }

    /// One decode over every live slot, then sampling.
    fn step(&mut self) -> Result<(), String> {
        self.batch.clear();
        // Streams that are talking go first: one token each; waiting prompts
        // share what is left of the budget. Tokens are laid out in slot order
        // so that llama.cpp can put consecutive sequences in one micro-batch.
        let talking = self
            .slots
            .iter()
            .filter(|s| s.active.as_ref().is_some_and(|a| a.next_token.is_some()))
            .count();
        let mut prompt_budget = (self.config.batch_tokens as usize).saturating_sub(talking);
        for slot in &mut self.slots {
            let Some(active) = slot.active.as_mut() else {
                continue;
            };
            if let Some(token) = active.next_token.take() {
                let pos = i32::try_from(slot.cached.len()).map_err(|e| e.to_string())?;
                self.batch
                    .add(token, pos, &[slot.seq], true)
                    .map_err(|e| e.to_string())?;
                slot.cached.push(token);
                active.logits_at = Some(self.batch.n_tokens() - 1);
                continue;
            }
            if active.prefilled >= active.prompt.len() || prompt_budget == 0 {
                continue;
            }
            let n = (active.prompt.len() - active.prefilled).min(prompt_budget);
            for i in active.prefilled..active.prefilled + n {
                let last = i + 1 == active.prompt.len();
                let pos = i32::try_from(slot.cached.len()).map_err(|e| e.to_string())?;
                self.batch
                    .add(active.prompt[i], pos, &[slot.seq], last)
                    .map_err(|e| e.to_string())?;
                slot.cached.push(active.prompt[i]);
            }
            active.prefilled += n;
            prompt_budget -= n;
            if active.prefilled == active.prompt.len() {
                active.logits_at = Some(self.batch.n_tokens() - 1);
            }
        }
        if self.batch.n_tokens() == 0 {
            return Ok(());
        }
        // Each slot owns a KV stream as long as its context, so a failure here
        // is not a full cache: `run` fails the live requests and starts clean.
        self.ctx
            .decode(&mut self.batch)
            .map_err(|e| e.to_string())?;
        let context = self.config.context_per_sequence as usize;
        let vocab = self.loaded.model.vocab();
        for slot in &mut self.slots {
            let Some(active) = slot.active.as_mut() else {
                continue;
            };
            let Some(at) = active.logits_at.take() else {
                continue;
            };
            let token = active.sampler.sample(&self.ctx, at);
            let outcome = if vocab.is_eog(token) {
                Some(FinishReason::Stop)
            } else {
                active.generated += 1;
                if let Some(top) = active.logprobs {
                    let logits = self.ctx.get_logits_ith(at);
                    let (logprob, best) =
                        log_softmax_at(logits, token.0.max(0) as usize, usize::from(top));
                    let piece = |t: usize| {
                        TokenText::from_bytes(vocab.token_to_piece(
                            LlamaToken::new(i32::try_from(t).unwrap_or(0)),
                            false,
                            None,
                        ))
                    };
                    let event = TokenLogprob {
                        token: piece(token.0.max(0) as usize),
                        logprob,
                        top: best.into_iter().map(|(t, lp)| (piece(t), lp)).collect(),
                    };
                    if active.events.try_send(Ok(Event::Logprobs(event))).is_err() {
                        slot.active = None;
                        continue;
                    }
                }
                let bytes = vocab.token_to_piece(token, false, None);
                let text = active.utf8.push(&bytes);
                let (text, stopped) = match active.stop.push(&text) {
                    StopOutcome::Continue(t) => (t, false),
                    StopOutcome::Stopped(t) => (t, true),
                };
                if !text.is_empty() && active.events.try_send(Ok(Event::Delta(text))).is_err() {
                    slot.active = None;
                    continue;
                }
                if stopped {
                    Some(FinishReason::Stop)
                } else if active.generated >= active.max_tokens || slot.cached.len() + 1 >= context
                {
                    Some(FinishReason::Length)
                } else {
                    active.next_token = Some(token);
                    None
                }
            };
            if let Some(reason) = outcome {
                let tail = active.utf8.finish();
                let tail = match active.stop.push(&tail) {
                    StopOutcome::Continue(t) => t + &active.stop.finish(),
                    StopOutcome::Stopped(t) => t,
                };
                if !tail.is_empty() {
                    let _ = active.events.try_send(Ok(Event::Delta(tail)));
                }
                let finish = Finish {
                    reason,
                    prompt_tokens: u32::try_from(active.prompt.len()).unwrap_or(u32::MAX),
                    completion_tokens: active.generated,
                };
                let _ = active.events.try_send(Ok(Event::Finish(finish)));
                slot.active = None;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::log_softmax_at;

    #[test]
    fn log_softmax_matches_a_hand_computation() {
        let logits = [1.0_f32, 3.0, 2.0, 0.0];
        let z: f32 = logits.iter().map(|l| l.exp()).sum();
        let (lp, top) = log_softmax_at(&logits, 2, 3);
        assert!((lp - (2.0_f32.exp() / z).ln()).abs() < 1e-5);
        let order: Vec<usize> = top.iter().map(|&(i, _)| i).collect();
        assert_eq!(order, vec![1, 2, 0]);
        assert!((top[0].1 - (3.0_f32.exp() / z).ln()).abs() < 1e-5);
        let probs: f32 = logits
            .iter()
            .enumerate()
            .map(|(i, _)| log_softmax_at(&logits, i, 0).0.exp())
            .sum();
        assert!((probs - 1.0).abs() < 1e-5);
        assert!(log_softmax_at(&logits, 0, 0).1.is_empty());
    }
}

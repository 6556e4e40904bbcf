//! Routing policy: which eligible backend gets a request, and why.
//!
//! Three policies (`[router] policy`): `round-robin`; `least-loaded` (fewest
//! tokens in flight per unit of weight, not just requests: a 4k-token prompt
//! weighs more than a greeting); and `prefix-aware`, the default: a session
//! stays on its backend; a conversation goes back to the backend that
//! holds most of it (so its prefix cache probably still has it), unless
//! that backend has `affinity_max_extra_tokens` more in flight than the least
//! loaded one; a new conversation, of which at most the shared system
//! prompt is cached anywhere, goes where it costs least (tokens in flight
//! plus the prompt tokens that backend would have to prefill), so new
//! conversations spread instead of piling onto one backend. Prefixes are
//! tracked as chained hashes of fixed-size blocks of the rendered prompt in
//! each backend's bounded [`BlockSet`](crate::backend::BlockSet). The
//! [`Reason`] of every decision is counted in metrics.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sovra_config::fleet::RoutingPolicy;
use sovra_core::openai::Role;
use sovra_engine::{GenerateRequest, Prompt};

use crate::backend::Backend;

/// Most prompt blocks hashed per request (bounds the work per request).
const MAX_BLOCKS: usize = 4096;

/// What placing one request needs to know about it.
#[derive(Debug, Clone)]
pub struct RouteInput {
    /// The public model name.
    pub model: String,
    /// Chained hashes of the prompt's full blocks.
    pub blocks: Vec<u64>,
    pub session: Option<String>,
    /// Estimated tokens the request will hold on its backend (prompt and answer).
    pub tokens: u64,
    /// Estimated prompt tokens (bytes / 4).
    pub prompt_tokens: u64,
    /// Bytes per prefix block (to turn matched blocks into tokens).
    pub block_bytes: usize,
    /// Blocks that lie wholly in the leading system/developer messages:
    /// a prefix many conversations share.
    pub shared_blocks: usize,
    /// A per-request hash that breaks ties between equally good backends.
    pub tie: u64,
}

const FNV_OFFSET: u64 = 0xcbf29ce484222325;

fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// Chained block hashes of a prompt: block `i`'s hash covers every byte up
/// to the end of block `i`, so a match on it means the whole prefix matches.
/// Also returns the prompt's length and how many bytes its leading system
/// and developer messages take (the part many conversations share).
pub fn prompt_blocks(prompt: &Prompt, block_bytes: usize) -> (Vec<u64>, usize, usize) {
    let mut bytes: Vec<u8> = Vec::new();
    let mut shared = 0;
    match prompt {
        Prompt::Chat(turns) => {
            let mut leading = true;
            for t in turns {
                bytes.extend_from_slice(t.role.as_str().as_bytes());
                bytes.push(0x1f);
                bytes.extend_from_slice(t.content.as_bytes());
                bytes.push(0x1e);
                leading &= matches!(t.role, Role::System | Role::Developer);
                if leading {
                    shared = bytes.len();
                }
            }
        }
        Prompt::Text(text) => bytes.extend_from_slice(text.as_bytes()),
    }
    let block = block_bytes.max(1);
    let mut h = FNV_OFFSET;
    let blocks = bytes
        .chunks_exact(block)
        .take(MAX_BLOCKS)
        .map(|chunk| {
            h = fnv(h, chunk);
            h
        })
        .collect();
    (blocks, bytes.len(), shared)
}

impl RouteInput {
    pub fn new(request: &GenerateRequest, model: String, block_bytes: usize) -> Self {
        let (blocks, len, shared) = prompt_blocks(&request.prompt, block_bytes);
        let p = &request.params;
        let answer = p.max_tokens.unwrap_or(p.ceiling.min(256)).min(p.ceiling);
        let tie = fnv(
            blocks.first().copied().unwrap_or(FNV_OFFSET),
            request.hints.session.as_deref().unwrap_or("").as_bytes(),
        );
        Self {
            model,
            blocks,
            session: request.hints.session.clone(),
            tokens: (len as u64).div_ceil(4) + u64::from(answer),
            prompt_tokens: (len as u64).div_ceil(4),
            block_bytes: block_bytes.max(1),
            shared_blocks: shared / block_bytes.max(1),
            tie,
        }
    }
}

/// Why a backend was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The session's backend.
    Session,
    /// The backend most likely to hold the prompt's prefix.
    AffinityHit,
    /// No affinity: the least loaded.
    LeastLoaded,
    /// Affinity pointed at an overloaded backend; the least loaded instead.
    Fallback,
    RoundRobin,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Session => "session",
            Reason::AffinityHit => "affinity_hit",
            Reason::LeastLoaded => "least_loaded",
            Reason::Fallback => "fallback",
            Reason::RoundRobin => "round_robin",
        }
    }
}

/// Session → backend name, bounded: the oldest sessions are forgotten first.
#[derive(Debug)]
pub struct Sessions {
    order: VecDeque<String>,
    map: HashMap<String, String>,
    cap: usize,
}

impl Sessions {
    pub fn new(cap: usize) -> Self {
        Self {
            order: VecDeque::new(),
            map: HashMap::new(),
            cap: cap.max(1),
        }
    }

    pub fn get(&self, session: &str) -> Option<&str> {
        self.map.get(session).map(String::as_str)
    }

    pub fn set(&mut self, session: &str, backend: &str) {
        if self
            .map
            .insert(session.to_owned(), backend.to_owned())
            .is_none()
        {
            self.order.push_back(session.to_owned());
        }
        while self.order.len() > self.cap {
            if let Some(old) = self.order.pop_front() {
                self.map.remove(&old);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// Mutable routing state, kept under the router's lock.
pub struct PolicyState {
    pub rr: u64,
    pub sessions: Sessions,
}

/// The least loaded of `loads`; ties broken by a rendezvous hash of the
/// request and the backend's name, so new prefixes spread over the fleet.
fn least_loaded(candidates: &[Arc<Backend>], loads: &[f64], tie: u64) -> usize {
    let mut best = 0;
    for i in 1..candidates.len() {
        let better = loads[i] < loads[best]
            || (loads[i] == loads[best]
                && fnv(tie, candidates[i].name().as_bytes())
                    > fnv(tie, candidates[best].name().as_bytes()));
        if better {
            best = i;
        }
    }
    best
}

/// Pick one of `candidates` (all eligible and with room; never empty).
pub fn choose(
    policy: RoutingPolicy,
    input: &RouteInput,
    candidates: &[Arc<Backend>],
    state: &mut PolicyState,
    now: Instant,
    slow_start: Duration,
    max_extra_tokens: u64,
) -> Option<(usize, Reason)> {
    if candidates.is_empty() {
        return None;
    }
    let scales: Vec<f64> = candidates
        .iter()
        .map(|b| b.capacity_scale(now, slow_start))
        .collect();
    let loads: Vec<f64> = candidates
        .iter()
        .zip(&scales)
        .map(|(b, scale)| b.in_flight_tokens() as f64 / scale)
        .collect();
    match policy {
        RoutingPolicy::RoundRobin => {
            state.rr = state.rr.wrapping_add(1);
            let i = (state.rr % candidates.len() as u64) as usize;
            Some((i, Reason::RoundRobin))
        }
        RoutingPolicy::LeastLoaded => Some((
            least_loaded(candidates, &loads, input.tie),
            Reason::LeastLoaded,
        )),
        RoutingPolicy::PrefixAware => {
            let least = least_loaded(candidates, &loads, input.tie);
            let ok = |i: usize| loads[i] <= loads[least] + max_extra_tokens as f64;
            if let Some(name) = input.session.as_deref().and_then(|s| state.sessions.get(s))
                && let Some(i) = candidates.iter().position(|b| b.name() == name)
                && ok(i)
            {
                return Some((i, Reason::Session));
            }
            Some(cheapest(input, candidates, &loads, &scales, least, &ok))
        }
    }
}

/// Prefix-aware placement without a session. Where a backend holds more of
/// the prompt than its shared system prompt (the conversation so far), the
/// request goes to the one holding the most, unless it is overloaded (then
/// the least loaded). Where at most the shared system prompt is cached
/// anywhere (a new conversation), the request goes where it costs least:
/// the tokens in flight plus the prompt tokens that backend would have to
/// prefill, both per unit of weight. So new conversations spread over the
/// fleet (preferring a backend that holds their system prompt when loads are
/// close) instead of piling onto the one that saw the system prompt first,
/// and conversations return to their cache.
fn cheapest(
    input: &RouteInput,
    candidates: &[Arc<Backend>],
    loads: &[f64],
    scales: &[f64],
    least: usize,
    ok: &dyn Fn(usize) -> bool,
) -> (usize, Reason) {
    let matched: Vec<usize> = candidates
        .iter()
        .map(|b| b.prefix_matched(&input.blocks))
        .collect();
    let mut best: Option<usize> = None;
    for (i, m) in matched.iter().enumerate() {
        let better = match best {
            None => *m > 0,
            Some(j) => *m > matched[j] || (*m == matched[j] && loads[i] < loads[j]),
        };
        if better {
            best = Some(i);
        }
    }
    match best {
        // More than the shared prefix (and the next message's opening
        // bytes, which many prompts share too): this conversation's cache.
        Some(i) if matched[i] > input.shared_blocks + 1 => {
            return if ok(i) {
                (i, Reason::AffinityHit)
            } else {
                (least, Reason::Fallback)
            };
        }
        None => return (least, Reason::LeastLoaded),
        Some(_) => {}
    }
    let block_tokens = input.block_bytes.div_ceil(4) as u64;
    let mut chosen: Option<(usize, f64)> = None;
    for i in 0..candidates.len() {
        if !ok(i) {
            continue;
        }
        let cached = (matched[i] as u64 * block_tokens).min(input.prompt_tokens);
        let cost = loads[i] + (input.prompt_tokens - cached) as f64 / scales[i];
        let better = match chosen {
            None => true,
            Some((j, c)) => cost < c || (cost == c && i == least && j != least),
        };
        if better {
            chosen = Some((i, cost));
        }
    }
    match chosen {
        Some((i, _)) if matched[i] > 0 => (i, Reason::AffinityHit),
        // The system prompt was cached only on backends too busy to prefer.
        Some((i, _)) if best.is_some_and(|j| !ok(j)) => (i, Reason::Fallback),
        Some((i, _)) => (i, Reason::LeastLoaded),
        None => (least, Reason::LeastLoaded),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sovra_config::fleet::BackendSettings;
    use sovra_core::openai::Role;
    use sovra_engine::sim::{SimConfig, SimEngine};
    use sovra_engine::{SamplingParams, Turn};

    pub(crate) fn backend(name: &str) -> Arc<Backend> {
        Arc::new(Backend::new(
            BackendSettings {
                name: name.into(),
                url: "embedded".into(),
                models: vec!["m".into()],
                jurisdiction: "EE".into(),
                site: "s".into(),
                weight: None,
                max_concurrency: None,
                api_key: None,
            },
            Arc::new(SimEngine::new(SimConfig::default())),
            None,
            1000,
        ))
    }

    fn input(system: &str, user: &str) -> RouteInput {
        let req = GenerateRequest::chat(
            vec![Turn::new(Role::System, system), Turn::new(Role::User, user)],
            SamplingParams::default(),
        );
        RouteInput::new(&req, "m".into(), 16)
    }

    #[test]
    fn same_prefix_goes_to_the_same_backend_unless_overloaded() {
        let fleet: Vec<_> = ["a", "b", "c", "d"].iter().map(|n| backend(n)).collect();
        let mut st = PolicyState {
            rr: 0,
            sessions: Sessions::new(10),
        };
        let now = Instant::now();
        let sys = "You are the tax office assistant. ".repeat(8);
        let first = input(&sys, "question one");
        let (i, r) = choose(
            RoutingPolicy::PrefixAware,
            &first,
            &fleet,
            &mut st,
            now,
            Duration::ZERO,
            100,
        )
        .unwrap();
        assert_eq!(r, Reason::LeastLoaded);
        fleet[i].remember_prefix(&first.blocks);
        fleet[i].reserve(50);
        let second = input(&sys, "another question entirely");
        let (j, r) = choose(
            RoutingPolicy::PrefixAware,
            &second,
            &fleet,
            &mut st,
            now,
            Duration::ZERO,
            100,
        )
        .unwrap();
        assert_eq!((j, r), (i, Reason::AffinityHit));
        // Overloaded: load wins.
        fleet[i].reserve(500);
        let (k, r) = choose(
            RoutingPolicy::PrefixAware,
            &second,
            &fleet,
            &mut st,
            now,
            Duration::ZERO,
            100,
        )
        .unwrap();
        assert_ne!(k, i);
        assert_eq!(r, Reason::Fallback);
    }

    #[test]
    fn a_shared_system_prompt_does_not_pile_new_conversations_on_one_backend() {
        let fleet: Vec<_> = ["a", "b"].iter().map(|n| backend(n)).collect();
        let mut st = PolicyState {
            rr: 0,
            sessions: Sessions::new(10),
        };
        let now = Instant::now();
        let sys = "You are the tax office assistant. ".repeat(8);
        let history = "An earlier turn of this long conversation. ".repeat(60);
        let old = input(&sys, &history);
        fleet[0].remember_prefix(&old.blocks);
        // `a` holds the shared system prompt (~70 tokens) and has 300 more
        // tokens in flight than `b`: a new conversation goes to `b`.
        fleet[0].reserve(300);
        let new = input(&sys, "a new question");
        let pick = |x: &RouteInput, st: &mut PolicyState| {
            choose(
                RoutingPolicy::PrefixAware,
                x,
                &fleet,
                st,
                now,
                Duration::ZERO,
                2048,
            )
            .unwrap()
        };
        assert_eq!(pick(&new, &mut st), (1, Reason::LeastLoaded));
        // The next turn of the long conversation stays on `a`, which holds
        // the conversation so far...
        let next = input(&sys, &format!("{history} and a follow-up"));
        assert_eq!(pick(&next, &mut st), (0, Reason::AffinityHit));
        // ...unless `a` has more than affinity_max_extra_tokens (2048) more
        // in flight than the least loaded backend.
        fleet[0].reserve(2000);
        assert_eq!(pick(&next, &mut st), (1, Reason::Fallback));
    }

    #[test]
    fn least_loaded_counts_tokens_and_round_robin_rotates() {
        let fleet: Vec<_> = ["a", "b"].iter().map(|n| backend(n)).collect();
        let mut st = PolicyState {
            rr: 0,
            sessions: Sessions::new(10),
        };
        let now = Instant::now();
        fleet[0].reserve(10);
        fleet[1].reserve(4000);
        fleet[0].reserve(10);
        let x = input("s", "u");
        let (i, _) = choose(
            RoutingPolicy::LeastLoaded,
            &x,
            &fleet,
            &mut st,
            now,
            Duration::ZERO,
            0,
        )
        .unwrap();
        assert_eq!(
            fleet[i].name(),
            "a",
            "two small requests weigh less than one big one"
        );
        let picks: Vec<usize> = (0..4)
            .filter_map(|_| {
                choose(
                    RoutingPolicy::RoundRobin,
                    &x,
                    &fleet,
                    &mut st,
                    now,
                    Duration::ZERO,
                    0,
                )
            })
            .map(|(i, _)| i)
            .collect();
        assert_eq!(picks, vec![1, 0, 1, 0]);
    }

    #[test]
    fn sessions_are_bounded() {
        let mut s = Sessions::new(2);
        s.set("a", "x");
        s.set("b", "y");
        s.set("c", "z");
        assert_eq!(s.len(), 2);
        assert_eq!(s.get("a"), None);
        assert_eq!(s.get("c"), Some("z"));
    }
}

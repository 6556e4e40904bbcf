//! The simulated node's KV cache: a fixed number of token blocks, prompt
//! prefixes kept as hash-chained blocks, least recently used blocks evicted.
//!
//! A block holds `block_tokens` tokens and is named by a hash of its tokens
//! chained with the previous block's name, so a block is only found when the
//! whole prefix before it matches too (vLLM's automatic prefix caching works
//! the same way). Only full blocks are cached. Running sequences pin the
//! blocks they read and hold private blocks for the rest of their prompt and
//! their answer; only unpinned blocks can be evicted, and a sequence is
//! admitted only when its blocks fit.

use std::collections::{BTreeMap, HashMap};

/// FNV-1a over bytes, continuing from `h`.
fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

const FNV_OFFSET: u64 = 0xcbf29ce484222325;

/// The simulated tokenizer's id for a word (or a role marker).
pub fn token_id(word: &str) -> u64 {
    fnv(FNV_OFFSET, word.as_bytes())
}

/// The chained names of the full blocks of `tokens`.
pub fn block_hashes(tokens: &[u64], block_tokens: usize) -> Vec<u64> {
    let mut prev = FNV_OFFSET;
    tokens
        .chunks_exact(block_tokens.max(1))
        .map(|chunk| {
            let mut h = fnv(FNV_OFFSET, &prev.to_le_bytes());
            for t in chunk {
                h = fnv(h, &t.to_le_bytes());
            }
            prev = h;
            h
        })
        .collect()
}

#[derive(Debug, Clone, Copy)]
struct Block {
    pins: u32,
    tick: u64,
}

/// Blocks a running sequence holds until it finishes.
#[derive(Debug, Clone, Default)]
pub struct Admission {
    /// Leading prompt blocks that were already cached.
    pub hit_blocks: usize,
    /// The prompt's full blocks, all pinned while the sequence runs.
    pinned: Vec<u64>,
    /// Blocks beyond the prompt's full ones (its tail and the answer).
    private: usize,
}

/// A fixed-size cache of prefix blocks with LRU eviction.
#[derive(Debug)]
pub struct KvCache {
    capacity: usize,
    blocks: HashMap<u64, Block>,
    /// Unpinned blocks by last use: the eviction order.
    lru: BTreeMap<u64, u64>,
    private: usize,
    tick: u64,
}

impl KvCache {
    /// A cache of `capacity` blocks.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            blocks: HashMap::new(),
            lru: BTreeMap::new(),
            private: 0,
            tick: 0,
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Blocks in use: cached (pinned or not) plus private ones.
    pub fn used(&self) -> usize {
        self.blocks.len() + self.private
    }

    /// How many leading blocks of `hashes` are cached.
    pub fn cached_prefix(&self, hashes: &[u64]) -> usize {
        hashes
            .iter()
            .take_while(|h| self.blocks.contains_key(h))
            .count()
    }

    fn next_tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }

    fn pin(&mut self, hash: u64) {
        if let Some(b) = self.blocks.get_mut(&hash) {
            if b.pins == 0 {
                self.lru.remove(&b.tick);
            }
            b.pins += 1;
        }
    }

    fn unpin(&mut self, hash: u64) {
        let tick = self.next_tick();
        if let Some(b) = self.blocks.get_mut(&hash) {
            b.pins = b.pins.saturating_sub(1);
            if b.pins == 0 {
                b.tick = tick;
                self.lru.insert(tick, hash);
            }
        }
    }

    /// Evict unpinned blocks, oldest first, until `free` blocks are free.
    fn make_room(&mut self, free: usize) -> bool {
        while self.capacity.saturating_sub(self.used()) < free {
            let Some((_, hash)) = self.lru.pop_first() else {
                return false;
            };
            self.blocks.remove(&hash);
        }
        true
    }

    /// Admit a sequence whose prompt has these full `hashes` and which needs
    /// `total_blocks` blocks in all (prompt and answer), or `None` when they
    /// cannot fit now (everything evictable is already gone).
    pub fn admit(&mut self, hashes: &[u64], total_blocks: usize) -> Option<Admission> {
        let hit = self.cached_prefix(hashes);
        for &h in &hashes[..hit] {
            self.pin(h);
        }
        let private = total_blocks.saturating_sub(hashes.len());
        let fresh = hashes.len() - hit;
        if !self.make_room(fresh + private) {
            for &h in &hashes[..hit] {
                self.unpin(h);
            }
            return None;
        }
        for &h in &hashes[hit..] {
            // A duplicate block inside one prompt is pinned twice, stored once.
            if let Some(b) = self.blocks.get_mut(&h) {
                if b.pins == 0 {
                    self.lru.remove(&b.tick);
                }
                b.pins += 1;
            } else {
                self.blocks.insert(h, Block { pins: 1, tick: 0 });
            }
        }
        self.private += private;
        Some(Admission {
            hit_blocks: hit,
            pinned: hashes.to_vec(),
            private,
        })
    }

    /// A sequence finished: unpin its prompt blocks, free its private ones,
    /// and keep the full blocks of its whole history (`history`, which
    /// starts with the prompt's blocks) for the next turn while they fit.
    pub fn release(&mut self, admission: Admission, history: &[u64]) {
        self.private = self.private.saturating_sub(admission.private);
        for &h in &admission.pinned {
            self.unpin(h);
        }
        for &h in history.iter().skip(admission.pinned.len()) {
            if self.blocks.contains_key(&h) {
                continue;
            }
            if !self.make_room(1) {
                break;
            }
            let tick = self.next_tick();
            self.blocks.insert(h, Block { pins: 0, tick });
            self.lru.insert(tick, h);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(n: u64, offset: u64) -> Vec<u64> {
        (offset..offset + n).collect()
    }

    #[test]
    fn chained_hashes_depend_on_the_whole_prefix() {
        let a = block_hashes(&tokens(32, 0), 16);
        let mut other = tokens(32, 0);
        other[0] = 999;
        let b = block_hashes(&other, 16);
        assert_eq!(a.len(), 2);
        assert_ne!(a[1], b[1], "second block differs because the first does");
        assert_eq!(block_hashes(&tokens(15, 0), 16).len(), 0);
    }

    #[test]
    fn shared_prefix_hits_and_lru_evicts_the_oldest() {
        let mut kv = KvCache::new(8);
        let a = block_hashes(&tokens(64, 0), 16);
        let adm = kv.admit(&a, 5).unwrap_or_default();
        assert_eq!(adm.hit_blocks, 0);
        assert_eq!(kv.used(), 5);
        kv.release(adm, &a);
        assert_eq!(kv.used(), 4);
        // Same prompt again: all four blocks hit.
        let adm = kv.admit(&a, 5).unwrap_or_default();
        assert_eq!(adm.hit_blocks, 4);
        kv.release(adm, &a);
        // A different prompt of 6 blocks needs room: the oldest of a goes.
        let b = block_hashes(&tokens(96, 1000), 16);
        let adm = kv.admit(&b, 6).unwrap_or_default();
        assert_eq!(adm.hit_blocks, 0);
        assert!(kv.used() <= 8);
        assert_eq!(kv.cached_prefix(&a), 0, "a's first block was the oldest");
        kv.release(adm, &b);
    }

    #[test]
    fn pinned_blocks_are_never_evicted_and_oversize_waits() {
        let mut kv = KvCache::new(4);
        let a = block_hashes(&tokens(48, 0), 16);
        let held = kv.admit(&a, 4);
        assert!(held.is_some());
        let b = block_hashes(&tokens(16, 500), 16);
        assert!(kv.admit(&b, 1).is_none(), "full of pinned blocks");
        assert_eq!(kv.cached_prefix(&a), 3);
        kv.release(held.unwrap_or_default(), &a);
        assert!(kv.admit(&b, 1).is_some());
    }

    #[test]
    fn history_blocks_are_kept_for_the_next_turn() {
        let mut kv = KvCache::new(16);
        let prompt = tokens(32, 0);
        let mut history = prompt.clone();
        history.extend(tokens(32, 100));
        let adm = kv.admit(&block_hashes(&prompt, 16), 4).unwrap_or_default();
        kv.release(adm, &block_hashes(&history, 16));
        let mut next = history.clone();
        next.extend(tokens(10, 200));
        assert_eq!(kv.cached_prefix(&block_hashes(&next, 16)), 4);
    }
}

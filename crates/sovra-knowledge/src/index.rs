//! The vector index: every chunk's embedding, searched exactly.
//!
//! A flat scan, not an ANN graph: at the sizes one Sovra node holds (100k
//! chunks of 384 floats is 154 MB) an exact dot-product scan answers in a few
//! milliseconds (docs/knowledge.md has the measurement), recall is 1.0 by
//! construction, deletes are cheap, and there is no C++ build. Chunks of
//! collections the caller may not read are skipped *inside* the scan, so a
//! filter can never starve the result list the way post-filtering an ANN
//! top-k does.
//!
//! The database holds every embedding (the source of truth); the index is a
//! cache of it in memory and in `knowledge.vec` in the data dir, stamped with
//! the database's generation. A file that is missing, torn or stale is
//! rebuilt from the stored embeddings.
//!
//! **Language centering.** A multilingual embedding carries its text's
//! language as well as its meaning, so a question ranks passages in its own
//! language above better ones in another (the misses of the evaluation were
//! all cross-language). The index keeps each vector's document language and
//! ranks by the cosine after subtracting `λ ×` that language's mean passage
//! vector from both sides (the query's language is detected): `(p − λc_L) ·
//! (q − λc_Q)`, normalised. This is the per-language mean-centering of
//! Libovický et al., "On the Language Neutrality of Pre-trained Multilingual
//! Representations" (2020). The means come from the indexed passages
//! themselves and are recomputed after every change ([`VectorIndex::recenter`]);
//! the stored vectors are untouched, and [`VectorIndex::similarity`] is
//! still the plain cosine (what `knowledge.min_similarity` is set against;
//! [`VectorIndex::relevance`], the centred one, is what `knowledge.min_relevance`
//! is).

use std::collections::{BinaryHeap, HashMap, HashSet};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

const MAGIC: &[u8; 8] = b"SOVRAVI2";

/// Exact cosine search over unit vectors.
#[derive(Debug, Clone, Default)]
pub struct VectorIndex {
    dim: usize,
    ids: Vec<i64>,
    collections: Vec<u32>,
    data: Vec<f32>,
    names: Vec<String>,
    by_name: HashMap<String, u32>,
    position: HashMap<i64, usize>,
    /// Each vector's language, an index into `languages`; 0 is unknown.
    language_of: Vec<u16>,
    languages: Vec<String>,
    /// How much of the language mean to subtract (0: plain cosine).
    lambda: f32,
    centering: Option<Centering>,
}

/// The language means and what they make of each vector, as of the last
/// [`VectorIndex::recenter`].
#[derive(Debug, Clone, Default)]
struct Centering {
    /// Per language, its mean vector (unknown: none, so nothing is subtracted).
    means: Vec<Option<Vec<f32>>>,
    /// Per vector, `1 / |p − λc_L|`.
    inv_norm: Vec<f32>,
    /// Per language, whether its mean comes from enough passages
    /// ([`SETTLED_PASSAGES`]) to stand for the language rather than for its
    /// few documents' topic.
    settled: Vec<bool>,
}

/// Passages a language needs before [`VectorIndex::relevance`] reports a
/// centred cosine for it: the mean of a handful of passages is their topic,
/// and subtracting it would make a relevant passage look unrelated.
pub const SETTLED_PASSAGES: usize = 50;

/// A query prepared for centred scoring (see [`VectorIndex::centre`]).
struct CentredQuery<'a> {
    q: Vec<f32>,
    shares: Vec<f32>,
    centering: &'a Centering,
    language_of: &'a [u16],
}

impl CentredQuery<'_> {
    /// The centred cosine of the stored vector at row `r`, `v`.
    fn score(&self, r: usize, v: &[f32]) -> f32 {
        (dot(&self.q, v) - self.shares[self.language_of[r] as usize]) * self.centering.inv_norm[r]
    }
}

#[derive(PartialEq)]
struct Scored(f32, i64);
impl Eq for Scored {}
impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scored {
    // Reversed: the heap's top is the *worst* kept hit.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other.0.total_cmp(&self.0).then(self.1.cmp(&other.1))
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    // Eight independent sums let the compiler vectorise without -ffast-math.
    let mut acc = [0f32; 8];
    let (ca, ra) = a.as_chunks::<8>();
    let (cb, rb) = b.as_chunks::<8>();
    for (x, y) in ca.iter().zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

impl VectorIndex {
    pub fn new(dim: usize) -> Self {
        Self {
            dim,
            languages: vec![String::new()],
            ..Self::default()
        }
    }

    /// Rank by language-centred cosines with this `lambda` (0 turns it off);
    /// takes effect at the next [`Self::recenter`].
    pub fn set_centering(&mut self, lambda: f32) {
        self.lambda = lambda;
        self.centering = None;
    }

    /// Recompute the language means over every stored vector (a scan of the
    /// index); searches rank by plain cosine until this runs after a change.
    pub fn recenter(&mut self) {
        if self.lambda == 0.0 {
            self.centering = None;
            return;
        }
        let dim = self.dim;
        let mut sums = vec![vec![0f64; dim]; self.languages.len()];
        let mut counts = vec![0usize; self.languages.len()];
        for (r, v) in self.data.chunks_exact(dim).enumerate() {
            let l = self.language_of[r] as usize;
            counts[l] += 1;
            for (s, x) in sums[l].iter_mut().zip(v) {
                *s += f64::from(*x);
            }
        }
        let means: Vec<Option<Vec<f32>>> = sums
            .into_iter()
            .zip(&counts)
            .enumerate()
            .map(|(l, (sum, n))| {
                (l != 0 && *n > 0).then(|| sum.iter().map(|s| (s / *n as f64) as f32).collect())
            })
            .collect();
        let lambda = self.lambda;
        let inv_norm = self
            .data
            .chunks_exact(dim)
            .enumerate()
            .map(|(r, v)| match &means[self.language_of[r] as usize] {
                Some(c) => {
                    let n2 = dot(v, v) - 2.0 * lambda * dot(v, c) + lambda * lambda * dot(c, c);
                    1.0 / n2.max(1e-12).sqrt()
                }
                None => 1.0 / dot(v, v).max(1e-12).sqrt(),
            })
            .collect();
        let settled = counts
            .iter()
            .enumerate()
            .map(|(l, n)| l != 0 && *n >= SETTLED_PASSAGES)
            .collect();
        self.centering = Some(Centering {
            means,
            inv_norm,
            settled,
        });
    }

    fn intern_language(&mut self, language: Option<&str>) -> u16 {
        let Some(code) = language.filter(|c| !c.is_empty()) else {
            return 0;
        };
        if let Some(i) = self.languages.iter().position(|l| l == code) {
            return u16::try_from(i).unwrap_or(0);
        }
        match u16::try_from(self.languages.len()) {
            Ok(i) => {
                self.languages.push(code.to_owned());
                i
            }
            Err(_) => 0,
        }
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn contains(&self, id: i64) -> bool {
        self.position.contains_key(&id)
    }

    fn intern(&mut self, collection: &str) -> u32 {
        if let Some(i) = self.by_name.get(collection) {
            return *i;
        }
        let i = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.names.push(collection.to_owned());
        self.by_name.insert(collection.to_owned(), i);
        i
    }

    /// Add (or replace) one vector of a passage in `language` (an ISO 639-1
    /// code, None when unknown); vectors of the wrong length are ignored.
    pub fn add(&mut self, id: i64, collection: &str, language: Option<&str>, vector: &[f32]) {
        if vector.len() != self.dim {
            return;
        }
        if self.position.contains_key(&id) {
            self.remove(&HashSet::from([id]));
        }
        let c = self.intern(collection);
        let l = self.intern_language(language);
        self.position.insert(id, self.ids.len());
        self.ids.push(id);
        self.collections.push(c);
        self.language_of.push(l);
        self.data.extend_from_slice(vector);
        self.centering = None;
    }

    /// Remove every vector whose id is in `ids`.
    pub fn remove(&mut self, ids: &HashSet<i64>) {
        if ids.is_empty() {
            return;
        }
        self.retain(|id, _| !ids.contains(&id));
    }

    /// Remove every vector of `collection`.
    pub fn remove_collection(&mut self, collection: &str) {
        if let Some(c) = self.by_name.get(collection).copied() {
            self.retain(|_, coll| coll != c);
        }
    }

    fn retain(&mut self, keep: impl Fn(i64, u32) -> bool) {
        let dim = self.dim;
        let mut w = 0;
        for r in 0..self.ids.len() {
            if keep(self.ids[r], self.collections[r]) {
                if w != r {
                    self.ids[w] = self.ids[r];
                    self.collections[w] = self.collections[r];
                    self.language_of[w] = self.language_of[r];
                    self.data.copy_within(r * dim..(r + 1) * dim, w * dim);
                }
                w += 1;
            }
        }
        self.ids.truncate(w);
        self.collections.truncate(w);
        self.language_of.truncate(w);
        self.data.truncate(w * dim);
        self.centering = None;
        self.position = self
            .ids
            .iter()
            .enumerate()
            .map(|(i, id)| (*id, i))
            .collect();
    }

    /// The cosine of `query` with the stored vector `id`.
    pub fn similarity(&self, query: &[f32], id: i64) -> Option<f32> {
        let p = *self.position.get(&id)?;
        Some(dot(query, &self.data[p * self.dim..(p + 1) * self.dim]))
    }

    /// The query minus its language's mean, and each language mean's share
    /// of it, so that a passage's centred cosine is one dot product; None
    /// when centering is off.
    fn centre(&self, query: &[f32], language: Option<&str>) -> Option<CentredQuery<'_>> {
        let c = self.centering.as_ref()?;
        let mean = language
            .and_then(|code| self.languages.iter().position(|l| l == code))
            .and_then(|l| c.means.get(l))
            .and_then(Option::as_ref);
        let mut q = query.to_vec();
        if let Some(m) = mean {
            for (x, y) in q.iter_mut().zip(m) {
                *x -= self.lambda * y;
            }
            let n = dot(&q, &q).max(1e-12).sqrt();
            q.iter_mut().for_each(|x| *x /= n);
        }
        let shares = c
            .means
            .iter()
            .map(|m| m.as_ref().map_or(0.0, |m| self.lambda * dot(&q, m)))
            .collect();
        Some(CentredQuery {
            q,
            shares,
            centering: c,
            language_of: &self.language_of,
        })
    }

    /// The language-centred cosine of each of `ids` with a query in
    /// `language`, what [`Self::search`] ranks by: a relevance that does not
    /// sag when question and passage differ in language. None for an id when
    /// centering is off, the id is not indexed, or either language's mean is
    /// not [settled](SETTLED_PASSAGES) (or unknown).
    pub fn relevance(
        &self,
        query: &[f32],
        language: Option<&str>,
        ids: &[i64],
    ) -> Vec<Option<f32>> {
        let settled = |l: usize| {
            self.centering
                .as_ref()
                .is_some_and(|c| c.settled.get(l).copied().unwrap_or(false))
        };
        let query_settled = self
            .languages
            .iter()
            .position(|l| Some(l.as_str()) == language)
            .is_some_and(settled);
        let centred = self.centre(query, language).filter(|_| query_settled);
        ids.iter()
            .map(|id| {
                let cq = centred.as_ref()?;
                let p = *self.position.get(id)?;
                if !settled(self.language_of[p] as usize) {
                    return None;
                }
                Some(cq.score(p, &self.data[p * self.dim..(p + 1) * self.dim]))
            })
            .collect()
    }

    /// The `k` nearest vectors among `allowed` collections to a query in
    /// `language` (None: unknown), best first, by the language-centred
    /// cosine when centering is on (see the module docs).
    pub fn search(
        &self,
        query: &[f32],
        language: Option<&str>,
        allowed: &HashSet<String>,
        k: usize,
    ) -> Vec<(i64, f32)> {
        if query.len() != self.dim || k == 0 {
            return Vec::new();
        }
        let ok: Vec<bool> = self.names.iter().map(|n| allowed.contains(n)).collect();
        let centred = self.centre(query, language);
        let mut heap = BinaryHeap::with_capacity(k + 1);
        for (r, v) in self.data.chunks_exact(self.dim).enumerate() {
            if !ok[self.collections[r] as usize] {
                continue;
            }
            let s = match &centred {
                Some(cq) => cq.score(r, v),
                None => dot(query, v),
            };
            if heap.len() < k {
                heap.push(Scored(s, self.ids[r]));
            } else if heap.peek().is_some_and(|w| s > w.0) {
                heap.pop();
                heap.push(Scored(s, self.ids[r]));
            }
        }
        let mut out: Vec<(i64, f32)> = heap.into_iter().map(|Scored(s, id)| (id, s)).collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        out
    }

    /// Write the index, stamped with `generation`, atomically (temp file, rename).
    pub fn save(&self, path: &Path, generation: i64) -> std::io::Result<()> {
        // A name of its own: a background save and an explicit flush may overlap.
        let tmp = path.with_extension(format!("vec.{}.tmp", uuid::Uuid::new_v4().simple()));
        {
            let mut w = BufWriter::new(owner_only(&tmp)?);
            w.write_all(MAGIC)?;
            w.write_all(&(self.dim as u64).to_le_bytes())?;
            w.write_all(&generation.to_le_bytes())?;
            w.write_all(&(self.names.len() as u64).to_le_bytes())?;
            for n in &self.names {
                w.write_all(&(n.len() as u64).to_le_bytes())?;
                w.write_all(n.as_bytes())?;
            }
            w.write_all(&(self.languages.len() as u64).to_le_bytes())?;
            for l in &self.languages {
                w.write_all(&(l.len() as u64).to_le_bytes())?;
                w.write_all(l.as_bytes())?;
            }
            w.write_all(&(self.ids.len() as u64).to_le_bytes())?;
            for (r, id) in self.ids.iter().enumerate() {
                w.write_all(&id.to_le_bytes())?;
                w.write_all(&self.collections[r].to_le_bytes())?;
                w.write_all(&self.language_of[r].to_le_bytes())?;
                for x in &self.data[r * self.dim..(r + 1) * self.dim] {
                    w.write_all(&x.to_le_bytes())?;
                }
            }
            w.flush()?;
            w.get_ref().sync_all()?;
        }
        std::fs::rename(tmp, path)
    }

    /// Read an index file; None when it is missing, torn, of another
    /// dimension or not of `generation`.
    pub fn load(path: &Path, dim: usize, generation: i64) -> Option<Self> {
        let mut r = BufReader::new(std::fs::File::open(path).ok()?);
        let mut magic = [0u8; 8];
        r.read_exact(&mut magic).ok()?;
        if &magic != MAGIC {
            return None;
        }
        let mut u64b = [0u8; 8];
        let mut read_u64 = |r: &mut BufReader<std::fs::File>| -> Option<u64> {
            r.read_exact(&mut u64b).ok()?;
            Some(u64::from_le_bytes(u64b))
        };
        if read_u64(&mut r)? != dim as u64 || read_u64(&mut r)? as i64 != generation {
            return None;
        }
        let mut index = Self::new(dim);
        let names = read_u64(&mut r)?;
        for _ in 0..names.min(1 << 24) {
            let len = read_u64(&mut r)?.min(1 << 16) as usize;
            let mut b = vec![0u8; len];
            r.read_exact(&mut b).ok()?;
            index.intern(&String::from_utf8(b).ok()?);
        }
        let languages = read_u64(&mut r)?;
        if languages == 0 || languages > u64::from(u16::MAX) {
            return None;
        }
        index.languages.clear();
        for _ in 0..languages {
            let len = read_u64(&mut r)?.min(1 << 16) as usize;
            let mut b = vec![0u8; len];
            r.read_exact(&mut b).ok()?;
            index.languages.push(String::from_utf8(b).ok()?);
        }
        let n = read_u64(&mut r)?.min(1 << 32) as usize;
        let mut row = vec![0u8; 14 + dim * 4];
        for _ in 0..n {
            r.read_exact(&mut row).ok()?;
            let id = i64::from_le_bytes(row[0..8].try_into().ok()?);
            let c = u32::from_le_bytes(row[8..12].try_into().ok()?);
            let l = u16::from_le_bytes(row[12..14].try_into().ok()?);
            if c as usize >= index.names.len() || l as usize >= index.languages.len() {
                return None;
            }
            index.position.insert(id, index.ids.len());
            index.ids.push(id);
            index.collections.push(c);
            index.language_of.push(l);
            index.data.extend(
                row[14..]
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            );
        }
        // Anything after the last row means the file is not what we wrote.
        let mut extra = [0u8; 1];
        if r.read(&mut extra).ok()? != 0 {
            return None;
        }
        Some(index)
    }
}

/// Create `path` for writing, readable and writable by its owner only
/// (it holds the embeddings of documents people uploaded); fails if it
/// exists.
pub(crate) fn owner_only(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn unit(v: &[f32]) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect()
    }

    #[test]
    fn search_filters_inside_the_scan_and_survives_a_save() {
        let mut ix = VectorIndex::new(3);
        ix.add(1, "a", None, &unit(&[1.0, 0.0, 0.0]));
        ix.add(2, "b", None, &unit(&[0.9, 0.1, 0.0]));
        ix.add(3, "a", None, &unit(&[0.0, 1.0, 0.0]));
        ix.add(4, "a", None, &unit(&[0.7, 0.7, 0.0]));
        let q = unit(&[1.0, 0.05, 0.0]);
        let a = HashSet::from(["a".to_owned()]);
        let hits = ix.search(&q, None, &a, 2);
        assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), vec![1, 4]);
        let both = HashSet::from(["a".to_owned(), "b".to_owned()]);
        assert_eq!(ix.search(&q, None, &both, 2)[1].0, 2);
        ix.remove(&HashSet::from([1]));
        assert_eq!(ix.search(&q, None, &a, 1)[0].0, 4);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k.vec");
        ix.save(&p, 7).unwrap();
        assert!(VectorIndex::load(&p, 3, 8).is_none(), "stale generation");
        assert!(VectorIndex::load(&p, 4, 7).is_none(), "other dimension");
        let back = VectorIndex::load(&p, 3, 7).unwrap();
        assert_eq!(
            back.search(&q, None, &both, 3),
            ix.search(&q, None, &both, 3)
        );
        ix.remove_collection("a");
        assert_eq!(ix.len(), 1);
        // A torn file is refused.
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() - 3]).unwrap();
        assert!(VectorIndex::load(&p, 3, 7).is_none());
    }

    #[test]
    fn relevance_is_the_centred_score_once_both_languages_are_settled() {
        let mut ix = VectorIndex::new(3);
        let a = HashSet::from(["a".to_owned()]);
        for i in 0..SETTLED_PASSAGES as i64 {
            let t = i as f32 / SETTLED_PASSAGES as f32;
            ix.add(i, "a", Some("fr"), &unit(&[t, 1.0 - t, 1.0]));
            ix.add(1000 + i, "a", Some("en"), &unit(&[1.0 - t, t, -1.0]));
        }
        ix.add(5000, "a", Some("de"), &unit(&[1.0, 1.0, 0.0]));
        let q = unit(&[1.0, 0.2, 0.8]);
        // Centering off: no relevance, only the plain cosine.
        ix.recenter();
        assert_eq!(ix.relevance(&q, Some("fr"), &[1000]), [None]);
        ix.set_centering(0.4);
        ix.recenter();
        // Settled languages: what the search ranked by.
        let hits = ix.search(&q, Some("fr"), &a, 200);
        let (ids, scores): (Vec<i64>, Vec<f32>) =
            hits.iter().filter(|(id, _)| *id != 5000).copied().unzip();
        for ((id, r), score) in ids
            .iter()
            .zip(ix.relevance(&q, Some("fr"), &ids))
            .zip(scores)
        {
            let r = r.unwrap();
            assert!((r - score).abs() < 1e-6, "{id}: {r} vs {score}");
        }
        // One German passage is its topic, not its language: no relevance
        // for it, nor for a German question, nor for an unknown language.
        assert_eq!(ix.relevance(&q, Some("fr"), &[5000, 99_999]), [None, None]);
        assert_eq!(ix.relevance(&q, Some("de"), &[1]), [None]);
        assert_eq!(ix.relevance(&q, None, &[1]), [None]);
    }

    #[test]
    fn centering_lets_a_question_find_a_passage_in_another_language() {
        // Meaning on x and y, language on z: French passages lean +z,
        // English ones -z. The question is French, about x.
        let mut ix = VectorIndex::new(3);
        ix.add(1, "a", Some("fr"), &unit(&[0.3, 1.0, 1.0]));
        ix.add(2, "a", Some("fr"), &unit(&[0.2, -1.0, 1.0]));
        ix.add(3, "a", Some("en"), &unit(&[1.0, 0.0, -1.0]));
        ix.add(4, "a", Some("en"), &unit(&[-0.3, 1.0, -1.0]));
        let q = unit(&[1.0, 0.0, 1.0]);
        let a = HashSet::from(["a".to_owned()]);
        assert_eq!(
            ix.search(&q, Some("fr"), &a, 1)[0].0,
            1,
            "plain cosine: same language"
        );
        ix.set_centering(0.5);
        ix.recenter();
        let hits = ix.search(&q, Some("fr"), &a, 4);
        assert_eq!(hits[0].0, 3, "{hits:?}");
        // The reported similarity stays the plain cosine.
        let plain = ix.similarity(&q, 3).unwrap();
        assert!(plain.abs() < 1e-6, "{plain}");
        // A change drops the means until the next recenter, and the
        // languages survive a save.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k.vec");
        ix.save(&p, 1).unwrap();
        let mut back = VectorIndex::load(&p, 3, 1).unwrap();
        back.set_centering(0.5);
        back.recenter();
        assert_eq!(back.search(&q, Some("fr"), &a, 4), hits);
        ix.remove(&HashSet::from([3]));
        assert_eq!(ix.search(&q, Some("fr"), &a, 1)[0].0, 1);
    }
}

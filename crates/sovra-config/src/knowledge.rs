//! `[knowledge]`: collections, search and grounded chat with citations, the
//! bounds on what is uploaded and searched, and where it is kept
//! (docs/knowledge.md).

use serde::{Deserialize, Serialize};

use crate::error::{ConfigError, check};

/// National knowledge: collections (`/v1/vector_stores`), search and
/// grounded chat with citations (docs/knowledge.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KnowledgeSettings {
    /// Serve collections and grounded chat. Unset: on whenever embeddings
    /// are (it embeds with the same model).
    pub enabled: Option<bool>,
    /// Most bytes in one uploaded document (before base64).
    pub max_upload_bytes: usize,
    /// Most chunks one document may make.
    pub max_chunks_per_document: usize,
    /// Most characters in one search query (or the user message grounded on).
    pub max_query_chars: usize,
    /// Passages put into a grounded prompt.
    pub passages: usize,
    /// Least query-passage cosine that counts as "relevant" for
    /// `official_sources_only` (multilingual-e5-small scores sit high; see
    /// docs/knowledge.md for how this was chosen).
    pub min_similarity: f32,
    /// Least language-centred cosine that counts as "relevant" (where the
    /// question's and the passage's languages each have enough indexed
    /// passages to centre on). It separates off-topic questions better than
    /// the plain cosine; docs/knowledge.md has the evaluation.
    pub min_relevance: f32,
    /// Ground every chat request in the public collections unless the
    /// request says otherwise (a country profile's choice).
    pub ground_by_default: bool,
    /// With `ground_by_default` (the API's default grounding and the web
    /// chat): search the public collections only and decline, in the
    /// person's language, when no passage is relevant enough.
    pub official_sources_only: bool,
    /// How much of each language's mean passage vector the vector search
    /// subtracts from passages and question, so a question finds a better
    /// passage in another language over a weaker one in its own (0: plain
    /// cosine; docs/knowledge.md).
    pub language_centering: f32,
    /// Where the knowledge base is kept: `postgres://user@host/db` (the
    /// `knowledge_*` tables there, shared by every replica pointed at it) or
    /// `sqlite` (`knowledge.db` in `data_dir`). Unset: `storage.url` when
    /// that is PostgreSQL, else `knowledge.db` in `data_dir`.
    pub url: Option<String>,
    /// Most memory (MiB of address space) reading one PDF or DOCX may take:
    /// it is read in a child process with this limit, so a decompression
    /// bomb is refused (400) instead of filling the server's memory.
    pub extract_memory_mib: u64,
    /// Most seconds (CPU and wall-clock) reading one PDF or DOCX may take.
    pub extract_seconds: u64,
    /// Most passages one person's private collections hold together: their
    /// text is sealed with the person's key, so a search opens and ranks
    /// them in memory (an ingest past it: 400).
    pub max_private_passages: usize,
}

impl Default for KnowledgeSettings {
    fn default() -> Self {
        Self {
            enabled: None,
            max_upload_bytes: 8 * 1024 * 1024,
            max_chunks_per_document: 5000,
            max_query_chars: 2000,
            passages: 4,
            min_similarity: 0.80,
            min_relevance: 0.66,
            ground_by_default: false,
            official_sources_only: false,
            language_centering: 0.4,
            url: None,
            extract_memory_mib: 512,
            extract_seconds: 60,
            max_private_passages: 5000,
        }
    }
}

impl KnowledgeSettings {
    /// Checks of these settings alone, each naming the setting.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        check(
            self.max_upload_bytes >= 1024,
            "knowledge.max_upload_bytes",
            "must be at least 1024",
        )?;
        check(
            self.max_chunks_per_document >= 1,
            "knowledge.max_chunks_per_document",
            "must be at least 1",
        )?;
        check(
            self.max_query_chars >= 16,
            "knowledge.max_query_chars",
            "must be at least 16",
        )?;
        check(
            (1..=20).contains(&self.passages),
            "knowledge.passages",
            "must be between 1 and 20",
        )?;
        check(
            (-1.0..=1.0).contains(&self.min_similarity),
            "knowledge.min_similarity",
            "must be a cosine between -1 and 1",
        )?;
        check(
            (-1.0..=1.0).contains(&self.min_relevance),
            "knowledge.min_relevance",
            "must be a cosine between -1 and 1",
        )?;
        check(
            (0.0..=1.0).contains(&self.language_centering),
            "knowledge.language_centering",
            "must be between 0 (off) and 1",
        )?;
        check(
            (128..=65536).contains(&self.extract_memory_mib),
            "knowledge.extract_memory_mib",
            "must be between 128 (the reader itself needs some) and 65536",
        )?;
        check(
            (1..=3600).contains(&self.extract_seconds),
            "knowledge.extract_seconds",
            "must be between 1 and 3600",
        )?;
        check(
            (1..=100_000).contains(&self.max_private_passages),
            "knowledge.max_private_passages",
            "must be between 1 and 100000 (a private search ranks them all in memory)",
        )?;
        if let Some(url) = &self.url {
            check(
                url == "sqlite"
                    || url.starts_with("postgres://")
                    || url.starts_with("postgresql://"),
                "knowledge.url",
                "must be sqlite or postgres://...",
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closures return its large error
mod tests {
    use std::path::Path;

    use crate::Settings;
    use crate::testing::none;
    use figment::Jail;

    #[test]
    fn the_private_passage_bound_is_a_setting_with_a_range() {
        Jail::expect_with(|jail| {
            jail.create_file("sovra.toml", "[knowledge]\nmax_private_passages = 1200\n")?;
            let s =
                Settings::load(Some(Path::new("sovra.toml")), none()).map_err(|e| e.to_string())?;
            assert_eq!(s.knowledge.max_private_passages, 1200);
            jail.set_env("SOVRA_KNOWLEDGE_MAX_PRIVATE_PASSAGES", "0");
            let err = Settings::load(None, none())
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains("knowledge.max_private_passages"), "{err}");
            Ok(())
        });
    }
}

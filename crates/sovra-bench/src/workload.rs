//! What the load generator sends: seeded, reproducible prompts for three
//! workloads.
//!
//! - `single-turn`: one of a few shared system prompts and a fresh question;
//! - `multi-turn`: conversations that each start from one of the shared
//!   system prompts and grow turn by turn; every turn sends the whole
//!   history, including the answers the server gave (what a chat UI does);
//! - `long-document`: one of a few long documents and a question about it.
//!
//! Text is random words from a small vocabulary, so a word is about a token
//! (and exactly one for the simulated node's tokenizer).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

/// The shape of the requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    SingleTurn,
    MultiTurn,
    LongDocument,
}

impl Workload {
    pub fn name(self) -> &'static str {
        match self {
            Self::SingleTurn => "single-turn",
            Self::MultiTurn => "multi-turn",
            Self::LongDocument => "long-document",
        }
    }
}

/// Sizes of the generated text.
#[derive(Debug, Clone)]
pub struct WorkloadShape {
    pub workload: Workload,
    /// Words in each user message.
    pub prompt_words: usize,
    /// Distinct shared system prompts.
    pub system_prompts: usize,
    /// Words in each system prompt.
    pub system_words: usize,
    /// Multi-turn: user turns before a conversation starts over.
    pub turns: usize,
    /// Long-document: distinct documents.
    pub documents: usize,
    /// Long-document: words in each document.
    pub document_words: usize,
    pub seed: u64,
}

impl Default for WorkloadShape {
    fn default() -> Self {
        Self {
            workload: Workload::SingleTurn,
            prompt_words: 40,
            system_prompts: 4,
            system_words: 200,
            turns: 5,
            documents: 8,
            document_words: 2000,
            seed: 1,
        }
    }
}

const VOCAB: &[&str] = &[
    "citizen",
    "office",
    "permit",
    "form",
    "renewal",
    "passport",
    "licence",
    "tax",
    "benefit",
    "school",
    "doctor",
    "clinic",
    "appointment",
    "deadline",
    "fee",
    "document",
    "address",
    "registry",
    "court",
    "pension",
    "housing",
    "grant",
    "birth",
    "marriage",
    "business",
    "vehicle",
    "insurance",
    "visa",
    "residence",
    "water",
    "energy",
    "transport",
    "ticket",
    "library",
    "exam",
    "teacher",
    "hospital",
    "vaccine",
    "record",
    "archive",
    "council",
    "mayor",
    "park",
    "road",
    "bridge",
    "harbour",
    "market",
    "farm",
    "forest",
    "river",
    "village",
    "city",
    "region",
    "law",
    "rule",
    "policy",
    "service",
    "request",
    "answer",
    "question",
    "step",
    "week",
    "month",
    "year",
];

/// Random words from the vocabulary.
pub fn words(rng: &mut StdRng, n: usize) -> String {
    let mut out = String::with_capacity(n * 8);
    for i in 0..n {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(VOCAB[rng.random_range(0..VOCAB.len())]);
    }
    out
}

/// The fixed texts every request of a run draws from.
#[derive(Debug, Clone)]
pub struct Corpus {
    pub shape: WorkloadShape,
    systems: Vec<String>,
    documents: Vec<String>,
}

impl Corpus {
    pub fn new(shape: WorkloadShape) -> Self {
        let mut rng = StdRng::seed_from_u64(shape.seed);
        let systems = (0..shape.system_prompts.max(1))
            .map(|i| {
                format!(
                    "System prompt {i}. You help citizens of the republic. {}",
                    words(&mut rng, shape.system_words)
                )
            })
            .collect();
        let documents = match shape.workload {
            Workload::LongDocument => (0..shape.documents.max(1))
                .map(|i| format!("Document {i}. {}", words(&mut rng, shape.document_words)))
                .collect(),
            _ => Vec::new(),
        };
        Self {
            shape,
            systems,
            documents,
        }
    }

    /// A new conversation (its opening messages, without the first question).
    pub fn start(&self, rng: &mut StdRng) -> Conversation {
        let system = match self.shape.workload {
            Workload::LongDocument => {
                let doc = &self.documents[rng.random_range(0..self.documents.len())];
                format!("Answer questions about this document only.\n\n{doc}")
            }
            _ => self.systems[rng.random_range(0..self.systems.len())].clone(),
        };
        Conversation {
            messages: vec![json!({"role": "system", "content": system})],
            turns: 0,
        }
    }

    /// The next user message.
    pub fn question(&self, rng: &mut StdRng) -> String {
        let n: u32 = rng.random();
        format!("Question {n}: {}?", words(rng, self.shape.prompt_words))
    }

    /// Turns a conversation takes before it starts over.
    pub fn turns(&self) -> usize {
        match self.shape.workload {
            Workload::MultiTurn => self.shape.turns.max(1),
            _ => 1,
        }
    }
}

/// One conversation's history.
#[derive(Debug, Clone)]
pub struct Conversation {
    pub messages: Vec<Value>,
    pub turns: usize,
}

impl Conversation {
    /// Add the user's next message; returns the messages to send.
    pub fn ask(&mut self, question: String) -> Vec<Value> {
        self.messages
            .push(json!({"role": "user", "content": question}));
        self.messages.clone()
    }

    /// Record the answer to the last question.
    pub fn answered(&mut self, answer: String) {
        self.messages
            .push(json!({"role": "assistant", "content": answer}));
        self.turns += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_prompts() {
        let shape = WorkloadShape {
            workload: Workload::MultiTurn,
            ..WorkloadShape::default()
        };
        let a = Corpus::new(shape.clone());
        let b = Corpus::new(shape);
        let mut ra = StdRng::seed_from_u64(7);
        let mut rb = StdRng::seed_from_u64(7);
        let mut ca = a.start(&mut ra);
        let mut cb = b.start(&mut rb);
        assert_eq!(ca.ask(a.question(&mut ra)), cb.ask(b.question(&mut rb)));
    }

    #[test]
    fn conversations_grow_and_documents_are_long() {
        let corpus = Corpus::new(WorkloadShape {
            workload: Workload::LongDocument,
            document_words: 500,
            ..WorkloadShape::default()
        });
        let mut rng = StdRng::seed_from_u64(1);
        let mut c = corpus.start(&mut rng);
        let first = c.ask(corpus.question(&mut rng));
        let system = first[0]["content"].as_str().unwrap_or("");
        assert!(system.split_whitespace().count() > 500);
        c.answered("fine".into());
        let second = c.ask(corpus.question(&mut rng));
        assert_eq!(second.len(), 4);
        assert_eq!(c.turns, 1);
    }
}

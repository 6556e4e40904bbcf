//! Reading PDF and DOCX files in a child process with a memory and time
//! limit.
//!
//! Both formats are compressed containers parsed by large third-party code
//! (`pdf-extract`/`lopdf`, `zip`): a 1 MB FlateDecode stream can inflate to
//! 1 GiB, and the parser holds it all in memory (issue 21, finding 5: the
//! server went from 0.77 to 2.93 GB). Checking sizes before the parser sees
//! the document would mean re-implementing every PDF filter and object
//! stream; instead the parser runs where running out is harmless. The
//! program (the `sovra` binary itself, in its hidden `extract-document`
//! mode) reads the document on stdin, lowers its own `RLIMIT_AS` and
//! `RLIMIT_CPU` (and `RLIMIT_CORE` to 0) before it reads a byte, and writes
//! one line of JSON on stdout. The parent gives it [`Isolation::limits`]'s
//! seconds of wall-clock time, then kills it; a child that dies of its
//! limits is a refused document ([`crate::Error::Extract`], a 400 over HTTP),
//! never a server that runs out of memory.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::Error;
use crate::extract::{Extracted, Format};

/// How much one extraction may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtractLimits {
    /// Address space the child may add to what it holds when it starts
    /// (its program, mapped in full): `RLIMIT_AS` is set to the sum.
    pub memory_bytes: u64,
    /// CPU seconds (`RLIMIT_CPU`) and, the same number, wall-clock seconds.
    pub seconds: u64,
}

impl Default for ExtractLimits {
    fn default() -> Self {
        Self {
            memory_bytes: 512 * 1024 * 1024,
            seconds: 60,
        }
    }
}

/// The program that extracts in isolation: `program args… --format F
/// --memory-bytes N --seconds S` must behave as [`worker`].
#[derive(Debug, Clone)]
pub struct Isolation {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub limits: ExtractLimits,
}

/// Most bytes of JSON a child may answer with (a document's text is far
/// smaller: at most `max_chunks_per_document` chunks are kept).
const MAX_ANSWER: u64 = 64 * 1024 * 1024;

/// What the child writes on stdout.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Answer {
    Ok(Extracted),
    Error(String),
}

/// Whether `format` is read in the child (the compressed containers).
pub fn isolated(format: Format) -> bool {
    matches!(format, Format::Pdf | Format::Docx)
}

/// The name `--format` takes for `format`.
pub fn format_arg(format: Format) -> &'static str {
    match format {
        Format::Markdown => "md",
        Format::Html => "html",
        Format::Text => "txt",
        Format::Pdf => "pdf",
        Format::Docx => "docx",
    }
}

/// Extracts `bytes` as `format` in a child process under `iso.limits`.
pub async fn extract(iso: &Isolation, format: Format, bytes: Vec<u8>) -> Result<Extracted, Error> {
    let name = format_arg(format);
    let limits = iso.limits;
    let refused = |problem: String| Error::Extract {
        format: name,
        problem,
    };
    let mut child = tokio::process::Command::new(&iso.program)
        .args(&iso.args)
        .arg("--format")
        .arg(name)
        .arg("--memory-bytes")
        .arg(limits.memory_bytes.to_string())
        .arg("--seconds")
        .arg(limits.seconds.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            Error::Internal(format!(
                "could not start the document reader {}: {e}",
                iso.program.display()
            ))
        })?;
    let (Some(mut stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(Error::Internal(
            "the document reader has no pipes".to_owned(),
        ));
    };
    let run = async {
        let feed = async move {
            // A child that dies early closes its end: its exit says why.
            let _ = stdin.write_all(&bytes).await;
            drop(stdin);
        };
        let mut answer = Vec::new();
        let mut complaint = Vec::new();
        let (mut stdout, mut stderr) = (stdout.take(MAX_ANSWER + 1), stderr.take(64 * 1024));
        let read_answer = stdout.read_to_end(&mut answer);
        let read_complaint = stderr.read_to_end(&mut complaint);
        let ((), a, c) = tokio::join!(feed, read_answer, read_complaint);
        a?;
        c?;
        if answer.len() as u64 > MAX_ANSWER {
            // It would block writing the rest: stop it now.
            child.start_kill()?;
        }
        let status = child.wait().await?;
        Ok::<_, std::io::Error>((status, answer, complaint))
    };
    let (status, answer, complaint) =
        match tokio::time::timeout(Duration::from_secs(limits.seconds), run).await {
            // Returning drops the child, which kills it (kill_on_drop).
            Err(_) => {
                return Err(refused(format!(
                    "reading it took longer than {} s, the limit",
                    limits.seconds
                )));
            }
            Ok(r) => r?,
        };
    if answer.len() as u64 > MAX_ANSWER {
        return Err(refused(format!(
            "its text is longer than {} MiB",
            MAX_ANSWER >> 20
        )));
    }
    if status.success() {
        return match serde_json::from_slice::<Answer>(&answer) {
            Ok(Answer::Ok(extracted)) => Ok(extracted),
            Ok(Answer::Error(problem)) => Err(refused(problem)),
            Err(e) => Err(Error::Internal(format!(
                "the document reader answered something unreadable: {e}"
            ))),
        };
    }
    Err(refused(why_it_died(status, &complaint, limits)))
}

/// Why a child that did not exit cleanly died, for the person who sent
/// the document.
fn why_it_died(status: std::process::ExitStatus, stderr: &[u8], limits: ExtractLimits) -> String {
    use std::os::unix::process::ExitStatusExt as _;
    let stderr = String::from_utf8_lossy(stderr);
    let memory = || {
        format!(
            "reading it needs more than {} MiB of memory, the limit (a compressed stream that inflates without bound?)",
            limits.memory_bytes >> 20
        )
    };
    let time = || {
        format!(
            "reading it needs more than {} s of CPU time, the limit",
            limits.seconds
        )
    };
    // Rust aborts when an allocation fails (RLIMIT_AS reached) and says so.
    if stderr.contains("memory allocation of") || stderr.contains("capacity overflow") {
        return memory();
    }
    match status.signal() {
        Some(24 /* SIGXCPU */) | Some(9 /* SIGKILL, the hard CPU limit */) => time(),
        Some(6 /* SIGABRT */) => memory(),
        Some(signal) => format!("the reader stopped on signal {signal}"),
        None => format!(
            "the reader failed ({}): {}",
            status,
            stderr.lines().last().unwrap_or_default()
        ),
    }
}

/// The child's side: lowers this process's limits, reads the document from
/// `input`, writes one [`Answer`] to `output`. Call it before anything else
/// allocates much (no async runtime, no threads).
pub fn worker(
    format: Format,
    limits: ExtractLimits,
    input: &mut dyn std::io::Read,
    output: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    use rustix::process::{Resource, Rlimit, setrlimit};
    let cap = |n: u64| Rlimit {
        current: Some(n),
        maximum: Some(n),
    };
    setrlimit(Resource::Core, cap(0))?;
    setrlimit(
        Resource::Cpu,
        Rlimit {
            current: Some(limits.seconds),
            maximum: Some(limits.seconds + 1),
        },
    )?;
    setrlimit(
        Resource::As,
        cap(address_space().saturating_add(limits.memory_bytes)),
    )?;
    let mut bytes = Vec::new();
    input.read_to_end(&mut bytes)?;
    let answer = match crate::extract::extract(format, &bytes) {
        Ok(e) => Answer::Ok(e),
        Err(Error::Extract { problem, .. }) => Answer::Error(problem),
        Err(e) => Answer::Error(e.to_string()),
    };
    drop(bytes);
    serde_json::to_writer(&mut *output, &answer)?;
    output.flush()
}

/// This process's address space now (`VmSize`), 0 where `/proc` cannot
/// tell: the program is mapped in full (a debug build of `sovra` is over
/// 200 MB), and the limit is meant for the document.
fn address_space() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmSize:"))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// The format `--format` names.
pub fn parse_format(name: &str) -> Option<Format> {
    Format::from_name(&format!("x.{name}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_round_trips_and_formats_parse_back() {
        let e = Extracted {
            text: "# T\n\nBody".into(),
            title: Some("T".into()),
            ..Extracted::default()
        };
        let json = serde_json::to_string(&Answer::Ok(e.clone())).unwrap();
        match serde_json::from_str::<Answer>(&json).unwrap() {
            Answer::Ok(back) => assert_eq!(back, e),
            Answer::Error(p) => panic!("{p}"),
        }
        for f in [
            Format::Markdown,
            Format::Html,
            Format::Text,
            Format::Pdf,
            Format::Docx,
        ] {
            assert_eq!(parse_format(format_arg(f)), Some(f));
        }
        assert!(isolated(Format::Pdf) && isolated(Format::Docx));
        assert!(!isolated(Format::Markdown));
    }
}

//! `sovra chat`: a terminal chat against a running server.
//!
//! Uses the conversation API, so the server keeps the history: the same
//! conversation continues in the web chat, and `--conversation ID` resumes it
//! later. Answers stream to stdout as they are generated.

#![allow(clippy::print_stdout)] // the answer is the output

use std::io::Write;

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use serde_json::{Value, json};
use sovra_core::sse::SseDecoder;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::cli::ChatArgs;

pub async fn run(args: ChatArgs) -> Result<()> {
    let base = args.url.trim_end_matches('/').to_owned();
    let client = reqwest::Client::new();
    let mut conversation = match args.conversation {
        Some(id) => {
            let r = client
                .get(format!("{base}/api/conversations/{id}"))
                .send()
                .await
                .with_context(|| format!("could not reach Sovra at {base}"))?;
            let body: Value = ok_json(r).await?;
            if let Some(msgs) = body["messages"].as_array() {
                for m in msgs {
                    let who = if m["role"] == "user" { "you" } else { "sovra" };
                    println!("{who}> {}", m["content"].as_str().unwrap_or(""));
                }
            }
            id
        }
        None => new_conversation(&client, &base).await?,
    };
    eprintln!(
        "Conversation {conversation}. Type a message; /new starts over, /quit or Ctrl-D leaves."
    );
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    loop {
        eprint!("you> ");
        let Some(line) = lines.next_line().await.context("could not read stdin")? else {
            break;
        };
        let line = line.trim();
        match line {
            "" => continue,
            "/quit" | "/exit" => break,
            "/new" => {
                conversation = new_conversation(&client, &base).await?;
                eprintln!("Conversation {conversation}.");
                continue;
            }
            _ => {}
        }
        let mut body = json!({"content": line});
        if let Some(m) = args.max_tokens {
            body["max_tokens"] = json!(m);
        }
        let response = client
            .post(format!("{base}/api/conversations/{conversation}/messages"))
            .json(&body)
            .send()
            .await
            .with_context(|| format!("could not reach Sovra at {base}"))?;
        if !response.status().is_success() {
            let status = response.status();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            eprintln!(
                "error ({status}): {}",
                body["error"]["message"].as_str().unwrap_or("unknown error")
            );
            continue;
        }
        print!("sovra> ");
        stream_answer(response).await?;
        println!();
    }
    eprintln!("Resume with: sovra chat --conversation {conversation}");
    Ok(())
}

async fn new_conversation(client: &reqwest::Client, base: &str) -> Result<String> {
    let r = client
        .post(format!("{base}/api/conversations"))
        .json(&json!({}))
        .send()
        .await
        .with_context(|| format!("could not reach Sovra at {base}"))?;
    let body: Value = ok_json(r).await?;
    body["id"]
        .as_str()
        .map(str::to_owned)
        .context("the server returned no conversation id")
}

async fn ok_json(r: reqwest::Response) -> Result<Value> {
    let status = r.status();
    let body: Value = r.json().await.context("the server's answer was not JSON")?;
    if !status.is_success() {
        bail!(
            "{status}: {}",
            body["error"]["message"].as_str().unwrap_or("unknown error")
        );
    }
    Ok(body)
}

async fn stream_answer(response: reqwest::Response) -> Result<()> {
    let mut decoder = SseDecoder::default();
    let mut bytes = response.bytes_stream();
    let mut out = std::io::stdout();
    while let Some(chunk) = bytes.next().await {
        let chunk = chunk.context("the stream broke")?;
        for data in decoder.push(&chunk).map_err(anyhow::Error::msg)? {
            if data == "[DONE]" {
                return Ok(());
            }
            let v: Value = serde_json::from_str(&data).context("bad event from server")?;
            if let Some(e) = v.get("error") {
                bail!("{}", e["message"].as_str().unwrap_or("the answer failed"));
            }
            if let Some(text) = v["choices"][0]["delta"]["content"].as_str() {
                print!("{text}");
                let _ = out.flush();
            }
        }
    }
    Ok(())
}

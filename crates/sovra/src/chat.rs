//! `sovra chat`: a terminal chat against a running server.
//!
//! Uses the conversation API, so the server keeps the history: the same
//! conversation continues in the web chat, and `--conversation ID` resumes it
//! later. Answers stream to stdout as they are generated.
//!
//! Each person chats as themselves: with an API key (`--api-key`, or
//! `SOVRA_API_KEY`), signed in with a local account (`--name`, the password
//! from `SOVRA_PASSWORD` or the first line of stdin with `--password-stdin`),
//! or else as a new anonymous person the server hands a cookie to for this
//! run only (so such a conversation cannot be resumed by a later run).

#![allow(clippy::print_stdout)] // the answer is the output

use std::io::Write;

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use reqwest::Method;
use reqwest::header::{AUTHORIZATION, COOKIE, HeaderMap, SET_COOKIE};
use serde_json::{Value, json};
use sovra_core::sse::SseDecoder;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::cli::ChatArgs;

/// The CSRF header a cookie-carried request echoes (`sovra_server::signin::CSRF_HEADER`).
const CSRF_HEADER: &str = "x-csrf-token";

/// How this run is known to the server.
enum Auth {
    /// `Authorization: Bearer KEY`: no cookie, no CSRF token.
    Key(String),
    /// A cookie the server handed out (a signed-in session, or an anonymous
    /// person), and the CSRF token requests that change something echo.
    Cookie { cookie: String, csrf: String },
}

/// The server, spoken to as one person.
struct Api {
    http: reqwest::Client,
    base: String,
    auth: Auth,
    anonymous: bool,
}

impl Api {
    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let changes = method != Method::GET;
        let r = self.http.request(method, format!("{}{path}", self.base));
        match &self.auth {
            Auth::Key(key) => r.header(AUTHORIZATION, format!("Bearer {key}")),
            Auth::Cookie { cookie, csrf } => {
                let r = r.header(COOKIE, cookie);
                if changes {
                    r.header(CSRF_HEADER, csrf)
                } else {
                    r
                }
            }
        }
    }
}

/// The `name=value` of the first cookie the response sets.
fn set_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .map(|pair| pair.trim().to_owned())
        .find(|pair| pair.contains('=') && !pair.ends_with('='))
}

type Lines = tokio::io::Lines<BufReader<tokio::io::Stdin>>;

/// Sign in, take the anonymous cookie, or use the key, as the flags say
/// (`--password-stdin` takes the first of `lines`).
async fn connect(args: &ChatArgs, lines: &mut Lines) -> Result<Api> {
    let base = args.url.trim_end_matches('/').to_owned();
    let http = reqwest::Client::new();
    let reach = || format!("could not reach Sovra at {base}");
    if let Some(key) = args.api_key.clone().filter(|k| !k.trim().is_empty()) {
        return Ok(Api {
            http,
            base,
            auth: Auth::Key(key.trim().to_owned()),
            anonymous: false,
        });
    }
    let (response, anonymous) = match &args.name {
        Some(name) => {
            let password = match std::env::var("SOVRA_PASSWORD") {
                Ok(p) if !args.password_stdin => p,
                _ => {
                    if !args.password_stdin {
                        bail!(
                            "--name needs a password: set SOVRA_PASSWORD, or pass --password-stdin and send it as the first line"
                        );
                    }
                    lines
                        .next_line()
                        .await
                        .context("could not read the password from stdin")?
                        .context("stdin ended before the password")?
                }
            };
            let r = http
                .post(format!("{base}/auth/login"))
                .json(&json!({"name": name, "password": password}))
                .send()
                .await
                .with_context(reach)?;
            (r, false)
        }
        None => (
            http.get(format!("{base}/auth/me"))
                .send()
                .await
                .with_context(reach)?,
            true,
        ),
    };
    let cookie = set_cookie(response.headers());
    let body = ok_json(response).await?;
    let (Some(cookie), Some(csrf)) = (cookie, body["csrf_token"].as_str()) else {
        bail!(if anonymous {
            "this server does not serve the anonymous public: sign in with --name, or use --api-key"
        } else {
            "the server signed in but handed out no session"
        });
    };
    Ok(Api {
        http,
        base,
        auth: Auth::Cookie {
            cookie,
            csrf: csrf.to_owned(),
        },
        anonymous,
    })
}

pub async fn run(args: ChatArgs) -> Result<()> {
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let api = connect(&args, &mut lines).await?;
    let base = api.base.clone();
    let mut conversation = match args.conversation.clone() {
        Some(id) => {
            let r = api
                .request(Method::GET, &format!("/api/conversations/{id}"))
                .send()
                .await
                .with_context(|| format!("could not reach Sovra at {base}"))?;
            if r.status() == reqwest::StatusCode::NOT_FOUND && api.anonymous {
                bail!(
                    "no conversation {id} for this run: anonymous chats last one run; sign in (--name) or use a key (--api-key) to resume"
                );
            }
            let body: Value = ok_json(r).await?;
            if let Some(msgs) = body["messages"].as_array() {
                for m in msgs {
                    let who = if m["role"] == "user" { "you" } else { "sovra" };
                    println!("{who}> {}", m["content"].as_str().unwrap_or(""));
                }
            }
            id
        }
        None => new_conversation(&api).await?,
    };
    eprintln!(
        "Conversation {conversation}. Type a message; /new starts over, /quit or Ctrl-D leaves."
    );
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
                conversation = new_conversation(&api).await?;
                eprintln!("Conversation {conversation}.");
                continue;
            }
            _ => {}
        }
        let mut body = json!({"content": line});
        if let Some(m) = args.max_tokens {
            body["max_tokens"] = json!(m);
        }
        let response = api
            .request(
                Method::POST,
                &format!("/api/conversations/{conversation}/messages"),
            )
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
    if api.anonymous {
        eprintln!(
            "This anonymous conversation cannot be resumed; sign in (--name) or use a key (--api-key) to keep one."
        );
    } else {
        eprintln!("Resume with: sovra chat --conversation {conversation}");
    }
    Ok(())
}

async fn new_conversation(api: &Api) -> Result<String> {
    let r = api
        .request(Method::POST, "/api/conversations")
        .json(&json!({}))
        .send()
        .await
        .with_context(|| format!("could not reach Sovra at {}", api.base))?;
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

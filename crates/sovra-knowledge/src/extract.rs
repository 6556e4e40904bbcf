//! Turning uploaded bytes into text with headings, plus what the file says
//! about itself (title, canonical URL, language, effective date).
//!
//! Every format ends up as the same light Markdown: `#`-headings on their own
//! lines, paragraphs separated by blank lines, so one chunker serves all.
//! HTML is read by a small tag scanner that drops boilerplate (`nav`,
//! `header`, `footer`, `aside`, `script`, `style`, forms) rather than by a
//! browser-grade parser: public-service pages are simple, and the scanner
//! cannot be made to loop or allocate without bound. PDF uses the text layer
//! (`pdf-extract`, pure Rust; scanned pages without text give nothing);
//! DOCX is a zip of XML read the same way as HTML.

use std::io::Read;
use std::sync::LazyLock;

use regex::Regex;

use crate::Error;

/// The document formats Sovra ingests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Markdown,
    Html,
    Text,
    Pdf,
    Docx,
}

impl Format {
    /// The format a file name's extension says.
    pub fn from_name(name: &str) -> Option<Self> {
        let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
        Some(match ext.as_str() {
            "md" | "markdown" => Self::Markdown,
            "html" | "htm" | "xhtml" => Self::Html,
            "txt" | "text" => Self::Text,
            "pdf" => Self::Pdf,
            "docx" => Self::Docx,
            _ => return None,
        })
    }
}

/// A document's text and what it said about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Extracted {
    /// Light Markdown: `#` headings, blank-line paragraphs.
    pub text: String,
    pub title: Option<String>,
    pub url: Option<String>,
    pub language: Option<String>,
    pub effective_date: Option<String>,
}

/// Extract `bytes` as `format`.
pub fn extract(format: Format, bytes: &[u8]) -> Result<Extracted, Error> {
    let text = || {
        std::str::from_utf8(bytes).map_err(|_| Error::Extract {
            format: format_name(format),
            problem: "the file is not UTF-8 text".into(),
        })
    };
    let mut out = match format {
        Format::Markdown => markdown(text()?),
        Format::Text => Extracted {
            text: text()?.replace("\r\n", "\n"),
            ..Extracted::default()
        },
        Format::Html => html(text()?),
        Format::Pdf => pdf(bytes)?,
        Format::Docx => docx(bytes)?,
    };
    if out.title.is_none() {
        out.title = first_line(&out.text);
    }
    Ok(out)
}

fn format_name(f: Format) -> &'static str {
    match f {
        Format::Markdown => "markdown",
        Format::Html => "html",
        Format::Text => "text",
        Format::Pdf => "pdf",
        Format::Docx => "docx",
    }
}

fn first_line(text: &str) -> Option<String> {
    text.lines()
        .map(|l| l.trim_start_matches('#').trim())
        .find(|l| !l.is_empty())
        .map(|l| l.chars().take(200).collect())
}

/// Markdown with optional `---` front matter of `key: value` lines.
fn markdown(src: &str) -> Extracted {
    let src = src.replace("\r\n", "\n");
    let mut out = Extracted::default();
    let mut body = src.as_str();
    if let Some(rest) = src.strip_prefix("---\n")
        && let Some(end) = rest.find("\n---")
    {
        for line in rest[..end].lines() {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            let v = v.trim().trim_matches('"').trim_matches('\'').to_owned();
            if v.is_empty() {
                continue;
            }
            match k.trim().to_ascii_lowercase().as_str() {
                "title" => out.title = Some(v),
                "url" | "canonical_url" | "canonical" => out.url = Some(v),
                "language" | "lang" => out.language = Some(v),
                "effective_date" | "date" => out.effective_date = Some(v),
                _ => {}
            }
        }
        body = rest[end + 4..].trim_start_matches(['-', '\n']);
    }
    if out.title.is_none() {
        out.title = body
            .lines()
            .find_map(|l| l.strip_prefix("# "))
            .map(|t| t.trim().to_owned());
    }
    out.text = body.to_owned();
    out
}

/// Elements whose whole content is boilerplate or not text.
const SKIP: &[&str] = &[
    "script", "style", "nav", "header", "footer", "aside", "noscript", "template", "svg", "form",
    "button", "iframe", "select",
];
/// Elements that end a line of text.
const BLOCK: &[&str] = &[
    "p",
    "div",
    "li",
    "ul",
    "ol",
    "br",
    "tr",
    "table",
    "section",
    "article",
    "main",
    "dd",
    "dt",
    "blockquote",
    "pre",
    "hr",
    "body",
];

static ATTR: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r#"(?is)([a-z_:.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>"']+))"#).ok()
});

fn attrs(tag: &str) -> Vec<(String, String)> {
    let Some(re) = ATTR.as_ref() else {
        return Vec::new();
    };
    re.captures_iter(tag)
        .filter_map(|c| {
            let k = c.get(1)?.as_str().to_ascii_lowercase();
            let v = c.get(2).or(c.get(3)).or(c.get(4))?.as_str();
            Some((k, decode_entities(v)))
        })
        .collect()
}

fn attr<'a>(a: &'a [(String, String)], name: &str) -> Option<&'a str> {
    a.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// `&amp;`, `&#233;`, `&#xE9;` and the common named entities.
pub fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let end = rest[..rest.len().min(12)].find(';');
        let decoded = end.and_then(|e| {
            let name = &rest[1..e];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" | "#39" => Some('\''),
                "nbsp" => Some(' '),
                "ndash" => Some('–'),
                "mdash" => Some('—'),
                "euro" => Some('€'),
                _ => name
                    .strip_prefix("#x")
                    .or_else(|| name.strip_prefix("#X"))
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .or_else(|| name.strip_prefix('#').and_then(|d| d.parse().ok()))
                    .and_then(char::from_u32),
            };
            c.map(|c| (c, e))
        });
        match decoded {
            Some((c, e)) => {
                out.push(c);
                rest = &rest[e + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// HTML to light Markdown, boilerplate dropped.
fn html(src: &str) -> Extracted {
    let mut out = Extracted::default();
    let mut text = String::with_capacity(src.len() / 2);
    // Depth inside skipped elements, and the name that opened the outermost.
    let mut skip: Vec<String> = Vec::new();
    let mut in_title = false;
    let mut title = String::new();
    let mut rest = src;
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            if skip.is_empty() {
                text.push_str(&decode_entities(rest));
            }
            break;
        };
        let chunk = &rest[..lt];
        if in_title {
            title.push_str(chunk);
        } else if skip.is_empty() {
            text.push_str(&decode_entities(chunk));
        }
        rest = &rest[lt..];
        if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.find("-->").map_or("", |e| &after[e + 3..]);
            continue;
        }
        let Some(gt) = rest.find('>') else { break };
        let tag = &rest[1..gt];
        rest = &rest[gt + 1..];
        let closing = tag.starts_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        if name.is_empty() {
            continue;
        }
        // Raw-text elements: jump to their end tag.
        if !closing && (name == "script" || name == "style") {
            let end = format!("</{name}");
            let lower = rest.to_ascii_lowercase();
            rest = lower
                .find(&end)
                .and_then(|e| rest[e..].find('>').map(|g| &rest[e + g + 1..]))
                .unwrap_or("");
            continue;
        }
        if SKIP.contains(&name.as_str()) {
            if closing {
                if let Some(pos) = skip.iter().rposition(|n| *n == name) {
                    skip.truncate(pos);
                }
            } else if !tag.ends_with('/') {
                skip.push(name);
            }
            continue;
        }
        if !skip.is_empty() {
            continue;
        }
        match name.as_str() {
            "title" => in_title = !closing,
            "html" if !closing => {
                out.language = attr(&attrs(tag), "lang").map(str::to_owned);
            }
            "link" => {
                let a = attrs(tag);
                if attr(&a, "rel").is_some_and(|r| r.eq_ignore_ascii_case("canonical")) {
                    out.url = attr(&a, "href").map(str::to_owned);
                }
            }
            "meta" => {
                let a = attrs(tag);
                let key = attr(&a, "name")
                    .or_else(|| attr(&a, "property"))
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                let content = attr(&a, "content").map(str::to_owned);
                match key.as_str() {
                    "effective-date" | "effective_date" | "dcterms.modified" | "dc.date"
                    | "date" => out.effective_date = out.effective_date.take().or(content),
                    "og:url" => out.url = out.url.take().or(content),
                    _ => {}
                }
            }
            h if h.len() == 2 && h.starts_with('h') && h.as_bytes()[1].is_ascii_digit() => {
                text.push_str("\n\n");
                if !closing {
                    let level = usize::from(h.as_bytes()[1] - b'0').clamp(1, 6);
                    text.push_str(&"#".repeat(level));
                    text.push(' ');
                }
            }
            b if BLOCK.contains(&b) => text.push_str("\n\n"),
            _ => {}
        }
    }
    let title = decode_entities(title.trim());
    if !title.is_empty() {
        out.title = Some(title);
    }
    out.text = tidy(&text);
    out
}

/// Collapse runs of spaces inside lines and of blank lines between them;
/// a heading marker keeps its line.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = true;
    for line in text.lines() {
        let line = line.split_whitespace().collect::<Vec<_>>().join(" ");
        if line.is_empty() || line.chars().all(|c| c == '#') {
            if !blank {
                out.push('\n');
            }
            blank = true;
            continue;
        }
        if !blank && line.starts_with('#') {
            out.push('\n');
        }
        out.push_str(&line);
        out.push('\n');
        blank = line.starts_with('#');
        if blank {
            out.push('\n');
        }
    }
    out.trim().to_owned()
}

/// Text layer of a PDF. The parser is a large body of third-party code fed
/// untrusted bytes, so a panic inside it becomes an extraction error.
fn pdf(bytes: &[u8]) -> Result<Extracted, Error> {
    let owned = bytes.to_vec();
    let text = std::panic::catch_unwind(move || pdf_extract::extract_text_from_mem(&owned))
        .map_err(|_| Error::Extract {
            format: "pdf",
            problem: "the PDF parser could not read this file".into(),
        })?
        .map_err(|e| Error::Extract {
            format: "pdf",
            problem: e.to_string(),
        })?;
    // Paragraphs: the extractor separates them with blank lines already.
    let text = text
        .lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n");
    let text = tidy_pdf(&text);
    if text.trim().is_empty() {
        return Err(Error::Extract {
            format: "pdf",
            problem: "the PDF has no text layer (a scan?); run OCR first".into(),
        });
    }
    Ok(Extracted {
        text,
        ..Extracted::default()
    })
}

fn tidy_pdf(text: &str) -> String {
    let mut out = String::new();
    let mut blank = 0;
    for line in text.lines() {
        if line.trim().is_empty() {
            blank += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank > 0 { "\n\n" } else { "\n" });
        }
        blank = 0;
        out.push_str(line.trim());
    }
    out
}

/// Most bytes of XML read out of one DOCX member (a zip bomb stops here).
const MAX_DOCX_XML: u64 = 64 * 1024 * 1024;

fn docx_member(zip: &mut zip::ZipArchive<std::io::Cursor<&[u8]>>, name: &str) -> Option<String> {
    let file = zip.by_name(name).ok()?;
    let mut s = String::new();
    file.take(MAX_DOCX_XML).read_to_string(&mut s).ok()?;
    Some(s)
}

/// DOCX: paragraphs of `word/document.xml`, `Heading N` styles as headings,
/// the title from `docProps/core.xml`.
fn docx(bytes: &[u8]) -> Result<Extracted, Error> {
    let bad = |problem: String| Error::Extract {
        format: "docx",
        problem,
    };
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| bad(format!("not a zip archive: {e}")))?;
    let xml = docx_member(&mut zip, "word/document.xml")
        .ok_or_else(|| bad("word/document.xml is missing".into()))?;
    let mut out = Extracted::default();
    if let Some(core) = docx_member(&mut zip, "docProps/core.xml") {
        out.title = xml_text_of(&core, "dc:title");
        out.language = xml_text_of(&core, "dc:language");
    }
    let mut text = String::new();
    let mut para = String::new();
    let mut heading: Option<usize> = None;
    let mut in_text = false;
    let mut rest = xml.as_str();
    while let Some(lt) = rest.find('<') {
        if in_text {
            para.push_str(&decode_entities(&rest[..lt]));
        }
        rest = &rest[lt..];
        let Some(gt) = rest.find('>') else { break };
        let tag = &rest[1..gt];
        rest = &rest[gt + 1..];
        let name = tag
            .split(|c: char| c.is_whitespace() || c == '/')
            .find(|s| !s.is_empty());
        let closing = tag.starts_with('/');
        match (name, closing) {
            (Some("w:p"), false) if !tag.ends_with('/') => {
                para.clear();
                heading = None;
            }
            (Some("w:pStyle"), false) => {
                let a = attrs(tag);
                let style = attr(&a, "w:val").unwrap_or_default().to_ascii_lowercase();
                heading = if style == "title" {
                    Some(1)
                } else {
                    style
                        .strip_prefix("heading")
                        .and_then(|n| n.trim().parse::<usize>().ok())
                        .map(|n| n.clamp(1, 6))
                };
            }
            (Some("w:t"), false) => in_text = !tag.ends_with('/'),
            (Some("w:t"), true) => in_text = false,
            (Some("w:tab"), false) => para.push('\t'),
            (Some("w:br"), false) => para.push('\n'),
            (Some("w:p"), true) => {
                let p = para.trim();
                if !p.is_empty() {
                    if let Some(level) = heading {
                        text.push_str(&"#".repeat(level));
                        text.push(' ');
                    }
                    text.push_str(p);
                    text.push_str("\n\n");
                }
                para.clear();
            }
            _ => {}
        }
    }
    out.text = text.trim().to_owned();
    Ok(out)
}

fn xml_text_of(xml: &str, element: &str) -> Option<String> {
    let open = xml.find(&format!("<{element}"))?;
    let start = open + xml[open..].find('>')? + 1;
    let end = start + xml[start..].find(&format!("</{element}>"))?;
    let v = decode_entities(xml[start..end].trim());
    (!v.is_empty()).then_some(v)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::fixtures::{docx_bytes, pdf_bytes};

    #[test]
    fn markdown_front_matter() {
        let e = extract(
            Format::Markdown,
            b"---\ntitle: Passport renewal\nurl: https://gov.example/passport\nlanguage: en\neffective_date: 2025-03-01\n---\n# Renew\n\nText.",
        )
        .unwrap();
        assert_eq!(e.title.as_deref(), Some("Passport renewal"));
        assert_eq!(e.url.as_deref(), Some("https://gov.example/passport"));
        assert_eq!(e.language.as_deref(), Some("en"));
        assert_eq!(e.effective_date.as_deref(), Some("2025-03-01"));
        assert_eq!(e.text, "# Renew\n\nText.");
    }

    #[test]
    fn html_drops_boilerplate_and_keeps_headings() {
        let page = r#"<!doctype html><html lang="fr"><head><title>Carte Vitale &amp; vous</title>
            <link rel="canonical" href="https://service.example/vitale">
            <meta name="effective-date" content="2024-09-01">
            <style>body{color:red}</style><script>var x = "<p>not text</p>";</script></head>
            <body><header><a href="/">Accueil</a> Menu</header><nav><ul><li>Lien</li></ul></nav>
            <main><h1>Obtenir la carte</h1><p>Demandez-la en ligne.<br>C&#233;l&#xE8;bre.</p>
            <!-- a comment <p>hidden</p> --><h2>Délai</h2><p>Deux   semaines.</p></main>
            <footer>© Ministère — mentions légales</footer></body></html>"#;
        let e = extract(Format::Html, page.as_bytes()).unwrap();
        assert_eq!(e.title.as_deref(), Some("Carte Vitale & vous"));
        assert_eq!(e.url.as_deref(), Some("https://service.example/vitale"));
        assert_eq!(e.language.as_deref(), Some("fr"));
        assert_eq!(e.effective_date.as_deref(), Some("2024-09-01"));
        assert_eq!(
            e.text,
            "# Obtenir la carte\n\nDemandez-la en ligne.\n\nCélèbre.\n\n## Délai\n\nDeux semaines."
        );
        for junk in ["Accueil", "Lien", "mentions", "not text", "hidden", "color"] {
            assert!(!e.text.contains(junk), "{junk} in {}", e.text);
        }
    }

    #[test]
    fn docx_paragraphs_and_headings() {
        let e = extract(
            Format::Docx,
            &docx_bytes("Kindergeld", "Antrag", "Stellen Sie den Antrag").unwrap(),
        )
        .unwrap();
        assert_eq!(e.title.as_deref(), Some("Kindergeld"));
        assert_eq!(e.text, "# Antrag\n\nStellen Sie den Antrag & more.");
    }

    #[test]
    fn pdf_text_layer() {
        let e = extract(
            Format::Pdf,
            &pdf_bytes("Vehicle registration takes five days."),
        )
        .unwrap();
        assert!(
            e.text.contains("Vehicle registration takes five days."),
            "{:?}",
            e.text
        );
        assert_eq!(
            e.title.as_deref(),
            Some("Vehicle registration takes five days.")
        );
    }

    #[test]
    fn broken_files_are_errors_not_panics() {
        assert!(extract(Format::Pdf, b"%PDF-1.4 garbage").is_err());
        assert!(extract(Format::Docx, b"PK not a zip").is_err());
        assert!(extract(Format::Markdown, &[0xff, 0xfe, 0x00]).is_err());
    }
}

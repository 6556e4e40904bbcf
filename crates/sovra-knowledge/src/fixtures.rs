//! Small valid PDF and DOCX files built in code, for tests here and in
//! the server (no binary fixtures in the repository).

/// A minimal DOCX: one title paragraph, one heading, one body paragraph.
pub fn docx_bytes(title: &str, heading: &str, body: &str) -> zip::result::ZipResult<Vec<u8>> {
    use std::io::Write;
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        let o = zip::write::SimpleFileOptions::default();
        z.start_file("docProps/core.xml", o)?;
        write!(
            z,
            r#"<?xml version="1.0"?><cp:coreProperties xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>{title}</dc:title></cp:coreProperties>"#
        )?;
        z.start_file("word/document.xml", o)?;
        write!(
            z,
            r#"<?xml version="1.0"?><w:document><w:body><w:p><w:pPr><w:pStyle w:val="Heading1"/></w:pPr><w:r><w:t>{heading}</w:t></w:r></w:p><w:p><w:r><w:t xml:space="preserve">{body} </w:t></w:r><w:r><w:t>&amp; more.</w:t></w:r></w:p></w:body></w:document>"#
        )?;
        z.finish()?;
    }
    Ok(buf.into_inner())
}

/// A minimal one-page PDF whose text layer holds `line` (Helvetica, ASCII).
pub fn pdf_bytes(line: &str) -> Vec<u8> {
    let stream = format!("BT /F1 12 Tf 72 720 Td ({line}) Tj ET");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_owned(),
        format!("<< /Length {} >>\nstream\n{stream}\nendstream", stream.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".to_owned(),
    ];
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for off in offsets {
        out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

/// A PDF decompression bomb: a one-page PDF whose content stream is about
/// `inflated_mib` KiB of FlateDecode data that inflates to `inflated_mib` MiB of
/// spaces (1 GiB from about 1 MB). Built without compressing the whole:
/// one MiB is deflated once, ending on a full flush so nothing refers back
/// past it, and that block is repeated.
pub fn pdf_bomb_bytes(inflated_mib: usize) -> std::io::Result<Vec<u8>> {
    use flate2::{Compress, Compression, FlushCompress};
    const MIB: usize = 1 << 20;
    let spaces = vec![b' '; MIB];
    let mut deflate = Compress::new(Compression::best(), false);
    let mut block = Vec::with_capacity(64 * 1024);
    deflate
        .compress_vec(&spaces, &mut block, FlushCompress::Full)
        .map_err(std::io::Error::other)?;
    if deflate.total_in() != MIB as u64 {
        return Err(std::io::Error::other(
            "one MiB of spaces did not deflate into 64 KiB",
        ));
    }
    let mut end = Vec::with_capacity(64);
    deflate
        .compress_vec(&[], &mut end, FlushCompress::Finish)
        .map_err(std::io::Error::other)?;
    // zlib: header, the deflate blocks, Adler-32 of what they inflate to.
    let n = (inflated_mib * MIB) as u128;
    let a = (1 + u128::from(b' ') * n) % 65521;
    let b = (n + u128::from(b' ') * n * (n + 1) / 2) % 65521;
    let mut stream = vec![0x78, 0xDA];
    for _ in 0..inflated_mib {
        stream.extend_from_slice(&block);
    }
    stream.extend_from_slice(&end);
    stream.extend_from_slice(&(((b << 16) | a) as u32).to_be_bytes());

    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    let mut object = |out: &mut Vec<u8>, body: &[u8]| {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", offsets.len()).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    };
    object(&mut out, b"<< /Type /Catalog /Pages 2 0 R >>");
    object(&mut out, b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>");
    object(&mut out, b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>");
    let mut content = format!(
        "<< /Length {} /Filter /FlateDecode >>\nstream\n",
        stream.len()
    )
    .into_bytes();
    content.extend_from_slice(&stream);
    content.extend_from_slice(b"\nendstream");
    object(&mut out, &content);
    object(
        &mut out,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    );
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", offsets.len() + 1).as_bytes(),
    );
    for off in &offsets {
        out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            offsets.len() + 1
        )
        .as_bytes(),
    );
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    /// The bomb is what it says: a PDF the parser reads, whose stream
    /// inflates (checksum included) to exactly the size asked for, from
    /// about a thousandth of it.
    #[test]
    fn the_pdf_bomb_inflates_to_its_size() {
        let pdf = pdf_bomb_bytes(8).unwrap();
        assert!(pdf.len() < 16 * 1024, "{} bytes", pdf.len());
        let start = pdf.windows(7).position(|w| w == b"stream\n").unwrap() + 7;
        let end = pdf.windows(10).rposition(|w| w == b"\nendstream").unwrap();
        let mut inflated = 0u64;
        let mut z = flate2::read::ZlibDecoder::new(&pdf[start..end]);
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = std::io::Read::read(&mut z, &mut buf).unwrap();
            if n == 0 {
                break;
            }
            assert!(buf[..n].iter().all(|b| *b == b' '));
            inflated += n as u64;
        }
        assert_eq!(inflated, 8 << 20);
        // The PDF parser reads it (to no text: only spaces).
        let e = crate::extract::extract(crate::Format::Pdf, &pdf).unwrap_err();
        assert!(e.to_string().contains("no text layer"), "{e}");
    }
}

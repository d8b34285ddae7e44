//! Text files as departments send them: UTF-8 with or without BOM, or GBK/GB18030
//! (what Excel on a Chinese Windows saves as "CSV"), detected or as declared.

use std::borrow::Cow;

use clap::ValueEnum;
use rayon::prelude::*;

use super::problems::Problem;

/// The encoding of a text file.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum, serde::Deserialize, serde::Serialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// UTF-8 if the file is valid UTF-8, else GBK/GB18030.
    #[default]
    Auto,
    /// UTF-8 (a BOM is allowed).
    Utf8,
    /// GBK / GB18030.
    Gbk,
}

/// The row (1-based line) holding byte `offset`.
fn row_of(bytes: &[u8], offset: usize) -> usize {
    bytes[..offset.min(bytes.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// The byte-order mark a UTF-8 file may start with.
pub const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Whether a file's first bytes hold a NUL: binary data, not text.
pub fn looks_binary(bytes: &[u8]) -> bool {
    bytes[..bytes.len().min(8192)].contains(&0)
}

/// Decodes a text file, refusing binary content and invalid text with the row it is on.
pub fn decode(bytes: &[u8], encoding: Encoding) -> Result<Cow<'_, str>, Problem> {
    if looks_binary(bytes) {
        return Err(Problem::file(
            "binary-file",
            "文件含有二进制内容，不是文本（CSV）文件",
            "the file holds binary data, not text (CSV)",
        ));
    }
    let without_bom = bytes.strip_prefix(UTF8_BOM);
    let utf8 = without_bom.unwrap_or(bytes);
    let as_utf8 = std::str::from_utf8(utf8);
    match (encoding, as_utf8) {
        (Encoding::Auto | Encoding::Utf8, Ok(text)) => Ok(Cow::Borrowed(text)),
        (Encoding::Utf8, Err(e)) => {
            let row = row_of(utf8, e.valid_up_to());
            Err(Problem::file(
                "invalid-utf8",
                format!(
                    "第{row}行含有无效的 UTF-8 字节（文件声明为 UTF-8；如为 GBK 编码请用 --encoding gbk）"
                ),
                format!(
                    "row {row} holds bytes that are not valid UTF-8 (the file was declared UTF-8; for GBK use --encoding gbk)"
                ),
            ))
        }
        (Encoding::Auto, Err(_)) | (Encoding::Gbk, _) if without_bom.is_none() => {
            encoding_rs::GB18030
                .decode_without_bom_handling_and_without_replacement(bytes)
                .ok_or_else(|| {
                    Problem::file(
                        "unknown-encoding",
                        "文件既不是有效的 UTF-8 也不是 GBK 编码的文本",
                        "the file is neither valid UTF-8 nor GBK text",
                    )
                })
        }
        _ => Err(Problem::file(
            "invalid-utf8",
            "文件以 UTF-8 标记开头，但内容不是有效的 UTF-8",
            "the file starts with a UTF-8 byte-order mark but is not valid UTF-8",
        )),
    }
}

/// The pieces of one file cut at line breaks (a line break is never part of a UTF-8 or
/// GBK character), decoded side by side on the process's thread pool to the text
/// [`decode`] gives for the whole file; `bom` says whether a UTF-8 byte-order mark
/// preceded them. `None` where [`decode`] would refuse the file: it says why.
pub fn decode_pieces<'a>(
    pieces: &[&'a [u8]],
    encoding: Encoding,
    bom: bool,
) -> Option<Vec<Cow<'a, str>>> {
    fn on_threads<'a, T: Send>(
        pieces: &[&'a [u8]],
        decode: impl Fn(&'a [u8]) -> Option<T> + Sync,
    ) -> Option<Vec<T>> {
        pieces.par_iter().map(|&piece| decode(piece)).collect()
    }
    if encoding != Encoding::Gbk
        && let Some(texts) = on_threads(pieces, |piece| std::str::from_utf8(piece).ok())
    {
        return Some(texts.into_iter().map(Cow::Borrowed).collect());
    }
    if encoding == Encoding::Utf8 || bom {
        return None;
    }
    on_threads(pieces, |piece| {
        encoding_rs::GB18030.decode_without_bom_handling_and_without_replacement(piece)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_bom_and_gbk_decode_to_the_same_text() {
        let text = "镇,村代码\n石角镇,441821101001\n";
        let (gbk, _, _) = encoding_rs::GBK.encode(text);
        assert_eq!(decode(text.as_bytes(), Encoding::Auto).unwrap(), text);
        assert_eq!(
            decode(
                &[b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat(),
                Encoding::Auto
            )
            .unwrap(),
            text
        );
        assert_eq!(decode(&gbk, Encoding::Auto).unwrap(), text);
        assert_eq!(decode(&gbk, Encoding::Gbk).unwrap(), text);
        let err = decode(&gbk, Encoding::Utf8).unwrap_err();
        assert!(err.message_en.contains("row 1"), "{}", err.message_en);
        assert!(decode(b"a,b\n\x00\x01\x02", Encoding::Auto).is_err());
    }
}

//! A JSON upload's image (`{"data":{"image":"<base64>"}}`, the base64 optionally a `data:`
//! URL), decoded where the body lies: the body's own buffer, counted in `upload_buffer_bytes`
//! since it was read, ends up holding the image. Nothing is copied on the way (no parsed string,
//! no string without whitespace, no second buffer for the decoded bytes), so a JSON upload holds
//! no more memory than its body, however many arrive at once.

use base64::Engine;
use base64::engine::general_purpose::GeneralPurpose;
use base64::engine::{DecodePaddingMode, GeneralPurposeConfig};
use base64::{DecodeError, DecodeSliceError};
use serde::Deserialize;
use serde_json::value::RawValue;

#[derive(Deserialize)]
struct JsonUpload<'a> {
    #[serde(borrow)]
    data: JsonData<'a>,
}

#[derive(Deserialize)]
struct JsonData<'a> {
    #[serde(borrow)]
    image: &'a RawValue,
}

/// Base64 decoded this many characters at a time (a multiple of 4), through a copy on the
/// stack: the decoded bytes land behind what is still to be read.
const CHUNK: usize = 4096;

/// Replaces the JSON `body` with the image its `data.image` carries, in the same buffer, or
/// says what is wrong with it.
pub(super) fn decode_in_place(body: &mut Vec<u8>) -> Result<(), String> {
    let (start, end) = image_literal(body)?;
    let len = clean_in_place(body, start, end);
    let text = &body[..len];
    let from = match text.windows(8).position(|w| w == b";base64,") {
        Some(at) if text.starts_with(b"data:") => at + 8,
        _ => 0,
    };
    let decoded =
        decode_base64_in_place(body, from, len).map_err(|e| format!("data.image is not valid base64: {e}"))?;
    body.truncate(decoded);
    Ok(())
}

/// Where the string literal of `data.image` is in `body` (its quotes included).
fn image_literal(body: &[u8]) -> Result<(usize, usize), String> {
    let shape = |e: &dyn std::fmt::Display| format!("JSON upload must be {{\"data\":{{\"image\":\"<base64>\"}}}}: {e}");
    let upload: JsonUpload<'_> = serde_json::from_slice(body).map_err(|e| shape(&e))?;
    let raw = upload.data.image.get().as_bytes();
    if raw.len() < 2 || raw[0] != b'"' {
        return Err(shape(&"data.image is not a string"));
    }
    // The raw value borrows from `body`: its place is the distance between the two.
    let start = raw.as_ptr() as usize - body.as_ptr() as usize;
    Ok((start, start + raw.len()))
}

/// Writes the characters of the JSON string literal at `start..end` to the start of `buf`,
/// escapes resolved and whitespace dropped, and says how many there are. The literal was
/// validated by the parser, and each character is written at or before where it was read.
fn clean_in_place(buf: &mut [u8], start: usize, end: usize) -> usize {
    let (mut read, last) = (start + 1, end - 1);
    let mut write = 0;
    while read < last {
        let mut c = buf[read];
        read += 1;
        if c == b'\\' {
            let escape = buf[read];
            read += 1;
            c = match escape {
                b'n' => b'\n',
                b'r' => b'\r',
                b't' => b'\t',
                b'b' => 0x08,
                b'f' => 0x0c,
                b'u' => {
                    let hex = std::str::from_utf8(&buf[read..read + 4]).ok();
                    read += 4;
                    // Not ASCII: a byte that is no base64, for the decoder to refuse.
                    hex.and_then(|h| u16::from_str_radix(h, 16).ok()).and_then(|v| u8::try_from(v).ok()).unwrap_or(0xFF)
                }
                other => other,
            };
        }
        if !c.is_ascii_whitespace() {
            buf[write] = c;
            write += 1;
        }
    }
    write
}

/// Decodes the base64 at `from..to` to the start of `buf` (standard or URL-safe alphabet,
/// padded or not) and says how many bytes it gave.
fn decode_base64_in_place(buf: &mut [u8], from: usize, to: usize) -> Result<usize, DecodeError> {
    let url_safe = buf[from..to].iter().any(|&c| c == b'-' || c == b'_');
    let alphabet = if url_safe { &base64::alphabet::URL_SAFE } else { &base64::alphabet::STANDARD };
    let engine = GeneralPurpose::new(
        alphabet,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let mut chunk = [0u8; CHUNK];
    let (mut read, mut written) = (from, 0);
    while read < to {
        let n = CHUNK.min(to - read);
        chunk[..n].copy_from_slice(&buf[read..read + n]);
        // `written` is 3/4 of what was read before `read`, so the output never passes it.
        written += engine.decode_slice(&chunk[..n], &mut buf[written..]).map_err(|e| at(e, read - from))?;
        read += n;
    }
    Ok(written)
}

/// A chunk's error, its offsets counted from the start of the base64.
fn at(error: DecodeSliceError, offset: usize) -> DecodeError {
    match error {
        DecodeSliceError::DecodeError(DecodeError::InvalidByte(i, b)) => DecodeError::InvalidByte(i + offset, b),
        DecodeSliceError::DecodeError(DecodeError::InvalidLastSymbol(i, b)) => {
            DecodeError::InvalidLastSymbol(i + offset, b)
        }
        DecodeSliceError::DecodeError(DecodeError::InvalidLength(n)) => DecodeError::InvalidLength(n + offset),
        DecodeSliceError::DecodeError(e) => e,
        // The output is the rest of the body, longer than any chunk's bytes.
        DecodeSliceError::OutputSliceTooSmall => DecodeError::InvalidPadding,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(json: &str) -> Result<Vec<u8>, String> {
        let mut body = json.as_bytes().to_vec();
        decode_in_place(&mut body).map(|()| body)
    }

    #[test]
    fn json_base64_forms() {
        assert_eq!(decode(r#"{"data":{"image":"aGVsbG8="}}"#).unwrap(), b"hello");
        assert_eq!(decode(r#"{"data":{"image":"aGVsbG8"}}"#).unwrap(), b"hello");
        assert_eq!(decode(r#"{"data":{"image":"data:image/png;base64,aGVs\nbG8="}}"#).unwrap(), b"hello");
        assert_eq!(decode(r#"{"data": {"image": "aGVs\u0062G8=\r\n"}, "x": 1}"#).unwrap(), b"hello");
        assert_eq!(decode(r#"{"data":{"image":"_-8"}}"#).unwrap(), [0xFF, 0xEF]);
        assert_eq!(decode(r#"{"data":{"image":"/+8="}}"#).unwrap(), [0xFF, 0xEF]);
        assert_eq!(decode(r#"{"data":{"image":"\/+8="}}"#).unwrap(), [0xFF, 0xEF]);
        assert_eq!(decode(r#"{"data":{"image":""}}"#).unwrap(), b"");
        assert!(decode(r#"{"data":{"image":"***"}}"#).unwrap_err().contains("not valid base64"));
        assert!(decode(r#"{"data":{"image":"aGVs\u00e9G8="}}"#).unwrap_err().contains("not valid base64"));
        assert!(decode(r#"{"image":"aGVsbG8="}"#).unwrap_err().contains("JSON upload must be"));
        assert!(decode(r#"{"data":{"image":12}}"#).unwrap_err().contains("not a string"));
    }

    #[test]
    fn long_images_decode_across_chunks() {
        use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
        let image: Vec<u8> = (0..50_000u32).map(|i| (i * 7 % 256) as u8).collect();
        let wrapped: String = STANDARD
            .encode(&image)
            .as_bytes()
            .chunks(76)
            .map(|l| format!("{}\\n", std::str::from_utf8(l).unwrap()))
            .collect();
        assert_eq!(decode(&format!(r#"{{"data":{{"image":"{wrapped}"}}}}"#)).unwrap(), image);
        let url = URL_SAFE_NO_PAD.encode(&image);
        assert_eq!(decode(&format!(r#"{{"data":{{"image":"data:image/png;base64,{url}"}}}}"#)).unwrap(), image);
        let mut bad = STANDARD.encode(&image);
        bad.replace_range(10_000..10_001, "*");
        let error = decode(&format!(r#"{{"data":{{"image":"{bad}"}}}}"#)).unwrap_err();
        assert!(error.contains("offset 10000"), "{error}");
    }
}

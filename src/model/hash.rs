//! `ImageHash`: the md5 of an original's bytes, and its 3/3/3/23 URL partition.

use std::fmt;
use std::str::FromStr;

use md5::{Digest, Md5};

/// The md5 of an original's bytes as uploaded: the image's identity.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageHash([u8; 16]);

/// A string that is not a well-formed hash (32 lowercase hex digits).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an image hash: expected 32 lowercase hex digits")]
pub struct HashError;

impl ImageHash {
    /// The hash of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(Md5::digest(bytes).into())
    }

    /// Parses the partitioned URL form: four segments of 3, 3, 3 and 23 hex digits.
    pub fn from_partitions(parts: [&str; 4]) -> Result<Self, HashError> {
        let lens = [3, 3, 3, 23];
        if parts.iter().zip(lens).any(|(p, n)| p.len() != n) {
            return Err(HashError);
        }
        let mut hex = [0u8; 32];
        let mut at = 0;
        for part in parts {
            hex[at..at + part.len()].copy_from_slice(part.as_bytes());
            at += part.len();
        }
        std::str::from_utf8(&hex).map_err(|_| HashError)?.parse()
    }

    /// The 3/3/3/23 partitioned form used in URLs and storage keys.
    pub fn partitioned(&self) -> String {
        let mut out = String::with_capacity(35);
        self.write_partitioned(&mut out).expect("a String takes any text");
        out
    }

    /// Writes the partitioned form without allocating.
    pub fn write_partitioned(&self, out: &mut impl fmt::Write) -> fmt::Result {
        let hex = self.hex();
        let hex = std::str::from_utf8(&hex).expect("hex digits");
        for (i, part) in [&hex[0..3], &hex[3..6], &hex[6..9], &hex[9..]].into_iter().enumerate() {
            if i > 0 {
                out.write_char('/')?;
            }
            out.write_str(part)?;
        }
        Ok(())
    }

    /// The 32 lowercase hex digits.
    fn hex(&self) -> [u8; 32] {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut hex = [0u8; 32];
        for (i, b) in self.0.iter().enumerate() {
            hex[2 * i] = DIGITS[usize::from(b >> 4)];
            hex[2 * i + 1] = DIGITS[usize::from(b & 0xf)];
        }
        hex
    }
}

impl FromStr for ImageHash {
    type Err = HashError;

    fn from_str(s: &str) -> Result<Self, HashError> {
        let bytes = s.as_bytes();
        if bytes.len() != 32 {
            return Err(HashError);
        }
        let mut out = [0u8; 16];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            out[i] = (hex_digit(pair[0])? << 4) | hex_digit(pair[1])?;
        }
        Ok(Self(out))
    }
}

fn hex_digit(c: u8) -> Result<u8, HashError> {
    match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        _ => Err(HashError),
    }
}

impl fmt::Display for ImageHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(std::str::from_utf8(&self.hex()).expect("hex digits"))
    }
}

impl fmt::Debug for ImageHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ImageHash({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_as_in_the_contract() {
        let h: ImageHash = "6e0072682e66287b662827da75b244a3".parse().unwrap();
        assert_eq!(h.partitioned(), "6e0/072/682/e66287b662827da75b244a3");
        let back = ImageHash::from_partitions(["6e0", "072", "682", "e66287b662827da75b244a3"]);
        assert_eq!(back, Ok(h));
    }

    #[test]
    fn md5_of_bytes() {
        assert_eq!(ImageHash::of(b"").to_string(), "d41d8cd98f00b204e9800998ecf8427e");
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "6e0072682e66287b662827da75b244a",
            "6E0072682E66287B662827DA75B244A3",
            "6e0072682e66287b662827da75b244ag",
        ] {
            assert_eq!(bad.parse::<ImageHash>(), Err(HashError), "{bad}");
        }
        assert!(ImageHash::from_partitions(["6e00", "72", "682", "e66287b662827da75b244a3"]).is_err());
    }
}

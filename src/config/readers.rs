//! How the plain value types are read as settings: integers (with byte units where asked),
//! byte sizes, seconds, booleans, strings, optional values, addresses and lists.

use std::net::IpAddr;
use std::time::Duration;

use serde_json::Value;

use super::schema::{AsCount, Kind, Setting, parse_bytes};

fn required(value: &Value) -> Result<&Value, String> {
    if value.is_null() { Err("a value is required".to_owned()) } else { Ok(value) }
}

/// An integer up to `max`; with `units`, also a string such as `25MiB`.
fn integer(value: &Value, max: u64, units: bool) -> Result<u64, String> {
    let n = match required(value)? {
        Value::Number(n) => n.as_u64(),
        Value::String(text) if units => parse_bytes(text),
        _ => None,
    };
    n.filter(|&n| n <= max).ok_or_else(|| format!("{value} is not an integer from 0 to {max}"))
}

macro_rules! integer_settings {
    ($($ty:ty),*) => {$(
        impl Setting for $ty {
            const KIND: Kind = Kind::Int;
            const VALUE_NAME: &'static str = "N";
            fn read(value: &Value) -> Result<Self, String> {
                integer(value, <$ty>::MAX as u64, false).map(|n| n as $ty)
            }
        }
        impl AsCount for $ty {
            fn count(&self) -> u64 {
                *self as u64
            }
        }
    )*};
}
integer_settings!(u16, u32, u64, usize);

/// A byte count, written as an integer or with a unit (`25MiB`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl Setting for ByteSize {
    const KIND: Kind = Kind::Bytes;
    const VALUE_NAME: &'static str = "BYTES";
    fn read(value: &Value) -> Result<Self, String> {
        integer(value, u64::MAX, true).map(ByteSize)
    }
}

/// Seconds, written as an integer (keys named `*_secs`).
impl Setting for Duration {
    const KIND: Kind = Kind::Int;
    const VALUE_NAME: &'static str = "SECS";
    fn read(value: &Value) -> Result<Self, String> {
        integer(value, u64::MAX, false).map(Duration::from_secs)
    }
}

impl Setting for bool {
    const KIND: Kind = Kind::Bool;
    const VALUE_NAME: &'static str = "";
    fn read(value: &Value) -> Result<Self, String> {
        match value {
            Value::Bool(b) => Ok(*b),
            Value::Null => Ok(false),
            other => Err(format!("{other} is not true or false")),
        }
    }
}

impl Setting for String {
    const KIND: Kind = Kind::Str;
    const VALUE_NAME: &'static str = "TEXT";
    fn read(value: &Value) -> Result<Self, String> {
        match required(value)? {
            Value::String(s) => Ok(s.clone()),
            other => Err(format!("{other} is not a string")),
        }
    }
}

/// An optional value: `null` (or an empty string) is none.
impl<T: Setting> Setting for Option<T> {
    const KIND: Kind = T::KIND;
    const VALUE_NAME: &'static str = T::VALUE_NAME;
    fn redact(value: &Value) -> Value {
        T::redact(value)
    }
    fn read(value: &Value) -> Result<Self, String> {
        match value {
            Value::Null => Ok(None),
            Value::String(s) if s.is_empty() => Ok(None),
            other => T::read(other).map(Some),
        }
    }
}

impl Setting for IpAddr {
    const KIND: Kind = Kind::Str;
    const VALUE_NAME: &'static str = "IP";
    fn read(value: &Value) -> Result<Self, String> {
        let text = String::read(value)?;
        let text = if text == "localhost" { "127.0.0.1" } else { text.as_str() };
        text.parse().map_err(|_| format!("'{text}' is not an IP address (e.g. 127.0.0.1 or 0.0.0.0)"))
    }
}

/// A list of values, each read by its `FromStr`: a JSON list in files, comma-separated in
/// variables and flags.
pub(crate) fn list<T: std::str::FromStr>(value: &Value, what: &str) -> Result<Vec<T>, String> {
    let Value::Array(items) = required(value)? else {
        return Err(format!("expected a list of {what}"));
    };
    items
        .iter()
        .map(|item| item.as_str().and_then(|s| s.parse().ok()).ok_or_else(|| format!("{item} is not {what}")))
        .collect()
}

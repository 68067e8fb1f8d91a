//! The machinery behind the one declaration of each configuration key: what a key is ([`Key`]),
//! how a value type is read from JSON and written in variables and flags ([`Setting`]), checks on
//! read values, and the [`sections!`] macro that turns the declarations of `sections.rs` into the
//! typed sections, the key table and the reader.

use std::time::Duration;

use serde_json::Value;

pub use super::readers::ByteSize;
pub(crate) use super::readers::list;

/// How a key's value is written in the environment and on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A non-negative integer.
    Int,
    /// A byte count: an integer, or with a unit (`25MiB`, `512KB`).
    Bytes,
    /// Any string.
    Str,
    /// `true` or `false`; a flag without a value.
    Bool,
    /// A comma-separated list of strings.
    List,
    /// JSON text (or, for per-format values, a bare integer).
    Json,
}

impl Kind {
    /// A string from the environment or a flag as the JSON value it means.
    pub(crate) fn parse_text(self, text: &str) -> Result<Value, String> {
        Ok(match self {
            Kind::Str => Value::String(text.to_owned()),
            Kind::Int => {
                Value::from(text.trim().parse::<u64>().map_err(|_| format!("'{text}' is not a non-negative integer"))?)
            }
            Kind::Bytes => Value::from(
                parse_bytes(text).ok_or_else(|| format!("'{text}' is not a byte size (e.g. 26214400 or 25MiB)"))?,
            ),
            Kind::Bool => match text.trim() {
                "true" | "1" => Value::Bool(true),
                "false" | "0" => Value::Bool(false),
                _ => return Err(format!("'{text}' is not true or false")),
            },
            Kind::List => Value::Array(
                text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(|s| Value::String(s.to_owned())).collect(),
            ),
            Kind::Json => serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?,
        })
    }
}

/// `26214400`, `25MiB`, `25 MB`, `512k`: binary and decimal units, case-insensitive.
pub(crate) fn parse_bytes(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "kib" => 1 << 10,
        "m" | "mb" => 1000 * 1000,
        "mib" => 1 << 20,
        "g" | "gb" => 1000 * 1000 * 1000,
        "gib" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(factor)
}

/// One configuration key, as its declaration in `sections.rs` gives it.
#[derive(Debug)]
pub(crate) struct Key {
    /// The name in files; the variable is `IMG_` + its upper case, the flag `--` + its dashed form.
    pub(crate) name: &'static str,
    /// A flag other than the derived one (`server_port` is `--port`).
    pub(crate) flag_override: Option<&'static str>,
    /// The `--help` heading it is listed under.
    pub(crate) heading: &'static str,
    /// How its value is written in variables and flags.
    pub(crate) kind: Kind,
    /// Placeholder of its value in `--help`.
    pub(crate) value_name: &'static str,
    /// Its help line.
    pub(crate) help: &'static str,
    /// Its built-in default (`null` for none).
    pub(crate) default: fn() -> Value,
    /// How `--help` shows the default, where the value itself would mislead (`workers`).
    pub(crate) default_shown: Option<&'static str>,
    /// Whether its value is a secret, never printed.
    pub(crate) secret: bool,
    /// Hides the secrets inside a value of its type.
    pub(crate) redact: fn(&Value) -> Value,
}

impl Key {
    /// The command-line flag: `--` and the name with dashes, unless declared otherwise.
    pub(crate) fn flag(&self) -> String {
        match self.flag_override {
            Some(flag) => flag.to_owned(),
            None => format!("--{}", self.name.replace('_', "-")),
        }
    }

    /// The environment variable: `IMG_` and the upper-cased name.
    pub(crate) fn env_var(&self) -> String {
        env_var(self.name)
    }

    /// The built-in default as `--help` says it, `None` for a key without one.
    pub(crate) fn default_text(&self) -> Option<String> {
        match (self.default_shown, (self.default)()) {
            (Some(shown), _) => Some(shown.to_owned()),
            (None, Value::Null) => None,
            (None, Value::String(s)) => Some(s),
            (None, Value::Array(items)) => {
                let items: Vec<String> =
                    items.iter().map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned)).collect();
                Some(items.join(","))
            }
            (None, other) => Some(other.to_string()),
        }
    }

    /// The help line with the default and the variable, as `--help` prints it.
    pub(crate) fn long_help(&self) -> String {
        let default = self.default_text().map(|d| format!(" [default: {d}]")).unwrap_or_default();
        format!("{}{default} [env: {}]", self.help.trim(), self.env_var())
    }
}

/// The name of the environment variable for a key.
pub fn env_var(name: &str) -> String {
    format!("IMG_{}", name.to_ascii_uppercase())
}

/// A type a configuration value is read as: how it is written outside files, and how its JSON
/// value is checked and converted. An error message says what is wrong with the value; the
/// caller adds the key and the layer.
pub(crate) trait Setting: Sized {
    /// How the value is written in variables and flags.
    const KIND: Kind;
    /// Placeholder of the value in `--help`.
    const VALUE_NAME: &'static str;
    /// Reads the merged JSON value (`null` when no layer set the key).
    fn read(value: &Value) -> Result<Self, String>;

    /// The value as `image-server config` prints it: secrets inside it hidden.
    fn redact(value: &Value) -> Value {
        value.clone()
    }
}

/// A value with a count that checks can bound: integers, and durations in seconds.
pub(crate) trait AsCount {
    /// The value as an integer.
    fn count(&self) -> u64;
}

impl AsCount for Duration {
    fn count(&self) -> u64 {
        self.as_secs()
    }
}

impl AsCount for ByteSize {
    fn count(&self) -> u64 {
        self.0
    }
}

/// A check a declaration names: `check = in_range::<1, 1024>`.
pub(crate) type Check<T> = fn(&T) -> Result<(), String>;

/// The value's count lies in `MIN..=MAX`.
pub(crate) fn in_range<const MIN: u64, const MAX: u64>(value: &impl AsCount) -> Result<(), String> {
    let n = value.count();
    if (MIN..=MAX).contains(&n) { Ok(()) } else { Err(format!("{n} is not an integer from {MIN} to {MAX}")) }
}

/// `Some(x)` for a given optional macro argument, `None` for a missing one.
macro_rules! optional {
    () => {
        None
    };
    ($value:expr) => {
        Some($value)
    };
}

/// The given macro argument, or the default when it is missing.
macro_rules! given_or {
    ($default:expr;) => {
        $default
    };
    ($default:expr; $value:expr) => {
        $value
    };
}

/// Declares the sections of the configuration, each key once: its doc line is its help line,
/// its type says how it is read and written, `= default` is its built-in default (JSON), and
/// the optional `flag`, `value` (its placeholder in `--help`), `shown` (the default as `--help`
/// says it), `check` and `secret` say the rest. Generates one struct per
/// section, [`Config`](super::Config)'s section fields reader (`read_sections`), and `KEYS`.
macro_rules! sections {
    ($(
        $(#[doc = $section_doc:literal])*
        $section:ident: $Section:ident ($heading:literal) {
            $(
                $(#[doc = $doc:literal])+
                $key:ident: $ty:ty = $default:tt
                    $(, flag = $flag:literal)?
                    $(, value = $value_name:literal)?
                    $(, shown = $shown:literal)?
                    $(, check = $check:expr)?
                    $(, secret = $secret:literal)?
                ;
            )*
        }
    )*) => {
        $(
            $(#[doc = $section_doc])*
            #[derive(Clone, Debug)]
            pub struct $Section {
                $( $(#[doc = $doc])+ pub $key: $ty, )*
            }

            impl $Section {
                fn read(v: &super::Validator<'_>) -> Result<Self, super::ConfigError> {
                    Ok(Self { $( $key: v.read::<$ty>(stringify!($key), $crate::config::schema::optional!($($check)?))?, )* })
                }
            }
        )*

        /// Every section, read from the merged layers.
        #[derive(Clone, Debug)]
        pub(super) struct Sections {
            $( pub(super) $section: $Section, )*
        }

        pub(super) fn read_sections(v: &super::Validator<'_>) -> Result<Sections, super::ConfigError> {
            Ok(Sections { $( $section: $Section::read(v)?, )* })
        }

        /// Every top-level key, in declaration order.
        pub(crate) const KEYS: &[$crate::config::schema::Key] = &[$($(
            $crate::config::schema::Key {
                name: stringify!($key),
                flag_override: $crate::config::schema::optional!($($flag)?),
                heading: $heading,
                kind: <$ty as $crate::config::schema::Setting>::KIND,
                value_name: $crate::config::schema::given_or!(
                    <$ty as $crate::config::schema::Setting>::VALUE_NAME; $($value_name)?
                ),
                help: concat!($($doc),+),
                default: || serde_json::json!($default),
                default_shown: $crate::config::schema::optional!($($shown)?),
                secret: $crate::config::schema::given_or!(false; $($secret)?),
                redact: <$ty as $crate::config::schema::Setting>::redact,
            },
        )*)*];
    };
}

pub(crate) use {given_or, optional, sections};

/// The key named `name`.
pub(crate) fn key(keys: &'static [Key], name: &str) -> Option<&'static Key> {
    keys.iter().find(|k| k.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes() {
        assert_eq!(parse_bytes("26214400"), Some(26_214_400));
        assert_eq!(parse_bytes("25MiB"), Some(25 << 20));
        assert_eq!(parse_bytes("25 mb"), Some(25_000_000));
        assert_eq!(parse_bytes("1GiB"), Some(1 << 30));
        assert_eq!(parse_bytes("MiB"), None);
        assert_eq!(parse_bytes("12 parsecs"), None);
        assert_eq!(parse_bytes("99999999999999999999GiB"), None);
    }

    #[test]
    fn integers_and_ranges() {
        assert_eq!(u16::read(&Value::from(7000)), Ok(7000));
        assert!(u16::read(&Value::from(70000)).unwrap_err().contains("0 to 65535"));
        assert_eq!(ByteSize::read(&Value::from("25MiB")), Ok(ByteSize(25 << 20)));
        assert_eq!(in_range::<1, 1024>(&0usize), Err("0 is not an integer from 1 to 1024".to_owned()));
        assert_eq!(in_range::<1, 3600>(&Duration::from_secs(10)), Ok(()));
        assert_eq!(Option::<String>::read(&Value::from("")), Ok(None));
        assert_eq!(bool::read(&Value::Null), Ok(false));
    }
}

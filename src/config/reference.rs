//! The configuration reference: every key of the key table as a Markdown table, by the `--help`
//! section it is listed under. `image-server config --reference` prints it; docs/configuration.md
//! carries it between its two markers, and a test keeps the page current.

use super::KEYS;
use super::schema::Key;

/// The Markdown table of every key: name, flag, variable, default and help line.
pub fn reference() -> String {
    let mut out = String::from("| key | flag | variable | default | meaning |\n| --- | --- | --- | --- | --- |\n");
    let mut heading = "";
    for key in KEYS {
        if key.heading != heading {
            heading = key.heading;
            out.push_str(&format!("| **{heading}** | | | | |\n"));
        }
        out.push_str(&row(key));
    }
    out
}

fn row(key: &Key) -> String {
    // A help line may say its default itself, where there is no value to show: "[default: the storage]".
    let (help, said) = match key.help.trim().split_once(" [default: ") {
        Some((help, rest)) => (help, Some(rest.trim_end_matches(']').to_owned())),
        None => (key.help.trim(), None),
    };
    // A value in code type; words ("the number of cores", "the storage") as they are.
    let default = match key.default_text().or(said) {
        None => "none".to_owned(),
        Some(words) if words.contains(' ') => words,
        Some(value) => format!("`{value}`"),
    };
    let help = help.replace('|', "\\|");
    format!("| `{}` | `{}` | `{}` | {default} | {help} |\n", key.name, key.flag(), key.env_var())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_has_one_row_under_its_heading() {
        let table = reference();
        for key in KEYS {
            assert_eq!(table.matches(&format!("| `{}` |", key.name)).count(), 1, "{}", key.name);
        }
        assert!(table.contains("| `server_port` | `--port` | `IMG_SERVER_PORT` | `7000` |"), "{table}");
        assert!(table.contains("| **Storage** |"));
    }
}

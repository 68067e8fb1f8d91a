//! Command-line interface (clap derive): `serve` (the default), `process`, `config`, and the small
//! commands (`health`, `sign`, `focus`, `completions`). Flags only; the work happens in
//! [`crate::run`]. wanelo's command lines parse unchanged (DESIGN.md §16): `server` for `serve`,
//! `_` for `-` in every long flag, and every flag before the subcommand as well as after it.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Arg, ArgMatches, Args, CommandFactory, Parser, Subcommand};

use crate::config::schema::Kind;
use crate::config::{ConfigSources, KEYS};

/// On-demand resizing image proxy.
#[derive(Parser, Debug)]
#[command(name = "image-server", version, about, long_about = None)]
pub struct Cli {
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Configuration, on every subcommand.
    #[command(flatten)]
    pub config: ConfigArgs,
    /// What `process` and `regenerate` work on, before or after the subcommand.
    #[command(flatten)]
    pub batch: BatchArgs,
}

impl Cli {
    /// Parses the process's arguments, wanelo's `_` spellings included (see [`dashed_flags`]).
    pub fn parse_args() -> Cli {
        Cli::parse_from(dashed_flags(std::env::args_os(), &long_flags()))
    }
}

/// Every long flag of the command line, of every subcommand.
pub fn long_flags() -> Vec<String> {
    fn collect(cmd: &clap::Command, out: &mut Vec<String>) {
        out.extend(cmd.get_arguments().filter_map(Arg::get_long).map(str::to_owned));
        cmd.get_subcommands().for_each(|sub| collect(sub, out));
    }
    let mut out = Vec::new();
    collect(&Cli::command(), &mut out);
    out
}

/// wanelo spelled its flags with `_` (`--maximum_width 1000`, `--default_quality=75`): the name of a
/// `--long_flag` (up to an `=`) is written with `-` where that is one of the `known` flags. Values,
/// short flags, unknown names (so that an error shows them as given) and everything after a bare
/// `--` are left as they are.
pub fn dashed_flags(args: impl IntoIterator<Item = OsString>, known: &[String]) -> Vec<OsString> {
    let mut rest_positional = false;
    args.into_iter()
        .map(|arg| {
            if rest_positional {
                return arg;
            }
            let Some(text) = arg.to_str() else { return arg };
            if text == "--" {
                rest_positional = true;
                return arg;
            }
            let Some(flag) = text.strip_prefix("--") else { return arg };
            let (name, value) = match flag.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (flag, None),
            };
            let dashed = name.replace('_', "-");
            if dashed == name || !known.contains(&dashed) {
                return arg;
            }
            match value {
                Some(value) => format!("--{dashed}={value}").into(),
                None => format!("--{dashed}").into(),
            }
        })
        .collect()
}

/// `--namespace` and `--outputs` of `process` and `regenerate`: global, so that they may come
/// before the subcommand, as wanelo's command lines give them
/// (`image-server --namespace p --outputs x300.jpg process FILE`).
#[derive(Args, Debug, Default, Clone)]
pub struct BatchArgs {
    /// Namespace to store into (process, regenerate).
    #[arg(long, short = 'n', global = true, help_heading = "Batch (process, regenerate)")]
    pub namespace: Option<String>,
    /// Variants to render, comma-separated, e.g. x300.jpg,x300.webp (process, regenerate).
    #[arg(long, global = true, value_name = "NAMES", help_heading = "Batch (process, regenerate)")]
    pub outputs: Option<String>,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the HTTP API and the status port (the default; wanelo's `server` too).
    #[command(alias = "server")]
    Serve,
    /// Store originals and render variants into the configured storage, without a server;
    /// prints one info JSON a line. Reads standard input without arguments.
    Process(ProcessArgs),
    /// Render variants for every original stored in a namespace, in parallel on the render
    /// pool, with a progress bar; safe to interrupt and resume (with --missing-only).
    Regenerate(RegenerateArgs),
    /// Print the effective configuration, each key with the layer it came from.
    Config(ConfigCommandArgs),
    /// Ask the status port of a running server for /health: exit 0 if it is serving, 1 if not
    /// (for a Dockerfile HEALTHCHECK).
    Health(HealthArgs),
    /// Print the signed form of a variant or info path (with signing_keys configured).
    Sign(SignArgs),
    /// Print the focus and faces that an upload of FILE would store in its info.json (the crops
    /// of a namespace with `crop: "focus"` are placed around them), for checking by hand.
    Focus(FocusArgs),
    /// Print a completion script for a shell (e.g. `image-server completions bash`).
    Completions(CompletionsArgs),
}

/// `image-server health`.
#[derive(Args, Debug)]
pub struct HealthArgs {
    /// Healthy only if the process answering is this one (during a restart both old and new
    /// processes answer on the shared port).
    #[arg(long, value_name = "PID")]
    pub pid: Option<u32>,
}

/// `image-server completions`.
#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `image-server config`.
#[derive(Args, Debug)]
pub struct ConfigCommandArgs {
    /// Print the reference of every key (docs/configuration.md's table, in Markdown) instead.
    #[arg(long)]
    pub reference: bool,
}

/// `image-server sign`.
#[derive(Args, Debug)]
pub struct SignArgs {
    /// The path to sign, with its query if any (e.g. /p/6e0/072/682/e66287b662827da75b244a3/x200.jpg).
    pub path: String,
    /// Make the signature expire this many seconds from now (?e=).
    #[arg(long, value_name = "SECS")]
    pub expires_in: Option<u64>,
}

/// `image-server focus`.
#[derive(Args, Debug)]
pub struct FocusArgs {
    /// The image file (any format the server reads).
    pub file: PathBuf,
}

/// `image-server process` (with `--namespace` and `--outputs`, [`BatchArgs`]).
#[derive(Args, Debug)]
pub struct ProcessArgs {
    /// Files or http(s) URLs; `-`, or none, reads them from standard input, one a line, where a
    /// line may also be wanelo's `HASH URL` (or a bare `HASH`): the stored image of that md5 if
    /// there is one, else the URL fetched.
    pub inputs: Vec<String>,
}

/// `image-server regenerate` (with `--namespace` and `--outputs`, [`BatchArgs`]).
#[derive(Args, Debug)]
pub struct RegenerateArgs {
    /// Skip variants already in storage (to resume an interrupted run).
    #[arg(long)]
    pub missing_only: bool,
}

/// Every configuration key as a flag (DESIGN.md §7), made from the key table, with the two
/// flags that pick the layers. Values are parsed by the config layer, so a bad one is reported
/// the same way from a flag, a variable or a file.
#[derive(Debug, Default, Clone)]
pub struct ConfigArgs {
    /// `-e/--environment`: reads config/{ENV}.json.
    pub environment: Option<String>,
    /// `--config FILE`: read instead of config/{ENV}.json.
    pub config_file: Option<PathBuf>,
    /// The configuration keys given as flags, as (key, text).
    pub flags: Vec<(String, String)>,
}

impl ConfigArgs {
    /// The flags as config sources, with the process environment.
    pub fn sources(&self, env: Vec<(String, String)>) -> ConfigSources {
        let var = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        ConfigSources {
            environment: self.environment.clone().or_else(|| var("IMG_ENVIRONMENT")),
            config_file: self.config_file.clone().or_else(|| var("IMG_CONFIG").map(PathBuf::from)),
            config_dir: None,
            flags: self.flags.clone(),
            env,
        }
    }
}

const ENVIRONMENT: &str = "environment";
const CONFIG_FILE: &str = "config";

impl clap::FromArgMatches for ConfigArgs {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut args = ConfigArgs::default();
        args.update_from_arg_matches(matches)?;
        Ok(args)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        if let Some(env) = matches.get_one::<String>(ENVIRONMENT) {
            self.environment = Some(env.clone());
        }
        if let Some(file) = matches.get_one::<PathBuf>(CONFIG_FILE) {
            self.config_file = Some(file.clone());
        }
        for key in KEYS {
            if let Some(text) = matches.get_one::<String>(key.name).cloned() {
                self.flags.retain(|(name, _)| name != key.name);
                self.flags.push((key.name.to_owned(), text));
            }
        }
        Ok(())
    }
}

impl clap::Args for ConfigArgs {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        let cmd = cmd
            .arg(
                Arg::new(ENVIRONMENT)
                    .short('e')
                    .long(ENVIRONMENT)
                    .global(true)
                    .value_name("ENV")
                    .help("Environment: reads config/{ENV}.json [default: development] [env: IMG_ENVIRONMENT]"),
            )
            .arg(
                Arg::new(CONFIG_FILE)
                    .long(CONFIG_FILE)
                    .global(true)
                    .value_name("FILE")
                    .value_parser(clap::value_parser!(PathBuf))
                    .help("Config file to read instead of config/{ENV}.json [env: IMG_CONFIG]"),
            );
        KEYS.iter().fold(cmd, |cmd, key| {
            let flag = key.flag();
            let arg = Arg::new(key.name)
                .long(flag.trim_start_matches("--").to_owned())
                .global(true)
                .help_heading(key.heading)
                .help(key.long_help());
            // A boolean flag takes no value (`--profile`), or `=false` to turn a default off.
            let arg = match key.kind {
                Kind::Bool => {
                    arg.num_args(0..=1).require_equals(true).default_missing_value("true").value_name("true|false")
                }
                _ => arg.value_name(key.value_name),
            };
            cmd.arg(arg)
        })
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dashed(args: &[&str]) -> Vec<String> {
        let known = long_flags();
        let args = args.iter().map(OsString::from);
        dashed_flags(args, &known).into_iter().map(|a| a.into_string().unwrap()).collect()
    }

    /// wanelo's main.go flags (`--maximum_width`, `--default_quality`, `--remote_base_url`,
    /// `--statsd_prefix`) as its cmd_server.go usage spells them.
    #[test]
    fn underscores_in_long_flag_names_become_dashes() {
        assert_eq!(
            dashed(&["image-server", "--maximum_width", "1000", "--default_quality=75", "server"]),
            ["image-server", "--maximum-width", "1000", "--default-quality=75", "server"]
        );
        assert_eq!(
            dashed(&["x", "--statsd_prefix=a_b", "--remote_base_url", "http://a/b_c"]),
            ["x", "--statsd-prefix=a_b", "--remote-base-url", "http://a/b_c"]
        );
        // Values, unknown names, short flags and what follows `--` are left alone.
        assert_eq!(
            dashed(&["x", "process", "-n", "my_ns", "--no_such_flag", "--", "--maximum_width"]),
            ["x", "process", "-n", "my_ns", "--no_such_flag", "--", "--maximum_width"]
        );
        for flag in ["--missing_only", "--expires_in", "--max_outputs_per_upload", "--source_allow_private"] {
            assert_eq!(dashed(&["x", flag])[1], flag.replace('_', "-"), "{flag}");
        }
    }

    /// wanelo's cmd_server.go (`server`) and README (`image --outputs x300.webp,x300.jpg process
    /// $MANTA_INPUT_FILE`): the subcommand's name, and flags before it.
    #[test]
    fn wanelo_command_lines_parse() {
        let cli = Cli::parse_from(dashed(&["image-server", "--maximum_width", "1000", "server"]));
        assert!(matches!(cli.command, Some(Command::Serve)));
        assert_eq!(cli.config.flags, [("maximum_width".to_owned(), "1000".to_owned())]);

        let args = ["image-server", "--namespace", "p", "--outputs", "x300.webp,x300.jpg", "process", "a.jpg"];
        let cli = Cli::parse_from(dashed(&args));
        let Some(Command::Process(process)) = cli.command else { panic!("not process") };
        assert_eq!(process.inputs, ["a.jpg"]);
        assert_eq!(cli.batch.namespace.as_deref(), Some("p"));
        assert_eq!(cli.batch.outputs.as_deref(), Some("x300.webp,x300.jpg"));

        // After the subcommand as before, and the two mixed.
        let cli = Cli::parse_from(["image-server", "-n", "p", "regenerate", "--outputs", "x1.jpg", "--missing-only"]);
        assert_eq!((cli.batch.namespace.as_deref(), cli.batch.outputs.as_deref()), (Some("p"), Some("x1.jpg")));
    }
}

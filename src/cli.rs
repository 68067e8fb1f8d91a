//! Command-line interface (clap derive): `serve` (the default), `process`, `config`, and the small
//! commands (`health`, `sign`, `focus`, `completions`). Flags only; the work happens in
//! [`crate::run`].

use std::path::PathBuf;

use clap::{Arg, ArgMatches, Args, Parser, Subcommand};

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
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the HTTP API and the status port (the default).
    Serve,
    /// Store originals and render variants into the configured storage, without a server;
    /// prints one info JSON a line.
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

/// `image-server process`.
#[derive(Args, Debug)]
pub struct ProcessArgs {
    /// Files or http(s) URLs; `-` reads the list from standard input, one a line.
    #[arg(required = true)]
    pub inputs: Vec<String>,
    /// Namespace to store into.
    #[arg(long, short = 'n')]
    pub namespace: String,
    /// Variants to render, comma-separated (e.g. x300.jpg,x300.webp).
    #[arg(long, default_value = "")]
    pub outputs: String,
}

/// `image-server regenerate`.
#[derive(Args, Debug)]
pub struct RegenerateArgs {
    /// Namespace whose originals to render.
    #[arg(long, short = 'n')]
    pub namespace: String,
    /// Variants to render for each original, comma-separated (e.g. x300.jpg,x300.webp).
    #[arg(long)]
    pub outputs: String,
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

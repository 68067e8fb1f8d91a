//! Batch commands without a server: `process` (store originals, render variants; wanelo's `HASH
//! URL` lines too) and `regenerate` (render variants for every stored original of a namespace).

use std::io::BufRead;
use std::sync::Arc;

use bytes::Bytes;

use crate::access::Payer;
use crate::cli::{BatchArgs, ProcessArgs, RegenerateArgs};
use crate::config::Config;
use crate::exit::Exit;
use crate::metrics::Metrics;
use crate::model::{ImageHash, ImageId, Namespace, Variant};
use crate::service::{ImageService, Ingested, Outputs, Parts, ServiceError};

/// The service of a batch command: its own pool and caches; its renders go to statsd as a
/// server's do.
fn service(config: Arc<Config>) -> Result<ImageService, Exit> {
    let parts = Parts::new(&config, Metrics::new(&config.metrics));
    ImageService::new(&config, parts).map_err(|e| Exit::new(1, e))
}

/// `--namespace`, which both commands need.
fn namespace(batch: &BatchArgs) -> Result<Namespace, Exit> {
    let name = batch.namespace.as_deref().ok_or_else(|| Exit::new(2, "--namespace: name the namespace to work on"))?;
    name.parse().map_err(|e| Exit::new(2, format!("--namespace: {e}")))
}

/// `--outputs`: the names, each allowed in the namespace.
fn outputs(service: &ImageService, ns: &Namespace, batch: &BatchArgs) -> Result<Vec<Variant>, Exit> {
    let list = batch.outputs.as_deref().unwrap_or("");
    let outputs = Variant::parse_list(list).map_err(|(name, e)| Exit::new(2, format!("--outputs: '{name}': {e}")))?;
    service.check_outputs(ns, &outputs).map_err(|(v, e)| Exit::new(2, format!("--outputs: '{v}': {e}")))?;
    Ok(outputs)
}

/// One input of `process`: a file or an http(s) URL, or an image stored already (wanelo's `HASH
/// URL` lines), with where to fetch it from if it is not.
#[derive(Debug, PartialEq, Eq)]
enum Input {
    /// A file or URL.
    Source(String),
    /// The image of this md5, if stored; else `source`, if any.
    Stored { hash: ImageHash, source: Option<String> },
}

impl Input {
    /// A line of standard input: `HASH URL` (or `HASH FILE`), a bare `HASH` (unless a file has
    /// that name), or a file or URL.
    fn of_line(line: &str) -> Input {
        if let Some((first, rest)) = line.split_once(char::is_whitespace)
            && let Ok(hash) = first.parse::<ImageHash>()
        {
            return Input::Stored { hash, source: Some(rest.trim().to_owned()) };
        }
        match line.parse::<ImageHash>() {
            Ok(hash) if !std::path::Path::new(line).exists() => Input::Stored { hash, source: None },
            _ => Input::Source(line.to_owned()),
        }
    }
}

/// The inputs of `process`: its arguments, standard input's lines for `-` or when there are none.
fn inputs(args: ProcessArgs) -> Result<Vec<Input>, Exit> {
    use std::io::IsTerminal;
    let mut inputs = Vec::new();
    let from_stdin = args.inputs.is_empty();
    if from_stdin && std::io::stdin().is_terminal() {
        return Err(Exit::new(2, "process: name files or URLs, or give them on standard input, one a line"));
    }
    for input in args.inputs.into_iter().chain(from_stdin.then(|| "-".to_owned())) {
        if input != "-" {
            inputs.push(Input::Source(input));
            continue;
        }
        for line in std::io::stdin().lock().lines() {
            let line = line.map_err(|e| Exit::new(1, format!("reading standard input: {e}")))?;
            if !line.trim().is_empty() {
                inputs.push(Input::of_line(line.trim()));
            }
        }
    }
    Ok(inputs)
}

pub(crate) async fn process(config: Arc<Config>, batch: &BatchArgs, args: ProcessArgs) -> Result<(), Exit> {
    let ns = namespace(batch)?;
    let service = service(config)?;
    let outputs = outputs(&service, &ns, batch)?;
    let inputs = inputs(args)?;
    let mut failures = 0;
    for input in &inputs {
        let (name, result) = match input {
            Input::Source(source) => (source.clone(), ingest(&service, &ns, source, &outputs).await),
            Input::Stored { hash, source } => {
                (hash.to_string(), stored(&service, &ns, *hash, source.as_deref(), &outputs).await)
            }
        };
        match result {
            Ok(ingested) => println!("{}", serde_json::to_string(&ingested.info).expect("info serialises")),
            Err(e) => {
                failures += 1;
                eprintln!("{name}: {e}");
            }
        }
    }
    if failures > 0 {
        return Err(Exit::new(1, format!("{failures} of {} inputs failed", inputs.len())));
    }
    Ok(())
}

/// Stores a file or URL and renders `outputs` of it.
async fn ingest(service: &ImageService, ns: &Namespace, source: &str, outputs: &[Variant]) -> Result<Ingested, String> {
    if source.starts_with("http://") || source.starts_with("https://") {
        return service
            .ingest_source(ns, source, outputs, Outputs::BeforeAnswer, &Payer::Server, None)
            .await
            .map_err(|e| e.to_string());
    }
    match tokio::fs::read(source).await {
        Ok(bytes) => service
            .ingest(ns, Bytes::from(bytes), outputs, Outputs::BeforeAnswer, &Payer::Server, None)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(format!("cannot read: {e}")),
    }
}

/// wanelo's `HASH URL` line: the outputs of the stored image of that md5 (nothing fetched), or,
/// when it is not stored, of the URL's image, stored under the md5 of its bytes.
async fn stored(
    service: &ImageService,
    ns: &Namespace,
    hash: ImageHash,
    source: Option<&str>,
    outputs: &[Variant],
) -> Result<Ingested, String> {
    match service.process(ns, &ImageId::Hash(hash), outputs, Outputs::BeforeAnswer, &Payer::Server).await {
        Err(ServiceError::ImageNotFound) => {}
        done => return done.map_err(|e| e.to_string()),
    }
    let Some(source) = source else { return Err(format!("not stored in {ns}, and no URL to fetch it from")) };
    let ingested = ingest(service, ns, source, outputs).await.map_err(|e| format!("{source}: {e}"))?;
    if ingested.info.hash != hash.to_string() {
        eprintln!(
            "{source}: its bytes' md5 is {}, not {hash}; stored under {}",
            ingested.info.hash, ingested.info.hash
        );
    }
    Ok(ingested)
}

/// Variants of `regenerate` looked up, planned or waiting for a worker at once.
const IN_FLIGHT: usize = 64;

/// What became of one variant in `regenerate`.
enum Regenerated {
    Rendered,
    Skipped,
    Failed(String),
}

pub(crate) async fn regenerate(config: Arc<Config>, batch: &BatchArgs, args: RegenerateArgs) -> Result<(), Exit> {
    use futures_util::StreamExt;
    let ns = namespace(batch)?;
    let service = service(config)?;
    let outputs = outputs(&service, &ns, batch)?;
    if outputs.is_empty() {
        return Err(Exit::new(2, "--outputs: name at least one variant"));
    }
    let started = std::time::Instant::now();
    let images = service.list_images(&ns).await.map_err(|e| Exit::new(1, format!("listing {ns}: {e}")))?;
    let jobs: Vec<(crate::model::ImageId, Variant)> =
        images.iter().flat_map(|id| outputs.iter().map(move |v| (id.clone(), *v))).collect();
    let bar = indicatif::ProgressBar::new(jobs.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} variants  {per_sec}  eta {eta}  {msg}")
            .expect("a valid template"),
    );
    let (service, ns_ref) = (&service, &ns);
    let missing_only = args.missing_only;
    let mut results = futures_util::stream::iter(jobs)
        .map(|(id, variant)| async move {
            let outcome = match service.variant_stored(ns_ref, &id, &variant).await {
                Ok(true) if missing_only => Regenerated::Skipped,
                Err(e) => Regenerated::Failed(e.to_string()),
                Ok(_) => match service.rerender(ns_ref, &id, &variant).await {
                    Ok(()) => Regenerated::Rendered,
                    Err(e) => Regenerated::Failed(e.to_string()),
                },
            };
            (id, variant, outcome)
        })
        // The CPU pool decides how many render at once; this only bounds the lookups and plans
        // in flight, so that a namespace of a million images is not held in memory at once.
        .buffer_unordered(IN_FLIGHT);
    let (mut rendered, mut skipped, mut failed) = (0, 0, 0);
    while let Some((id, variant, outcome)) = results.next().await {
        match outcome {
            Regenerated::Rendered => rendered += 1,
            Regenerated::Skipped => skipped += 1,
            Regenerated::Failed(e) => {
                failed += 1;
                bar.println(format!("{ns}/{id}/{variant}: {e}"));
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    eprintln!(
        "regenerate {ns}: {} images, {rendered} variants rendered, {skipped} already stored, {failed} failed, in {:.1} s",
        images.len(),
        started.elapsed().as_secs_f64()
    );
    if failed > 0 {
        return Err(Exit::new(1, format!("{failed} variants failed")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// wanelo's cli/cli_test.go `TestLineToItem`: `HASH URL` is a hash and a URL; and its
    /// test/process.txt: a line may be a bare hash.
    #[test]
    fn lines_of_standard_input() {
        let hash: ImageHash = "6ad5544baa6f5e852e1af26f8c2e45db".parse().unwrap();
        let url = "http://example.com/image.url";
        assert_eq!(
            Input::of_line("6ad5544baa6f5e852e1af26f8c2e45db http://example.com/image.url"),
            Input::Stored { hash, source: Some(url.to_owned()) }
        );
        assert_eq!(
            Input::of_line("6ad5544baa6f5e852e1af26f8c2e45db\t http://example.com/image.url"),
            Input::Stored { hash, source: Some(url.to_owned()) }
        );
        assert_eq!(Input::of_line("6ad5544baa6f5e852e1af26f8c2e45db"), Input::Stored { hash, source: None });
        assert_eq!(Input::of_line(url), Input::Source(url.to_owned()));
        assert_eq!(Input::of_line("photos/a b.jpg"), Input::Source("photos/a b.jpg".to_owned()));
        assert_eq!(
            Input::of_line("6AD5544BAA6F5E852E1AF26F8C2E45DB"),
            Input::Source("6AD5544BAA6F5E852E1AF26F8C2E45DB".to_owned())
        );
    }
}

//! Batch commands without a server: `process` (store originals, render variants) and
//! `regenerate` (render variants for every stored original of a namespace).

use std::io::BufRead;
use std::sync::Arc;

use bytes::Bytes;

use crate::access::Payer;
use crate::cli::{ProcessArgs, RegenerateArgs};
use crate::config::Config;
use crate::exit::Exit;
use crate::metrics::Metrics;
use crate::model::{Namespace, Variant};
use crate::service::{ImageService, Outputs, Parts};

/// The service of a batch command: its own pool and caches; its renders go to statsd as a
/// server's do.
fn service(config: Arc<Config>) -> Result<ImageService, Exit> {
    let parts = Parts::new(&config, Metrics::new(&config.metrics));
    ImageService::new(&config, parts).map_err(|e| Exit::new(1, e))
}

/// `--outputs`: the names, each allowed in the namespace.
fn outputs(service: &ImageService, ns: &Namespace, list: &str) -> Result<Vec<Variant>, Exit> {
    let outputs = Variant::parse_list(list).map_err(|(name, e)| Exit::new(2, format!("--outputs: '{name}': {e}")))?;
    service.check_outputs(ns, &outputs).map_err(|(v, e)| Exit::new(2, format!("--outputs: '{v}': {e}")))?;
    Ok(outputs)
}

pub(crate) async fn process(config: Arc<Config>, args: ProcessArgs) -> Result<(), Exit> {
    let ns: Namespace = args.namespace.parse().map_err(|e| Exit::new(2, format!("--namespace: {e}")))?;
    let service = service(config)?;
    let outputs = outputs(&service, &ns, &args.outputs)?;
    let mut inputs = Vec::new();
    for input in args.inputs {
        if input == "-" {
            for line in std::io::stdin().lock().lines() {
                let line = line.map_err(|e| Exit::new(1, format!("reading standard input: {e}")))?;
                if !line.trim().is_empty() {
                    inputs.push(line.trim().to_owned());
                }
            }
        } else {
            inputs.push(input);
        }
    }
    let mut failures = 0;
    for input in &inputs {
        let result = if input.starts_with("http://") || input.starts_with("https://") {
            service
                .ingest_source(&ns, input, &outputs, Outputs::BeforeAnswer, &Payer::Server, None)
                .await
                .map_err(|e| e.to_string())
        } else {
            match tokio::fs::read(input).await {
                Ok(bytes) => service
                    .ingest(&ns, Bytes::from(bytes), &outputs, Outputs::BeforeAnswer, &Payer::Server, None)
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(format!("cannot read: {e}")),
            }
        };
        match result {
            Ok(ingested) => println!("{}", serde_json::to_string(&ingested.info).expect("info serialises")),
            Err(e) => {
                failures += 1;
                eprintln!("{input}: {e}");
            }
        }
    }
    if failures > 0 {
        return Err(Exit::new(1, format!("{failures} of {} inputs failed", inputs.len())));
    }
    Ok(())
}

/// Variants of `regenerate` looked up, planned or waiting for a worker at once.
const IN_FLIGHT: usize = 64;

/// What became of one variant in `regenerate`.
enum Regenerated {
    Rendered,
    Skipped,
    Failed(String),
}

pub(crate) async fn regenerate(config: Arc<Config>, args: RegenerateArgs) -> Result<(), Exit> {
    use futures_util::StreamExt;
    let ns: Namespace = args.namespace.parse().map_err(|e| Exit::new(2, format!("--namespace: {e}")))?;
    let service = service(config)?;
    let outputs = outputs(&service, &ns, &args.outputs)?;
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

//! Profiles in pprof's protobuf format, for `go tool pprof`: CPU samples (pprof-rs, 99 Hz over
//! every thread) and jemalloc's heap samples; and a CPU flame graph as SVG.

use std::time::Duration;

use bytes::Bytes;
use hyper::StatusCode;

use super::{Answer, text};

/// One CPU profile at a time: the sampler is process-wide.
static CPU_PROFILE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const PROTOBUF: &str = "application/octet-stream";

pub(super) async fn answer(path: &str, query: Option<&str>) -> Answer {
    let seconds = query
        .and_then(|q| url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "seconds"))
        .and_then(|(_, v)| v.parse::<u64>().ok())
        .unwrap_or(30)
        .clamp(1, 300);
    let result = match path {
        "/debug/pprof/profile" => cpu(seconds, false).await.map(|b| (PROTOBUF, b)),
        "/debug/pprof/flamegraph" => cpu(seconds, true).await.map(|b| ("image/svg+xml", b)),
        "/debug/pprof/heap" => heap().await.map(|b| (PROTOBUF, b)),
        _ => {
            return text(
                StatusCode::NOT_FOUND,
                "use /debug/pprof/profile, /debug/pprof/heap or /debug/pprof/flamegraph\n",
            );
        }
    };
    match result {
        Ok((content_type, body)) => (StatusCode::OK, content_type, body),
        Err((status, message)) => text(status, format!("{message}\n")),
    }
}

async fn cpu(seconds: u64, flamegraph: bool) -> Result<Bytes, (StatusCode, String)> {
    let _one_at_a_time = CPU_PROFILE
        .try_lock()
        .map_err(|_| (StatusCode::CONFLICT, "a CPU profile is already being taken".to_owned()))?;
    let internal = |e: String| (StatusCode::INTERNAL_SERVER_ERROR, e);
    // The sampler's guard is not Send; it lives on a blocking thread for the whole profile.
    tokio::task::spawn_blocking(move || -> Result<Bytes, String> {
        let guard = pprof::ProfilerGuardBuilder::default()
            .frequency(99)
            .blocklist(&["libc", "libgcc", "pthread", "vdso"])
            .build()
            .map_err(|e| format!("cannot start the CPU profiler: {e}"))?;
        std::thread::sleep(Duration::from_secs(seconds));
        let report = guard.report().build().map_err(|e| format!("cannot build the profile: {e}"))?;
        if flamegraph {
            let mut svg = Vec::new();
            report.flamegraph(&mut svg).map_err(|e| format!("cannot draw the flame graph: {e}"))?;
            return Ok(Bytes::from(svg));
        }
        let profile = report.pprof().map_err(|e| format!("cannot encode the profile: {e}"))?;
        Ok(Bytes::from(pprof::protos::Message::encode_to_vec(&profile)))
    })
    .await
    .map_err(|e| internal(e.to_string()))?
    .map_err(internal)
}

#[cfg(not(feature = "jemalloc"))]
async fn heap() -> Result<Bytes, (StatusCode, String)> {
    Err((StatusCode::SERVICE_UNAVAILABLE, "heap profiles need the jemalloc feature".to_owned()))
}

#[cfg(feature = "jemalloc")]
async fn heap() -> Result<Bytes, (StatusCode, String)> {
    let unavailable = |m: &str| (StatusCode::SERVICE_UNAVAILABLE, m.to_owned());
    let ctl =
        jemalloc_pprof::PROF_CTL.as_ref().ok_or_else(|| unavailable("jemalloc heap profiling is not built in"))?;
    let mut ctl = ctl.lock().await;
    if !ctl.activated() {
        return Err(unavailable("heap profiling is not active"));
    }
    let dump = tokio::task::block_in_place(|| ctl.dump_pprof());
    dump.map(Bytes::from)
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, format!("cannot dump the heap profile: {e:#}")))
}

/// Starts sampling heap allocations (with `--profile`, at start-up, so that the heap profile
/// covers the process' life).
#[cfg(not(feature = "jemalloc"))]
pub async fn activate_heap_profiling() -> Result<(), String> {
    Err("heap profiles need the jemalloc feature".to_owned())
}

/// Starts sampling heap allocations (with `--profile`, at start-up, so that the heap profile
/// covers the process' life).
#[cfg(feature = "jemalloc")]
pub async fn activate_heap_profiling() -> Result<(), String> {
    let ctl = jemalloc_pprof::PROF_CTL.as_ref().ok_or("jemalloc heap profiling is not built in")?;
    ctl.lock().await.activate().map_err(|e| e.to_string())
}

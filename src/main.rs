//! The `image-server` binary: the allocator, the command line, and a hand-over to the library.

use std::process::ExitCode;

/// jemalloc for everything, the C codecs included: it returns memory after the spikes of large
/// decodes (background purging) and can profile the heap on request.
#[cfg(feature = "jemalloc")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's start-up options: heap profiling compiled in but inactive until asked for
/// (sampling every 512 KiB once active), background threads purging dirty pages after 2 s.
#[cfg(feature = "jemalloc")]
#[allow(non_upper_case_globals)]
#[unsafe(export_name = "malloc_conf")]
pub static malloc_conf: &[u8] =
    b"prof:true,prof_active:false,lg_prof_sample:19,background_thread:true,dirty_decay_ms:2000,muzzy_decay_ms:2000\0";

fn main() -> ExitCode {
    let cli = image_server::cli::Cli::parse_args();
    match image_server::run::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(exit) => {
            eprintln!("image-server: {}", exit.message);
            ExitCode::from(exit.code)
        }
    }
}

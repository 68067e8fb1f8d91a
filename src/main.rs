//! The `image-server` binary: the allocator, the command line, and a hand-over to the library.

use std::process::ExitCode;

/// jemalloc for everything, the C codecs included: it returns memory after the spikes of large
/// decodes (background purging) and can profile the heap on request.
#[cfg(feature = "jemalloc")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's start-up options: heap profiling compiled in but inactive until asked for
/// (sampling every 512 KiB once active), background threads purging dirty pages after 2 s, and
/// allocations of 32 MiB or more (the pixels of a large image, a codec's planes) in an arena of
/// their own, which [`purge_large_frees_at_once`] purges without delay.
#[cfg(feature = "jemalloc")]
#[allow(non_upper_case_globals)]
#[unsafe(export_name = "malloc_conf")]
pub static malloc_conf: &[u8] = b"prof:true,prof_active:false,lg_prof_sample:19,background_thread:true,\
dirty_decay_ms:2000,muzzy_decay_ms:2000,oversize_threshold:33554432\0";

/// With background threads, jemalloc purges its arena of large allocations on the same 2 s decay
/// as the others, so a buffer a render frees halfway (a decoder's own copy of the image, our
/// bitmap once an encoder has the pixels in its planes) stays resident to the end of the render
/// and beyond: the render's peak is the sum of its buffers, not the most it holds at once
/// (DESIGN.md §9). Purged at once, a large buffer leaves the process when it is freed. Below
/// 32 MiB (a working copy's pixels) freed memory stays on the decay, ready for the next render.
#[cfg(feature = "jemalloc")]
fn purge_large_frees_at_once() -> Result<(), String> {
    use std::ffi::{CString, c_char, c_void};
    use std::mem::size_of;
    use std::ptr::null_mut;

    use tikv_jemalloc_sys::mallctl;

    // The arena is made by the first allocation at the threshold (zeroed, so no page of it is
    // touched), at the index jemalloc keeps for it after its automatic arenas: the last one while
    // nothing has made arenas of its own.
    drop(std::hint::black_box(vec![0u8; 32 << 20]));
    let mut arenas: u32 = 0;
    let mut len = size_of::<u32>();
    // SAFETY: `arenas.narenas` is an unsigned read into a u32 of `len` bytes.
    let status = unsafe { mallctl(c"arenas.narenas".as_ptr(), (&raw mut arenas).cast(), &mut len, null_mut(), 0) };
    if status != 0 || arenas == 0 {
        return Err(format!("arenas.narenas: error {status}"));
    }
    let index = arenas - 1;
    let key = |name: &str| CString::new(format!("arena.{index}.{name}")).expect("no NUL");
    let mut name = [0u8; 32];
    let mut name_ptr: *mut c_char = name.as_mut_ptr().cast();
    let mut len = size_of::<*mut c_char>();
    // SAFETY: an arena's name is read through a pointer to a buffer of at least 32 bytes
    // (ARENA_NAME_LEN), which jemalloc fills with a NUL-terminated name.
    let status = unsafe { mallctl(key("name").as_ptr(), (&raw mut name_ptr).cast(), &mut len, null_mut(), 0) };
    let name = std::ffi::CStr::from_bytes_until_nul(&name).map(|n| n.to_string_lossy().into_owned());
    if status != 0 || name.as_deref() != Ok("auto_oversize") {
        return Err(format!("arena {index} is not the arena of large allocations ({name:?}, error {status})"));
    }
    for decay in ["dirty_decay_ms", "muzzy_decay_ms"] {
        let mut ms: isize = 0;
        // SAFETY: a decay time is written as an ssize_t of its size.
        let status = unsafe {
            mallctl(key(decay).as_ptr(), null_mut(), null_mut(), (&raw mut ms).cast::<c_void>(), size_of::<isize>())
        };
        if status != 0 {
            return Err(format!("arena.{index}.{decay}: error {status}"));
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    #[cfg(feature = "jemalloc")]
    if let Err(e) = purge_large_frees_at_once() {
        eprintln!("image-server: large allocations keep jemalloc's decay: {e}");
    }
    let cli = image_server::cli::Cli::parse_args();
    match image_server::run::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(exit) => {
            eprintln!("image-server: {}", exit.message);
            ExitCode::from(exit.code)
        }
    }
}

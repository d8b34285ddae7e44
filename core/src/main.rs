//! The `sannong` command: CLI entry point.
//!
//! Parses arguments (see [`cli`]), runs the command on a Tokio runtime and prints any
//! error as one readable line with a non-zero exit code — never a panic message or a
//! backtrace.

mod cli;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of the C library's allocator: DataFusion's planning and the upload
/// path's parsing make many small, short-lived allocations, which glibc's malloc serves
/// several times slower (its consolidation and free lists stood out in profiles of both).
/// Built without transparent huge pages (`no_thp`): with them, a one-shot upload of 1,000
/// rows touched 300 MB instead of 150.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay`: how long freed memory is kept before it goes back
/// to the system.
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

#[allow(unsafe_code)]
mod allocator_options {
    unsafe extern "C" {
        /// mimalloc's own setter of its options (linked in with the allocator).
        pub fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
    }
}

/// Freed memory goes back to the system after 10 ms, not mimalloc 3's default of a
/// second. A large upload is read, checked and written a block at a time, each block's
/// memory freed a few tenths of a second after it was taken: held for a second, the
/// freed blocks piled up and the peak grew with the file (841 MB for four million
/// parcels; 424 MB with 10 ms, as for one million). `MIMALLOC_PURGE_DELAY` still wins.
fn return_freed_memory_soon() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: a documented option of the allocator in use, set before any thread starts.
    #[allow(unsafe_code)]
    unsafe {
        allocator_options::mi_option_set(MI_OPTION_PURGE_DELAY, 10);
    }
}

fn main() -> ExitCode {
    return_freed_memory_soon();
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        eprintln!("error: internal error{location}: {message} (please report this)");
    }));
    let args = cli::Cli::parse();
    cli::init_logging(args.verbose, args.serving(), args.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", sannong_catalog::one_line(&format!("{e:#}")));
            ExitCode::FAILURE
        }
    }
}

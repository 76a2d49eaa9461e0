//! The `baton` binary: everything lives in the library; this only sets the exit code.

fn main() {
    // Errors inside the WebAssembly runtime capture a host backtrace when RUST_BACKTRACE is
    // set, and some of them reach the guest as text (e.g. a failed HTTP body stream): keep
    // host internals out of plugins, and the cost out of every error, unless asked for.
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        // SAFETY: no other thread exists yet.
        unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "0") };
    }
    std::process::exit(baton::cli::main());
}

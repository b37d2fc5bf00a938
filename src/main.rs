use clap::Parser;

fn main() {
    // Before any thread starts (setting the environment is only sound then).
    stepscope::model::fix_thread_count();
    // Errors are for users: RUST_BACKTRACE=1 (kept for panics) must not turn every library
    // error into a page of frames. RUST_LIB_BACKTRACE=1 still asks for them.
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        std::env::set_var("RUST_LIB_BACKTRACE", "0");
    }
    stepscope::model::keep_freed_memory();
    let cli = stepscope::cli::Cli::parse();
    std::process::exit(stepscope::cli::run(cli));
}

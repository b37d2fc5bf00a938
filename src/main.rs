use clap::Parser;

fn main() {
    // Before any thread starts (setting the environment is only sound then).
    stepscope::model::fix_thread_count();
    stepscope::model::keep_freed_memory();
    let cli = stepscope::cli::Cli::parse();
    std::process::exit(stepscope::cli::run(cli));
}

use clap::Parser;

fn main() {
    let cli = stepscope::cli::Cli::parse();
    std::process::exit(stepscope::cli::run(cli));
}

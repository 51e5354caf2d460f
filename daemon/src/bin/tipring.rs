//! `tipring`: the Tipring command-line tool.

fn main() {
    std::process::exit(tipringd::cli::run());
}

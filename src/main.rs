//! The `tenantops` binary: parses the command line and exits with the library's code.

fn main() {
    std::process::exit(tenantops::cli::main());
}

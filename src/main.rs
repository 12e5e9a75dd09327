//! The `tenantops` binary: parses the command line and exits with the library's code.

/// mimalloc instead of the system allocator: rendering a large fleet builds and drops
/// millions of small JSON nodes on several threads, where glibc's allocator spent a
/// third of the time in `malloc` (measured with perf on a 10,000-tenant render).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(tenantops::cli::main());
}

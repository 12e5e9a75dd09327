//! Writes a synthetic fleet: `cargo run --example synth -- DIR N` (N tenants across the example tiers, with their lock).

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(n)) = (
        args.next(),
        args.next().and_then(|n| n.parse::<usize>().ok()),
    ) else {
        eprintln!("usage: synth DIR N");
        std::process::exit(2);
    };
    if let Err(e) = tenantops::synth::write_fleet(std::path::Path::new(&dir), n) {
        eprintln!("error: cannot write the fleet: {e}");
        std::process::exit(10);
    }
}

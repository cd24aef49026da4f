//! Empty: it exists so that the build-dependencies in `Cargo.toml` are resolved (see there).
fn main() {}

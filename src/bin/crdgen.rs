//! Writes the CRDs to `crds/` (or the directory given as the first argument).

use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/crds")));
    std::fs::create_dir_all(&dir)?;
    for (file, crd) in hipaa_operator::api::crds() {
        std::fs::write(dir.join(file), hipaa_operator::api::crd_yaml(&crd)?)?;
    }
    Ok(())
}

//! Writes the CRDs to `crds/` and the Helm chart's `charts/hipaa-operator/crds/` (or only to the
//! directory given as the first argument).

use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dirs = match std::env::args().nth(1) {
        Some(dir) => vec![PathBuf::from(dir)],
        None => vec![root.join("crds"), root.join("charts/hipaa-operator/crds")],
    };
    for dir in dirs {
        std::fs::create_dir_all(&dir)?;
        for (file, crd) in hipaa_operator::api::crds() {
            std::fs::write(dir.join(file), hipaa_operator::api::crd_yaml(&crd)?)?;
        }
    }
    Ok(())
}

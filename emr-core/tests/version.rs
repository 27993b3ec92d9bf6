//! One version everywhere: `emr_core::VERSION` is the workspace's
//! (`[workspace.package] version` in the repository's Cargo.toml), the one
//! the bindings and the command line report too.

use std::path::Path;

/// The `version = "..."` line of `section` in a Cargo manifest.
fn manifest_version(manifest: &str, section: &str) -> Option<String> {
    let mut in_section = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_section = line == section;
        } else if in_section {
            if let Some(value) = line.strip_prefix("version") {
                let value = value.trim_start().strip_prefix('=')?.trim();
                return Some(value.strip_prefix('"')?.strip_suffix('"')?.to_owned());
            }
        }
    }
    None
}

#[test]
fn version_is_the_workspace_version() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workspace = std::fs::read_to_string(crate_dir.join("../Cargo.toml")).expect("the workspace's Cargo.toml");
    let expected = manifest_version(&workspace, "[workspace.package]").expect("[workspace.package] version");
    assert_eq!(emr_core::VERSION, expected);
    let parts: Vec<&str> = expected.split('.').collect();
    assert!(parts.len() == 3 && parts.iter().all(|p| p.parse::<u32>().is_ok()), "MAJOR.MINOR.PATCH: {expected}");
}

#[test]
fn manifest_version_reads_only_its_section() {
    let manifest = "[package]\nversion = \"9.9.9\"\n[workspace.package]\nedition = \"2021\"\nversion = \"1.2.3\"\n";
    assert_eq!(manifest_version(manifest, "[workspace.package]").as_deref(), Some("1.2.3"));
    assert_eq!(manifest_version(manifest, "[package]").as_deref(), Some("9.9.9"));
    assert_eq!(manifest_version("[workspace]\nmembers = []\n", "[workspace.package]"), None);
}

//! The fixture corpus: every invalid manifest reports exactly the diagnostics its
//! header expects, at the lines it names; every valid one reports no error.

use crate::support::{self, Case, cases, render_all};

fn check(case: &Case) -> Result<(), String> {
    let outcome = case.load();
    let found = case.found(&outcome);
    if found == case.expect {
        Ok(())
    } else {
        Err(format!(
            "{}\n  expected: {:#?}\n  found:    {:#?}\n{}",
            case.path.display(),
            case.expect,
            found,
            render_all(&outcome.diagnostics)
        ))
    }
}

#[test]
fn invalid_manifests_report_their_codes_at_their_lines() {
    let cases = cases("invalid");
    for case in &cases {
        assert!(
            !case.expect.is_empty(),
            "{} declares no `# expect:`",
            case.path.display()
        );
    }
    let failures: Vec<String> = cases.iter().filter_map(|c| check(c).err()).collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    assert!(
        cases.len() >= 50,
        "the corpus has {} invalid manifests; keep at least 50",
        cases.len()
    );
}

#[test]
fn invalid_manifests_never_yield_a_manifest() {
    for case in cases("invalid") {
        let outcome = case.load();
        if outcome.has_errors() {
            assert!(outcome.manifest.is_none(), "{}", case.path.display());
        }
    }
}

#[test]
fn valid_manifests_report_only_what_they_expect() {
    let cases = cases("valid");
    assert!(!cases.is_empty());
    let failures: Vec<String> = cases.iter().filter_map(|c| check(c).err()).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    for case in cases {
        assert!(
            case.load().manifest.is_some(),
            "{} did not validate",
            case.path.display()
        );
    }
}

#[test]
fn rendered_diagnostics_match_snapshots() {
    for case in cases("invalid") {
        let outcome = case.load();
        let name = case
            .path
            .strip_prefix(support::fixtures().join("invalid"))
            .unwrap()
            .with_extension("")
            .to_string_lossy()
            .replace(['/', '\\'], "__");
        insta::with_settings!({ snapshot_path => "snapshots/corpus", prepend_module_to_snapshot => false, omit_expression => true }, {
            insta::assert_snapshot!(name, render_all(&outcome.diagnostics));
        });
    }
}

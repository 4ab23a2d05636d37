use std::process::Command;

fn keyward() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keyward"));
    // Run where no .env can leak in, with no inherited Keyward settings.
    cmd.current_dir(tempfile::tempdir().unwrap().keep());
    for (k, _) in std::env::vars() {
        if k.starts_with("KEYWARD_") || k == "DATABASE_URL" {
            cmd.env_remove(k);
        }
    }
    cmd
}

#[test]
fn invalid_configuration_stops_with_exit_2_and_one_line_naming_the_setting() {
    let cases = [
        ("KEYWARD_LISTEN", "not-an-address", "a socket address"),
        ("KEYWARD_RATE_LIMIT_PER_MINUTE", "-5", "whole number"),
        ("KEYWARD_CORS_ORIGINS", "*", "origins"),
        ("KEYWARD_TRUSTED_PROXIES", "10.0.0.0/99", "CIDR"),
        ("KEYWARD_LOG_FORMAT", "xml", "pretty or json"),
        ("KEYWARD_PUBLIC_URL", "not a url", "URL"),
    ];
    for (var, value, expected) in cases {
        let out = keyward().arg("serve").env(var, value).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{var}={value}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains(var) && stderr.contains(value) && stderr.contains(expected),
            "{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn the_committed_spec_is_what_the_code_generates() {
    let out = keyward()
        .arg("openapi")
        .env("KEYWARD_LISTEN", "garbage")
        .output()
        .unwrap();
    assert!(out.status.success(), "openapi reads no configuration");
    let generated = String::from_utf8(out.stdout).unwrap();
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json"))
            .unwrap();
    assert!(
        generated.trim() == committed.trim(),
        "openapi/openapi.json is stale: run `cargo run -q -- openapi > openapi/openapi.json` and regenerate the client"
    );
}

#[test]
fn migrate_creates_the_schema_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/m.db?mode=rwc", dir.path().display());
    let out = keyward()
        .arg("migrate")
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("m.db").exists());
}

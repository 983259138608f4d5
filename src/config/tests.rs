//! Unit tests of the assembled configuration (the layering itself is tested
//! end to end in `tests/config_layers.rs`).

use std::path::Path;

use super::*;

#[test]
fn debug_hides_secrets() {
    let c = Config {
        database_url: Some("postgres://u:hunter2@h/d".into()),
        ws_url: Some("wss://u:wspass@hub/x".into()),
        ws_token: Some("tok123".into()),
        ..Config::default()
    };
    let s = format!("{c:?}");
    assert!(
        !s.contains("hunter2") && !s.contains("tok123") && !s.contains("wspass"),
        "{s}"
    );
    assert!(
        s.contains("window: 900s") && s.contains("ws_token: Some(\"***\")"),
        "{s}"
    );
    let f = Flags::default().with("database_url", "postgres://u:hunter2@h/d");
    assert!(!format!("{f:?}").contains("hunter2"));
}

#[test]
fn type_error_names_key() {
    let e = load_from(
        &Flags::default(),
        Some((Path::new("/c.toml"), "window = 15\n")),
    )
    .unwrap_err();
    let s = e.to_string();
    assert!(
        s.starts_with("invalid value for \"window\" in /c.toml:"),
        "{s}"
    );
    assert!(s.contains("durations are quoted"), "{s}");
    let e = load_from(
        &Flags::default(),
        Some((
            Path::new("/c.toml"),
            "[thresholds]\ndown_consecutive_failures = -1\n",
        )),
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("\"thresholds.down_consecutive_failures\""),
        "{e}"
    );
    let e = load_from(
        &Flags::default(),
        Some((Path::new("/c.toml"), "database_url = 5\n")),
    )
    .unwrap_err();
    assert!(e.to_string().contains("\"database_url\""), "{e}");
}

#[test]
fn flags_beat_the_file() {
    let flags = Flags::default().with("window", "1h").with("ascii", "false");
    let c = load_from(
        &flags,
        Some((
            Path::new("/c.toml"),
            "window = \"2h\"\nascii = true\nlocal_time = true\n",
        )),
    )
    .unwrap();
    assert_eq!(c.window, std::time::Duration::from_secs(3600));
    assert!(!c.ascii && c.local_time);
}

#[test]
fn every_row_is_well_formed() {
    let mut seen = std::collections::HashSet::new();
    for s in SETTINGS {
        assert!(seen.insert(s.flag), "flag --{} twice", s.flag);
        assert!(!s.help_text().is_empty(), "{} has no help", s.field);
        assert!(
            s.env
                .is_none_or(|e| e == "DATABASE_URL" || e.starts_with("JFMON_")),
            "{:?}",
            s.env
        );
    }
}

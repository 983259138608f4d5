//! Integration tests of configuration layering: defaults < file < environment
//! < flags, validation messages, unknown keys, NO_COLOR and file discovery.
//!
//! clap reads environment variables while parsing, so every test runs its
//! body in a child process (this test binary re-executed for just that test)
//! with all of jfmon's variables removed and only the ones the test names
//! set. No test touches the parent's environment, so they can run in parallel.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use clap::Parser;
use jfmon::cli::{Cli, GlobalArgs};
use jfmon::config::{Config, ConfigError, Thresholds, load, load_from};

const CHILD_MARK: &str = "JFMON_CONFIG_LAYERS_CHILD";

/// Every variable that can influence configuration.
const VARS: &[&str] = &[
    "DATABASE_URL",
    "JFMON_CONFIG",
    "JFMON_WINDOW",
    "JFMON_INTERVAL",
    "JFMON_ENV",
    "JFMON_READ_ONLY",
    "JFMON_WS",
    "JFMON_WS_TOKEN",
    "JFMON_LOG_FILE",
    "JFMON_STATEMENT_TIMEOUT",
    "JFMON_DB_TIMEZONE",
    "JFMON_IDLE_TIMEOUT",
    "NO_COLOR",
    "XDG_CONFIG_HOME",
];

/// Run `body` in a child process whose environment has none of [`VARS`]
/// except those in `env`. `test` must be the test function's name.
fn in_clean_env(test: &str, env: &[(&str, &str)], body: impl FnOnce()) {
    if std::env::var(CHILD_MARK).as_deref() == Ok(test) {
        body();
        return;
    }
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"]);
    for v in VARS {
        cmd.env_remove(v);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.env(CHILD_MARK, test);
    let out = cmd.output().expect("re-run the test binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "child test {test} failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("1 passed"),
        "child did not run {test}:\n{stdout}\n{stderr}"
    );
}

fn args(argv: &[&str]) -> GlobalArgs {
    let mut full = vec!["jfmon"];
    full.extend_from_slice(argv);
    Cli::try_parse_from(full).expect("arguments parse").global
}

const FILE: &str = "/etc/jfmon/config.toml";

fn with_file(global: &GlobalArgs, text: &str) -> Result<Config, ConfigError> {
    load_from(global, Some((Path::new(FILE), text)))
}

const SAMPLE: &str = r#"
database_url = "postgres://bob:hunter2@db.internal:5432/jyotiflow"
environment = "staging"
window = "30m"
interval = "5s"
statement_timeout = "10s"
db_timezone = "Asia/Kolkata"
idle_timeout = "45m"
read_only = true
local_time = true
ascii = true
log_file = "/var/log/jfmon.log"

[thresholds]
healthy_success = 0.99
down_success = 0.9
down_consecutive_failures = 3
latency_degraded_p95_ms = 1500

[stream]
url = "wss://hub.example.com:10000"
token = "file-token"
"#;

#[test]
fn defaults_only() {
    in_clean_env("defaults_only", &[], || {
        let c = load_from(&args(&[]), None).unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.environment, "production");
        assert_eq!(c.window, Duration::from_secs(900));
        assert_eq!(c.interval, Duration::from_secs(2));
        assert_eq!(c.statement_timeout, Duration::from_secs(5));
        assert_eq!(c.idle_timeout, Duration::from_secs(1800));
        assert_eq!(c.thresholds, Thresholds::default());
        assert_eq!(c.thresholds.healthy_success, 0.95);
        assert_eq!(c.thresholds.down_success, 0.80);
        assert_eq!(c.thresholds.down_consecutive_failures, 5);
        assert_eq!(c.thresholds.latency_degraded_p95_ms, None);
        assert!(c.database_url.is_none() && c.config_path.is_none());
        assert!(!c.read_only && !c.no_color && !c.ascii && !c.local_time);
    });
}

#[test]
fn file_overrides_defaults() {
    in_clean_env("file_overrides_defaults", &[], || {
        let c = with_file(&args(&[]), SAMPLE).unwrap();
        assert_eq!(
            c.database_url.as_deref(),
            Some("postgres://bob:hunter2@db.internal:5432/jyotiflow")
        );
        assert_eq!(c.environment, "staging");
        assert_eq!(c.window, Duration::from_secs(1800));
        assert_eq!(c.interval, Duration::from_secs(5));
        assert_eq!(c.statement_timeout, Duration::from_secs(10));
        assert_eq!(c.db_timezone.as_deref(), Some("Asia/Kolkata"));
        assert_eq!(c.idle_timeout, Duration::from_secs(2700));
        assert!(c.read_only && c.local_time && c.ascii && !c.no_color);
        assert_eq!(c.log_file, Some(PathBuf::from("/var/log/jfmon.log")));
        assert_eq!(
            c.thresholds,
            Thresholds {
                healthy_success: 0.99,
                down_success: 0.9,
                down_consecutive_failures: 3,
                latency_degraded_p95_ms: Some(1500.0),
            }
        );
        assert_eq!(c.ws_url.as_deref(), Some("wss://hub.example.com:10000"));
        assert_eq!(c.ws_token.as_deref(), Some("file-token"));
        assert_eq!(c.config_path, Some(PathBuf::from(FILE)));
        // Debug output never shows the secrets.
        let dbg = format!("{c:?}");
        assert!(
            !dbg.contains("hunter2") && !dbg.contains("file-token"),
            "{dbg}"
        );
    });
}

#[test]
fn absent_flags_do_not_override_the_file() {
    in_clean_env("absent_flags_do_not_override_the_file", &[], || {
        let file = "read_only = true\nascii = true\nlocal_time = true\nno_color = true\n";
        let c = with_file(&args(&["check"]), file).unwrap();
        assert!(c.read_only && c.ascii && c.local_time && c.no_color);
        // An explicit false flag does override.
        let c = with_file(&args(&["--read-only=false", "--no-color=false"]), file).unwrap();
        assert!(!c.read_only && !c.no_color && c.ascii);
    });
}

/// `no_mouse = true` in the file turns the mouse off for the dashboard and
/// the demo; an explicit `--no-mouse=false` turns it back on.
#[test]
fn no_mouse_from_the_file() {
    in_clean_env("no_mouse_from_the_file", &[], || {
        let file = "no_mouse = true\n";
        assert!(!with_file(&args(&[]), "").unwrap().no_mouse);
        for argv in [&[][..], &["demo"][..]] {
            assert!(with_file(&args(argv), file).unwrap().no_mouse, "{argv:?}");
        }
        assert!(
            !with_file(&args(&["--no-mouse=false"]), file)
                .unwrap()
                .no_mouse
        );
    });
}

#[test]
fn env_overrides_file() {
    in_clean_env(
        "env_overrides_file",
        &[
            ("JFMON_WINDOW", "1h"),
            ("JFMON_ENV", "canary"),
            ("JFMON_READ_ONLY", "false"),
            ("DATABASE_URL", "postgres://env@envhost/envdb"),
            ("JFMON_WS_TOKEN", "env-token"),
        ],
        || {
            let c = with_file(&args(&[]), SAMPLE).unwrap();
            assert_eq!(c.window, Duration::from_secs(3600));
            assert_eq!(c.environment, "canary");
            assert!(!c.read_only);
            assert_eq!(
                c.database_url.as_deref(),
                Some("postgres://env@envhost/envdb")
            );
            assert_eq!(c.ws_token.as_deref(), Some("env-token"));
            // Untouched keys still come from the file.
            assert_eq!(c.interval, Duration::from_secs(5));
        },
    );
}

#[test]
fn flag_overrides_env_and_file() {
    in_clean_env(
        "flag_overrides_env_and_file",
        &[
            ("JFMON_WINDOW", "1h"),
            ("JFMON_INTERVAL", "10s"),
            ("JFMON_READ_ONLY", "true"),
        ],
        || {
            let c = with_file(
                // (the dashboard: `snapshot` takes neither --env-name nor --read-only)
                &args(&[
                    "--window",
                    "2h",
                    "--env-name",
                    "flagged",
                    "--read-only=false",
                ]),
                SAMPLE,
            )
            .unwrap();
            assert_eq!(c.window, Duration::from_secs(7200));
            assert_eq!(c.environment, "flagged");
            assert!(!c.read_only);
            assert_eq!(c.interval, Duration::from_secs(10)); // env, no flag
            assert_eq!(c.statement_timeout, Duration::from_secs(10)); // file
        },
    );
}

#[test]
fn invalid_file_value_names_key_and_path() {
    in_clean_env("invalid_file_value_names_key_and_path", &[], || {
        let e = with_file(&args(&[]), "window = \"abc\"\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid value for \"window\" in /etc/jfmon/config.toml: \"abc\" is not a duration (use e.g. 15m, 1h)"
        );
        let e = with_file(&args(&[]), "interval = \"10m\"\n").unwrap_err();
        assert!(
            e.to_string().starts_with(
                "invalid value for \"interval\" in /etc/jfmon/config.toml: 10m is out of range"
            ),
            "{e}"
        );
        let e = with_file(&args(&[]), "[thresholds]\nhealthy_success = 1.5\n").unwrap_err();
        assert!(
            e.to_string().starts_with(
                "invalid value for \"thresholds.healthy_success\" in /etc/jfmon/config.toml"
            ),
            "{e}"
        );
        let e = with_file(&args(&[]), "[stream]\nurl = \"https://hub\"\n").unwrap_err();
        assert!(e.to_string().contains("\"stream.url\""), "{e}");
        let e = with_file(
            &args(&[]),
            "[thresholds]\nhealthy_success = 0.8\ndown_success = 0.9\n",
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("down_success") && e.to_string().contains("healthy_success"),
            "{e}"
        );
        // Wrong TOML type: still names the key.
        let e = with_file(&args(&[]), "read_only = \"yes\"\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("invalid value for \"read_only\" in /etc/jfmon/config.toml"),
            "{e}"
        );
        assert!(!e.to_string().contains('\n'));
    });
}

#[test]
fn invalid_flag_value_names_the_flag() {
    in_clean_env("invalid_flag_value_names_the_flag", &[], || {
        let e = load_from(&args(&["--window", "abc"]), None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid value for --window (or $JFMON_WINDOW): \"abc\" is not a duration (use e.g. 15m, 1h)"
        );
        let e = load_from(&args(&["--interval", "1m", "--window", "1m"]), None).unwrap_err();
        assert!(e.to_string().contains("shorter than the window"), "{e}");
        let e = load_from(&args(&["--ws", "http://hub"]), None).unwrap_err();
        assert!(e.to_string().contains("ws:// or wss://"), "{e}");
    });
}

#[test]
fn database_url_errors_hide_the_password() {
    in_clean_env("database_url_errors_hide_the_password", &[], || {
        for url in [
            "mysql://bob:hunter2@host/db",
            "postgres://bob:hunter2@host:notaport/db",
            "postgres://bob:hunter2@[::1/db",
        ] {
            let e = load_from(&args(&["--database-url", url]), None).unwrap_err();
            let s = e.to_string();
            assert!(s.starts_with("invalid value for --database-url"), "{s}");
            assert!(!s.contains("hunter2"), "{s}");
        }
        let e = with_file(&args(&[]), "database_url = \"mysql://bob:hunter2@h/d\"\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("invalid value for \"database_url\" in /etc/jfmon/config.toml"),
            "{e}"
        );
        assert!(!e.to_string().contains("hunter2"));
        let c = load_from(&args(&["--database-url", "postgresql://u@h/d"]), None).unwrap();
        assert_eq!(c.database_url.as_deref(), Some("postgresql://u@h/d"));
    });
}

#[test]
fn unknown_key_rejected() {
    in_clean_env("unknown_key_rejected", &[], || {
        let e = with_file(&args(&[]), "environment = \"x\"\nwindw = \"15m\"\n").unwrap_err();
        assert!(matches!(e, ConfigError::UnknownKey { .. }), "{e:?}");
        let s = e.to_string();
        assert!(
            s.starts_with("unknown key \"windw\" in /etc/jfmon/config.toml line 2"),
            "{s}"
        );
        let e = with_file(&args(&[]), "[thresholds]\nhealthy = 0.9\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("unknown key \"thresholds.healthy\""),
            "{e}"
        );
        let e = with_file(&args(&[]), "[streams]\nurl = \"wss://x\"\n").unwrap_err();
        assert!(e.to_string().starts_with("unknown key \"streams\""), "{e}");
    });
}

#[test]
fn no_color_env_set() {
    in_clean_env("no_color_env_set", &[("NO_COLOR", "0")], || {
        // Any non-empty value disables colour, even "0", and beats the file...
        let c = with_file(&args(&[]), "no_color = false\n").unwrap();
        assert!(c.no_color);
        // ...but an explicit flag wins.
        let c = load_from(&args(&["--no-color=false"]), None).unwrap();
        assert!(!c.no_color);
    });
}

#[test]
fn no_color_env_empty() {
    in_clean_env("no_color_env_empty", &[("NO_COLOR", "")], || {
        assert!(!load_from(&args(&[]), None).unwrap().no_color);
        assert!(with_file(&args(&[]), "no_color = true\n").unwrap().no_color);
        assert!(load_from(&args(&["--no-color"]), None).unwrap().no_color);
    });
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("jfmon-config-layers-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn load_reads_files() {
    // Parent side: prepare the files, then hand their locations to the child.
    let dir = if std::env::var(CHILD_MARK).is_ok() {
        PathBuf::from(std::env::var("JFMON_TEST_DIR").unwrap())
    } else {
        let d = temp_dir("load");
        std::fs::create_dir_all(d.join("xdg/jfmon")).unwrap();
        std::fs::write(
            d.join("xdg/jfmon/config.toml"),
            "environment = \"from-default-path\"\n",
        )
        .unwrap();
        std::fs::write(d.join("explicit.toml"), "environment = \"from-explicit\"\n").unwrap();
        std::fs::create_dir_all(d.join("empty-xdg")).unwrap();
        d
    };
    let xdg = dir.join("xdg");
    let dir_s = dir.to_string_lossy().into_owned();
    let xdg_s = xdg.to_string_lossy().into_owned();
    in_clean_env(
        "load_reads_files",
        &[("XDG_CONFIG_HOME", &xdg_s), ("JFMON_TEST_DIR", &dir_s)],
        || {
            // The default path is found through XDG_CONFIG_HOME.
            let c = load(&args(&[])).unwrap();
            assert_eq!(c.environment, "from-default-path");
            assert_eq!(c.config_path, Some(xdg.join("jfmon/config.toml")));
            // --config wins over the default path.
            let explicit = dir.join("explicit.toml");
            let c = load(&args(&["--config", explicit.to_str().unwrap()])).unwrap();
            assert_eq!(c.environment, "from-explicit");
            assert_eq!(c.config_path, Some(explicit));
            // A missing explicit file is an error naming it.
            let missing = dir.join("missing.toml");
            let e = load(&args(&["--config", missing.to_str().unwrap()])).unwrap_err();
            assert!(matches!(e, ConfigError::Read { .. }), "{e:?}");
            assert!(e.to_string().contains("missing.toml"), "{e}");
        },
    );
    if std::env::var(CHILD_MARK).is_err() {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn missing_default_file_is_skipped() {
    let dir = temp_dir("nofile");
    let dir_s = dir.to_string_lossy().into_owned();
    in_clean_env(
        "missing_default_file_is_skipped",
        &[("XDG_CONFIG_HOME", &dir_s)],
        || {
            let c = load(&args(&[])).unwrap();
            assert_eq!(c, Config::default());
        },
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The example file parses and documents the defaults: uncommenting every
/// `# key = value` line changes nothing but the keys without a default.
#[test]
fn example_file_documents_the_defaults() {
    in_clean_env("example_file_documents_the_defaults", &[], || {
        let text = include_str!("../assets/jfmon.example.toml");
        assert_eq!(
            with_file(&args(&[]), text).unwrap(),
            Config {
                config_path: Some(FILE.into()),
                ..Config::default()
            }
        );
        let uncommented: String = text
            .lines()
            .map(|l| match l.strip_prefix("# ") {
                // The example rules file is read at load and does not exist here.
                Some(rest) if rest.starts_with("rules_file ") => l,
                Some(rest) if rest.contains(" = ") && !rest.contains("  ") => rest,
                // `# [[notify]]`: an array entry is commented out whole.
                Some(rest) if rest.starts_with("[[") => rest,
                _ => l,
            })
            .collect::<Vec<_>>()
            .join("\n");
        let c = with_file(&args(&[]), &uncommented).unwrap();
        let expected = Config {
            database_url: c.database_url.clone(),
            db_timezone: c.db_timezone.clone(),
            log_file: c.log_file.clone(),
            ws_url: c.ws_url.clone(),
            ws_token: c.ws_token.clone(),
            ws_token_file: c.ws_token_file.clone(),
            ws_ca_file: c.ws_ca_file.clone(),
            thresholds: Thresholds {
                latency_degraded_p95_ms: c.thresholds.latency_degraded_p95_ms,
                ..Thresholds::default()
            },
            notify: c.notify.clone(),
            // The example's inline rules are examples, not defaults: one is turned off.
            rules: c.rules.clone(),
            config_path: Some(FILE.into()),
            ..Config::default()
        };
        assert_eq!(c.rules.len() + 1, jfmon::rules::RuleSet::defaults().len());
        assert_eq!(c, expected);
        // The example's receiver has the defaults but for kind and url.
        let r = &c.notify[..];
        assert_eq!(r.len(), 1);
        let mut d = jfmon::notify::Receiver::new("ops-webhook", r[0].kind, r[0].url.clone());
        d.name = r[0].name.clone();
        assert_eq!(r[0], d);
        // Every key really was uncommented.
        assert!(c.database_url.is_some() && c.db_timezone.is_some() && c.log_file.is_some());
        assert!(
            c.ws_url.is_some()
                && c.ws_token.is_some()
                && c.ws_token_file.is_some()
                && c.ws_ca_file.is_some()
                && c.thresholds.latency_degraded_p95_ms.is_some()
        );
    });
}

//! `jfmon completions <shell>` and `jfmon man` are generated from the clap
//! definition (issue 12 §4): the bash script really completes subcommands and
//! each subcommand's own options, the other shells' scripts name them, and the
//! man page renders without warnings with a page per subcommand. Neither
//! reads the configuration.

use std::process::{Command, Output};

fn jfmon(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_jfmon"))
        .args(args)
        .env_remove("DATABASE_URL")
        // A broken setting must not matter: nothing here loads the configuration.
        .env("JFMON_WINDOW", "not-a-duration")
        .env("XDG_CONFIG_HOME", "/nonexistent-jfmon-test")
        .output()
        .expect("run jfmon")
}

fn stdout_of(args: &[&str]) -> String {
    let out = jfmon(args);
    assert!(
        out.status.success(),
        "jfmon {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// What bash completes for `words` (the last one being completed).
fn bash_complete(script: &str, words: &[&str]) -> Vec<String> {
    let dir = std::env::temp_dir().join(format!("jfmon-compl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("jfmon.bash");
    std::fs::write(&file, script).unwrap();
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let prev = if words.len() >= 2 {
        words[words.len() - 2]
    } else {
        ""
    };
    let program = format!(
        "source '{}'; COMP_WORDS=({}); COMP_CWORD={}; COMP_LINE='{}'; COMP_POINT=${{#COMP_LINE}}; \
         _jfmon jfmon '{}' '{}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        file.display(),
        quoted.join(" "),
        words.len() - 1,
        words.join(" "),
        words.last().unwrap(),
        prev
    );
    let out = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &program])
        .output()
        .expect("run bash");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "bash: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn bash_completes_subcommands_and_their_own_options() {
    let script = stdout_of(&["completions", "bash"]);
    assert_eq!(bash_complete(&script, &["jfmon", "sim"]), ["simulate"]);
    let opts = bash_complete(&script, &["jfmon", "simulate", "--"]);
    for want in [
        "--rate",
        "--statement-timeout",
        "--read-only",
        "--database-url",
    ] {
        assert!(opts.iter().any(|o| o == want), "{want} in {opts:?}");
    }
    for unwanted in ["--ascii", "--no-color", "--ws", "--idle-timeout"] {
        assert!(
            !opts.iter().any(|o| o == unwanted),
            "{unwanted} in {opts:?}"
        );
    }
    let shells = bash_complete(&script, &["jfmon", "completions", ""]);
    for want in ["bash", "zsh", "fish"] {
        assert!(shells.iter().any(|o| o == want), "{want} in {shells:?}");
    }
}

#[test]
fn zsh_and_fish_scripts_name_the_options() {
    let zsh = stdout_of(&["completions", "zsh"]);
    assert!(zsh.starts_with("#compdef jfmon"), "{}", &zsh[..80]);
    assert!(zsh.contains("--statement-timeout") && zsh.contains("simulate"));
    let fish = stdout_of(&["completions", "fish"]);
    assert!(fish.contains("complete -c jfmon"), "{}", &fish[..200]);
    let simulate_line = fish
        .lines()
        .find(|l| l.contains("subcommand simulate") && l.contains("-l statement-timeout"));
    assert!(
        simulate_line.is_some(),
        "fish: simulate --statement-timeout"
    );
    assert!(
        !fish
            .lines()
            .any(|l| l.contains("subcommand simulate") && l.contains("-l ascii")),
        "fish completes --ascii for simulate"
    );
    let bad = jfmon(&["completions", "tcsh"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn man_page_renders_with_a_page_per_subcommand() {
    let roff = stdout_of(&["man"]);
    let sub_names: Vec<String> = jfmon::cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect();
    assert!(roff.contains(".TH jfmon 1"), "{}", &roff[..200]);
    for name in &sub_names {
        assert!(
            roff.contains(&format!(".TH jfmon-{name} 1")),
            "page for {name}"
        );
    }
    let out = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(roff.as_bytes())?;
            child.wait_with_output()
        })
        .expect("run groff (Debian package groff-base)");
    let warnings = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && warnings.trim().is_empty(),
        "{warnings}"
    );
    let text = String::from_utf8_lossy(&out.stdout);
    // groff emboldens by overstriking; compare the plain letters.
    let plain: String = {
        let mut s = String::new();
        for c in text.chars() {
            if c == '\u{8}' {
                s.pop();
            } else {
                s.push(c);
            }
        }
        s
    };
    assert!(plain.contains("--statement-timeout"), "{plain}");
    assert!(plain.contains("Write realistic simulated traffic into the database"));
}

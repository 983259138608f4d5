//! The README's key and mouse tables are the binding table: this test
//! renders them from `ui::bindings::help_lines` and `mouse_help_lines` (the
//! same source as the `?` overlay, the footer and the mouse dispatch) and
//! compares them with the README's tables row for row (each table is the
//! block of `|` lines under its header, which appears once): a row missing,
//! extra or different fails, printing the right table.

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
}

/// The table under `header` in `text`: the header line and every `|` line
/// right after it. Panics unless the header is there exactly once.
fn table_under(text: &str, header: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let starts: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].trim_end() == header)
        .collect();
    assert_eq!(
        starts.len(),
        1,
        "README.md should have one table headed {header:?}"
    );
    lines[starts[0]..]
        .iter()
        .take_while(|l| l.starts_with('|'))
        .map(|l| format!("{}\n", l.trim_end()))
        .collect()
}

fn assert_same_table(header: &str, expected: &str) {
    let found = table_under(&readme(), header);
    let (want, got): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), found.lines().collect());
    let missing: Vec<&&str> = want.iter().filter(|r| !got.contains(r)).collect();
    let extra: Vec<&&str> = got.iter().filter(|r| !want.contains(r)).collect();
    assert!(
        found == expected,
        "README.md's {header:?} table is out of date (missing {missing:?}, extra {extra:?}, \
         or out of order); replace it with:\n\n{expected}"
    );
}

fn key_table() -> String {
    let mut table = String::from("| keys | what it does |\n|---|---|\n");
    for (section, rows) in jfmon::ui::bindings::help_lines(true) {
        if rows.is_empty() {
            continue;
        }
        table.push_str(&format!("| **{section}** | |\n"));
        for (keys, what) in rows {
            table.push_str(&format!("| `{}` | {what} |\n", keys.replace('|', "\\|")));
        }
    }
    table
}

fn mouse_table() -> String {
    let mut table = String::from("| mouse | what it does |\n|---|---|\n");
    for (gesture, what) in jfmon::ui::bindings::mouse_help_lines() {
        table.push_str(&format!("| {gesture} | {what} |\n"));
    }
    table
}

#[test]
fn readme_key_table_matches_the_binding_table() {
    assert_same_table("| keys | what it does |", &key_table());
}

#[test]
fn readme_mouse_table_matches_the_mouse_table() {
    assert_same_table("| mouse | what it does |", &mouse_table());
}

/// The comparison itself: an extra row after the last one, a missing row
/// and a second copy of the table all fail; the table as rendered passes.
#[test]
fn the_comparison_catches_extra_and_missing_rows() {
    let table = "| mouse | what it does |\n|---|---|\n| a | b |\n| c | d |\n";
    let doc = |t: &str| format!("intro\n\n{t}\n## next\n");
    let same = |t: &str| table_under(&doc(t), "| mouse | what it does |") == table;
    assert!(same(table));
    assert!(!same(&format!("{table}| e | f |\n")), "an extra row");
    assert!(!same(&table.replace("| c | d |\n", "")), "a missing row");
    let twice = format!("{}\n{}", doc(table), doc(table));
    let once = std::panic::catch_unwind(|| table_under(&twice, "| mouse | what it does |"));
    assert!(once.is_err(), "two tables under one header");
}

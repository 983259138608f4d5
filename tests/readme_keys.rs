//! The README's key and mouse tables are the binding table: this test
//! renders them from `ui::bindings::help_lines` and `mouse_help_lines` (the
//! same source as the `?` overlay, the footer and the mouse dispatch) and
//! fails, printing the right table, if the README differs.

#[test]
fn readme_key_table_matches_the_binding_table() {
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
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    assert!(
        readme.contains(&table),
        "README.md's key table is out of date; replace it with:\n\n{table}"
    );
}

#[test]
fn readme_mouse_table_matches_the_mouse_table() {
    let mut table = String::from("| mouse | what it does |\n|---|---|\n");
    for (gesture, what) in jfmon::ui::bindings::mouse_help_lines() {
        table.push_str(&format!("| {gesture} | {what} |\n"));
    }
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    assert!(
        readme.contains(&table),
        "README.md's mouse table is out of date; replace it with:\n\n{table}"
    );
}

//! The README's key table is the binding table: this test renders the table
//! from `ui::bindings::help_lines` (the same source as the `?` overlay and
//! the footer) and fails, printing the right table, if the README differs.

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

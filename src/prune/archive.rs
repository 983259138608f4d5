//! A prune archive: one gzip-compressed CSV per batch
//! (`<table>.<first id>-<last id>.csv.gz`, PostgreSQL `COPY … (FORMAT csv,
//! HEADER)` loads it back: every value quoted, NULL an empty unquoted field)
//! and `manifest.csv` listing table, id range, rows, SHA-256 and file.
//!
//! A file is written (to a temporary name, synced, renamed) before its batch
//! deletes anything; the batch's row in `jfmon_prune_batches` commits with
//! the DELETE. So a file no batch row names belongs to a batch that never
//! committed (its rows are still in the table) and [`Archive::reconcile`]
//! removes it; the manifest is rewritten from the batch rows, so a kill at
//! any point neither loses nor double-archives a row.
//!
//! Values are masked on the way out: JSON columns through
//! [`redact::mask_json`], free-text columns through [`redact::mask_text`];
//! `request_body` is never selected.

use std::collections::HashSet;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;

use super::spec::MASKED_TEXT;
use crate::redact;

/// The manifest's file name in the archive directory.
pub const MANIFEST: &str = "manifest.csv";
const MANIFEST_HEADER: &str = "table,first_id,last_id,rows,sha256,file\n";

/// A column as archived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    /// `json`/`jsonb`: masked as JSON.
    pub json: bool,
}

impl Column {
    fn masked_text(&self) -> bool {
        MASKED_TEXT.contains(&self.name.as_str())
    }
}

/// One archived batch, as the manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub table: String,
    /// Ids in `(lo, hi]`.
    pub lo: i64,
    pub hi: i64,
    pub rows: i64,
    pub sha256: String,
    /// The file's path.
    pub file: PathBuf,
}

/// An archive directory.
#[derive(Debug, Clone)]
pub struct Archive {
    dir: PathBuf,
}

impl Archive {
    /// Open (create) the directory; its path is made absolute so the batch
    /// rows name files unambiguously.
    pub fn open(dir: &Path) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        Ok(Archive {
            dir: fs::canonicalize(dir)?,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of the batch `(lo, hi]` of `table`.
    pub fn file(&self, table: &str, lo: i64, hi: i64) -> PathBuf {
        self.dir
            .join(format!("{table}.{:012}-{:012}.csv.gz", lo + 1, hi))
    }

    /// Write one batch (masked) and return its entry. The file is complete
    /// and synced when this returns.
    pub fn write(
        &self,
        table: &str,
        lo: i64,
        hi: i64,
        columns: &[Column],
        rows: &[Vec<Option<String>>],
    ) -> io::Result<Entry> {
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        let names: Vec<Option<&str>> = columns.iter().map(|c| Some(c.name.as_str())).collect();
        csv_line(&mut gz, &names)?;
        for row in rows {
            let masked: Vec<Option<String>> = columns
                .iter()
                .zip(row)
                .map(|(c, v)| v.as_deref().map(|s| mask(c, s)))
                .collect();
            let fields: Vec<Option<&str>> = masked.iter().map(|v| v.as_deref()).collect();
            csv_line(&mut gz, &fields)?;
        }
        let bytes = gz.finish()?;
        let file = self.file(table, lo, hi);
        let tmp = file.with_extension("gz.tmp");
        {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
        }
        fs::rename(&tmp, &file)?;
        sync_dir(&self.dir)?;
        Ok(Entry {
            table: table.to_owned(),
            lo,
            hi,
            rows: rows.len() as i64,
            sha256: sha256_hex(&bytes),
            file,
        })
    }

    /// Bring the directory in line with the committed batches `done` (those
    /// whose file lies here): remove files no batch committed (a killed run's
    /// last batch, whose rows are still in the table) and rewrite the
    /// manifest. Returns how many files were removed.
    pub fn reconcile(&self, done: &[Entry]) -> io::Result<usize> {
        let keep: HashSet<&Path> = done.iter().map(|e| e.file.as_path()).collect();
        let mut removed = 0;
        for entry in fs::read_dir(&self.dir)? {
            let path = entry?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let ours = name.starts_with("monitoring_")
                && (name.ends_with(".csv.gz") || name.ends_with(".gz.tmp"));
            if ours && !keep.contains(path.as_path()) {
                fs::remove_file(&path)?;
                removed += 1;
            }
        }
        let mut text = String::from(MANIFEST_HEADER);
        for e in done.iter().filter(|e| e.file.starts_with(&self.dir)) {
            text.push_str(&manifest_line(e));
        }
        let tmp = self.dir.join(format!("{MANIFEST}.tmp"));
        fs::write(&tmp, text)?;
        fs::rename(&tmp, self.dir.join(MANIFEST))?;
        sync_dir(&self.dir)?;
        Ok(removed)
    }

    /// Add a committed batch to the manifest (a kill before this is repaired
    /// by the next [`Archive::reconcile`]).
    pub fn append(&self, e: &Entry) -> io::Result<()> {
        let mut f = fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(self.dir.join(MANIFEST))?;
        f.write_all(manifest_line(e).as_bytes())
    }
}

fn manifest_line(e: &Entry) -> String {
    let name = e.file.file_name().and_then(|n| n.to_str()).unwrap_or("");
    format!(
        "{},{},{},{},{},{}\n",
        e.table,
        e.lo + 1,
        e.hi,
        e.rows,
        e.sha256,
        name
    )
}

fn mask(c: &Column, s: &str) -> String {
    if c.json {
        match serde_json::from_str::<serde_json::Value>(s) {
            Ok(v) => redact::mask_json(&v).to_string(),
            // Not JSON after all: as free text.
            Err(_) => redact::mask_text(s).into_owned(),
        }
    } else if c.masked_text() {
        redact::mask_text(s).into_owned()
    } else {
        s.to_owned()
    }
}

/// One CSV record as `COPY … (FORMAT csv)` reads it: values quoted (quotes
/// doubled), NULL as an empty unquoted field.
fn csv_line(out: &mut impl Write, fields: &[Option<&str>]) -> io::Result<()> {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        if let Some(v) = f {
            out.write_all(b"\"")?;
            out.write_all(v.replace('"', "\"\"").as_bytes())?;
            out.write_all(b"\"")?;
        }
    }
    out.write_all(b"\n")
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(fields: &[Option<&str>]) -> String {
        let mut v = Vec::new();
        csv_line(&mut v, fields).unwrap();
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn csv_quotes_every_value_and_leaves_null_empty() {
        assert_eq!(
            csv(&[Some("a"), None, Some(""), Some("say \"hi\",\nbye")]),
            "\"a\",,\"\",\"say \"\"hi\"\",\nbye\"\n"
        );
    }

    #[test]
    fn json_and_free_text_are_masked() {
        let json = Column {
            name: "context".into(),
            json: true,
        };
        let masked = mask(&json, r#"{"api_key":"sk-live-123","n":1}"#);
        assert!(!masked.contains("sk-live-123"), "{masked}");
        assert!(masked.contains("\"n\":1"), "{masked}");
        let err = Column {
            name: "error".into(),
            json: false,
        };
        assert!(!mask(&err, "Authorization: Bearer abc.def").contains("abc.def"));
        let endpoint = Column {
            name: "endpoint".into(),
            json: false,
        };
        assert!(!mask(&endpoint, "/api/x?token=s3cr3tvalue").contains("s3cr3tvalue"));
        let plain = Column {
            name: "method".into(),
            json: false,
        };
        assert_eq!(mask(&plain, "GET?token=1"), "GET?token=1");
    }

    #[test]
    fn sha256_is_the_standard_digest() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}

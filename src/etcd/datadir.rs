//! Finding the parts of an etcd data dir.
//!
//! ```text
//! <data-dir>/member/snap/db                  bbolt backend
//! <data-dir>/member/snap/<term>-<index>.snap raft snapshots (v2 store JSON)
//! <data-dir>/member/wal/<seq>-<index>.wal    write-ahead log
//! ```
//! A path given by the user may be the data dir, the member dir, or a file.

use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind, Result};

/// What kind of path the user gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InputKind {
    /// A file (snapshot, db copy).
    File,
    /// A data dir (contains `member/`).
    DataDir,
    /// A member dir (contains `snap/` and/or `wal/`).
    MemberDir,
}

/// A resolved input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// What the user gave.
    pub given: PathBuf,
    /// What it is.
    pub kind: InputKind,
    /// The member dir, for data and member dirs.
    pub member_dir: Option<PathBuf>,
}

impl Input {
    /// Classifies `path`.
    pub fn resolve(path: &Path) -> Result<Input> {
        let meta = std::fs::metadata(path).map_err(|e| Error::io("open", path, &e))?;
        if !meta.is_dir() {
            return Ok(Input {
                given: path.to_path_buf(),
                kind: InputKind::File,
                member_dir: None,
            });
        }
        let member = path.join("member");
        if member.is_dir() {
            return Ok(Input {
                given: path.to_path_buf(),
                kind: InputKind::DataDir,
                member_dir: Some(member),
            });
        }
        if path.join("snap").is_dir() || path.join("wal").is_dir() {
            return Ok(Input {
                given: path.to_path_buf(),
                kind: InputKind::MemberDir,
                member_dir: Some(path.to_path_buf()),
            });
        }
        Err(Error::new(ErrorKind::BadPath(not_a_data_dir(path))).in_file(path))
    }

    /// The bbolt db: the file itself, or `member/snap/db`.
    pub fn db_path(&self) -> Result<PathBuf> {
        match &self.member_dir {
            None => Ok(self.given.clone()),
            Some(m) => {
                let db = m.join("snap").join("db");
                if db.is_file() {
                    Ok(db)
                } else {
                    Err(Error::new(ErrorKind::BadPath(format!(
                        "no db in this {}: {} does not exist",
                        if self.kind == InputKind::DataDir {
                            "data dir"
                        } else {
                            "member dir"
                        },
                        db.display()
                    )))
                    .in_file(&self.given))
                }
            }
        }
    }
}

/// Why `path` (a dir) is neither a data dir nor a member dir, naming the dir
/// to give instead when it is a part of one (its WAL dir or its snap dir).
fn not_a_data_dir(path: &Path) -> String {
    let holds = |ext: &str| {
        std::fs::read_dir(path).is_ok_and(|d| {
            d.filter_map(std::result::Result::ok)
                .any(|e| e.file_name().to_string_lossy().ends_with(ext))
        })
    };
    let data_dir = path
        .parent()
        .and_then(Path::parent)
        .filter(|d| d.join("member").is_dir());
    let up = data_dir.map_or_else(String::new, |d| format!(" ({})", d.display()));
    if holds(".wal") {
        format!("this is a WAL dir (it holds .wal files), not a data dir: give the data dir that holds it{up}, the one holding member/")
    } else if path.join("db").is_file() || holds(".snap") {
        format!("this is a member's snap dir, not a data dir: give its db file ({}) or the data dir that holds it{up}", path.join("db").display())
    } else {
        "directory holds neither member/ (a data dir) nor snap/ or wal/ (a member dir)".into()
    }
}

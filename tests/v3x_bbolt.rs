//! `check` against the bbolt CLI 1.4.3 / 1.5.0 (`bbolt check`, the bbolt of
//! etcd 3.6 / 3.7) on damaged copies of a real etcd 3.7.3 db. bbolt 1.4+
//! checks key order, within a page and against the ancestors' separators
//! (1.3.6's `tx.Check()` does not: it says OK on these files);
//! `check` reports the same key and page under `bbolt.key.order`.
//! On an etcd db (no stored freelist) the 1.4/1.5 CLI computes the free pages
//! with the check at open, and a goroutine panics on the first finding. That
//! is a race: the panic can come before or after the CLI's own check has
//! printed its findings and exited. Both texts are accepted. The panic prints
//! keys in hex; the check prints a printable key as text (`bytesToAsciiOrHex`).

use std::path::PathBuf;
use std::process::Command;

use crate::util::{real_etcd_required, repo, run};

fn bbolt_cli(version: &str) -> Option<PathBuf> {
    let root = std::env::var_os("ETCD_RESCUE_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".etcd-bin"));
    let p = root.join(format!("bbolt-{version}/bbolt"));
    if p.is_file() {
        return Some(p);
    }
    assert!(
        !real_etcd_required(),
        "bbolt CLI {version} required but missing at {}",
        p.display()
    );
    eprintln!(
        "SKIPPED: bbolt CLI {version} not installed at {}",
        p.display()
    );
    None
}

/// A key as bbolt's CLI printed it after `(hex)`: hex digits, or, from its
/// own check, the key itself when every byte is printable.
fn printed_key_as_hex(printed: &str) -> String {
    let is_hex = printed.len() % 2 == 0 && printed.bytes().all(|c| c.is_ascii_hexdigit());
    if is_hex {
        printed.to_ascii_lowercase()
    } else {
        printed.bytes().map(|x| format!("{x:02x}")).collect()
    }
}

/// `bbolt check` of a copy of `db` (the CLI opens read-write), stdout and
/// stderr. On these files the CLI's open-time check races with its own: most
/// runs panic with the finding, some print it from the check, and a few
/// crash with a nil pointer dereference while the first panic unwinds (seen
/// about 1 run in 400 with 1.5.0). A run whose output names no "needs to be"
/// finding is retried, at most 20 runs.
fn bbolt_cli_check(cli: &std::path::Path, db: &std::path::Path, dir: &std::path::Path) -> String {
    let mut text = String::new();
    for attempt in 0..20 {
        let copy = dir.join(format!("copy-{attempt}.db"));
        std::fs::copy(db, &copy).unwrap();
        let out = Command::new(cli).arg("check").arg(&copy).output().unwrap();
        text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::remove_file(&copy).unwrap();
        if text.contains("needs to be") {
            break;
        }
    }
    text
}

/// One key-order finding as bbolt 1.4/1.5 prints it:
/// "key[2]=(hex)<k> on leaf page(2) needs to be > (found <) than previous element (hex)<p>. Stack: [2]"
#[derive(Debug, PartialEq)]
struct KeyOrder {
    index: String,
    page: u64,
    key_hex: String,
    prev_hex: String,
}

fn parse_key_order(text: &str) -> Option<KeyOrder> {
    let theirs = text.split("key[").nth(1)?;
    let index = theirs.split(']').next()?.to_string();
    let key = theirs.split("=(hex)").nth(1)?.split(' ').next()?;
    let page = theirs
        .split("leaf page(")
        .nth(1)?
        .split(')')
        .next()?
        .parse()
        .ok()?;
    let prev = theirs
        .split("previous element (hex)")
        .nth(1)?
        .split(['.', ' ', ')'])
        .next()?;
    Some(KeyOrder {
        index,
        page,
        key_hex: printed_key_as_hex(key),
        prev_hex: printed_key_as_hex(prev),
    })
}

/// Both texts the CLI prints for the same damage (see the module comment):
/// the open-time panic, and its own check's output (seen on a CI machine).
#[test]
fn bbolt_cli_key_order_texts_both_parse() {
    let panic_text = "panic: freepages: failed to get all reachable pages (key[2]=(hex)61757468526f6c6573 on leaf page(2) needs to be > (found <) than previous element (hex)ff757468. Stack: [2])";
    let check_text = "key[2]=(hex)authRoles on leaf page(2) needs to be > (found <) than previous element (hex)ff757468. Stack: [2]\n1 errors found\nError: invalid value\n";
    let want = KeyOrder {
        index: "2".into(),
        page: 2,
        key_hex: "61757468526f6c6573".into(),
        prev_hex: "ff757468".into(),
    };
    assert_eq!(parse_key_order(panic_text), Some(want));
    assert_eq!(parse_key_order(check_text), parse_key_order(panic_text));
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

/// A copy of `raw.db` whose first leaf page with 5+ elements has the first byte
/// of its second key set to 0xff, so that key sorts after the third.
fn key_order_damage() -> (tempfile::TempDir, PathBuf, u64) {
    // The committed file (not ETCD_RESCUE_TESTDATA): its page layout is known,
    // the first such leaf is a reachable one (in a fresh file it can be a freed copy).
    let src = repo().join("testdata/etcd-3.7.3/basic/raw.db");
    let mut b = std::fs::read(&src).unwrap();
    let ps = 4096usize;
    let page = (2..b.len() / ps)
        .find(|&i| {
            let at = i * ps;
            u64::from_le_bytes(b[at..at + 8].try_into().unwrap()) == i as u64
                && u16_at(&b, at + 8) == 0x02
                && u16_at(&b, at + 10) >= 5
        })
        .expect("a leaf page with 5+ elements");
    // Leaf element i: flags u32, pos u32 (from the element), ksize u32, vsize u32.
    let elem = page * ps + 16 + 16;
    let pos = u32_at(&b, elem + 4) as usize;
    b[elem + pos] = 0xff;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("key-order.db");
    std::fs::write(&db, &b).unwrap();
    (dir, db, page as u64)
}

#[test]
fn key_order_finding_matches_bbolt_1_4_and_1_5() {
    let (dir, db, page) = key_order_damage();
    let ours = run(&[
        "check",
        db.to_str().unwrap(),
        "--skip-hash-check",
        "-w",
        "json",
    ]);
    ours.expect_code(1);
    let v: serde_json::Value = serde_json::from_str(&ours.stdout).unwrap();
    let findings = v["inputs"][0]["findings"].as_array().unwrap();
    let key_order: Vec<&str> = findings
        .iter()
        .filter(|f| f["code"] == "bbolt.key.order")
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert_eq!(key_order.len(), 1, "{ours}");
    let ours_msg = key_order[0];
    assert!(ours_msg.contains(&format!("page {page}:")), "{ours_msg}");
    for version in ["1.4.3", "1.5.0"] {
        let Some(cli) = bbolt_cli(version) else {
            continue;
        };
        // The CLI opens read-write: run it on its own copy.
        let text = bbolt_cli_check(&cli, &db, dir.path());
        let theirs = parse_key_order(&text)
            .unwrap_or_else(|| panic!("bbolt {version} found no key-order problem:\n{text}"));
        assert_eq!(theirs.page, page, "{version}: {text}");
        assert!(
            ours_msg.contains(&format!("key[{}]", theirs.index)),
            "{version}: {ours_msg} vs {text}"
        );
        let (key_hex, prev_hex) = (theirs.key_hex, theirs.prev_hex);
        assert!(
            ours_msg.contains(&key_hex) && ours_msg.contains(&prev_hex),
            "{version}: {ours_msg} vs {text}"
        );
    }
    // bbolt 1.3.6 (etcd 3.5's `tx.Check()`) does not look at key order.
    if let Some(dir36) = std::env::var_os("ETCD_RESCUE_BIN_DIR").map(PathBuf::from) {
        let bc = dir36.join("bbolt-check");
        if bc.is_file() {
            let copy = dir.path().join("copy-1.3.6.db");
            std::fs::copy(&db, &copy).unwrap();
            let out = Command::new(&bc).arg(&copy).output().unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "OK");
        }
    }
}

/// bbolt 1.4+ also checks every page's keys against the separators of its
/// ancestors. A copy of the 3.7.3 `large` raw.db whose key bucket's second
/// subtree starts below its separator in the root (the first key of that
/// branch page zeroed): ours and bbolt 1.4.3 / 1.5.0 name the same page and
/// key index, and the separator.
#[test]
fn ancestor_bound_finding_matches_bbolt_1_4_and_1_5() {
    use etcd_rescue::formats::bbolt::{BucketRoot, Db};
    let src = repo().join("testdata/etcd-3.7.3/large/raw.db");
    let mut b = std::fs::read(&src).unwrap();
    let (child, separator) = {
        let db = Db::open(&b).unwrap();
        let BucketRoot::Paged(root) = db.bucket(b"key").unwrap().unwrap().root else {
            panic!("key bucket inline in {}", src.display());
        };
        let p = db.page(root).unwrap();
        assert!(p.header.is_branch(), "root {root} is not a branch");
        let e = p.branch_elements().nth(1).unwrap().unwrap();
        (e.child, e.key.to_vec())
    };
    let ps = 4096usize;
    let at = child as usize * ps;
    let flags = u16_at(&b, at + 8);
    let kind = if flags == 0x01 { "branch" } else { "leaf" };
    // Element 0: branch {pos u32, ksize u32, pgid u64}; leaf {flags u32, pos u32, ksize u32, vsize u32}.
    let (pos, ksize) = if flags == 0x01 {
        (u32_at(&b, at + 16) as usize, u32_at(&b, at + 20) as usize)
    } else {
        (u32_at(&b, at + 20) as usize, u32_at(&b, at + 24) as usize)
    };
    let key_at = at + 16 + pos;
    b[key_at..key_at + ksize].fill(0);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ancestor.db");
    std::fs::write(&db, &b).unwrap();
    let hex = |k: &[u8]| k.iter().map(|x| format!("{x:02x}")).collect::<String>();

    let ours = run(&["check", db.to_str().unwrap(), "-w", "json"]);
    ours.expect_code(1);
    let v: serde_json::Value = serde_json::from_str(&ours.stdout).unwrap();
    let msgs: Vec<&str> = v["inputs"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "bbolt.key.order")
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    let ours_msg = msgs
        .iter()
        .find(|m| m.contains("below its parent's separator"))
        .unwrap_or_else(|| panic!("no ancestor finding: {ours}"));
    assert!(
        ours_msg.contains(&format!("page {child}: {kind} key[0]")),
        "{ours_msg}"
    );
    assert!(ours_msg.contains(&hex(&separator)), "{ours_msg}");
    for version in ["1.4.3", "1.5.0"] {
        let Some(cli) = bbolt_cli(version) else {
            continue;
        };
        let text = bbolt_cli_check(&cli, &db, dir.path());
        // "the first key[0]=(hex)<k> on branch page(C) needs to be >= the key
        // in the ancestor (<sep>). Stack: [<root> <page>]": for a branch
        // element bbolt names the element's child page C; the page holding
        // the key is the last of the stack. Ours names that page.
        let want = format!(
            "the first key[0]=(hex){} on {kind} page(",
            hex(&b[key_at..key_at + ksize])
        );
        assert!(text.contains(&want), "{version}: want {want:?} in:\n{text}");
        let sep = text
            .split("needs to be >= the key in the ancestor (")
            .nth(1)
            .unwrap_or_else(|| panic!("{version}: {text}"))
            .split(')')
            .next()
            .unwrap();
        assert_eq!(
            printed_key_as_hex(sep),
            hex(&separator),
            "{version}: {text}"
        );
        let stack_last = text
            .split("Stack: [")
            .nth(1)
            .unwrap()
            .split(']')
            .next()
            .unwrap()
            .split(' ')
            .next_back()
            .unwrap();
        assert_eq!(stack_last, child.to_string(), "{version}: {text}");
    }
}

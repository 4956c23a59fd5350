//! `completions` and `man`: generated from the same definitions as `--help`,
//! so every subcommand appears, and the bash script is valid bash.

use crate::util::run;

/// The subcommands `--help` lists (the names completions and man must carry).
fn subcommands() -> Vec<String> {
    let r = run(&["--help"]);
    r.expect_code(0);
    let mut names = Vec::new();
    let mut in_list = false;
    for l in r.stdout.lines() {
        if l.starts_with("Commands:") {
            in_list = true;
            continue;
        }
        if in_list {
            if l.trim().is_empty() {
                break;
            }
            // A wrapped description continues with deeper indentation.
            if l.starts_with("   ") {
                continue;
            }
            let name = l.split_whitespace().next().unwrap();
            if name != "help" {
                names.push(name.to_string());
            }
        }
    }
    assert!(names.len() >= 8, "subcommands from --help: {names:?}\n{r}");
    names
}

#[test]
fn completions_for_every_shell_name_every_command() {
    let names = subcommands();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let r = run(&["completions", shell]);
        r.expect_code(0);
        for n in &names {
            assert!(r.stdout.contains(n.as_str()), "{shell}: no {n}");
        }
    }
    let r = run(&["completions", "bash"]);
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("c.bash");
    std::fs::write(&p, &r.stdout).unwrap();
    let out = std::process::Command::new("bash")
        .arg("-n")
        .arg(&p)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    run(&["completions", "tcsh"]).expect_code(2);
}

#[test]
fn man_page_is_roff_with_every_command() {
    let r = run(&["man"]);
    r.expect_code(0);
    assert!(r.stdout.contains(".TH etcd-rescue 1"), "{r}");
    assert!(r.stdout.contains(".SH NAME"), "{r}");
    for n in subcommands() {
        assert!(
            r.stdout.contains(&n.replace('-', "\\-")),
            "man page lacks {n}"
        );
    }
}

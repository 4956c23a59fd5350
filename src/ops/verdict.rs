//! The four verdicts `check`, `inspect` and `snapshot restore` give, decided
//! once here so the three commands cannot disagree.
//!
//! | verdict | meaning | exit code |
//! |---|---|---|
//! | `sound` | nothing to report | 0 |
//! | `sound-with-notes` | usable as it is; notes and warnings say what to know | 0 |
//! | `damaged` | data was lost or cannot be verified, but a route out exists (named in `next_steps`) | 1 |
//! | `unusable` | read, but etcd could not use it at all (not an etcd db, no readable keyspace) | 1 |
//!
//! Exit 1 means "read, and problems found" for both bad verdicts, as `check`
//! has always documented; "could not read" (missing file, not a bbolt file)
//! is an error, not a verdict, and exits 2.

use serde::Serialize;

use crate::error::{Finding, Severity};

/// How far an input can be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Nothing to report.
    Sound,
    /// Usable as it is; the notes say what to know.
    SoundWithNotes,
    /// Data lost or unverifiable; a way out exists.
    Damaged,
    /// Read, but etcd could not use it.
    Unusable,
}

impl Verdict {
    /// The verdict for a set of findings. `usable`: the keyspace could be
    /// read whole enough for etcd to start on it.
    pub fn of(findings: &[Finding], usable: bool) -> Verdict {
        Verdict::of_worst(findings.iter().map(|f| f.severity).max(), usable)
    }

    /// The verdict from the worst severity found (`None`: nothing found),
    /// for reports whose findings are not [`Finding`]s (`inspect`'s warnings).
    pub fn of_worst(worst: Option<Severity>, usable: bool) -> Verdict {
        match worst {
            Some(Severity::Error) if !usable => Verdict::Unusable,
            Some(Severity::Error) => Verdict::Damaged,
            Some(Severity::Warning | Severity::Info) => Verdict::SoundWithNotes,
            None => Verdict::Sound,
        }
    }

    /// True for the two verdicts a restore may go ahead on.
    pub fn is_sound(self) -> bool {
        matches!(self, Verdict::Sound | Verdict::SoundWithNotes)
    }

    /// The documented exit code: 0 sound (with or without notes), 1 damaged
    /// or unusable (read, problems found).
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Sound | Verdict::SoundWithNotes => 0,
            Verdict::Damaged | Verdict::Unusable => 1,
        }
    }

    /// The name used in JSON and in one-line messages.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Sound => "sound",
            Verdict::SoundWithNotes => "sound with notes",
            Verdict::Damaged => "damaged (recoverable)",
            Verdict::Unusable => "unusable",
        }
    }

    /// The headline for people.
    pub fn headline(self) -> &'static str {
        match self {
            Verdict::Sound => "SOUND",
            Verdict::SoundWithNotes => "SOUND WITH NOTES (usable as it is; read the notes)",
            Verdict::Damaged => "PROBLEMS FOUND: damaged, recoverable (the next steps say what is still usable and how)",
            Verdict::Unusable => "PROBLEMS FOUND: unusable by etcd as it is (the next steps say what can still be recovered)",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Location;

    #[test]
    fn levels_and_exit_codes() {
        let note = Finding {
            code: "x",
            severity: Severity::Info,
            at: Location::default(),
            message: String::new(),
        };
        let err = Finding::error("y", Location::default(), String::new());
        assert_eq!(Verdict::of(&[], true), Verdict::Sound);
        assert_eq!(
            Verdict::of(std::slice::from_ref(&note), true),
            Verdict::SoundWithNotes
        );
        assert_eq!(Verdict::of(&[note, err.clone()], true), Verdict::Damaged);
        assert_eq!(Verdict::of(&[err], false), Verdict::Unusable);
        assert_eq!(Verdict::Damaged.exit_code(), 1);
        assert_eq!(Verdict::Unusable.exit_code(), 1);
        assert!(Verdict::SoundWithNotes.is_sound());
    }
}

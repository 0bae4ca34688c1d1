//! Keeps madsim's note on an expected crash off stderr.
//!
//! A crash point makes a member panic at an exact place; madsim catches the
//! panic and restarts the member, as the harness asked it to
//! (`restart_on_panic_matching`). The harness's panic hook keeps the panic's
//! own message quiet, but madsim also prints a line of its own for every
//! caught panic, `context: node=N "name", task=T (spawned at …)`, and has no
//! switch for it. On a clean campaign that line is noise a user reads as an
//! error, so the CLI routes stderr through [`StderrFilter`], which drops
//! exactly one such line for each crash-point panic the hook announced
//! ([`expect_crash_note`]) and passes everything else on unchanged and at
//! once (a progress line without a newline is not held back).
//!
//! With several seeds running on threads at once, the dropped note may be
//! another thread's if a real panic's note arrives in between; the counts
//! stay exact, so a real panic still prints its note (and its message, which
//! the hook never hides).

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;

/// The start of madsim's line about a panic it caught.
const CRASH_NOTE: &[u8] = b"context: node=";

/// Crash-point panics whose note has not been seen yet.
static EXPECTED_NOTES: AtomicUsize = AtomicUsize::new(0);

/// Announces that madsim is about to print a note for a crash-point panic
/// (called by the panic hook, before the panic unwinds into madsim).
pub fn expect_crash_note() {
    EXPECTED_NOTES.fetch_add(1, Ordering::SeqCst);
}

fn take_expected_note() -> bool {
    EXPECTED_NOTES
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

/// While alive, the process's stderr (fd 2) goes through a pipe to a thread
/// that forwards it to the original stderr, minus expected crash notes.
/// Dropping it restores fd 2 and forwards what is left.
pub struct StderrFilter {
    original: OwnedFd,
    forwarder: Option<JoinHandle<()>>,
}

impl StderrFilter {
    /// Puts the filter in place; `None` (stderr left as it was) if the pipe
    /// cannot be made.
    pub fn install() -> Option<StderrFilter> {
        let mut ends = [0; 2];
        // SAFETY: `pipe` writes two new descriptors into `ends`, which this
        // function then owns.
        if unsafe { libc::pipe(ends.as_mut_ptr()) } != 0 {
            return None;
        }
        // SAFETY: both descriptors were just created and are owned here.
        let (read_end, write_end) =
            unsafe { (File::from_raw_fd(ends[0]), OwnedFd::from_raw_fd(ends[1])) };
        // SAFETY: fd 2 is open for the whole life of the process; `dup`
        // returns a new descriptor owned here.
        let original = unsafe { libc::dup(2) };
        if original < 0 {
            return None;
        }
        // SAFETY: `original` was just created by `dup`.
        let original = unsafe { OwnedFd::from_raw_fd(original) };
        let sink = File::from(original.try_clone().ok()?);
        let _ = io::stderr().flush();
        // SAFETY: both descriptors are valid; fd 2 now refers to the pipe.
        if unsafe { libc::dup2(write_end.as_raw_fd(), 2) } < 0 {
            return None;
        }
        drop(write_end);
        let forwarder = std::thread::Builder::new()
            .name("stderr-filter".into())
            .spawn(move || forward(read_end, sink))
            .ok()?;
        Some(StderrFilter {
            original,
            forwarder: Some(forwarder),
        })
    }
}

impl Drop for StderrFilter {
    fn drop(&mut self) {
        let _ = io::stderr().flush();
        // SAFETY: both descriptors are valid. fd 2 held the pipe's last
        // write end, so the forwarder now sees the end of its input.
        unsafe { libc::dup2(self.original.as_raw_fd(), 2) };
        if let Some(forwarder) = self.forwarder.take() {
            let _ = forwarder.join();
        }
    }
}

/// Copies `input` to `output`, dropping expected crash notes. A line is held
/// only while it could still be a note.
fn forward(mut input: impl Read, mut output: impl Write) {
    let mut filter = LineFilter::default();
    let mut buf = [0u8; 8192];
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        let passed = filter.push(&buf[..n], take_expected_note);
        if output.write_all(&passed).is_err() {
            return;
        }
    }
    let _ = output.write_all(&filter.finish());
}

/// The line-by-line decision, apart from the descriptors so it can be
/// tested: which bytes pass.
#[derive(Default)]
struct LineFilter {
    /// The start of the current line, held back while it may be a note.
    held: Vec<u8>,
    /// The current line is known not to be a note: pass it through.
    passing: bool,
}

impl LineFilter {
    /// Takes the next bytes; returns those that may be written now.
    /// `expected` is asked once per complete note line.
    fn push(&mut self, mut bytes: &[u8], mut expected: impl FnMut() -> bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(bytes.len());
        while !bytes.is_empty() {
            let line_end = bytes.iter().position(|&b| b == b'\n');
            let (part, rest) = match line_end {
                Some(i) => bytes.split_at(i + 1),
                None => (bytes, &[][..]),
            };
            bytes = rest;
            let complete = line_end.is_some();
            if self.passing {
                out.extend_from_slice(part);
                self.passing = !complete;
                continue;
            }
            self.held.extend_from_slice(part);
            let may_be_note =
                self.held.starts_with(CRASH_NOTE) || CRASH_NOTE.starts_with(&self.held);
            if !may_be_note {
                out.append(&mut self.held);
                self.passing = !complete;
            } else if complete {
                if !(self.held.starts_with(CRASH_NOTE) && expected()) {
                    out.extend_from_slice(&self.held);
                }
                self.held.clear();
            }
        }
        out
    }

    /// What is still held when the input ends.
    fn finish(self) -> Vec<u8> {
        self.held
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(chunks: &[&str], mut expected: usize) -> String {
        let mut filter = LineFilter::default();
        let mut out = Vec::new();
        for chunk in chunks {
            out.extend(filter.push(chunk.as_bytes(), || {
                let had = expected > 0;
                expected = expected.saturating_sub(1);
                had
            }));
        }
        out.extend(filter.finish());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn drops_only_as_many_notes_as_were_expected() {
        let note = "context: node=3 \"n3\", task=18 (spawned at src/raft/node.rs:243:5)\n";
        let input = format!("a\n{note}b\n{note}");
        assert_eq!(run(&[&input], 1), format!("a\nb\n{note}"));
        assert_eq!(run(&[&input], 0), input);
        assert_eq!(run(&[&input], 5), "a\nb\n");
    }

    #[test]
    fn a_note_split_across_reads_is_still_recognised() {
        let chunks = ["x\ncont", "ext: no", "de=1 \"n1\"", ", task=2\ny\n"];
        assert_eq!(run(&chunks, 1), "x\ny\n");
    }

    #[test]
    fn a_progress_line_passes_before_its_newline() {
        let mut filter = LineFilter::default();
        let passed = filter.push(b"\r\x1b[K[3/100] failed 0", || true);
        assert_eq!(passed, b"\r\x1b[K[3/100] failed 0");
        let passed = filter.push(b" | ETA 4s\ncontext: node=1", || true);
        assert_eq!(passed, b" | ETA 4s\n", "a possible note is held");
        assert_eq!(
            filter.finish(),
            b"context: node=1",
            "and given back at the end"
        );
    }

    #[test]
    fn other_lines_starting_like_a_note_pass() {
        assert_eq!(
            run(&["context: other\n", "cont\n"], 3),
            "context: other\ncont\n"
        );
    }
}

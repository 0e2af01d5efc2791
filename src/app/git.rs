//! Another revision of the repository, read without touching the work tree.
//!
//! This runs the `git` binary, which every CI runner and developer machine
//! has, for four plumbing commands (`rev-parse`, `merge-base`, `ls-tree`
//! with `cat-file --batch`, `diff --name-status`); a Rust Git library (gix)
//! would add well over a hundred crates to the build for them.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};

/// Blobs larger than this are left out of an exported revision, unread: no
/// manifest, config or inventory is this large, and weights committed by
/// mistake are not planned from Git.
const LARGEST_BLOB: u64 = 64 << 20;

/// Why Git could not answer, for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitError(pub String);

/// A Git work tree.
pub struct Repo {
    root: PathBuf,
}

impl Repo {
    /// The repository `dir` is in.
    pub fn discover(dir: &Path) -> Result<Repo, GitError> {
        let out = git(dir, &["rev-parse", "--show-toplevel"])?;
        Ok(Repo {
            root: PathBuf::from(String::from_utf8_lossy(&out).trim()),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The commit `rev` names.
    pub fn commit(&self, rev: &str) -> Result<String, GitError> {
        let spec = format!("{rev}^{{commit}}");
        git(&self.root, &["rev-parse", "--verify", "--quiet", &spec])
            .map(|out| String::from_utf8_lossy(&out).trim().to_owned())
            .map_err(|_| GitError(format!("`{rev}` names no commit in this repository")))
    }

    /// The merge base of `HEAD` with the default branch: `origin/HEAD`'s
    /// branch, else the first of `main`, `master`, `origin/main` and
    /// `origin/master` that exists. Returns the branch and the commit.
    pub fn default_base(&self) -> Result<(String, String), GitError> {
        let remote_head = git(
            &self.root,
            &[
                "symbolic-ref",
                "--quiet",
                "--short",
                "refs/remotes/origin/HEAD",
            ],
        )
        .ok()
        .map(|out| String::from_utf8_lossy(&out).trim().to_owned());
        let branch = remote_head
            .into_iter()
            .chain(["main", "master", "origin/main", "origin/master"].map(String::from))
            .find(|b| self.commit(b).is_ok())
            .ok_or_else(|| {
                GitError(
                    "no default branch to compare with (no origin/HEAD, main or master); name one with `--base REF`"
                        .into(),
                )
            })?;
        let out = git(&self.root, &["merge-base", "HEAD", &branch]).map_err(|_| {
            GitError(format!(
                "`HEAD` and `{branch}` have no common ancestor; name the base with `--base REF`"
            ))
        })?;
        Ok((branch, String::from_utf8_lossy(&out).trim().to_owned()))
    }

    /// Writes the files of `commit` under `into`, as they were committed.
    /// Symbolic links, submodules and blobs over 64 MiB are left out.
    pub fn export(&self, commit: &str, into: &Path) -> Result<(), GitError> {
        let listing = git(
            &self.root,
            &["ls-tree", "-r", "-z", "-l", "--full-tree", commit],
        )?;
        let mut blobs: Vec<(String, PathBuf)> = Vec::new();
        for entry in listing.split(|b| *b == 0).filter(|e| !e.is_empty()) {
            let entry = String::from_utf8_lossy(entry);
            // `<mode> <type> <object> <size>\t<path>`
            let Some((meta, path)) = entry.split_once('\t') else {
                continue;
            };
            let mut meta = meta.split_whitespace();
            let (Some(mode), Some("blob"), Some(object), Some(size)) =
                (meta.next(), meta.next(), meta.next(), meta.next())
            else {
                continue;
            };
            let path = PathBuf::from(path);
            let plain = path.components().all(|c| matches!(c, Component::Normal(_)));
            // Large blobs are not even asked for: Git would inflate them.
            let small = size.parse::<u64>().is_ok_and(|s| s <= LARGEST_BLOB);
            if mode != "120000" && plain && small {
                blobs.push((object.to_owned(), path));
            }
        }
        let mut child = Command::new("git")
            .arg("-C")
            .arg(&self.root)
            .args(["cat-file", "--batch"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(not_installed)?;
        let mut stdin = child.stdin.take().expect("piped");
        let objects: Vec<String> = blobs.iter().map(|(o, _)| o.clone()).collect();
        let writer = std::thread::spawn(move || {
            for object in objects {
                if writeln!(stdin, "{object}").is_err() {
                    break;
                }
            }
        });
        let mut reader = BufReader::new(child.stdout.take().expect("piped"));
        let failed = |what: &str| GitError(format!("reading {commit} failed: {what}"));
        for (_, path) in &blobs {
            let mut header = String::new();
            reader
                .read_line(&mut header)
                .map_err(|e| failed(&e.to_string()))?;
            // `<object> blob <size>`
            let size: u64 = header
                .split_whitespace()
                .nth(2)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| failed(header.trim()))?;
            let mut body = Vec::new();
            (&mut reader)
                .take(size + 1)
                .read_to_end(&mut body)
                .map_err(|e| failed(&e.to_string()))?;
            body.pop(); // the newline after each object
            let target = into.join(path);
            if let Some(dir) = target.parent() {
                std::fs::create_dir_all(dir).map_err(|e| failed(&e.to_string()))?;
            }
            std::fs::write(&target, &body).map_err(|e| failed(&e.to_string()))?;
        }
        let _ = writer.join();
        let _ = child.wait();
        Ok(())
    }

    /// Files renamed between `commit` and the work tree, old path to new,
    /// relative to the root.
    pub fn renames(&self, commit: &str) -> Result<Vec<(PathBuf, PathBuf)>, GitError> {
        let out = git(
            &self.root,
            &["diff", "--name-status", "-M", "-z", "--no-ext-diff", commit],
        )?;
        let mut fields = out
            .split(|b| *b == 0)
            .map(|f| String::from_utf8_lossy(f).into_owned());
        let mut renames = Vec::new();
        while let Some(status) = fields.next() {
            if status.is_empty() {
                continue;
            }
            if status.starts_with('R') || status.starts_with('C') {
                let (Some(old), Some(new)) = (fields.next(), fields.next()) else {
                    break;
                };
                if status.starts_with('R') {
                    renames.push((PathBuf::from(old), PathBuf::from(new)));
                }
            } else {
                fields.next(); // the one path of any other status
            }
        }
        Ok(renames)
    }
}

fn not_installed(e: std::io::Error) -> GitError {
    GitError(if e.kind() == std::io::ErrorKind::NotFound {
        "`git` is not installed, or not on PATH".into()
    } else {
        format!("cannot run `git`: {e}")
    })
}

/// Runs `git -C dir ARGS` and returns its standard output.
fn git(dir: &Path, args: &[&str]) -> Result<Vec<u8>, GitError> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .output()
        .map_err(not_installed)?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let reason = stderr.lines().next().unwrap_or("failed").trim();
        Err(GitError(format!("`git {}`: {reason}", args.join(" "))))
    }
}

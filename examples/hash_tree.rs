//! Go's `ExampleGroup_pipeline` (the MD5 of every file under a directory),
//! done the errgroup way.
//!
//! ```text
//! cargo run --example hash_tree                  # hashes this crate's src/
//! cargo run --example hash_tree -- some/dir      # any directory
//! cargo run --example hash_tree -- --broken      # a tree with an unreadable entry
//! ```
//!
//! Go's version has one walker goroutine feeding paths into a channel and a
//! fixed pool of digesters reading from it. Here every piece of work is a
//! child of one group: a walker child per directory pushes, through a
//! [`Handle`], a child per subdirectory (another walker) and per file (a
//! digester). `with_limit(8)` bounds how many run at once. The walkers never
//! wait for the children they push, so the shared limit cannot deadlock.
//!
//! I/O runs on smol's blocking pool (`smol::fs` is `async-fs`, and
//! `smol::unblock` is `blocking`), the MD5 too, so the executor thread only
//! coordinates. The first error (an entry that cannot be read) stops the whole
//! walk: the group drops every walker and digester, in flight or queued, and
//! returns that error. The walkers notice nothing: their next `push` comes
//! back as `Closed` once the group has stopped.

use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use md5::{Digest, Md5};
use smol::stream::StreamExt;
use trygroup::{Handle, TryGroup};

/// A file and its MD5; walkers return `None`.
type Found = Option<(PathBuf, [u8; 16])>;
type Pusher = Handle<'static, Found, WalkError>;
type Child = Pin<Box<dyn std::future::Future<Output = Result<Found, WalkError>> + Send>>;

static DIGESTED: AtomicUsize = AtomicUsize::new(0);

/// An entry that could not be read.
#[derive(Debug)]
struct WalkError {
    path: PathBuf,
    source: io::Error,
}

impl std::fmt::Display for WalkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.source)
    }
}

impl std::error::Error for WalkError {}

fn at(path: &Path) -> impl FnOnce(io::Error) -> WalkError + '_ {
    move |source| WalkError {
        path: path.to_owned(),
        source,
    }
}

/// Lists `dir` and pushes one child per entry. Boxed because it pushes
/// itself (a recursive `async fn` has no nameable type).
fn walk(dir: PathBuf, group: Pusher) -> Child {
    Box::pin(async move {
        let mut entries = smol::fs::read_dir(&dir).await.map_err(at(&dir))?;
        while let Some(entry) = entries.next().await {
            let path = entry.map_err(at(&dir))?.path();
            // Follows symlinks: a dangling one is an error, like an unreadable file.
            let meta = smol::fs::metadata(&path).await.map_err(at(&path))?;
            let pushed = if meta.is_dir() {
                group.push(walk(path, group.clone())).is_ok()
            } else {
                group.push(digest(path)).is_ok()
            };
            if !pushed {
                // The group has stopped (a sibling failed): nothing to do.
                return Ok(None);
            }
        }
        Ok(None)
    })
}

/// Reads a file and hashes it, both off the executor thread.
async fn digest(path: PathBuf) -> Result<Found, WalkError> {
    let data = smol::fs::read(&path).await.map_err(at(&path))?;
    let sum: [u8; 16] = smol::unblock(move || Md5::digest(&data).into()).await;
    DIGESTED.fetch_add(1, SeqCst);
    Ok(Some((path, sum)))
}

/// Go's `MD5All`: every file under `root` with its MD5, sorted by path, or the
/// first error.
fn md5_all(root: &Path) -> Result<Vec<(PathBuf, [u8; 16])>, WalkError> {
    let mut group = TryGroup::with_limit(8);
    let handle = group.handle();
    group.push(walk(root.to_owned(), handle));
    let found = smol::block_on(group)?;
    let mut sums: Vec<_> = found.into_iter().flatten().collect();
    sums.sort();
    Ok(sums)
}

fn hex(sum: &[u8; 16]) -> String {
    sum.iter().map(|b| format!("{b:02x}")).collect()
}

fn main() -> ExitCode {
    let arg = std::env::args().nth(1);
    match arg.as_deref() {
        Some("--broken") => broken(),
        Some(flag) if flag.starts_with('-') => {
            eprintln!("usage: hash_tree [DIR | --broken]");
            ExitCode::from(2)
        }
        dir => {
            let root = PathBuf::from(dir.unwrap_or(concat!(env!("CARGO_MANIFEST_DIR"), "/src")));
            match md5_all(&root) {
                Ok(sums) => {
                    for (path, sum) in &sums {
                        let shown = path.strip_prefix(&root).unwrap_or(path);
                        println!("{}  {}", hex(sum), shown.display());
                    }
                    println!("{} files under {}", sums.len(), root.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("hash_tree: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// Builds a tree of 200 files in 5 directories plus one dangling symlink, and
/// checks that the walk stops early with that entry's error.
fn broken() -> ExitCode {
    let root = std::env::temp_dir().join(format!("trygroup-hash-tree-{}", std::process::id()));
    let build = || -> io::Result<usize> {
        let mut files = 0;
        for d in 0..5 {
            let dir = root.join(format!("dir{d}"));
            std::fs::create_dir_all(&dir)?;
            for f in 0..40 {
                std::fs::write(
                    dir.join(format!("file{f}.txt")),
                    vec![b'a' + (f % 26) as u8; 4096],
                )?;
                files += 1;
            }
        }
        std::os::unix::fs::symlink(root.join("missing"), root.join("broken-link"))?;
        Ok(files)
    };
    let files = match build() {
        Ok(files) => files,
        Err(e) => {
            eprintln!("hash_tree: cannot build the test tree: {e}");
            let _ = std::fs::remove_dir_all(&root);
            return ExitCode::FAILURE;
        }
    };
    println!(
        "a tree of {files} files plus one dangling symlink under {}",
        root.display()
    );
    let result = md5_all(&root);
    let digested = DIGESTED.load(SeqCst);
    let _ = std::fs::remove_dir_all(&root);

    match result {
        Err(e) if e.path.ends_with("broken-link") => {
            println!("the walk stopped early: {e}");
            println!(
                "files digested before the stop: {digested} of {files}; the rest were dropped"
            );
            if digested < files {
                ExitCode::SUCCESS
            } else {
                eprintln!("hash_tree: expected the walk to stop before digesting every file");
                ExitCode::FAILURE
            }
        }
        other => {
            eprintln!("hash_tree: expected the broken link's error, got {other:?}");
            ExitCode::FAILURE
        }
    }
}

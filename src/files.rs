//! Reading the files a user names: regular files only, under a size cap
//! checked before reading. A FIFO would block the read for ever (and opening
//! one blocks until a writer comes), and `/dev/zero` would be read until
//! memory runs out; each gets an error that names what the path is.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// Caps for the kinds of file deployctl reads; no real one comes near its cap.
pub mod cap {
    pub const MANIFEST: u64 = 4 << 20;
    pub const CONFIG: u64 = 16 << 20;
    pub const MAP: u64 = 16 << 20;
    pub const INVENTORY: u64 = 16 << 20;
    /// Large vocabularies' `tokenizer.json` run to some 35 MB.
    pub const TOKENIZER: u64 = 256 << 20;
    pub const SECRET: u64 = 64 << 10;
}

/// Opens `path` if it is a regular file (symbolic links followed).
pub fn open(path: &Path) -> io::Result<File> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("is {}, not a regular file", kind(&meta)),
        ));
    }
    File::open(path)
}

/// The text of `path`, a regular file of at most `max` bytes.
pub fn read_text(path: &Path, max: u64) -> io::Result<String> {
    let file = open(path)?;
    let len = file.metadata()?.len();
    if len > max {
        return Err(too_large(len, max));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    // The file may have grown since; read no more than the cap allows.
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(too_large(bytes.len() as u64, max));
    }
    String::from_utf8(bytes).map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8"))
}

fn too_large(len: u64, max: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::FileTooLarge,
        format!(
            "is {:.2}, more than the {} such a file can be",
            byte_unit::Byte::from_u64(len).get_appropriate_unit(byte_unit::UnitType::Binary),
            byte_unit::Byte::from_u64(max).get_appropriate_unit(byte_unit::UnitType::Binary)
        ),
    )
}

/// Why a path given as a manifest cannot be read as one: "`p` does not
/// exist", or "`p` is a FIFO, not a file" (a device, a socket, …).
pub fn not_a_file(path: &Path) -> String {
    let shown = path.display();
    match std::fs::metadata(path) {
        Ok(meta) if !meta.is_file() => format!("`{shown}` is {}, not a file", kind(&meta)),
        _ => format!("`{shown}` does not exist"),
    }
}

/// What `meta` is, for a message: `a FIFO`, `a device`, `a directory`, ….
pub fn kind(meta: &std::fs::Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    "something other than a file"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_that_is_no_file_says_what_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("gone.toml");
        assert_eq!(
            not_a_file(&missing),
            format!("`{}` does not exist", missing.display())
        );
        #[cfg(unix)]
        assert_eq!(
            not_a_file(Path::new("/dev/zero")),
            "`/dev/zero` is a device, not a file"
        );
    }

    #[test]
    fn only_regular_files_under_the_cap_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.toml");
        std::fs::write(&file, "x = 1\n").unwrap();
        assert_eq!(read_text(&file, 100).unwrap(), "x = 1\n");
        let err = read_text(&file, 3).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::FileTooLarge);
        assert!(err.to_string().contains("more than the 3 B"), "{err}");
        let err = read_text(dir.path(), 100).unwrap_err();
        assert_eq!(err.to_string(), "is a directory, not a regular file");
        let err = read_text(Path::new("/dev/zero"), 100).unwrap_err();
        assert_eq!(err.to_string(), "is a device, not a regular file");
        assert_eq!(
            read_text(&dir.path().join("missing"), 100)
                .unwrap_err()
                .kind(),
            io::ErrorKind::NotFound
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if !made.is_ok_and(|s| s.success()) {
            panic!("mkfifo is needed for this test");
        }
        let err = read_text(&fifo, 100).unwrap_err();
        assert_eq!(err.to_string(), "is a FIFO, not a regular file");
    }
}

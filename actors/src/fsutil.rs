//! Writing small files durably: through a temporary file, synced, then renamed, so a
//! crash leaves either the old content or the new, never half of it.

use std::io::Write;
use std::path::Path;

/// Writes `data` to `path` atomically; `private` makes the file readable by its owner
/// only (keys, tokens, configs that name them).
pub fn write_atomic(path: &Path, data: &[u8], private: bool) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        if private {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        #[cfg(not(unix))]
        let _ = private;
        let mut f = opts.open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_restricts_private_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("f");
        write_atomic(&p, b"one", false).expect("write");
        write_atomic(&p, b"two", true).expect("rewrite");
        assert_eq!(std::fs::read(&p).expect("read"), b"two");
        assert!(!dir.path().join("f.tmp").exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}

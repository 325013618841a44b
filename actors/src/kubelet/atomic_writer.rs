//! Writes a volume's files so that a reader sees either the old set or the new one,
//! never a mix: Kubernetes' `AtomicWriter`, which its secret, configMap, downwardAPI and
//! projected volumes use.
//!
//! The rules the code keeps:
//!
//! - The files live in a timestamped directory `..<yyyy_mm_dd_hh_mm_ss>.<random>` inside
//!   the volume's directory; `..data` is a symlink to it. A new payload goes into a new
//!   timestamped directory, a symlink `..data_tmp` to it is made and renamed over
//!   `..data` (`rename` is atomic), and only then the old directory is removed.
//! - Each top-level name of the payload is a symlink `name -> ..data/name`, made once;
//!   names that left the payload lose their symlink. A reader following `name` goes
//!   through `..data`, so it always reads one payload.
//! - A payload equal to what `..data` shows (content and mode) writes nothing.
//! - Paths are relative, without `..` elements and not starting with `..` (validation
//!   guarantees it; [`write`] refuses anything else).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Component, Path};

/// The symlink to the current timestamped directory.
pub const DATA_DIR: &str = "..data";
/// The symlink made before it is renamed over [`DATA_DIR`].
const DATA_DIR_TMP: &str = "..data_tmp";

/// One file of a payload: its content and mode bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProjection {
    /// The bytes.
    pub data: Vec<u8>,
    /// Mode bits (0..=0o777).
    pub mode: u32,
}

/// A volume's files by relative path.
pub type Payload = BTreeMap<String, FileProjection>;

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// Checks that `p` is a plain relative path inside the volume.
fn check_path(p: &str) -> io::Result<()> {
    let path = Path::new(p);
    if p.is_empty() || p.starts_with("..") {
        return Err(invalid(format!("invalid path {p:?}")));
    }
    if !path.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(invalid(format!(
            "path {p:?} must be relative, without '..'"
        )));
    }
    Ok(())
}

/// The first element of a relative path (the name of its user-visible symlink).
fn top_level(p: &str) -> &str {
    p.split('/').next().unwrap_or(p)
}

/// Whether the current `..data` of `dir` holds exactly `payload`.
fn unchanged(dir: &Path, payload: &Payload) -> bool {
    let data = dir.join(DATA_DIR);
    let Ok(current) = files_under(&data) else {
        return false;
    };
    if current != payload.keys().cloned().collect::<BTreeSet<_>>() {
        return false;
    }
    payload.iter().all(|(p, f)| {
        let path = data.join(p);
        let same_mode = fs::metadata(&path).is_ok_and(|m| m.permissions().mode() & 0o777 == f.mode);
        same_mode && fs::read(&path).is_ok_and(|d| d == f.data)
    })
}

/// The relative paths of the files under `root` (following `root` itself if a symlink).
fn files_under(root: &Path) -> io::Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = stack.pop() {
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            if entry.file_type()?.is_dir() {
                stack.push((entry.path(), rel));
            } else {
                out.insert(rel);
            }
        }
    }
    Ok(out)
}

/// A new timestamped directory's name, e.g. `..2026_12_04_17_20_00.123456789`.
fn timestamped_name() -> String {
    let now = rudder_protocol::resources::Time::now().to_string();
    let stamp: String = now
        .trim_end_matches('Z')
        .chars()
        .map(|c| if c.is_ascii_digit() { c } else { '_' })
        .collect();
    format!("..{stamp}.{:09}", rand::random::<u32>() % 1_000_000_000)
}

/// Makes `dir` hold `payload` (see the module docs); true when something was written.
pub fn write(dir: &Path, payload: &Payload) -> io::Result<bool> {
    for p in payload.keys() {
        check_path(p)?;
    }
    fs::create_dir_all(dir)?;
    if unchanged(dir, payload) {
        return Ok(false);
    }
    let old = fs::read_link(dir.join(DATA_DIR)).ok();
    let ts_name = timestamped_name();
    let ts = dir.join(&ts_name);
    fs::create_dir(&ts)?;
    fs::set_permissions(&ts, fs::Permissions::from_mode(0o755))?;
    for (p, f) in payload {
        let target = ts.join(p);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(&target, &f.data)?;
        fs::set_permissions(&target, fs::Permissions::from_mode(f.mode))?;
    }
    let tmp = dir.join(DATA_DIR_TMP);
    match fs::remove_file(&tmp) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    symlink(&ts_name, &tmp)?;
    fs::rename(&tmp, dir.join(DATA_DIR))?;
    // User-visible names: one symlink per top-level element, through `..data`.
    let wanted: BTreeSet<&str> = payload.keys().map(|p| top_level(p)).collect();
    for name in &wanted {
        let link = dir.join(name);
        if fs::symlink_metadata(&link).is_err() {
            symlink(Path::new(DATA_DIR).join(name), &link)?;
        }
    }
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if !name.starts_with("..") && !wanted.contains(name.as_str()) {
            fs::remove_file(dir.join(&name))?;
        }
    }
    if let Some(old) = old.filter(|o| o.as_os_str() != ts_name.as_str()) {
        let old = dir.join(old);
        if old.starts_with(dir) {
            fs::remove_dir_all(old)?;
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn payload(files: &[(&str, &str, u32)]) -> Payload {
        files
            .iter()
            .map(|(p, d, m)| {
                (
                    (*p).to_owned(),
                    FileProjection {
                        data: d.as_bytes().to_vec(),
                        mode: *m,
                    },
                )
            })
            .collect()
    }

    fn read(dir: &Path, p: &str) -> String {
        fs::read_to_string(dir.join(p)).unwrap()
    }

    fn timestamped_dirs(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("..") && n != DATA_DIR)
            .collect()
    }

    #[test]
    fn writes_through_data_symlink() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("vol");
        let p = payload(&[("k", "v1", 0o644), ("sub/x", "nested", 0o600)]);
        assert!(write(&dir, &p).unwrap());
        assert_eq!(read(&dir, "k"), "v1");
        assert_eq!(read(&dir, "sub/x"), "nested");
        assert_eq!(
            fs::read_link(dir.join("k")).unwrap(),
            Path::new("..data/k"),
            "user-visible names go through ..data"
        );
        let ts = fs::read_link(dir.join(DATA_DIR)).unwrap();
        assert!(ts.to_string_lossy().starts_with("..20"), "{ts:?}");
        let mode = fs::metadata(dir.join("sub/x"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(timestamped_dirs(&dir).len(), 1);
    }

    #[test]
    fn same_payload_writes_nothing_and_changes_swap_atomically() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("vol");
        let p1 = payload(&[("a", "1", 0o644), ("b", "2", 0o644)]);
        assert!(write(&dir, &p1).unwrap());
        let first = fs::read_link(dir.join(DATA_DIR)).unwrap();
        assert!(!write(&dir, &p1).unwrap(), "unchanged payload");
        assert_eq!(fs::read_link(dir.join(DATA_DIR)).unwrap(), first);

        let p2 = payload(&[("a", "1b", 0o644), ("c", "3", 0o644)]);
        assert!(write(&dir, &p2).unwrap());
        assert_ne!(fs::read_link(dir.join(DATA_DIR)).unwrap(), first);
        assert_eq!(read(&dir, "a"), "1b");
        assert_eq!(read(&dir, "c"), "3");
        assert!(
            fs::symlink_metadata(dir.join("b")).is_err(),
            "a name that left the payload loses its symlink"
        );
        assert_eq!(
            timestamped_dirs(&dir).len(),
            1,
            "the old directory is removed"
        );

        let p3 = payload(&[("a", "1b", 0o400), ("c", "3", 0o644)]);
        assert!(write(&dir, &p3).unwrap(), "a mode change is a change");
        let empty = Payload::new();
        assert!(write(&dir, &empty).unwrap());
        assert!(fs::symlink_metadata(dir.join("a")).is_err());
    }

    #[test]
    fn refuses_paths_outside_the_volume() {
        let tmp = tempfile::tempdir().unwrap();
        for bad in ["../x", "/etc/passwd", "a/../../x", "..x", ""] {
            let p = payload(&[(bad, "x", 0o644)]);
            assert!(write(tmp.path(), &p).is_err(), "{bad:?}");
        }
    }
}

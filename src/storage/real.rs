//! Files in a data directory, made durable with fsync.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::Disk;

/// A member's data directory on the real file system.
///
/// A WAL save is one `write` and one `fdatasync`, as etcd's is: files stay
/// open between calls (opening a file per append cost a syscall pair each),
/// `sync` flushes the data and the size it needs to be read back
/// (`fdatasync`), and the directory is synced only when an entry in it
/// changed since the last time, not on every sync.
pub struct RealDisk {
    dir: PathBuf,
    open: Mutex<OpenFiles>,
}

#[derive(Default)]
struct OpenFiles {
    /// Handles by name, opened for appending on first use.
    files: BTreeMap<String, Arc<File>>,
    /// A file was created since the directory was last synced, so its entry
    /// is not yet durable.
    dir_dirty: bool,
}

impl RealDisk {
    /// Opens (creating if needed) the data directory `dir`.
    pub fn open(dir: impl AsRef<Path>) -> io::Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir)?;
        Ok(Self {
            dir,
            open: Mutex::default(),
        })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Makes the directory entries (creations, renames, removals) durable.
    fn sync_dir(&self) -> io::Result<()> {
        File::open(&self.dir)?.sync_all()
    }

    /// The open handle of `name`, opening (and with `create`, creating) it
    /// first if needed. I/O happens outside the lock, so a snapshot being
    /// written does not wait for a WAL fsync.
    fn handle(&self, name: &str, create: bool) -> io::Result<Arc<File>> {
        let mut open = self.open.lock().unwrap();
        if let Some(file) = open.files.get(name) {
            return Ok(file.clone());
        }
        let path = self.path(name);
        let existed = path.exists();
        let file = Arc::new(OpenOptions::new().create(create).append(true).open(&path)?);
        open.dir_dirty |= !existed;
        open.files.insert(name.to_string(), file.clone());
        Ok(file)
    }

    /// Forgets the handle of `name`: its file is about to be replaced.
    fn close(&self, name: &str) {
        self.open.lock().unwrap().files.remove(name);
    }
}

/// `e`, naming the file it happened to: an error such as ENOSPC has to say
/// which file the member could not write, and `std::fs` does not.
fn naming(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

impl RealDisk {
    fn append_at(&self, name: &str, data: &[u8]) -> io::Result<()> {
        self.handle(name, true)?.as_ref().write_all(data)
    }

    fn write_at(&self, name: &str, data: &[u8]) -> io::Result<()> {
        self.close(name);
        let existed = self.path(name).exists();
        fs::write(self.path(name), data)?;
        self.open.lock().unwrap().dir_dirty |= !existed;
        Ok(())
    }

    fn sync_at(&self, name: &str) -> io::Result<()> {
        self.handle(name, false)?.sync_data()?;
        let dirty = std::mem::take(&mut self.open.lock().unwrap().dir_dirty);
        if dirty {
            if let Err(e) = self.sync_dir() {
                self.open.lock().unwrap().dir_dirty = true;
                return Err(e);
            }
        }
        Ok(())
    }

    fn rename_at(&self, from: &str, to: &str) -> io::Result<()> {
        self.close(from);
        self.close(to);
        fs::rename(self.path(from), self.path(to))?;
        self.sync_dir()
    }

    fn remove_at(&self, name: &str) -> io::Result<()> {
        self.close(name);
        match fs::remove_file(self.path(name)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => self.sync_dir(),
        }
    }

    fn list_at(&self) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        names.sort();
        Ok(names)
    }
}

/// Every error names the file (or, for a listing, the directory).
impl Disk for RealDisk {
    fn read(&self, name: &str) -> io::Result<Vec<u8>> {
        fs::read(self.path(name)).map_err(|e| naming(&self.path(name), e))
    }

    fn append(&self, name: &str, data: &[u8]) -> io::Result<()> {
        self.append_at(name, data)
            .map_err(|e| naming(&self.path(name), e))
    }

    fn write(&self, name: &str, data: &[u8]) -> io::Result<()> {
        self.write_at(name, data)
            .map_err(|e| naming(&self.path(name), e))
    }

    fn truncate(&self, name: &str, len: u64) -> io::Result<()> {
        (self.handle(name, false).and_then(|file| file.set_len(len)))
            .map_err(|e| naming(&self.path(name), e))
    }

    fn sync(&self, name: &str) -> io::Result<()> {
        self.sync_at(name).map_err(|e| naming(&self.path(name), e))
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        self.rename_at(from, to)
            .map_err(|e| naming(&self.path(to), e))
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        self.remove_at(name)
            .map_err(|e| naming(&self.path(name), e))
    }

    fn list(&self) -> io::Result<Vec<String>> {
        self.list_at().map_err(|e| naming(&self.dir, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_names_the_file() {
        let dir = std::env::temp_dir().join(format!("etcd-sim-real-disk-{}", std::process::id()));
        let disk = RealDisk::open(&dir).unwrap();
        let error = disk.read("missing").unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::NotFound);
        let path = dir.join("missing");
        assert!(
            error
                .to_string()
                .starts_with(&format!("{}: ", path.display())),
            "{error}"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}

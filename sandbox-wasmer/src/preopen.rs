//! Preopened directories: the only host filesystem a WASI guest can reach.
//!
//! wasmer-wasix resolves guest paths over its own inode tree, and its host filesystem
//! (`virtual_fs::host_fs`) then hands the resulting path to `std::fs`, which follows host
//! symlinks anywhere and resolves `..` lexically. The sandbox does not rely on either: the
//! backing filesystem given to wasix is [`PreopenFs`], which holds one directory *handle*
//! (`cap_std::fs::Dir`) per preopen and performs every operation relative to it. cap-std
//! resolves each path beneath its handle (with `openat2(RESOLVE_BENEATH)` on Linux, or a
//! component-by-component walk elsewhere), so `..` past the preopen, absolute symlinks and
//! symlinks leading out (pre-existing or created later, by anyone) fail with an error whatever
//! path wasix asks for. wasix's own checks (rights, its inode tree) come first; this layer holds
//! even if they are wrong, which matters because wasix gives its virtual root fd every right.
//!
//! A read-only preopen refuses every mutation at this layer too: opening for write, append,
//! truncate or create; creating, removing or renaming entries (in either direction); links and
//! symlinks; and, on files opened from it, writing, resizing and setting times.
//!
//! Guest-created symlinks must stay inside their preopen lexically (no absolute target, no `..`
//! beyond the preopen's root), so that the guest cannot plant a link that a host program would
//! later follow out of the directory.

use cap_std::ambient_authority;
use cap_std::fs::{Dir, FileTypeExt, Metadata as CapMetadata, OpenOptions as CapOpenOptions};
use std::io::{self, Read, Seek, Write};
use std::path::{Component, Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncRead, AsyncSeek, AsyncWrite, ReadBuf};
use wasmer_wasix::virtual_fs::{
    self, DirEntry, FileOpener, FileSystem, FileType, FsError, Metadata, OpenOptions,
    OpenOptionsConfig, ReadDir, VirtualFile,
};

/// A boxed, sendable future, as the `FileSystem` trait wants them.
type BoxFuture<'a, T> = Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// The guest name of a preopen as wasix sees it: a single directory name at the root.
///
/// `/data`, `data` and `/data/` are accepted (all become `data`); nested paths, `.`, `..`
/// and `/` are not, because wasix looks preopens up one path component at a time.
pub(crate) fn guest_name(guest: &str) -> Result<String, String> {
    let name = guest.trim_matches('/');
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        return Err(format!(
            "wasmer backend: preopen guest path {guest:?} must be a single directory name \
             such as /data"
        ));
    }
    Ok(name.to_string())
}

/// One preopened directory.
#[derive(Debug)]
struct Mount {
    /// Its name at the guest's root.
    name: String,
    /// The handle every path in it is resolved beneath.
    dir: Arc<Dir>,
    /// Whether the guest may change anything in it.
    writable: bool,
}

/// The backing filesystem of a WASI guest: a root holding only the preopens.
#[derive(Debug, Default)]
pub(crate) struct PreopenFs {
    mounts: Vec<Mount>,
}

/// A path inside a preopen.
struct Located<'a> {
    mount: &'a Mount,
    /// Relative to the preopen; empty for the preopen itself.
    rel: PathBuf,
}

impl Located<'_> {
    /// The path to hand cap-std (`.` for the preopen itself).
    fn path(&self) -> &Path {
        if self.rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            &self.rel
        }
    }

    /// Refuses mutations of a read-only preopen.
    fn writable(self) -> virtual_fs::Result<Self> {
        if self.mount.writable {
            Ok(self)
        } else {
            Err(FsError::PermissionDenied)
        }
    }

    /// Refuses operations on the preopen directory itself (removing or renaming it).
    fn entry(self) -> virtual_fs::Result<Self> {
        if self.rel.as_os_str().is_empty() {
            Err(FsError::PermissionDenied)
        } else {
            Ok(self)
        }
    }
}

impl PreopenFs {
    /// Opens `host` and makes it visible as `/name`.
    pub(crate) fn add(&mut self, name: String, host: &Path, writable: bool) -> io::Result<()> {
        if self.mounts.iter().any(|m| m.name == name) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("two preopens are named /{name}"),
            ));
        }
        let dir = Dir::open_ambient_dir(host, ambient_authority())?;
        self.mounts.push(Mount {
            name,
            dir: Arc::new(dir),
            writable,
        });
        Ok(())
    }

    /// Finds the preopen a path is in; `None` is the root itself.
    fn locate(&self, path: &Path) -> virtual_fs::Result<Option<Located<'_>>> {
        let mut parts = Vec::new();
        for component in path.components() {
            match component {
                Component::RootDir | Component::CurDir => {}
                // wasix hands over resolved paths; a `..` here is refused rather than
                // interpreted.
                Component::ParentDir => return Err(FsError::PermissionDenied),
                Component::Prefix(_) => return Err(FsError::InvalidInput),
                Component::Normal(part) => parts.push(part),
            }
        }
        let Some((first, rest)) = parts.split_first() else {
            return Ok(None);
        };
        let mount = self
            .mounts
            .iter()
            .find(|m| m.name.as_str() == *first)
            .ok_or(FsError::EntryNotFound)?;
        Ok(Some(Located {
            mount,
            rel: rest.iter().collect(),
        }))
    }

    /// Like [`PreopenFs::locate`], but the root is refused (it holds only the preopens).
    fn locate_in_mount(&self, path: &Path) -> virtual_fs::Result<Located<'_>> {
        self.locate(path)?.ok_or(FsError::PermissionDenied)
    }

    fn root_metadata() -> Metadata {
        Metadata {
            ft: FileType::new_dir(),
            accessed: 0,
            created: 0,
            modified: 0,
            len: 0,
        }
    }
}

fn nanos(time: io::Result<cap_std::time::SystemTime>) -> u64 {
    time.ok()
        .and_then(|t| t.into_std().duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn convert(metadata: &CapMetadata) -> Metadata {
    let ft = metadata.file_type();
    Metadata {
        ft: FileType {
            dir: ft.is_dir(),
            file: ft.is_file(),
            symlink: ft.is_symlink(),
            char_device: ft.is_char_device(),
            block_device: ft.is_block_device(),
            socket: ft.is_socket(),
            fifo: ft.is_fifo(),
        },
        accessed: nanos(metadata.accessed()),
        created: nanos(metadata.created()),
        modified: nanos(metadata.modified()),
        len: metadata.len(),
    }
}

/// Whether a symlink at `link` (relative to its preopen) with target `target` resolves, as
/// text, to somewhere inside the preopen.
fn target_stays_inside(link: &Path, target: &Path) -> bool {
    // Depth of the directory holding the link.
    let mut depth = link.components().count().saturating_sub(1);
    for component in target.components() {
        match component {
            Component::CurDir => {}
            Component::Normal(_) => depth += 1,
            Component::ParentDir => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return false,
            },
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    true
}

impl FileSystem for PreopenFs {
    fn readlink(&self, path: &Path) -> virtual_fs::Result<PathBuf> {
        let at = self.locate_in_mount(path)?.entry()?;
        Ok(at.mount.dir.read_link_contents(at.path())?)
    }

    fn read_dir(&self, path: &Path) -> virtual_fs::Result<ReadDir> {
        let Some(at) = self.locate(path)? else {
            let entries = self
                .mounts
                .iter()
                .map(|m| DirEntry {
                    path: Path::new("/").join(&m.name),
                    metadata: m
                        .dir
                        .dir_metadata()
                        .map(|md| convert(&md))
                        .map_err(FsError::from),
                })
                .collect();
            return Ok(ReadDir::new(entries));
        };
        let base = Path::new("/").join(&at.mount.name).join(&at.rel);
        let mut entries = Vec::new();
        for entry in at.mount.dir.read_dir(at.path())? {
            let entry = entry?;
            entries.push(DirEntry {
                path: base.join(entry.file_name()),
                metadata: entry
                    .metadata()
                    .map(|md| convert(&md))
                    .map_err(FsError::from),
            });
        }
        entries.sort_by(|a, b| a.path.file_name().cmp(&b.path.file_name()));
        Ok(ReadDir::new(entries))
    }

    fn create_dir(&self, path: &Path) -> virtual_fs::Result<()> {
        let at = self.locate_in_mount(path)?.writable()?.entry()?;
        Ok(at.mount.dir.create_dir(at.path())?)
    }

    fn create_symlink(&self, source: &Path, target: &Path) -> virtual_fs::Result<()> {
        // `source` is the link's contents, `target` where the link is created.
        let at = self.locate_in_mount(target)?.writable()?.entry()?;
        if !target_stays_inside(&at.rel, source) {
            return Err(FsError::PermissionDenied);
        }
        Ok(at.mount.dir.symlink(source, at.path())?)
    }

    fn hard_link(&self, source: &Path, target: &Path) -> virtual_fs::Result<()> {
        // Linking a read-only file into a writable directory would make it writable: both
        // sides must be writable.
        let from = self.locate_in_mount(source)?.writable()?.entry()?;
        let to = self.locate_in_mount(target)?.writable()?.entry()?;
        Ok(from
            .mount
            .dir
            .hard_link(from.path(), &to.mount.dir, to.path())?)
    }

    fn remove_dir(&self, path: &Path) -> virtual_fs::Result<()> {
        let at = self.locate_in_mount(path)?.writable()?.entry()?;
        Ok(at.mount.dir.remove_dir(at.path())?)
    }

    fn rename<'a>(&'a self, from: &'a Path, to: &'a Path) -> BoxFuture<'a, virtual_fs::Result<()>> {
        Box::pin(async move {
            let from = self.locate_in_mount(from)?.writable()?.entry()?;
            let to = self.locate_in_mount(to)?.writable()?.entry()?;
            Ok(from
                .mount
                .dir
                .rename(from.path(), &to.mount.dir, to.path())?)
        })
    }

    fn metadata(&self, path: &Path) -> virtual_fs::Result<Metadata> {
        match self.locate(path)? {
            None => Ok(Self::root_metadata()),
            Some(at) if at.rel.as_os_str().is_empty() => Ok(convert(&at.mount.dir.dir_metadata()?)),
            Some(at) => Ok(convert(&at.mount.dir.metadata(at.path())?)),
        }
    }

    fn symlink_metadata(&self, path: &Path) -> virtual_fs::Result<Metadata> {
        match self.locate(path)? {
            None => Ok(Self::root_metadata()),
            Some(at) if at.rel.as_os_str().is_empty() => Ok(convert(&at.mount.dir.dir_metadata()?)),
            Some(at) => Ok(convert(&at.mount.dir.symlink_metadata(at.path())?)),
        }
    }

    fn remove_file(&self, path: &Path) -> virtual_fs::Result<()> {
        let at = self.locate_in_mount(path)?.writable()?.entry()?;
        Ok(at.mount.dir.remove_file(at.path())?)
    }

    fn new_open_options(&self) -> OpenOptions<'_> {
        OpenOptions::new(self)
    }
}

impl FileOpener for PreopenFs {
    fn open(
        &self,
        path: &Path,
        conf: &OpenOptionsConfig,
    ) -> virtual_fs::Result<Box<dyn VirtualFile + Send + Sync + 'static>> {
        let mutates = conf.write || conf.append || conf.truncate || conf.create || conf.create_new;
        let mut at = self.locate_in_mount(path)?.entry()?;
        if mutates {
            at = at.writable()?;
        }
        // Like the host filesystem of wasix: truncate wins over append.
        let append = conf.append && !conf.truncate;
        let write = conf.write || append;
        let mut options = CapOpenOptions::new();
        options
            .read(conf.read || !write)
            .write(conf.write)
            .append(append)
            .truncate(conf.truncate)
            .create(conf.create)
            .create_new(conf.create_new);
        let file = at.mount.dir.open_with(at.path(), &options)?.into_std();
        if file.metadata().map(|m| m.is_dir()).unwrap_or(false) {
            return Err(FsError::NotAFile);
        }
        Ok(Box::new(HostFile {
            file,
            dir: at.mount.dir.clone(),
            rel: at.rel,
            writable: write,
            seek: None,
        }))
    }
}

/// A file opened from a preopen: synchronous I/O on the open descriptor, no path-based
/// operation except [`VirtualFile::unlink`], which goes through the preopen's handle.
#[derive(Debug)]
struct HostFile {
    file: std::fs::File,
    dir: Arc<Dir>,
    rel: PathBuf,
    /// Opened for writing (only possible in a writable preopen).
    writable: bool,
    /// The result of the last `start_seek`, for `poll_complete`.
    seek: Option<io::Result<u64>>,
}

impl HostFile {
    fn time(&self, pick: impl Fn(&std::fs::Metadata) -> io::Result<SystemTime>) -> u64 {
        self.file
            .metadata()
            .and_then(|m| pick(&m))
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    }

    fn check_writable(&self) -> virtual_fs::Result<()> {
        if self.writable {
            Ok(())
        } else {
            Err(FsError::PermissionDenied)
        }
    }
}

impl VirtualFile for HostFile {
    fn last_accessed(&self) -> u64 {
        self.time(std::fs::Metadata::accessed)
    }

    fn last_modified(&self) -> u64 {
        self.time(std::fs::Metadata::modified)
    }

    fn created_time(&self) -> u64 {
        self.time(std::fs::Metadata::created)
    }

    fn set_times(&mut self, atime: Option<u64>, mtime: Option<u64>) -> virtual_fs::Result<()> {
        self.check_writable()?;
        let mut times = std::fs::FileTimes::new();
        if let Some(atime) = atime {
            times = times.set_accessed(UNIX_EPOCH + Duration::from_nanos(atime));
        }
        if let Some(mtime) = mtime {
            times = times.set_modified(UNIX_EPOCH + Duration::from_nanos(mtime));
        }
        Ok(self.file.set_times(times)?)
    }

    fn size(&self) -> u64 {
        self.file.metadata().map(|m| m.len()).unwrap_or(0)
    }

    fn set_len(&mut self, new_size: u64) -> virtual_fs::Result<()> {
        self.check_writable()?;
        Ok(self.file.set_len(new_size)?)
    }

    fn unlink(&mut self) -> virtual_fs::Result<()> {
        self.check_writable()?;
        Ok(self.dir.remove_file(&self.rel)?)
    }

    fn poll_read_ready(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let size = this.file.metadata().map(|m| m.len()).unwrap_or(0);
        let position = this.file.stream_position().unwrap_or(size);
        Poll::Ready(Ok(
            usize::try_from(size.saturating_sub(position)).unwrap_or(usize::MAX)
        ))
    }

    fn poll_write_ready(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(64 * 1024))
    }
}

impl AsyncRead for HostFile {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let n = match this.file.read(buf.initialize_unfilled()) {
            Ok(n) => n,
            Err(err) => return Poll::Ready(Err(err)),
        };
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for HostFile {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if !this.writable {
            return Poll::Ready(Err(io::ErrorKind::PermissionDenied.into()));
        }
        Poll::Ready(this.file.write(buf))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl AsyncSeek for HostFile {
    fn start_seek(self: Pin<&mut Self>, position: io::SeekFrom) -> io::Result<()> {
        let this = self.get_mut();
        this.seek = Some(this.file.seek(position));
        Ok(())
    }

    fn poll_complete(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        let this = self.get_mut();
        Poll::Ready(match this.seek.take() {
            Some(result) => result,
            None => this.file.stream_position(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_names_are_single_directories() {
        assert_eq!(guest_name("/data").unwrap(), "data");
        assert_eq!(guest_name("data/").unwrap(), "data");
        for bad in ["/", ".", "..", "/a/b", ""] {
            assert!(guest_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn symlink_targets_are_checked_lexically() {
        assert!(target_stays_inside(
            Path::new("link"),
            Path::new("data.txt")
        ));
        assert!(target_stays_inside(
            Path::new("sub/link"),
            Path::new("../data.txt")
        ));
        assert!(!target_stays_inside(Path::new("link"), Path::new("../x")));
        assert!(!target_stays_inside(
            Path::new("sub/link"),
            Path::new("../../x")
        ));
        assert!(!target_stays_inside(
            Path::new("link"),
            Path::new("/etc/passwd")
        ));
        assert!(!target_stays_inside(
            Path::new("link"),
            Path::new("a/../../x")
        ));
    }
}

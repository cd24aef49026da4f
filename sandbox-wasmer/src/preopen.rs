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
//! The paths wasix hands over are guest paths: [`PreopenFs`] is a mount table keyed by the
//! preopens' guest paths (normalised: `/`, `/data`, `/data/in`). A path belongs to the mount
//! with the longest guest path that is a prefix of it, so the root mount `/` holds everything
//! no other mount covers and a nested mount (`/data/in`) shadows whatever its parent mount has
//! at that path, however the guest reaches it. Directories on the way to a mount that no mount
//! covers (`/` and `/data` when only `/data/in` is preopened) are synthetic: they list the
//! mounts below them and refuse every change.
//!
//! A read-only preopen refuses every mutation at this layer too: opening for write, append,
//! truncate or create; creating, removing or renaming entries (in either direction, across
//! mounts too); links and symlinks; and, on files opened from it, writing, resizing and setting
//! times. Mount points and synthetic directories cannot be removed, renamed or written.
//!
//! Symlinks must stay inside their mount, as text: a guest cannot create one with an absolute
//! target or a `..` beyond its mount's root (so it cannot plant a link that a host program
//! would later follow out of the directory), and an existing one that does not stay inside is
//! not handed to wasix (reading it fails), because wasix follows symlinks itself, over the
//! guest's whole namespace, and would otherwise follow it into another mount.

use cap_std::ambient_authority;
use cap_std::fs::{Dir, FileTypeExt, Metadata as CapMetadata, OpenOptions as CapOpenOptions};
use std::ffi::{OsStr, OsString};
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

/// One preopened directory.
#[derive(Debug)]
struct Mount {
    /// Its guest path, as components below the root (empty for `/`).
    path: Vec<OsString>,
    /// The handle every path in it is resolved beneath.
    dir: Arc<Dir>,
    /// Whether the guest may change anything in it.
    writable: bool,
}

impl Mount {
    /// Its guest path, absolute.
    fn guest_path(&self) -> PathBuf {
        let mut path = PathBuf::from("/");
        path.extend(&self.path);
        path
    }
}

/// The backing filesystem of a WASI guest: the preopens at their guest paths, and synthetic
/// directories leading to them.
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

/// Where a guest path is.
enum Place<'a> {
    /// In a preopen.
    Mount(Located<'a>),
    /// A synthetic directory leading to preopens (its components below the root).
    Synthetic(Vec<&'a OsStr>),
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
    /// Opens `host` and makes it visible at the guest path made of `path` (components below the
    /// root; empty for `/`).
    pub(crate) fn add(&mut self, path: Vec<String>, host: &Path, writable: bool) -> io::Result<()> {
        let path: Vec<OsString> = path.into_iter().map(OsString::from).collect();
        if self.mounts.iter().any(|m| m.path == path) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "two preopens have the same guest path",
            ));
        }
        let dir = Dir::open_ambient_dir(host, ambient_authority())?;
        self.mounts.push(Mount {
            path,
            dir: Arc::new(dir),
            writable,
        });
        Ok(())
    }

    /// Finds where a guest path is: in the preopen with the longest guest path that is a
    /// prefix of it, or else in a synthetic directory leading to preopens.
    fn locate<'a>(&'a self, path: &'a Path) -> virtual_fs::Result<Place<'a>> {
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
        let covering = self
            .mounts
            .iter()
            .filter(|m| covers(&m.path, &parts))
            .max_by_key(|m| m.path.len());
        if let Some(mount) = covering {
            return Ok(Place::Mount(Located {
                mount,
                rel: parts[mount.path.len()..].iter().collect(),
            }));
        }
        if self.mounts.iter().any(|m| below(&m.path, &parts)) {
            return Ok(Place::Synthetic(parts));
        }
        Err(FsError::EntryNotFound)
    }

    /// Like [`PreopenFs::locate`], but synthetic directories are refused (nothing in them can
    /// be changed, opened or linked).
    fn locate_in_mount<'a>(&'a self, path: &'a Path) -> virtual_fs::Result<Located<'a>> {
        match self.locate(path)? {
            Place::Mount(at) => Ok(at),
            Place::Synthetic(_) => Err(FsError::PermissionDenied),
        }
    }

    fn synthetic_metadata() -> Metadata {
        Metadata {
            ft: FileType::new_dir(),
            accessed: 0,
            created: 0,
            modified: 0,
            len: 0,
        }
    }

    /// The entries of a synthetic directory: the next component of every mount below it.
    fn synthetic_entries(&self, parts: &[&OsStr]) -> Vec<DirEntry> {
        let mut base = PathBuf::from("/");
        base.extend(parts);
        let mut entries: Vec<DirEntry> = Vec::new();
        for mount in &self.mounts {
            if !below(&mount.path, parts) {
                continue;
            }
            let name = &mount.path[parts.len()];
            let path = base.join(name);
            if entries.iter().any(|e| e.path == path) {
                continue;
            }
            // The mount itself if it is right below, else another synthetic directory.
            let metadata = match self.mounts.iter().find(|m| {
                below(&m.path, parts)
                    && m.path.len() == parts.len() + 1
                    && m.path.last() == Some(name)
            }) {
                Some(m) => m
                    .dir
                    .dir_metadata()
                    .map(|md| convert(&md))
                    .map_err(fs_error),
                None => Ok(Self::synthetic_metadata()),
            };
            entries.push(DirEntry { path, metadata });
        }
        entries.sort_by(|a, b| a.path.file_name().cmp(&b.path.file_name()));
        entries
    }
}

/// An error of the host filesystem as wasix sees it: virtual-fs's own conversion turns
/// "directory not empty" and "not a directory" into an I/O error.
fn fs_error(error: io::Error) -> FsError {
    match error.kind() {
        io::ErrorKind::DirectoryNotEmpty => FsError::DirectoryNotEmpty,
        io::ErrorKind::NotADirectory => FsError::BaseNotDirectory,
        _ => FsError::from(error),
    }
}

/// Whether the mount at `mount` covers the path `parts` (is it or a prefix of it).
fn covers(mount: &[OsString], parts: &[&OsStr]) -> bool {
    mount.len() <= parts.len() && mount.iter().zip(parts).all(|(a, b)| a.as_os_str() == *b)
}

/// Whether the mount at `mount` is strictly below the path `parts`.
fn below(mount: &[OsString], parts: &[&OsStr]) -> bool {
    mount.len() > parts.len() && mount.iter().zip(parts).all(|(a, b)| a.as_os_str() == *b)
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
        let target = at
            .mount
            .dir
            .read_link_contents(at.path())
            .map_err(fs_error)?;
        // wasix follows the link itself over the guest's namespace: one that leaves its mount
        // is not handed over.
        if !target_stays_inside(&at.rel, &target) {
            return Err(FsError::PermissionDenied);
        }
        Ok(target)
    }

    fn read_dir(&self, path: &Path) -> virtual_fs::Result<ReadDir> {
        let at = match self.locate(path)? {
            Place::Synthetic(parts) => return Ok(ReadDir::new(self.synthetic_entries(&parts))),
            Place::Mount(at) => at,
        };
        let base = at.mount.guest_path().join(&at.rel);
        let mut entries = Vec::new();
        for entry in at.mount.dir.read_dir(at.path()).map_err(fs_error)? {
            let entry = entry.map_err(fs_error)?;
            entries.push(DirEntry {
                path: base.join(entry.file_name()),
                metadata: entry.metadata().map(|md| convert(&md)).map_err(fs_error),
            });
        }
        entries.sort_by(|a, b| a.path.file_name().cmp(&b.path.file_name()));
        Ok(ReadDir::new(entries))
    }

    fn create_dir(&self, path: &Path) -> virtual_fs::Result<()> {
        let at = self.locate_in_mount(path)?.writable()?.entry()?;
        at.mount.dir.create_dir(at.path()).map_err(fs_error)
    }

    fn create_symlink(&self, source: &Path, target: &Path) -> virtual_fs::Result<()> {
        // `source` is the link's contents, `target` where the link is created.
        let at = self.locate_in_mount(target)?.writable()?.entry()?;
        if !target_stays_inside(&at.rel, source) {
            return Err(FsError::PermissionDenied);
        }
        at.mount.dir.symlink(source, at.path()).map_err(fs_error)
    }

    fn hard_link(&self, source: &Path, target: &Path) -> virtual_fs::Result<()> {
        // Linking a read-only file into a writable directory would make it writable: both
        // sides must be writable.
        let from = self.locate_in_mount(source)?.writable()?.entry()?;
        let to = self.locate_in_mount(target)?.writable()?.entry()?;
        from.mount
            .dir
            .hard_link(from.path(), &to.mount.dir, to.path())
            .map_err(fs_error)
    }

    fn remove_dir(&self, path: &Path) -> virtual_fs::Result<()> {
        let at = self.locate_in_mount(path)?.writable()?.entry()?;
        at.mount.dir.remove_dir(at.path()).map_err(fs_error)
    }

    fn rename<'a>(&'a self, from: &'a Path, to: &'a Path) -> BoxFuture<'a, virtual_fs::Result<()>> {
        Box::pin(async move {
            let from = self.locate_in_mount(from)?.writable()?.entry()?;
            let to = self.locate_in_mount(to)?.writable()?.entry()?;
            from.mount
                .dir
                .rename(from.path(), &to.mount.dir, to.path())
                .map_err(fs_error)
        })
    }

    fn metadata(&self, path: &Path) -> virtual_fs::Result<Metadata> {
        match self.locate(path)? {
            Place::Synthetic(_) => Ok(Self::synthetic_metadata()),
            Place::Mount(at) if at.rel.as_os_str().is_empty() => {
                Ok(convert(&at.mount.dir.dir_metadata().map_err(fs_error)?))
            }
            Place::Mount(at) => Ok(convert(
                &at.mount.dir.metadata(at.path()).map_err(fs_error)?,
            )),
        }
    }

    fn symlink_metadata(&self, path: &Path) -> virtual_fs::Result<Metadata> {
        match self.locate(path)? {
            Place::Synthetic(_) => Ok(Self::synthetic_metadata()),
            Place::Mount(at) if at.rel.as_os_str().is_empty() => {
                Ok(convert(&at.mount.dir.dir_metadata().map_err(fs_error)?))
            }
            Place::Mount(at) => Ok(convert(
                &at.mount.dir.symlink_metadata(at.path()).map_err(fs_error)?,
            )),
        }
    }

    fn remove_file(&self, path: &Path) -> virtual_fs::Result<()> {
        let at = self.locate_in_mount(path)?.writable()?.entry()?;
        at.mount.dir.remove_file(at.path()).map_err(fs_error)
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
        let mut at = match self.locate(path)? {
            Place::Mount(at) => at.entry()?,
            Place::Synthetic(_) => return Err(FsError::NotAFile),
        };
        if mutates {
            at = at.writable()?;
        }
        // Appending is wasix's: it seeks to the end before each write while the descriptor has
        // the `append` flag, which the guest may clear (`fd_fdstat_set_flags`). The host file is
        // therefore not opened with `O_APPEND`, which could not be cleared; it is opened for
        // writing instead.
        let write = conf.write || conf.append;
        let mut options = CapOpenOptions::new();
        options
            .read(conf.read || !write)
            .write(write)
            .truncate(conf.truncate)
            .create(conf.create)
            .create_new(conf.create_new);
        let file = at
            .mount
            .dir
            .open_with(at.path(), &options)
            .map_err(fs_error)?
            .into_std();
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
        self.file.set_times(times).map_err(fs_error)
    }

    fn size(&self) -> u64 {
        self.file.metadata().map(|m| m.len()).unwrap_or(0)
    }

    fn set_len(&mut self, new_size: u64) -> virtual_fs::Result<()> {
        self.check_writable()?;
        self.file.set_len(new_size).map_err(fs_error)
    }

    fn unlink(&mut self) -> virtual_fs::Result<()> {
        self.check_writable()?;
        self.dir.remove_file(&self.rel).map_err(fs_error)
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

    fn scratch(tag: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("sandbox-preopenfs-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("root/data/in")).unwrap();
        std::fs::create_dir_all(dir.join("nested")).unwrap();
        std::fs::write(dir.join("root/top.txt"), "top\n").unwrap();
        std::fs::write(dir.join("root/data/in/shadowed.txt"), "shadowed\n").unwrap();
        std::fs::write(dir.join("nested/file.txt"), "nested\n").unwrap();
        dir
    }

    fn names(entries: ReadDir) -> Vec<String> {
        entries
            .map(|e| e.unwrap().path.display().to_string())
            .collect()
    }

    #[test]
    fn the_longest_guest_path_wins_and_synthetic_directories_lead_to_mounts() {
        let dir = scratch("mounts");
        let mut fs = PreopenFs::default();
        fs.add(vec!["data".into(), "in".into()], &dir.join("nested"), false)
            .unwrap();
        // Without a root mount, `/` and `/data` are synthetic.
        assert_eq!(names(fs.read_dir(Path::new("/")).unwrap()), ["/data"]);
        assert_eq!(
            names(fs.read_dir(Path::new("/data")).unwrap()),
            ["/data/in"]
        );
        assert!(fs.metadata(Path::new("/data")).unwrap().is_dir());
        assert_eq!(
            fs.metadata(Path::new("/etc")).unwrap_err(),
            FsError::EntryNotFound
        );
        assert_eq!(
            fs.create_dir(Path::new("/data/new")).unwrap_err(),
            FsError::EntryNotFound
        );
        assert_eq!(
            fs.remove_dir(Path::new("/data")).unwrap_err(),
            FsError::PermissionDenied
        );
        assert_eq!(
            names(fs.read_dir(Path::new("/data/in")).unwrap()),
            ["/data/in/file.txt"]
        );
        // With a root mount, it covers everything else; the nested mount shadows its path.
        fs.add(Vec::new(), &dir.join("root"), true).unwrap();
        assert_eq!(
            names(fs.read_dir(Path::new("/")).unwrap()),
            ["/data", "/top.txt"]
        );
        assert!(fs.metadata(Path::new("/data/in/file.txt")).is_ok());
        assert!(fs.metadata(Path::new("/data/in/shadowed.txt")).is_err());
        fs.create_dir(Path::new("/data/new")).unwrap();
        assert!(dir.join("root/data/new").is_dir());
        // The nested mount is read-only, whatever mount the other side is in; mount points
        // stay where they are.
        assert_eq!(
            futures_lite_block(fs.rename(Path::new("/top.txt"), Path::new("/data/in/top.txt"))),
            Err(FsError::PermissionDenied)
        );
        assert_eq!(
            futures_lite_block(fs.rename(Path::new("/data/in"), Path::new("/moved"))),
            Err(FsError::PermissionDenied)
        );
        assert_eq!(
            fs.remove_dir(Path::new("/")).unwrap_err(),
            FsError::PermissionDenied
        );
        assert_eq!(
            fs.add(Vec::new(), &dir.join("root"), true)
                .unwrap_err()
                .kind(),
            io::ErrorKind::AlreadyExists
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn symlinks_leaving_their_mount_are_not_handed_to_wasix() {
        let dir = scratch("links");
        std::os::unix::fs::symlink("top.txt", dir.join("root/inside")).unwrap();
        std::os::unix::fs::symlink("../top.txt", dir.join("root/data/up")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.join("root/absolute")).unwrap();
        std::os::unix::fs::symlink("../root/top.txt", dir.join("nested/out")).unwrap();
        let mut fs = PreopenFs::default();
        fs.add(Vec::new(), &dir.join("root"), true).unwrap();
        fs.add(vec!["n".into()], &dir.join("nested"), true).unwrap();
        assert_eq!(
            fs.readlink(Path::new("/inside")).unwrap(),
            Path::new("top.txt")
        );
        assert_eq!(
            fs.readlink(Path::new("/data/up")).unwrap(),
            Path::new("../top.txt")
        );
        for out in ["/absolute", "/n/out"] {
            assert_eq!(
                fs.readlink(Path::new(out)).unwrap_err(),
                FsError::PermissionDenied,
                "{out}"
            );
        }
        assert_eq!(
            fs.create_symlink(Path::new("../x"), Path::new("/n/evil"))
                .unwrap_err(),
            FsError::PermissionDenied
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Runs a future that never waits to completion.
    fn futures_lite_block<F: std::future::Future>(future: F) -> F::Output {
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut future = std::pin::pin!(future);
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(output) => output,
            Poll::Pending => panic!("the future waited"),
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

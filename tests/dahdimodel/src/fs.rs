//! The FUSE file system: `/dev/dahdi`'s node names and the file operations, served from the
//! shared state.

use crate::state::{Shared, State};
use fuser::Errno;
use fuser::{
    FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo, IoctlFlags,
    LockOwner, OpenFlags, PollEvents, PollFlags, PollNotifier, ReplyAttr, ReplyData,
    ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyIoctl, ReplyOpen, ReplyPoll, ReplyWrite, Request,
    WriteFlags,
};
use std::ffi::OsStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// A node of the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Node {
    Root,
    Ctl,
    Channel,
    Pseudo,
    ChanDir,
    /// `chan/SSS`.
    SpanDir(u32),
    /// `chan/SSS/CCC`, by channel number.
    PerChan(u32),
    /// `N`, by channel number.
    Numbered(u32),
}

const SPAN_DIR_BASE: u64 = 0x1000;
const CHAN_NODE_BASE: u64 = 0x10_0000;
const NUMBERED_BASE: u64 = 0x20_0000;
const SPAN: u64 = 0xF_0000;

impl Node {
    fn ino(self) -> INodeNo {
        INodeNo(match self {
            Node::Root => 1,
            Node::Ctl => 2,
            Node::Channel => 3,
            Node::Pseudo => 4,
            Node::ChanDir => 5,
            Node::SpanDir(s) => SPAN_DIR_BASE + u64::from(s),
            Node::PerChan(c) => CHAN_NODE_BASE + u64::from(c),
            Node::Numbered(c) => NUMBERED_BASE + u64::from(c),
        })
    }

    fn is_dir(self) -> bool {
        matches!(self, Node::Root | Node::ChanDir | Node::SpanDir(_))
    }
}

impl State {
    fn node(&self, ino: INodeNo) -> Option<Node> {
        let n = match ino.0 {
            1 => Node::Root,
            2 => Node::Ctl,
            3 => Node::Channel,
            4 => Node::Pseudo,
            5 => Node::ChanDir,
            i if (SPAN_DIR_BASE..SPAN_DIR_BASE + SPAN).contains(&i) => {
                Node::SpanDir((i - SPAN_DIR_BASE) as u32)
            }
            i if (CHAN_NODE_BASE..CHAN_NODE_BASE + SPAN).contains(&i) => {
                Node::PerChan((i - CHAN_NODE_BASE) as u32)
            }
            i if (NUMBERED_BASE..NUMBERED_BASE + SPAN).contains(&i) => {
                Node::Numbered((i - NUMBERED_BASE) as u32)
            }
            _ => return None,
        };
        let exists = match n {
            Node::SpanDir(s) => self.span(s).is_some(),
            Node::PerChan(c) | Node::Numbered(c) => self.chan(c).is_some(),
            _ => true,
        };
        exists.then_some(n)
    }

    fn children(&self, dir: Node) -> Vec<(String, Node)> {
        match dir {
            Node::Root => {
                let mut v = vec![
                    ("ctl".to_string(), Node::Ctl),
                    ("channel".to_string(), Node::Channel),
                    ("pseudo".to_string(), Node::Pseudo),
                    ("chan".to_string(), Node::ChanDir),
                ];
                v.extend(
                    self.chans
                        .iter()
                        .map(|c| (c.channo.to_string(), Node::Numbered(c.channo))),
                );
                v
            }
            Node::ChanDir => (1..=self.spans.len() as u32)
                .map(|s| (format!("{s:03}"), Node::SpanDir(s)))
                .collect(),
            Node::SpanDir(s) => self
                .chans
                .iter()
                .filter(|c| c.span == s)
                .map(|c| (format!("{:03}", c.chanpos), Node::PerChan(c.channo)))
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// The file system fuser calls.
#[derive(Debug, Clone)]
pub(crate) struct DahdiFs {
    pub(crate) shared: Arc<Shared>,
    pub(crate) born: SystemTime,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
}

const TTL: Duration = Duration::from_secs(1);
/// Files claim a large size so that the kernel's direct I/O writes never count as
/// extending the file (which would make them take the inode lock exclusively).
const FILE_SIZE: u64 = 1 << 40;

impl DahdiFs {
    fn attr(&self, node: Node) -> FileAttr {
        let dir = node.is_dir();
        FileAttr {
            ino: node.ino(),
            size: if dir { 0 } else { FILE_SIZE },
            blocks: 0,
            atime: self.born,
            mtime: self.born,
            ctime: self.born,
            crtime: self.born,
            kind: if dir {
                FileType::Directory
            } else {
                FileType::RegularFile
            },
            perm: if dir { 0o755 } else { 0o660 },
            nlink: if dir { 2 } else { 1 },
            uid: self.uid,
            gid: self.gid,
            rdev: 0,
            blksize: 4096,
            flags: 0,
        }
    }
}

fn errno(e: i32) -> Errno {
    Errno::from_i32(e)
}

impl Filesystem for DahdiFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let st = self.shared.lock();
        let found = st.node(parent).and_then(|dir| {
            st.children(dir)
                .into_iter()
                .find(|(n, _)| OsStr::new(n) == name)
                .map(|(_, node)| node)
        });
        drop(st);
        match found {
            Some(node) => reply.entry(&TTL, &self.attr(node), Generation(0)),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        let node = self.shared.lock().node(ino);
        match node {
            Some(node) => reply.attr(&TTL, &self.attr(node)),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        _mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        _size: Option<u64>,
        _atime: Option<fuser::TimeOrNow>,
        _mtime: Option<fuser::TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        // Device nodes ignore truncation and the like (`O_TRUNC` opens still work).
        self.getattr(_req, ino, None, reply);
    }

    fn open(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let r = {
            let mut st = self.shared.lock();
            match st.node(ino) {
                Some(Node::Ctl) => Ok(st.open_ctl()),
                Some(Node::Channel) => Ok(st.open_unbound()),
                Some(Node::PerChan(c) | Node::Numbered(c)) => st.open_chan(c),
                Some(Node::Pseudo) => Err(libc::ENXIO),
                Some(_) => Err(libc::EISDIR),
                None => Err(libc::ENOENT),
            }
        };
        match r {
            Ok(fh) => reply.opened(
                FileHandle(fh),
                FopenFlags::FOPEN_DIRECT_IO
                    | FopenFlags::FOPEN_NONSEEKABLE
                    | FopenFlags::FOPEN_STREAM
                    | FopenFlags::FOPEN_PARALLEL_DIRECT_WRITES,
            ),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _offset: u64,
        size: u32,
        flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let nonblock = flags.0 & libc::O_NONBLOCK != 0;
        self.shared
            .with(|st, out| st.read(fh.0, size as usize, nonblock, reply, out));
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let nonblock = flags.0 & libc::O_NONBLOCK != 0;
        self.shared
            .with(|st, out| st.write(fh.0, data, nonblock, reply, out));
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.shared.with(|st, out| st.release(fh.0, out));
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let st = self.shared.lock();
        let Some(dir) = st.node(ino).filter(|n| n.is_dir()) else {
            drop(st);
            return reply.error(Errno::ENOTDIR);
        };
        let parent = match dir {
            Node::SpanDir(_) => Node::ChanDir,
            _ => Node::Root,
        };
        let mut entries = vec![
            (".".to_string(), dir, FileType::Directory),
            ("..".to_string(), parent, FileType::Directory),
        ];
        entries.extend(st.children(dir).into_iter().map(|(n, node)| {
            let kind = if node.is_dir() {
                FileType::Directory
            } else {
                FileType::RegularFile
            };
            (n, node, kind)
        }));
        drop(st);
        for (i, (name, node, kind)) in entries.iter().enumerate().skip(offset as usize) {
            if reply.add(node.ino(), i as u64 + 1, *kind, name) {
                break;
            }
        }
        reply.ok();
    }

    fn ioctl(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        flags: IoctlFlags,
        cmd: u32,
        in_data: &[u8],
        out_size: u32,
        reply: ReplyIoctl,
    ) {
        if flags.contains(IoctlFlags::FUSE_IOCTL_DIR) {
            return reply.error(Errno::ENOTTY);
        }
        let r = self
            .shared
            .with(|st, out| st.ioctl(fh.0, cmd, in_data, out));
        match r {
            Ok(mut data) => {
                // The kernel copies out at most what the request encodes; more is an error.
                data.truncate(out_size as usize);
                reply.ioctl(0, &data);
            }
            Err(e) => reply.error(errno(e)),
        }
    }

    fn poll(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        ph: PollNotifier,
        _events: PollEvents,
        flags: PollFlags,
        reply: ReplyPoll,
    ) {
        let notify = flags.contains(PollFlags::FUSE_POLL_SCHEDULE_NOTIFY);
        let ev = self.shared.lock().poll(fh.0, ph, notify);
        reply.poll(ev);
    }
}

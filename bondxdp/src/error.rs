//! The library's error type: every way a command can refuse or fail, with a message a network
//! engineer can act on. The binary wraps it in `anyhow` only at its edge.

use std::path::PathBuf;

/// Errors from bondxdp's library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The process lacks CAP_NET_ADMIN.
    #[error("bondxdp must run as root: it needs CAP_NET_ADMIN and CAP_BPF")]
    NotRoot,
    /// The bpf() syscall is unusable (missing CAP_BPF, kernel without BPF, seccomp...).
    #[error("BPF is not available: {0}")]
    BpfUnavailable(String),
    /// No BPF filesystem is mounted where bondxdp keeps its pins.
    #[error(
        "no BPF filesystem at /sys/fs/bpf: mount one with `mount -t bpf bpf /sys/fs/bpf` \
         (`cargo xtask setup` does this). Under `ip netns exec`, which hides the host's \
         /sys/fs/bpf, bondxdp looks through its parent process; a detached process has none: \
         enter the namespace with `nsenter --net=/run/netns/NAME` instead, or set \
         BONDXDP_BPFFS"
    )]
    BpffsMissing,
    /// A named interface does not exist in this network namespace.
    #[error("interface {0:?} does not exist in this network namespace")]
    UnknownInterface(String),
    /// A would-be member already belongs to a bondxdp bond.
    #[error("{iface} is already a member of bond {bond}")]
    AlreadyInBond {
        /// The interface.
        iface: String,
        /// The bond it belongs to.
        bond: String,
    },
    /// A would-be member is enslaved to something else (kernel bond, bridge, team...).
    #[error("{iface} already has a master ({master}); release it first")]
    HasMaster {
        /// The interface.
        iface: String,
        /// Its master device.
        master: String,
    },
    /// A would-be member cannot carry Ethernet frames.
    #[error("{iface} cannot be a member: {reason}")]
    UnsuitableMember {
        /// The interface.
        iface: String,
        /// Why.
        reason: String,
    },
    /// The bond's name is taken by an existing interface.
    #[error("an interface named {0:?} already exists")]
    NameTaken(String),
    /// The named interface is not a bondxdp bond.
    #[error("{0:?} is not a bondxdp bond in this network namespace")]
    NotABond(String),
    /// An option or argument is invalid.
    #[error("invalid {what}: {message}")]
    InvalidOption {
        /// The option.
        what: String,
        /// What is wrong with it.
        message: String,
    },
    /// A netlink request failed.
    #[error("netlink: {0}")]
    Netlink(String),
    /// Loading or using the eBPF object failed.
    #[error("eBPF: {0}")]
    Ebpf(String),
    /// A file or bpffs operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What bondxdp was doing.
        context: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Another `bondxdp run` manages this network namespace's bonds.
    #[error("another bondxdp controller is already running in this network namespace")]
    ControllerRunning,
    /// bondxdp's directory in bpffs is not safe to use (someone else's, a link...).
    #[error(
        "{} cannot hold bondxdp's pins: {why}; remove it (bondxdp creates it root-owned, mode 700)",
        .path.display()
    )]
    UnsafePinDir {
        /// The directory.
        path: std::path::PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// State pinned in bpffs is unreadable or from another version.
    #[error("pinned state in {0} is damaged or from an incompatible version")]
    BadPinnedState(PathBuf),
    /// A change failed, and undoing it failed in places too (everything else was undone).
    #[error("{cause}\nundoing it failed too:\n  {}", .failures.join("\n  "))]
    UndoFailed {
        /// Why the change failed.
        cause: Box<Error>,
        /// The undo steps that failed.
        failures: Vec<String>,
    },
    /// Several things failed while tearing a bond down (everything else was done).
    #[error("bond {bond} was removed with errors:\n  {}", .errors.join("\n  "))]
    Teardown {
        /// The bond.
        bond: String,
        /// What could not be undone.
        errors: Vec<String>,
    },
}

impl Error {
    /// Shorthand for [`Error::InvalidOption`].
    pub fn invalid(what: impl Into<String>, message: impl Into<String>) -> Error {
        Error::InvalidOption {
            what: what.into(),
            message: message.into(),
        }
    }

    /// Shorthand for [`Error::Io`].
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

impl From<rtnetlink::Error> for Error {
    fn from(e: rtnetlink::Error) -> Self {
        Error::Netlink(e.to_string())
    }
}

macro_rules! ebpf_error {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Self {
                // Keep the verifier log and syscall details: they are the useful part.
                let mut msg = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    msg.push_str(": ");
                    msg.push_str(&s.to_string());
                    source = s.source();
                }
                Error::Ebpf(msg)
            }
        }
    )*};
}
ebpf_error!(
    aya::EbpfError,
    aya::programs::ProgramError,
    aya::maps::MapError,
    aya::pin::PinError,
    aya::programs::links::LinkError
);

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

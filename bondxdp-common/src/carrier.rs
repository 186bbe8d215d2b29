//! The controller's carrier watch: what its fexit programs on the kernel's carrier functions
//! report (bondxdp-ebpf/src/carrier.rs).

/// One carrier change somewhere in the kernel (which device is not said: the controller
/// reads its members' carriers when woken).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CarrierRecord {
    /// [`CARRIER_ON`], [`CARRIER_OFF`] or [`CARRIER_EVENT`].
    pub kind: u32,
}

/// `netif_carrier_on` returned.
pub const CARRIER_ON: u32 = 1;
/// `netif_carrier_off` returned.
pub const CARRIER_OFF: u32 = 2;
/// `netif_carrier_event` returned.
pub const CARRIER_EVENT: u32 = 3;

/// The ring buffer's name in the object.
pub const EVENTS_MAP: &str = "CARRIER_EVENTS";
/// The programs and the kernel function each follows.
pub const PROGRAMS: [(&str, &str); 3] = [
    ("carrier_on", "netif_carrier_on"),
    ("carrier_off", "netif_carrier_off"),
    ("carrier_event", "netif_carrier_event"),
];

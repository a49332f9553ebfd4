//! The domain skeleton: a typed resources struct and an entry macro instead of a
//! hand-written `_start` preamble (docs/architecture.md, "Writing a service").
//!
//! ```text
//! tileos_sys::resources! {
//!     /// What the echo server needs.
//!     struct Resources {
//!         echo: ServedEndpoint("echo"),
//!         spinning: WaitNotification("spinning", optional),
//!     }
//! }
//! tileos_sys::entry!(main);
//! fn main(resources: Resources) -> ! { … }
//! ```
//!
//! [`resources!`](crate::resources) declares the struct (one field per capability: its kind,
//! its name in the description, and `optional` if the program copes without it), fills it
//! from the information page, and puts the list in the program's capability manifest
//! (`tileos_abi::manifest`, the ELF section `.tileos.requires`), which the image builder
//! checks the description against: a description that does not grant a required
//! capability is refused at build time. [`entry!`](crate::entry) writes `_start`: runtime
//! set-up ([`crate::domain::init`]), the resources, then `main`; if a required capability
//! is missing all the same (a program packed by hand), it logs which and stops the domain.
//!
//! Field kinds and the type of the field: `ServedEndpoint`, `ClientEndpoint` →
//! [`crate::cap::Endpoint`]; `WaitNotification`, `SignalNotification` →
//! [`crate::cap::Notification`]; `IoPort` → [`crate::cap::IoPort`]; `IrqHandler` →
//! [`crate::cap::IrqHandler`]; `Region` → [`tileos_mmio::Mmio`]. An `optional` field is an
//! `Option` of it.

pub use tileos_abi::bootinfo::domain_info::CapKind;
pub use tileos_abi::manifest::{Kind, Requirement};

/// A required capability that the information page does not list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Missing {
    /// Its kind.
    pub kind: Kind,
    /// Its name.
    pub name: &'static str,
}

/// A resources struct ([`resources!`](crate::resources) implements it).
pub trait Resources: Sized {
    /// What the struct holds, as written into the manifest.
    const REQUIREMENTS: &'static [Requirement<'static>];
    /// Fills the struct from the information page.
    fn take() -> Result<Self, Missing>;
}

/// Looks up one capability of the information page (`Region`s are taken: each once).
#[doc(hidden)]
pub mod get {
    use crate::domain;
    pub fn served_endpoint(name: &str) -> Option<crate::cap::Endpoint> {
        domain::served_endpoint(name)
    }
    pub fn client_endpoint(name: &str) -> Option<crate::cap::Endpoint> {
        domain::client_endpoint(name)
    }
    pub fn wait_notification(name: &str) -> Option<crate::cap::Notification> {
        domain::wait_notification(name)
    }
    pub fn signal_notification(name: &str) -> Option<crate::cap::Notification> {
        domain::signal_notification(name)
    }
    pub fn io_port(name: &str) -> Option<crate::cap::IoPort> {
        domain::io_port(name)
    }
    pub fn irq_handler(name: &str) -> Option<crate::cap::IrqHandler> {
        domain::irq_handler(name)
    }
    pub fn region(name: &str) -> Option<tileos_mmio::Mmio> {
        domain::take_region(name)
    }
}

/// Runs a domain's `main`: called by [`entry!`](crate::entry) after the runtime set-up.
pub fn run<R: Resources>(main: fn(R) -> !) -> ! {
    match R::take() {
        Ok(resources) => main(resources),
        Err(missing) => {
            crate::log!(
                "{}: no {} \"{}\" granted (the image builder checks descriptions against this program's manifest: was it packed by hand?); stopping",
                crate::domain::name(),
                missing.kind.describe(),
                missing.name
            );
            crate::domain::stop()
        }
    }
}

/// Declares a domain's resources struct (see [the module](crate::skeleton)).
#[macro_export]
macro_rules! resources {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $( $(#[$fmeta:meta])* $field:ident : $kind:ident ( $cap:literal $(, $opt:ident)? ) ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis struct $name {
            $( $(#[$fmeta])* pub $field: $crate::__resource_type!($kind $(, $opt)?), )*
        }

        impl $crate::skeleton::Resources for $name {
            const REQUIREMENTS: &'static [$crate::skeleton::Requirement<'static>] = &[
                $( $crate::skeleton::Requirement {
                    kind: $crate::__resource_kind!($kind),
                    name: $cap,
                    optional: $crate::__resource_optional!($($opt)?),
                }, )*
            ];
            fn take() -> ::core::result::Result<Self, $crate::skeleton::Missing> {
                ::core::result::Result::Ok($name {
                    $( $field: $crate::__resource_take!($kind, $cap $(, $opt)?), )*
                })
            }
        }

        const _: () = {
            const LEN: usize = $crate::__manifest::encoded_len(<$name as $crate::skeleton::Resources>::REQUIREMENTS);
            #[used]
            #[unsafe(link_section = ".tileos.requires")]
            static MANIFEST: [u8; LEN] = $crate::__manifest::encode::<LEN>(<$name as $crate::skeleton::Resources>::REQUIREMENTS);
        };
    };
}

/// Writes the domain's `_start`: runtime set-up, resources, then `$main(resources) -> !`.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        /// Entry point (written by `tileos_sys::entry!`).
        #[unsafe(no_mangle)]
        extern "C" fn _start() -> ! {
            $crate::domain::init();
            $crate::skeleton::run($main)
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __resource_kind {
    (Region) => {
        $crate::skeleton::Kind::Region
    };
    ($kind:ident) => {
        $crate::skeleton::Kind::Cap($crate::skeleton::CapKind::$kind)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __resource_optional {
    () => {
        false
    };
    (optional) => {
        true
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __resource_type {
    (ServedEndpoint) => { $crate::cap::Endpoint };
    (ClientEndpoint) => { $crate::cap::Endpoint };
    (WaitNotification) => { $crate::cap::Notification };
    (SignalNotification) => { $crate::cap::Notification };
    (IoPort) => { $crate::cap::IoPort };
    (IrqHandler) => { $crate::cap::IrqHandler };
    (Region) => { $crate::__mmio::Mmio };
    ($kind:ident, optional) => { ::core::option::Option<$crate::__resource_type!($kind)> };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __resource_take {
    ($kind:ident, $cap:literal, optional) => {
        $crate::__resource_get!($kind, $cap)
    };
    ($kind:ident, $cap:literal) => {
        match $crate::__resource_get!($kind, $cap) {
            ::core::option::Option::Some(cap) => cap,
            ::core::option::Option::None => {
                return ::core::result::Result::Err($crate::skeleton::Missing { kind: $crate::__resource_kind!($kind), name: $cap })
            }
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __resource_get {
    (ServedEndpoint, $cap:literal) => {
        $crate::skeleton::get::served_endpoint($cap)
    };
    (ClientEndpoint, $cap:literal) => {
        $crate::skeleton::get::client_endpoint($cap)
    };
    (WaitNotification, $cap:literal) => {
        $crate::skeleton::get::wait_notification($cap)
    };
    (SignalNotification, $cap:literal) => {
        $crate::skeleton::get::signal_notification($cap)
    };
    (IoPort, $cap:literal) => {
        $crate::skeleton::get::io_port($cap)
    };
    (IrqHandler, $cap:literal) => {
        $crate::skeleton::get::irq_handler($cap)
    };
    (Region, $cap:literal) => {
        $crate::skeleton::get::region($cap)
    };
}

//! A guard around third-party parsers that may panic on hostile input (candle's GGUF reader
//! divides by a `general.alignment` of 0, for one). Inside the guard a panic becomes an error
//! for the caller, and no panic message is printed.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    static GUARDED: Cell<bool> = const { Cell::new(false) };
}

/// Whether the current thread runs inside [`catching`]; panic hooks should stay quiet then.
pub fn in_guard() -> bool {
    GUARDED.with(Cell::get)
}

/// Runs `f`, turning a panic into `Err(message)`.
pub fn catching<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    static QUIET_HOOK: Once = Once::new();
    QUIET_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !in_guard() {
                previous(info);
            }
        }));
    });
    let was = GUARDED.with(|g| g.replace(true));
    let result = catch_unwind(AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(was));
    result.map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "the parser failed".into())
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_panic_becomes_an_error() {
        assert_eq!(super::catching(|| 3), Ok(3));
        let e = super::catching(|| -> u32 { panic!("bad input") }).unwrap_err();
        assert_eq!(e, "bad input");
        assert!(!super::in_guard());
    }
}

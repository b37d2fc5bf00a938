//! The one place numeric options get their ranges: every numeric flag names its range here as
//! a clap value parser, so a bad value is a usage error with a clear message before any work
//! starts (never a panic, an abort or a silent clamp later).

use std::fmt::Display;
use std::str::FromStr;

/// A clap value parser accepting `lo ..= hi` (NaN and infinities are outside every range).
pub fn within<T>(lo: T, hi: T) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static
where
    T: FromStr + PartialOrd + Display + Copy + Send + Sync + 'static,
{
    move |s: &str| {
        let v: T = s.trim().parse().map_err(|_| format!("'{}' is not a number", shown(s)))?;
        // Written so that NaN (which compares false with everything) is refused too.
        if v >= lo && v <= hi {
            Ok(v)
        } else {
            Err(format!("{} is out of range: expected {lo} to {hi}", shown(s)))
        }
    }
}

/// At least one, at most `hi` (counts: samples, votes, tokens, repetitions).
pub fn count(hi: usize) -> impl Fn(&str) -> Result<usize, String> + Clone + Send + Sync + 'static {
    within(1usize, hi)
}

/// A value as it may be echoed in a message: printable and short.
fn shown(s: &str) -> String {
    let clean: String = s.chars().filter(|c| !c.is_control()).take(40).collect();
    if s.chars().count() > 40 {
        format!("'{clean}…'")
    } else {
        format!("'{clean}'")
    }
}

/// The ranges, named once so that flags with the same meaning share them.
pub mod limits {
    /// Tokens one generation may produce.
    pub const MAX_TOKENS: usize = 1 << 17;
    /// Samples, votes, rollouts, generations per question.
    pub const MAX_SAMPLES: usize = 256;
    /// Requests in flight per server.
    pub const MAX_CONCURRENCY: usize = 256;
    /// Extra tries of a failed request.
    pub const MAX_RETRIES: usize = 100;
    /// Seconds a server request may take (one day).
    pub const MAX_TIMEOUT_S: f64 = 86_400.0;
    /// The shortest request timeout that is still meaningful.
    pub const MIN_TIMEOUT_S: f64 = 0.1;
    /// Context window of a scoring run or a benchmark prompt.
    pub const MAX_CONTEXT: usize = 1 << 20;
    /// Traces read by `--limit` and `--sample`.
    pub const MAX_TRACES: usize = usize::MAX;
    /// Steps of a trace a label can name.
    pub const MAX_STEP: usize = 1 << 20;
    /// Sampling temperature.
    pub const MAX_TEMPERATURE: f64 = 100.0;
    /// Weight of the entropy term in instability.
    pub const MAX_LAMBDA: f64 = 1000.0;
    /// Top-k alternatives kept per token.
    pub const MAX_TOP_K: usize = 1000;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_outside_or_not_finite_are_refused() {
        let p = within(0.0f64, 1.0);
        assert_eq!(p("0.5"), Ok(0.5));
        assert_eq!(p("1"), Ok(1.0));
        for bad in ["NaN", "nan", "inf", "-inf", "1e300", "-0.1", "1.0001"] {
            let e = p(bad).unwrap_err();
            assert!(e.contains("out of range"), "{bad}: {e}");
        }
        assert!(p("abc").unwrap_err().contains("not a number"));
    }

    #[test]
    fn counts_start_at_one() {
        let p = count(8);
        assert_eq!(p("8"), Ok(8));
        assert!(p("0").is_err());
        assert!(p("9").is_err());
        assert!(p("-1").unwrap_err().contains("not a number"));
    }

    #[test]
    fn long_or_hostile_values_are_shortened_and_cleaned() {
        let e = within(0usize, 1)(&format!("\x1b]0;x\x07{}", "9".repeat(100))).unwrap_err();
        assert!(!e.chars().any(|c| c.is_control()), "{e:?}");
        assert!(e.len() < 120, "{e}");
    }
}

//! Exact rational numbers for the arithmetic checker (i128, overflow → None, never a panic).

use std::cmp::Ordering;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ratio {
    num: i128,
    den: i128,
}

fn gcd(a: i128, b: i128) -> i128 {
    let (mut a, mut b) = (a.abs(), b.abs());
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl Ratio {
    pub fn new(num: i128, den: i128) -> Option<Ratio> {
        if den == 0 {
            return None;
        }
        let g = gcd(num, den).max(1);
        let s = if den < 0 { -1 } else { 1 };
        Some(Ratio { num: s * num / g, den: s * den / g })
    }

    pub fn int(n: i128) -> Ratio {
        Ratio { num: n, den: 1 }
    }

    /// Parses `123`, `-4.50`, `.5` exactly.
    pub fn parse_decimal(s: &str) -> Option<Ratio> {
        let (neg, body) = match s.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, s),
        };
        let (int, frac) = body.split_once('.').unwrap_or((body, ""));
        if int.is_empty() && frac.is_empty() || int.len() + frac.len() > 30 {
            return None;
        }
        if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
            return None;
        }
        let digits: i128 = format!("{int}{frac}").parse().ok()?;
        let r = Ratio::new(digits, 10i128.checked_pow(frac.len() as u32)?)?;
        Some(if neg { r.negate() } else { r })
    }

    pub fn negate(self) -> Ratio {
        Ratio { num: -self.num, den: self.den }
    }

    pub fn plus(self, o: Ratio) -> Option<Ratio> {
        let num = self.num.checked_mul(o.den)?.checked_add(o.num.checked_mul(self.den)?)?;
        Ratio::new(num, self.den.checked_mul(o.den)?)
    }

    pub fn minus(self, o: Ratio) -> Option<Ratio> {
        self.plus(o.negate())
    }

    pub fn times(self, o: Ratio) -> Option<Ratio> {
        Ratio::new(self.num.checked_mul(o.num)?, self.den.checked_mul(o.den)?)
    }

    pub fn over(self, o: Ratio) -> Option<Ratio> {
        Ratio::new(self.num.checked_mul(o.den)?, self.den.checked_mul(o.num)?)
    }

    /// Integer powers only (small exponents).
    pub fn pow(self, e: Ratio) -> Option<Ratio> {
        if e.den != 1 || e.num.abs() > 64 {
            return None;
        }
        let n = e.num.unsigned_abs() as u32;
        let r = Ratio::new(self.num.checked_pow(n)?, self.den.checked_pow(n)?)?;
        if e.num < 0 {
            Ratio::int(1).over(r)
        } else {
            Some(r)
        }
    }

    pub fn numer(self) -> i128 {
        self.num
    }

    pub fn denom(self) -> i128 {
        self.den
    }

    /// The exact n-th root, when numerator and denominator are perfect n-th powers.
    pub fn root(self, n: u32) -> Option<Ratio> {
        if n == 0 || (self.num < 0 && n.is_multiple_of(2)) {
            return None;
        }
        let int_root = |x: i128| -> Option<i128> {
            let guess = (x.unsigned_abs() as f64).powf(1.0 / n as f64).round() as i128;
            (guess.saturating_sub(1)..=guess + 1).find(|g| g.checked_pow(n) == Some(x.abs()))
        };
        let num = int_root(self.num)? * self.num.signum();
        Ratio::new(num, int_root(self.den)?)
    }

    pub fn is_integer(self) -> bool {
        self.den == 1
    }

    pub fn to_f64(self) -> f64 {
        self.num as f64 / self.den as f64
    }

    pub fn floor(self) -> i128 {
        self.num.div_euclid(self.den)
    }

    pub fn abs(self) -> Ratio {
        Ratio { num: self.num.abs(), den: self.den }
    }
}

impl PartialOrd for Ratio {
    fn partial_cmp(&self, o: &Ratio) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

impl Ord for Ratio {
    fn cmp(&self, o: &Ratio) -> Ordering {
        // Compare in f64 when the cross products would overflow.
        match (self.num.checked_mul(o.den), o.num.checked_mul(self.den)) {
            (Some(a), Some(b)) => a.cmp(&b),
            _ => self.to_f64().total_cmp(&o.to_f64()),
        }
    }
}

impl std::fmt::Display for Ratio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.den == 1 {
            write!(f, "{}", self.num)
        } else {
            let v = self.to_f64();
            if (v * 10_000.0).fract().abs() < 1e-9 {
                write!(f, "{v}")
            } else {
                write!(f, "{}/{} (≈{:.4})", self.num, self.den, v)
            }
        }
    }
}

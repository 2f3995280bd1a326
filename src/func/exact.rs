//! Exact sums of floating-point numbers that take retractions.
//!
//! [`ExactSum`] keeps the exact value of a sum of `f64`s as a short list of non-overlapping
//! partials (Shewchuk's algorithm, as in Python's `math.fsum`), and reads it back correctly
//! rounded. The result depends only on the multiset of values added, never on their order, so
//! an incremental aggregate that inserts and retracts values in any order gives the same bits
//! as the batch evaluator that adds them once. Infinities and NaNs are counted apart, so they
//! can be retracted as well.

/// The exact sum of the `f64` values added (each with a signed multiplicity).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExactSum {
    /// Non-overlapping partials, in increasing magnitude; their exact sum is the finite part.
    partials: Vec<f64>,
    pos_inf: i64,
    neg_inf: i64,
    nan: i64,
}

impl ExactSum {
    /// An empty sum (0).
    pub fn new() -> ExactSum {
        ExactSum::default()
    }

    /// Adds `x` `times` times (a negative `times` subtracts). The product is exact: it is
    /// split into its rounded value and the rounding error (a fused multiply-add).
    pub fn add(&mut self, x: f64, times: i64) {
        if times == 0 {
            return;
        }
        if x.is_nan() {
            self.nan += times;
            return;
        }
        if x.is_infinite() {
            if x > 0.0 {
                self.pos_inf += times;
            } else {
                self.neg_inf += times;
            }
            return;
        }
        if times == 1 {
            self.add_exact(x);
            return;
        }
        // `times` as f64 is exact below 2^53; above, split it in two exact halves.
        let (hi, lo) = split_i64(times);
        for m in [hi, lo] {
            if m == 0.0 {
                continue;
            }
            let p = x * m;
            if !p.is_finite() {
                self.add_exact(p);
                continue;
            }
            let e = x.mul_add(m, -p);
            self.add_exact(p);
            if e != 0.0 {
                self.add_exact(e);
            }
        }
    }

    /// Adds the exact square of `x` `times` times (for sums of squares).
    pub fn add_square(&mut self, x: f64, times: i64) {
        if !x.is_finite() {
            self.add(x * x, times);
            return;
        }
        let p = x * x;
        let e = x.mul_add(x, -p);
        self.add(p, times);
        if e != 0.0 {
            self.add(e, times);
        }
    }

    /// Adds an integer exactly.
    pub fn add_i128(&mut self, v: i128) {
        // Split into parts that are each exact as f64: 2^53 is far below i128's range, so
        // peel 52-bit chunks off the low end.
        let mut v = v;
        let mut scale = 1.0f64;
        while v != 0 {
            let chunk = v % (1i128 << 52);
            v /= 1i128 << 52;
            if chunk != 0 {
                self.add_exact(chunk as f64 * scale);
            }
            scale *= (1u64 << 52) as f64;
        }
    }

    fn add_exact(&mut self, mut x: f64) {
        let mut kept = 0;
        for j in 0..self.partials.len() {
            let mut y = self.partials[j];
            if x.abs() < y.abs() {
                std::mem::swap(&mut x, &mut y);
            }
            let hi = x + y;
            let lo = y - (hi - x);
            if lo != 0.0 {
                self.partials[kept] = lo;
                kept += 1;
            }
            x = hi;
        }
        self.partials.truncate(kept);
        if x != 0.0 {
            self.partials.push(x);
        }
    }

    /// The sum, correctly rounded to the nearest `f64`.
    pub fn value(&self) -> f64 {
        if self.nan != 0 || (self.pos_inf > 0 && self.neg_inf > 0) {
            return f64::NAN;
        }
        if self.pos_inf > 0 {
            return f64::INFINITY;
        }
        if self.neg_inf > 0 {
            return f64::NEG_INFINITY;
        }
        let p = &self.partials;
        let Some(&top) = p.last() else {
            return 0.0;
        };
        let mut n = p.len() - 1;
        let mut hi = top;
        let mut lo = 0.0;
        while n > 0 {
            let x = hi;
            n -= 1;
            let y = p[n];
            hi = x + y;
            let yr = hi - x;
            lo = y - yr;
            if lo != 0.0 {
                break;
            }
        }
        // Round half-even correctly when the rest of the partials push past a tie.
        if n > 0 && ((lo < 0.0 && p[n - 1] < 0.0) || (lo > 0.0 && p[n - 1] > 0.0)) {
            let y = lo * 2.0;
            let x = hi + y;
            let yr = x - hi;
            if y == yr {
                hi = x;
            }
        }
        hi
    }
}

/// `v` as two f64s whose exact sum is `v`, each exactly representable.
fn split_i64(v: i64) -> (f64, f64) {
    let hi = (v >> 26) << 26;
    let lo = v - hi;
    (hi as f64, lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(xs: &[f64]) -> f64 {
        let mut s = ExactSum::new();
        for x in xs {
            s.add(*x, 1);
        }
        s.value()
    }

    #[test]
    fn sums_are_exact_and_correctly_rounded() {
        // Naive summation gives 0.30000000000000004 for 0.1 + 0.2; the exact sum rounds to the
        // f64 nearest to 0.1 + 0.2 (which is that same double: both are correct roundings here).
        assert_eq!(sum(&[0.1, 0.2]), 0.1 + 0.2);
        // Cancellation that naive summation loses entirely.
        assert_eq!(sum(&[1e100, 1.0, -1e100]), 1.0);
        assert_eq!(sum(&[1.0, 1e100, 1.0, -1e100]), 2.0);
        // Ten times 0.1 is exactly 1.0000000000000000555…, which rounds to 1.0.
        assert_eq!(sum(&[0.1; 10]), 1.0);
        assert_eq!(sum(&[]), 0.0);
    }

    #[test]
    fn order_does_not_matter() {
        let xs = [0.1, 1e16, -3.3, 7.25e-9, 2.0f64.powi(60), -1e16, 0.7];
        let forward = sum(&xs);
        let mut rev = xs;
        rev.reverse();
        assert_eq!(forward.to_bits(), sum(&rev).to_bits());
        let mut rotated = xs;
        rotated.rotate_left(3);
        assert_eq!(forward.to_bits(), sum(&rotated).to_bits());
    }

    #[test]
    fn retractions_restore_the_sum() {
        let mut s = ExactSum::new();
        s.add(0.1, 1);
        let before = s.value();
        s.add(1e300, 3);
        s.add(0.3, 7);
        s.add(f64::INFINITY, 1);
        s.add(f64::NAN, 2);
        assert!(s.value().is_nan());
        s.add(0.3, -7);
        s.add(f64::NAN, -2);
        assert_eq!(s.value(), f64::INFINITY);
        s.add(f64::INFINITY, -1);
        s.add(1e300, -3);
        assert_eq!(s.value().to_bits(), before.to_bits());
        s.add(0.1, -1);
        assert_eq!(s.value(), 0.0);
    }

    #[test]
    fn multiplicities_and_squares_are_exact() {
        let mut a = ExactSum::new();
        a.add(0.1, 1_000_000_007);
        let mut b = ExactSum::new();
        for _ in 0..7 {
            b.add(0.1, 1);
        }
        b.add(0.1, 1_000_000_000);
        assert_eq!(a.value().to_bits(), b.value().to_bits());
        let mut sq = ExactSum::new();
        sq.add_square(0.1, 3);
        sq.add_square(0.1, -3);
        assert_eq!(sq.value(), 0.0);
        let mut i = ExactSum::new();
        i.add_i128(i128::from(i64::MAX) * 3);
        i.add_i128(-i128::from(i64::MAX) * 3);
        i.add_i128(5);
        assert_eq!(i.value(), 5.0);
        let mut big = ExactSum::new();
        big.add_i128(1i128 << 80);
        assert_eq!(big.value(), 2f64.powi(80));
    }

    #[test]
    fn negative_infinity_counts() {
        let mut s = ExactSum::new();
        s.add(f64::NEG_INFINITY, 2);
        assert_eq!(s.value(), f64::NEG_INFINITY);
        s.add(f64::INFINITY, 1);
        assert!(s.value().is_nan());
        s.add(f64::NEG_INFINITY, -2);
        assert_eq!(s.value(), f64::INFINITY);
    }
}

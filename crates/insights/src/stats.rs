//! Tail probabilities of counts: the Poisson quantile for call rates and the binomial tail for
//! error counts, with the Gaussian tail that turns "k sigmas" into a probability.
//!
//! Invariant: every function is exact up to floating-point summation for the sizes Insights
//! meets (λ ≤ 1000, calls ≤ 100,000 per minute) and switches to the normal approximation beyond,
//! never looping more than a few thousand times.

/// `P(Z > k)` for a standard normal `Z`.
pub(crate) fn normal_upper_tail(k: f64) -> f64 {
    0.5 * erfc(k / std::f64::consts::SQRT_2)
}

/// Complementary error function (Numerical Recipes `erfcc`, relative error < 1.2e-7).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

/// `ln(n!)`.
fn ln_factorial(n: u64) -> f64 {
    if n < 32 {
        return (2..=n).map(|i| (i as f64).ln()).sum();
    }
    let x = n as f64;
    x * x.ln() - x + 0.5 * (2.0 * std::f64::consts::PI * x).ln() + 1.0 / (12.0 * x)
        - 1.0 / (360.0 * x * x * x)
}

/// The smallest `q` with `P(X ≥ q) ≤ alpha` for `X ~ Poisson(lambda)`.
pub(crate) fn poisson_quantile(lambda: f64, alpha: f64) -> f64 {
    let lambda = lambda.max(1e-9);
    if lambda > 1000.0 {
        // Normal approximation with continuity correction.
        let k = inverse_upper_tail(alpha);
        return (lambda + k * lambda.sqrt() + 0.5).ceil();
    }
    let k = inverse_upper_tail(alpha);
    let top = (lambda + (k + 10.0) * lambda.sqrt() + 60.0).ceil() as u64;
    // Walk down from far in the tail, accumulating P(X ≥ j).
    let mut pmf = (-lambda + top as f64 * lambda.ln() - ln_factorial(top)).exp();
    let mut tail = 0.0;
    let mut j = top;
    loop {
        tail += pmf;
        if tail > alpha || j == 0 {
            return (j + 1) as f64;
        }
        pmf *= j as f64 / lambda;
        j -= 1;
    }
}

/// `k` such that `P(Z > k) = alpha` (bisection; alpha in (0, 0.5]).
fn inverse_upper_tail(alpha: f64) -> f64 {
    let (mut lo, mut hi) = (0.0f64, 40.0f64);
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        if normal_upper_tail(mid) > alpha {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}

/// `P(X ≥ errors)` for `X ~ Binomial(calls, p)`; 1 when `errors` is at or below the mean.
pub(crate) fn binomial_upper_tail(calls: u32, p: f64, errors: u32) -> f64 {
    let (n, e) = (u64::from(calls), u64::from(errors));
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    if e > n {
        return 0.0;
    }
    if (e as f64) <= n as f64 * p {
        return 1.0;
    }
    if n > 100_000 {
        let sd = (n as f64 * p * (1.0 - p)).sqrt();
        return normal_upper_tail((e as f64 - 0.5 - n as f64 * p) / sd);
    }
    let ln_pmf = ln_factorial(n) - ln_factorial(e) - ln_factorial(n - e)
        + e as f64 * p.ln()
        + (n - e) as f64 * (1.0 - p).ln();
    let mut pmf = ln_pmf.exp();
    let mut tail = 0.0;
    let ratio = p / (1.0 - p);
    let mut j = e;
    while j <= n {
        tail += pmf;
        if pmf < tail * 1e-15 {
            break;
        }
        pmf *= (n - j) as f64 / (j + 1) as f64 * ratio;
        j += 1;
    }
    tail.min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_tail_matches_tables() {
        assert!((normal_upper_tail(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_upper_tail(1.959_964) - 0.025).abs() < 1e-6);
        assert!((normal_upper_tail(6.0) / 9.8659e-10 - 1.0).abs() < 1e-3);
    }

    #[test]
    fn poisson_quantile_is_exact_for_small_means() {
        // P(Poisson(1) >= 5) = 0.00366, P(>= 4) = 0.01899.
        assert_eq!(poisson_quantile(1.0, 0.01), 5.0);
        // P(Poisson(0.1) >= 3) = 1.547e-4, P(>= 2) = 4.68e-3.
        assert_eq!(poisson_quantile(0.1, 1e-3), 3.0);
        // Large means approach λ + k√λ.
        let q = poisson_quantile(900.0, normal_upper_tail(6.0));
        assert!((q - (900.0 + 6.0 * 30.0)).abs() < 25.0, "{q}");
    }

    #[test]
    fn binomial_tail_is_exact() {
        // P(Bin(4, 0.05) >= 3) = 4·0.05³·0.95 + 0.05⁴ = 4.8125e-4.
        assert!((binomial_upper_tail(4, 0.05, 3) - 4.8125e-4).abs() < 1e-9);
        assert_eq!(binomial_upper_tail(10, 0.5, 2), 1.0);
        assert!(binomial_upper_tail(30, 0.05, 25) < 1e-20);
    }
}

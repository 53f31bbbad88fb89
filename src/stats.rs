//! Rank statistics for comparing two evaluators on the same architectures (how well a cheap
//! evaluator orders candidates like an expensive one: the "architecture rating accuracy" of
//! the NAS literature). Ties are handled the standard way: Spearman's rho is Pearson's r of
//! average ranks, Kendall's tau is tau-b (scipy's defaults), so figures compare with NASLib's.

/// Pearson's correlation coefficient; `None` when fewer than 2 pairs or either side is
/// constant (the coefficient is undefined there, not 0).
pub fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len();
    if n != y.len() || n < 2 {
        return None;
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / n as f64;
    let (mx, my) = (mean(x), mean(y));
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        let (dx, dy) = (a - mx, b - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if sxx == 0.0 || syy == 0.0 {
        return None;
    }
    Some((sxy / (sxx * syy).sqrt()).clamp(-1.0, 1.0))
}

/// 1-based ranks, tied values sharing the average of the ranks they span.
pub fn average_ranks(v: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut ranks = vec![0.0; v.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && v[order[j + 1]] == v[order[i]] {
            j += 1;
        }
        // Positions i..=j (0-based) hold one value: ranks i+1..=j+1, averaged.
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            ranks[k] = rank;
        }
        i = j + 1;
    }
    ranks
}

/// Spearman's rank correlation (Pearson's r of average ranks).
pub fn spearman(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.len() != y.len() {
        return None;
    }
    pearson(&average_ranks(x), &average_ranks(y))
}

/// Kendall's tau-b: (concordant - discordant) / sqrt((n0 - tx) (n0 - ty)), where n0 counts
/// all pairs and tx, ty the pairs tied in x and in y. O(n^2): evaluators are compared on
/// hundreds or thousands of architectures, not millions.
pub fn kendall_tau_b(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len();
    if n != y.len() || n < 2 {
        return None;
    }
    let (mut concordant, mut discordant, mut tied_x, mut tied_y) = (0i64, 0i64, 0i64, 0i64);
    for i in 0..n {
        for j in i + 1..n {
            let dx = x[i].total_cmp(&x[j]);
            let dy = y[i].total_cmp(&y[j]);
            use std::cmp::Ordering::Equal;
            match (dx, dy) {
                (Equal, Equal) => {
                    tied_x += 1;
                    tied_y += 1;
                }
                (Equal, _) => tied_x += 1,
                (_, Equal) => tied_y += 1,
                (a, b) if a == b => concordant += 1,
                _ => discordant += 1,
            }
        }
    }
    let pairs = (n * (n - 1) / 2) as i64;
    let denominator = (((pairs - tied_x) * (pairs - tied_y)) as f64).sqrt();
    if denominator == 0.0 {
        return None;
    }
    Some((concordant - discordant) as f64 / denominator)
}

/// Of the `k` architectures `x` ranks highest, the fraction that are among the `k` that `y`
/// ranks highest (ties broken by position, so the result is defined for every input).
pub fn top_k_precision(x: &[f64], y: &[f64], k: usize) -> Option<f64> {
    let n = x.len();
    if n != y.len() || k == 0 || k > n {
        return None;
    }
    let top = |v: &[f64]| {
        let mut order: Vec<usize> = (0..n).collect();
        // Highest first; equal values keep their order (a stable sort).
        order.sort_by(|&a, &b| v[b].total_cmp(&v[a]));
        order.truncate(k);
        order
    };
    let (tx, ty) = (top(x), top(y));
    let hits = tx.iter().filter(|i| ty.contains(i)).count();
    Some(hits as f64 / k as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: Option<f64>, b: f64) {
        let a = a.expect("defined");
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }

    #[test]
    fn perfect_and_reversed_orders() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        let up = [10.0, 20.0, 35.0, 41.0, 90.0];
        let down: Vec<f64> = up.iter().rev().copied().collect();
        close(spearman(&x, &up), 1.0);
        close(kendall_tau_b(&x, &up), 1.0);
        close(spearman(&x, &down), -1.0);
        close(kendall_tau_b(&x, &down), -1.0);
        close(pearson(&x, &[2.0, 4.0, 6.0, 8.0, 10.0]), 1.0);
    }

    #[test]
    fn hand_computed_without_ties() {
        // x ranks 1..5, y ranks [2, 1, 4, 3, 5]: d^2 = 1+1+1+1+0 = 4,
        // rho = 1 - 6*4 / (5*24) = 0.8. Pairs: 10; discordant (1,2) and (3,4): tau = 6/10.
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        let y = [20.0, 10.0, 40.0, 30.0, 50.0];
        close(spearman(&x, &y), 0.8);
        close(kendall_tau_b(&x, &y), 0.6);
        // Pearson of x and y: means 3 and 30; sxy = 2*... computed by hand:
        // dx = [-2,-1,0,1,2], dy = [-10,-20,10,0,20]: sxy = 20+20+0+0+40 = 80,
        // sxx = 10, syy = 100+400+100+0+400 = 1000: r = 80 / sqrt(10000) = 0.8.
        close(pearson(&x, &y), 0.8);
    }

    #[test]
    fn hand_computed_with_ties() {
        // y has a tie: ranks [1, 2.5, 2.5, 4].
        assert_eq!(
            average_ranks(&[3.0, 7.0, 7.0, 9.0]),
            vec![1.0, 2.5, 2.5, 4.0]
        );
        let x = [1.0, 2.0, 3.0, 4.0];
        let y = [3.0, 7.0, 7.0, 9.0];
        // Spearman = Pearson of [1,2,3,4] and [1,2.5,2.5,4]: dx = [-1.5,-.5,.5,1.5],
        // dy = [-1.5,0,0,1.5]: sxy = 4.5, sxx = 5, syy = 4.5: 4.5 / sqrt(22.5).
        close(spearman(&x, &y), 4.5 / 22.5f64.sqrt());
        // Pairs 6; tied in y: 1 (the two 7s); concordant 5, discordant 0:
        // tau-b = 5 / sqrt(6 * 5) (scipy.stats.kendalltau gives 0.9128709291752769).
        close(kendall_tau_b(&x, &y), 5.0 / 30f64.sqrt());
        assert!((kendall_tau_b(&x, &y).unwrap() - 0.912_870_929_175_276_9).abs() < 1e-12);
        // Ties on both sides, one pair tied in both.
        let x = [1.0, 1.0, 2.0, 3.0];
        let y = [5.0, 5.0, 6.0, 4.0];
        // Pairs: (0,1) tied both; (0,2) C; (0,3) D; (1,2) C; (1,3) D; (2,3) D.
        // C = 2, D = 3, tx = 1, ty = 1: tau-b = -1 / sqrt(5 * 5) = -0.2 (scipy agrees; so do
        // its Spearman and Pearson on the cases above, checked with scipy 1.x).
        close(kendall_tau_b(&x, &y), -0.2);
    }

    #[test]
    fn undefined_cases_are_none_not_zero() {
        assert_eq!(spearman(&[1.0, 2.0], &[3.0, 3.0]), None);
        assert_eq!(kendall_tau_b(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]), None);
        assert_eq!(pearson(&[1.0], &[1.0]), None);
        assert_eq!(spearman(&[1.0, 2.0], &[1.0]), None);
        assert_eq!(top_k_precision(&[1.0, 2.0], &[1.0, 2.0], 3), None);
    }

    #[test]
    fn top_k_precision_counts_shared_leaders() {
        let x = [0.9, 0.8, 0.1, 0.7, 0.2];
        let y = [95.0, 10.0, 20.0, 90.0, 30.0];
        // x's top 2: {0, 1}; y's top 2: {0, 3}: one shared.
        close(top_k_precision(&x, &y, 2), 0.5);
        // Top 3: x {0, 1, 3}, y {0, 3, 4}: two shared.
        close(top_k_precision(&x, &y, 3), 2.0 / 3.0);
        close(top_k_precision(&x, &y, 5), 1.0);
    }
}

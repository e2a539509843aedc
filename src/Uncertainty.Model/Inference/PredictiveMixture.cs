using MathNet.Numerics;
using MathNet.Numerics.Distributions;

namespace Uncertainty.Model.Inference;

/// <summary>
/// One row's predictive distribution as its T passes give it: per output the equal-weight mixture
/// (1/T) Σ_t N(μ_t, σ²_t) of the passes' means μ_t and noise variances σ²_t (1/τ, or the heteroscedastic head's
/// exp(log σ²) of that pass). Its central intervals come from the mixture's CDF, solved exactly, not sampled.
/// </summary>
public sealed class PredictiveMixture
{
    /// <param name="outputs">Outputs per pass.</param>
    /// <param name="means">[T × outputs], pass-major.</param>
    /// <param name="variances">[T × outputs] (noise per pass), or [outputs] when every pass has the same noise.</param>
    public PredictiveMixture(int outputs, double[] means, double[] variances)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(outputs, 1);
        if (means.Length == 0 || means.Length % outputs != 0 || (variances.Length != outputs && variances.Length != means.Length))
        {
            throw new ArgumentException($"Expected T x {outputs} means and {outputs} or T x {outputs} variances; got {means.Length} and {variances.Length}.", nameof(variances));
        }

        Outputs = outputs;
        Means = means;
        Variances = variances;
    }

    public int Outputs { get; }

    /// <summary>T, the number of components.</summary>
    public int Passes => Means.Length / Outputs;

    /// <summary>The components' means, [T × outputs], pass-major.</summary>
    public double[] Means { get; }

    /// <summary>The components' variances: [T × outputs], or [outputs] when every pass has the same noise.</summary>
    public double[] Variances { get; }

    /// <summary>The same mixture under y → <paramref name="scale"/>[o] · y + <paramref name="shift"/>[o] (scale &gt; 0): means map, variances scale by scale².</summary>
    public PredictiveMixture Affine(IReadOnlyList<double> scale, IReadOnlyList<double> shift) => new(
        Outputs,
        [.. Means.Select((m, i) => (m * scale[i % Outputs]) + shift[i % Outputs])],
        [.. Variances.Select((v, i) => v * (scale[i % Outputs] * scale[i % Outputs]))]); // as ModelDescription.ToReportedUnits scales variances

    /// <summary>
    /// The central interval at <paramref name="level"/> per output: the mixture's α/2 and 1 − α/2 quantiles (α = 1 − level),
    /// each the least x with F(x) ≥ p. See <see cref="Quantiles"/>.
    /// </summary>
    public (double[] Lower, double[] Upper) Interval(double level)
    {
        if (!(level > 0 && level < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(level), level, "The interval level must be in (0, 1).");
        }

        var lower = new double[Outputs];
        var upper = new double[Outputs];
        var means = new double[Passes];
        var sds = new double[Passes];
        for (int o = 0; o < Outputs; o++)
        {
            for (int t = 0; t < Passes; t++)
            {
                means[t] = Means[(t * Outputs) + o];
                sds[t] = Math.Sqrt(Variances.Length == Outputs ? Variances[o] : Variances[(t * Outputs) + o]);
            }

            (lower[o], upper[o]) = Quantiles(means, sds, level);
        }

        return (lower, upper);
    }

    /// <summary>
    /// The α/2 and 1 − α/2 quantiles of (1/T) Σ_t N(μ_t, σ_t²) (a point mass at μ_t where σ_t = 0), α = 1 − level.
    /// Each is bracketed by the components' own quantiles μ_t ∓ zσ_t (z = Φ⁻¹(1 − α/2), as the Gaussian interval uses,
    /// so one component, or T equal ones, give exactly mean ∓ zσ) and solved by Newton's method on the CDF, falling back
    /// to bisection, until the step or the bracket is within 1e-15 of the mixture's spread (max |μ_t| + σ_t). The upper tail is solved on the survival
    /// function (Σ Φ(−x)), which keeps its precision where F is close to 1. With no noise at all (every σ_t = 0) the
    /// quantiles are order statistics of the μ_t: the inverse of their empirical CDF (numpy's method="inverted_cdf").
    /// </summary>
    public static (double Lower, double Upper) Quantiles(ReadOnlySpan<double> means, ReadOnlySpan<double> sds, double level)
    {
        double tail = (1 - level) / 2;
        double z = Normal.InvCDF(0, 1, 0.5 + (level / 2));
        bool noNoise = true;
        foreach (var sd in sds)
        {
            noNoise &= sd == 0;
        }

        if (noNoise)
        {
            var sorted = means.ToArray();
            Array.Sort(sorted);
            int n = sorted.Length;
            // Least x with #{μ ≤ x} ≥ p·T: the ⌈αT/2⌉-th smallest; by symmetry, least x with #{μ > x} ≤ αT/2: index n − ⌊αT/2⌋.
            // αT/2 within rounding of a whole number is that number ((1 − 0.9) / 2 · 20 is 0.9999999999999998, meant as 1).
            double share = tail * n;
            share = Math.Abs(share - Math.Round(share)) <= 1e-9 * n ? Math.Round(share) : share;
            int below = (int)Math.Min(n, Math.Max(1, Math.Ceiling(share)));
            int above = (int)Math.Min(n - 1, Math.Floor(share));
            return (sorted[below - 1], sorted[n - 1 - above]);
        }

        return (Solve(means, sds, tail, z, upper: false), Solve(means, sds, tail, z, upper: true));
    }

    /// <summary>The lower (F(x) = tail) or upper (1 − F(x) = tail) quantile; see <see cref="Quantiles"/>.</summary>
    private static double Solve(ReadOnlySpan<double> means, ReadOnlySpan<double> sds, double tail, double z, bool upper)
    {
        // Each component's own quantile; the mixture's lies between the smallest and the largest of them.
        double lo = double.PositiveInfinity, hi = double.NegativeInfinity, spread = 0;
        for (int t = 0; t < means.Length; t++)
        {
            double q = upper ? means[t] + (z * sds[t]) : means[t] - (z * sds[t]);
            lo = Math.Min(lo, q);
            hi = Math.Max(hi, q);
            spread = Math.Max(spread, Math.Abs(means[t]) + sds[t]);
        }

        if (lo == hi)
        {
            return lo;
        }

        // Rounding can leave the bracket a hair short: widen it until it holds.
        double width = hi - lo;
        while (Excess(means, sds, tail, upper, lo, out _) >= 0)
        {
            lo -= width;
            width *= 2;
        }

        width = hi - lo;
        while (Excess(means, sds, tail, upper, hi, out _) < 0)
        {
            hi += width;
            width *= 2;
        }

        // Safeguarded Newton (Numerical Recipes' rtsafe): a Newton step where it stays inside the bracket and at least halves
        // the step before last, a bisection step otherwise. It starts from the Gaussian with the mixture's mean and variance,
        // which is close for all but strongly multimodal mixtures.
        double epsilon = 1e-15 * spread;
        double x = Math.Clamp(GaussianGuess(means, sds, z, upper), lo, hi);
        double step = hi - lo, stepBefore = step;
        double g = Excess(means, sds, tail, upper, x, out double f);
        for (int iteration = 0; iteration < 2000; iteration++)
        {
            if (g >= 0)
            {
                hi = x;
            }
            else
            {
                lo = x;
            }

            if (!(f > 0) || ((x - hi) * f - g) * ((x - lo) * f - g) > 0 || Math.Abs(2 * g) > Math.Abs(stepBefore * f))
            {
                stepBefore = step;
                step = (hi - lo) / 2;
                x = lo + step;
            }
            else
            {
                stepBefore = step;
                step = g / f;
                x -= step;
            }

            if (Math.Abs(step) <= epsilon || hi - lo <= epsilon)
            {
                return x;
            }

            g = Excess(means, sds, tail, upper, x, out f);
        }

        return hi;
    }

    /// <summary>The quantile of the Gaussian with the mixture's mean and variance (lower: mean − zσ, upper: mean + zσ).</summary>
    private static double GaussianGuess(ReadOnlySpan<double> means, ReadOnlySpan<double> sds, double z, bool upper)
    {
        double mean = 0, square = 0;
        for (int t = 0; t < means.Length; t++)
        {
            mean += means[t];
            square += (means[t] * means[t]) + (sds[t] * sds[t]);
        }

        mean /= means.Length;
        double sd = Math.Sqrt(Math.Max(0, (square / means.Length) - (mean * mean)));
        return upper ? mean + (z * sd) : mean - (z * sd);
    }

    /// <summary>
    /// g(x) = F(x) − p, increasing in x, evaluated in the tail that keeps its precision: lower, F(x) − tail; upper,
    /// tail − S(x) with S = 1 − F. The quantile is the least x with g(x) ≥ 0. Also the mixture's density at x.
    /// </summary>
    private static double Excess(ReadOnlySpan<double> means, ReadOnlySpan<double> sds, double tail, bool upper, double x, out double density)
    {
        double sum = 0;
        density = 0;
        for (int t = 0; t < means.Length; t++)
        {
            if (sds[t] == 0)
            {
                sum += upper ? (x < means[t] ? 1 : 0) : (x >= means[t] ? 1 : 0);
                continue;
            }

            // Φ(u) = erfc(−u/√2)/2, and the survival function Φ(−u) = erfc(u/√2)/2: each keeps its precision in its own tail.
            double u = (x - means[t]) / sds[t];
            sum += 0.5 * SpecialFunctions.Erfc((upper ? u : -u) / Math.Sqrt(2));
            density += Math.Exp(-0.5 * u * u) / sds[t];
        }

        sum /= means.Length;
        density /= means.Length * Math.Sqrt(2 * Math.PI);
        return upper ? tail - sum : sum - tail;
    }
}

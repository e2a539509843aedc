using MathNet.Numerics.Distributions;

namespace Uncertainty.Model.Inference;

/// <summary>The uncertainty summary of one input row.</summary>
public abstract record RowPrediction
{
    /// <summary>Each pass's outputs (regression) or class probabilities, when requested: [T][outputs].</summary>
    public float[][]? Samples { get; init; }

    /// <summary>
    /// Monte Carlo standard error of each mean output (regression) or mean probability (classification): sqrt(s² / T),
    /// s² = Σ_t (x_t − x̄)² / (T − 1) the unbiased variance of the T passes' values (the regression's epistemic variance, the
    /// square of a classifier's probability std). Adaptive T stops on the largest of these. Null below two passes (T = 1,
    /// the deterministic pass): one pass gives no estimate of the spread.
    /// </summary>
    public double[]? StandardError { get; init; }
}

/// <summary>
/// Regression summary per output: epistemic variance is the variance of the T pass means (model
/// uncertainty), aleatoric the mean noise variance (1/tau, or the heteroscedastic head's), predictive their sum.
/// The epistemic variance is the unbiased sample variance, Σ_t (μ_t − μ̄)² / (T − 1), and 0 when T = 1.
/// </summary>
public sealed record RegressionPrediction(double[] Mean, double[] EpistemicVariance, double[] AleatoricVariance) : RowPrediction
{
    /// <summary>Every pass's means and noise, when the request kept them (<see cref="McRequest.KeepMixture"/>): the predictive mixture.</summary>
    public PredictiveMixture? Mixture { get; init; }

    public double[] PredictiveVariance => [.. EpistemicVariance.Zip(AleatoricVariance, (e, a) => e + a)];

    public double[] Std => [.. PredictiveVariance.Select(Math.Sqrt)];

    /// <summary>Central interval at <paramref name="level"/> from a Gaussian with the predictive variance.</summary>
    public (double[] Lower, double[] Upper) Interval(double level)
    {
        if (!(level > 0 && level < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(level), level, "The interval level must be in (0, 1).");
        }

        var z = Normal.InvCDF(0, 1, 0.5 + (level / 2));
        var std = Std;
        return ([.. Mean.Select((m, i) => m - (z * std[i]))], [.. Mean.Select((m, i) => m + (z * std[i]))]);
    }
}

/// <summary>
/// Classification summary: mean probabilities and their spread over passes, predictive entropy
/// H[E p] = expected entropy E[H p] + mutual information (the epistemic part), and the variation ratio
/// (the share of passes whose label differs from the modal one).
/// </summary>
public sealed record ClassPrediction(
    double[] Probabilities,
    double[] ProbabilityStd,
    int Label,
    double Entropy,
    double ExpectedEntropy,
    double MutualInformation,
    double VariationRatio) : RowPrediction;

/// <summary>The result of one request: a summary per row and the number of samples actually drawn.</summary>
/// <param name="MaxStandardError">Largest Monte Carlo standard error of a mean output or probability over rows.</param>
/// <param name="Cancelled">The request's <see cref="McRequest.Cancellation"/> fired before all its samples were drawn.</param>
public sealed record McPrediction(int SamplesUsed, IReadOnlyList<RowPrediction> Rows, double MaxStandardError, bool Cancelled = false);

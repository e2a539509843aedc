using System.Text.Json;
using System.Text.Json.Serialization;

namespace Uncertainty.Api.Predictions;

/// <summary>POST /predict body.</summary>
/// <param name="Inputs">Rows of raw feature values: arrays in the model's feature order, or objects keyed by feature name.</param>
/// <param name="Samples">T, the number of stochastic passes (the cap when <paramref name="Tolerance"/> is set).</param>
/// <param name="Seed">Seeds the dropout masks: the same seed gives the same numbers; omitted, fresh masks are drawn and the seed used is returned.</param>
/// <param name="IntervalLevel">Level of the central predictive interval (regression).</param>
/// <param name="Tolerance">
/// Adaptive T: stop once every mean's Monte Carlo standard error (<see cref="RowResult.StandardError"/>) is at most this
/// (output units), checked every 32 passes.
/// </param>
/// <param name="ReturnSamples">Also return every pass's outputs.</param>
/// <param name="Mode">
/// "mc" (default): T stochastic passes. "deterministic": one pass with dropout off (weight scaling, the expectation of
/// inverted dropout's masks), for comparison; samples, seed, tolerance and returnSamples then do not apply.
/// </param>
/// <param name="Interval">
/// How the regression interval is made: "gaussian" (default), mean ± z·std of the predictive variance; "quantile", the
/// exact quantiles of the MC predictive mixture (1/T) Σ_t N(μ_t, σ²_t), which may be skewed or bimodal. Quantiles keep
/// every pass per row: samples x rows x outputs is limited by Uncertainty:MaxQuantileIntervalValues. Not for classifiers.
/// </param>
public sealed record PredictRequest(
    JsonElement[]? Inputs,
    int? Samples = null,
    ulong? Seed = null,
    double? IntervalLevel = null,
    double? Tolerance = null,
    bool ReturnSamples = false,
    PredictionMode? Mode = null,
    IntervalMethod? Interval = null);

/// <summary>How a prediction's passes run.</summary>
[JsonConverter(typeof(Uncertainty.Model.Networks.NamedEnumConverter<PredictionMode>))]
public enum PredictionMode
{
    /// <summary>Monte Carlo dropout: T passes, each with fresh dropout masks.</summary>
    [JsonStringEnumMemberName("mc")] Mc,

    /// <summary>One pass with dropout off (weight scaling): no epistemic part; the noise of the head remains.</summary>
    [JsonStringEnumMemberName("deterministic")] Deterministic,
}

/// <summary>How a regression interval is computed.</summary>
[JsonConverter(typeof(Uncertainty.Model.Networks.NamedEnumConverter<IntervalMethod>))]
public enum IntervalMethod
{
    /// <summary>mean ± z·std, z the standard normal's quantile and std that of the predictive variance.</summary>
    [JsonStringEnumMemberName("gaussian")] Gaussian,

    /// <summary>The α/2 and 1 − α/2 quantiles of the predictive mixture (1/T) Σ_t N(μ_t, σ²_t), solved from its CDF.</summary>
    [JsonStringEnumMemberName("quantile")] Quantile,
}

/// <summary>The predictions of one request.</summary>
/// <param name="Samples">Passes run: T (fewer when adaptive T stopped early), 1 in deterministic mode.</param>
/// <param name="Seed">The seed of the dropout masks (give it back to reproduce the numbers).</param>
public sealed record PredictResponse(string Model, int Version, int Samples, ulong Seed, IReadOnlyList<RowResult> Predictions)
{
    /// <summary>How the passes ran: "mc" or "deterministic".</summary>
    public PredictionMode Mode { get; init; } = PredictionMode.Mc;
}

/// <summary>Central interval of the predictive distribution, per output.</summary>
public sealed record IntervalResult(double Level, double[] Lower, double[] Upper)
{
    /// <summary>"gaussian" (mean ± z·std) or "quantile" (the predictive mixture's quantiles).</summary>
    public IntervalMethod Method { get; init; } = IntervalMethod.Gaussian;
}

/// <summary>One input row's prediction; regression and classification fields appear as they apply.</summary>
public sealed record RowResult
{
    public required double[] Mean { get; init; }

    /// <summary>
    /// Variance of the T passes' means (classifiers: of each probability): the unbiased sample variance
    /// Σ_t (x_t − x̄)² / (T − 1), accumulated in double (Welford); 0 when T = 1 and in deterministic mode.
    /// </summary>
    public required double[] EpistemicVariance { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double[]? AleatoricVariance { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double[]? PredictiveVariance { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double[]? Std { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IntervalResult? Interval { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double[]? Probabilities { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double[]? ProbabilityStd { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Label { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? Entropy { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? ExpectedEntropy { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? MutualInformation { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? VariationRatio { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public float[][]? Samples { get; init; }

    /// <summary>
    /// Monte Carlo standard error of each mean (regression) or probability (classification): sqrt(s² / T), with
    /// s² = Σ_t (x_t − x̄)² / (T − 1) the unbiased sample variance of the T passes' values, i.e. sqrt(epistemicVariance / T)
    /// (classifiers: probabilityStd / sqrt(T)). Adaptive T (tolerance) stops on the largest of these. Absent when T = 1 or in
    /// deterministic mode: one pass gives no estimate of the spread (epistemicVariance is then reported as 0).
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double[]? StandardError { get; init; }
}

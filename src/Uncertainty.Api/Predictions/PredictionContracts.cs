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

/// <summary>MC dropout predictions, one per input row.</summary>
/// <param name="Model">The model that answered.</param>
/// <param name="Version">The model version that answered.</param>
/// <param name="Predictions">One result per input row, in order.</param>
/// <param name="Samples">T, the MC passes used (fewer than asked when an adaptive tolerance was met); 1 in deterministic mode.</param>
/// <param name="Seed">The seed of the dropout masks: send it back to get the same numbers.</param>
public sealed record PredictResponse(string Model, int Version, int Samples, ulong Seed, IReadOnlyList<RowResult> Predictions)
{
    /// <summary>How the passes ran: "mc" or "deterministic".</summary>
    public PredictionMode Mode { get; init; } = PredictionMode.Mc;
}

/// <summary>Central interval of the predictive distribution, per output.</summary>
/// <param name="Level">The interval's probability (0-1).</param>
/// <param name="Lower">Lower bound per output, in target units.</param>
/// <param name="Upper">Upper bound per output, in target units.</param>
public sealed record IntervalResult(double Level, double[] Lower, double[] Upper)
{
    /// <summary>"gaussian" (mean ± z·std) or "quantile" (the predictive mixture's quantiles).</summary>
    public IntervalMethod Method { get; init; } = IntervalMethod.Gaussian;
}

/// <summary>One input row's prediction; regression and classification fields appear as they apply.</summary>
public sealed record RowResult
{
    /// <summary>MC mean per output (regression, in target units) or mean class probability per class (classification).</summary>
    public required double[] Mean { get; init; }

    /// <summary>
    /// Variance of the T passes' means (classifiers: of each probability): the unbiased sample variance
    /// Σ_t (x_t − x̄)² / (T − 1), accumulated in double (Welford); 0 when T = 1 and in deterministic mode.
    /// </summary>
    public required double[] EpistemicVariance { get; init; }

    /// <summary>Regression: the mean predicted noise variance per output (data uncertainty).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double[]? AleatoricVariance { get; init; }

    /// <summary>Regression: epistemic plus aleatoric variance per output.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double[]? PredictiveVariance { get; init; }

    /// <summary>Regression: square root of the predictive variance per output.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double[]? Std { get; init; }

    /// <summary>Regression: the central predictive interval at the requested level.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IntervalResult? Interval { get; init; }

    /// <summary>Classification: the MC mean probability per class (in the model's output order).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double[]? Probabilities { get; init; }

    /// <summary>Classification: the standard deviation of each class probability over the passes.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double[]? ProbabilityStd { get; init; }

    /// <summary>Classification: the most probable class label.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Label { get; init; }

    /// <summary>Classification: entropy of the mean probabilities (total uncertainty, nats).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? Entropy { get; init; }

    /// <summary>Classification: mean per-pass entropy (aleatoric part, nats).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? ExpectedEntropy { get; init; }

    /// <summary>Classification: entropy minus expected entropy (epistemic part, BALD; nats).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? MutualInformation { get; init; }

    /// <summary>Classification: share of passes whose top class is not the modal class.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? VariationRatio { get; init; }

    /// <summary>With returnSamples: every pass's outputs, [pass][output].</summary>
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

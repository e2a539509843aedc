using System.Text.Json;
using System.Text.Json.Serialization;

namespace Uncertainty.Api.Predictions;

/// <summary>POST /predict body.</summary>
/// <param name="Inputs">Rows of raw feature values: arrays in the model's feature order, or objects keyed by feature name.</param>
/// <param name="Samples">T, the number of stochastic passes (the cap when <paramref name="Tolerance"/> is set).</param>
/// <param name="Seed">Seeds the dropout masks: the same seed gives the same numbers; omitted, fresh masks are drawn and the seed used is returned.</param>
/// <param name="IntervalLevel">Level of the central predictive interval (regression).</param>
/// <param name="Tolerance">Adaptive T: stop once every mean's Monte Carlo standard error is at most this (output units).</param>
/// <param name="ReturnSamples">Also return every pass's outputs.</param>
public sealed record PredictRequest(
    JsonElement[]? Inputs,
    int? Samples = null,
    ulong? Seed = null,
    double? IntervalLevel = null,
    double? Tolerance = null,
    bool ReturnSamples = false);

/// <summary>MC dropout predictions, one per input row.</summary>
/// <param name="Model">The model that answered.</param>
/// <param name="Version">The model version that answered.</param>
/// <param name="Predictions">One result per input row, in order.</param>
/// <param name="Samples">T, the MC passes used (fewer than asked when an adaptive tolerance was met).</param>
/// <param name="Seed">The seed of the dropout masks: send it back to get the same numbers.</param>
public sealed record PredictResponse(string Model, int Version, int Samples, ulong Seed, IReadOnlyList<RowResult> Predictions);

/// <summary>Central interval of the predictive distribution, per output.</summary>
/// <param name="Level">The interval's probability (0-1).</param>
/// <param name="Lower">Lower bound per output, in target units.</param>
/// <param name="Upper">Upper bound per output, in target units.</param>
public sealed record IntervalResult(double Level, double[] Lower, double[] Upper);

/// <summary>One input row's prediction; regression and classification fields appear as they apply.</summary>
public sealed record RowResult
{
    /// <summary>MC mean per output (regression, in target units) or mean class probability per class (classification).</summary>
    public required double[] Mean { get; init; }

    /// <summary>Variance of the per-pass outputs per output (model uncertainty); for classifiers the variance of each class probability.</summary>
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
}

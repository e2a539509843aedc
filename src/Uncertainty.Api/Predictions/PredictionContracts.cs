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

public sealed record PredictResponse(string Model, int Version, int Samples, ulong Seed, IReadOnlyList<RowResult> Predictions);

/// <summary>Central interval of the predictive distribution, per output.</summary>
public sealed record IntervalResult(double Level, double[] Lower, double[] Upper);

/// <summary>One input row's prediction; regression and classification fields appear as they apply.</summary>
public sealed record RowResult
{
    public required double[] Mean { get; init; }

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
}

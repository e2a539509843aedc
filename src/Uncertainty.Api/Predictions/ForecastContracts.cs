using System.Text.Json.Serialization;

namespace Uncertainty.Api.Predictions;

/// <summary>POST /models/{name}/forecast body.</summary>
/// <param name="History">Daily values up to and including <paramref name="LastDate"/>, oldest first: at least the model's window (its last window is read).</param>
/// <param name="LastDate">The day of the last history value (yyyy-MM-dd); the forecast covers the days after it.</param>
/// <param name="Samples">T, the number of stochastic passes (MC sample paths).</param>
/// <param name="Seed">Seeds the dropout masks: the same seed gives the same forecast; omitted, fresh masks are drawn and the seed used is returned.</param>
/// <param name="IntervalLevels">Levels of the central predictive intervals per step (default 0.5 and 0.9: a fan chart's bands).</param>
/// <param name="ReturnPaths">Also return this many MC sample paths (whole forecasts, one per pass), at most T.</param>
/// <param name="Mode">"mc" (default) or "deterministic" (one pass with dropout off: no epistemic part, no paths), as for /predict.</param>
/// <param name="Interval">
/// "gaussian" (default) or "quantile": each day's intervals from the quantiles of its MC predictive mixture, as for
/// /predict (samples x horizon at most Uncertainty:MaxQuantileIntervalValues).
/// </param>
public sealed record ForecastRequest(
    double[]? History,
    DateOnly? LastDate,
    int? Samples = null,
    ulong? Seed = null,
    double[]? IntervalLevels = null,
    int? ReturnPaths = null,
    PredictionMode? Mode = null,
    IntervalMethod? Interval = null);

/// <summary>One forecast day: the MC mean, the epistemic, aleatoric and predictive variances, and the central intervals.</summary>
/// <param name="Baseline">The seasonal-naive value (the same weekday in the last observed week) the network's correction is added to.</param>
/// <param name="Date">The forecast day (yyyy-MM-dd).</param>
/// <param name="Horizon">Days after the last history day (1 = the next day).</param>
/// <param name="Mean">The MC mean forecast, in the series' units.</param>
/// <param name="EpistemicVariance">Variance of the MC means over the passes (model uncertainty).</param>
/// <param name="AleatoricVariance">Mean predicted noise variance (data uncertainty).</param>
/// <param name="PredictiveVariance">Epistemic plus aleatoric variance.</param>
/// <param name="Std">Square root of the predictive variance.</param>
/// <param name="Intervals">Central predictive intervals, one per requested level.</param>
public sealed record ForecastStep(
    DateOnly Date,
    int Horizon,
    double Baseline,
    double Mean,
    double EpistemicVariance,
    double AleatoricVariance,
    double PredictiveVariance,
    double Std,
    IReadOnlyList<ForecastInterval> Intervals)
{
    /// <summary>Monte Carlo standard error of <see cref="Mean"/>, sqrt(epistemicVariance / T); absent when T = 1 or deterministic.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? StandardError { get; init; }
}

/// <summary>A central predictive interval of one forecast day.</summary>
/// <param name="Level">The interval's probability (0-1), one of the request's intervalLevels.</param>
/// <param name="Lower">Lower bound, in the series' units.</param>
/// <param name="Upper">Upper bound, in the series' units.</param>
public sealed record ForecastInterval(double Level, double Lower, double Upper)
{
    /// <summary>"gaussian" (mean ± z·std) or "quantile" (the day's predictive mixture's quantiles).</summary>
    public IntervalMethod Method { get; init; } = IntervalMethod.Gaussian;
}


/// <summary>A forecast: one predictive distribution per day after the history.</summary>
/// <param name="Paths">MC sample paths, [path][step], when asked for: each is one pass's whole forecast, its masks shared by every step.</param>
/// <param name="Model">The forecasting model that answered.</param>
/// <param name="Version">The model version that answered.</param>
/// <param name="Steps">One entry per forecast day, in date order.</param>
/// <param name="Samples">T, the MC passes used.</param>
/// <param name="Seed">The seed of the dropout masks: send it back to get the same forecast.</param>
public sealed record ForecastResponse(
    string Model,
    int Version,
    int Samples,
    ulong Seed,
    IReadOnlyList<ForecastStep> Steps,
    IReadOnlyList<float[]>? Paths)
{
    /// <summary>How the passes ran: "mc" or "deterministic".</summary>
    public PredictionMode Mode { get; init; } = PredictionMode.Mc;
}

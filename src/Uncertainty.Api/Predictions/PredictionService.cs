using System.Diagnostics;
using Microsoft.Extensions.Options;
using Uncertainty.Api.Hosting;
using Uncertainty.Api.Inference;
using Uncertainty.Api.Observability;
using Uncertainty.Api.Problems;
using Uncertainty.Model.Forecasting;
using Uncertainty.Model.Inference;

namespace Uncertainty.Api.Predictions;

/// <summary>A prediction in reported units, with the version that computed it and the seed its masks came from.</summary>
public sealed record ServedPrediction(LoadedVersion Model, McPrediction Prediction, ulong Seed);

/// <summary>
/// The one prediction path, for every entry point (REST, evaluation, other protocols): the version is
/// resolved once into an immutable loaded version; the request is validated and scaled with that version's
/// manifest, queued for that version's network, and unscaled with the same manifest.
/// </summary>
public sealed class PredictionService(ModelRegistry registry, InferenceScheduler queue, ServiceState state, IOptions<UncertaintyOptions> options, ServiceMetrics metrics)
{
    public const int DefaultSamples = 100;

    /// <summary>The model <c>POST /predict</c> serves.</summary>
    public string DefaultModel => options.Value.DefaultModel;

    /// <summary>A lease on the version a request means; 503 while the service is still starting.</summary>
    public Task<ModelLease> AcquireAsync(string name, int? version, CancellationToken cancellationToken)
    {
        state.ThrowIfNotStarted();
        return registry.AcquireAsync(name, version, cancellationToken);
    }

    public async Task<ServedPrediction> PredictAsync(string name, int? version, PredictRequest request, CancellationToken cancellationToken)
    {
        using var lease = await AcquireAsync(name, version, cancellationToken);
        return await MeasuredAsync(lease.Version, () => PredictAsync(lease.Version, request, cancellationToken));
    }

    /// <summary>A picture (PNG or JPEG) through an image model: decoded into one row as the model's preprocessing says, then the same path.</summary>
    public async Task<ServedPrediction> PredictImageAsync(string name, int? version, byte[] picture, PredictRequest options, CancellationToken cancellationToken)
    {
        using var lease = await AcquireAsync(name, version, cancellationToken);
        return await MeasuredAsync(lease.Version, async () =>
        {
            var image = lease.Version.Description.Image
                ?? throw new RequestValidationException("image", $"Model '{name}' is not an image model; send its rows as JSON to /models/{name}/predict.");
            var row = await ImageDecoder.ToRowAsync(picture, image, cancellationToken);
            return await PredictAsync(lease.Version, options with { Inputs = [System.Text.Json.JsonSerializer.SerializeToElement(row)] }, cancellationToken);
        });
    }

    /// <summary>
    /// A forecast: the history's last window becomes one row per horizon day (<see cref="ForecastInput"/>), predicted in one
    /// request so each MC pass is a coherent path, then shifted back by each day's seasonal-naive baseline.
    /// </summary>
    public async Task<ForecastResponse> ForecastAsync(string name, ForecastRequest request, CancellationToken cancellationToken)
    {
        using var lease = await AcquireAsync(name, null, cancellationToken);
        return await MeasuredAsync(lease.Version, () => ForecastAsync(lease.Version, request, cancellationToken));
    }

    private async Task<ForecastResponse> ForecastAsync(LoadedVersion model, ForecastRequest request, CancellationToken cancellationToken)
    {
        var name = model.Name;
        var setup = model.Description.Forecast
            ?? throw new RequestValidationException("model", $"Model '{name}' is not a forecasting model; send its rows to /models/{name}/predict.");
        var errors = new Dictionary<string, string[]>();
        if (request.History is not { } history || history.Length < setup.Window || history.Length > ForecastInput.MaxDays)
        {
            errors["history"] = [$"Send at least {setup.Window} (and at most {ForecastInput.MaxDays}) daily values, oldest first; got {request.History?.Length ?? 0}."];
        }
        else if (Array.FindIndex(history, v => !double.IsFinite(v) || Math.Abs(v) > float.MaxValue) is var bad and >= 0)
        {
            errors[$"history[{bad}]"] = ["History values must be finite numbers within single-precision range."];
        }

        if (request.LastDate is not { } lastDate)
        {
            errors["lastDate"] = ["Give the day of the last history value (yyyy-MM-dd)."];
        }
        else if (lastDate.DayNumber > DateOnly.MaxValue.DayNumber - setup.Horizon)
        {
            errors["lastDate"] = ["The forecast would run past the last representable day."];
        }
        else if (lastDate.DayNumber < setup.Window - 1)
        {
            errors["lastDate"] = [$"The model's {setup.Window}-day window would start before the first representable day (0001-01-01)."];
        }

        var levels = request.IntervalLevels ?? [0.5, 0.9];
        if (levels.Length is < 1 or > 8 || levels.Any(level => !(level > 0 && level <= PredictRequestValidator.MaxIntervalLevel)))
        {
            errors["intervalLevels"] = [$"Give 1 to 8 levels, each in (0, {PredictRequestValidator.MaxIntervalLevel}]."];
        }

        int samples = request.Samples ?? DefaultSamples;
        if (samples < 1 || samples > options.Value.MaxSamples)
        {
            errors["samples"] = [$"samples must be between 1 and {options.Value.MaxSamples}; got {samples}."];
        }

        if (request.ReturnPaths is { } paths && (paths < 0 || paths > samples || (long)paths * setup.Horizon > options.Value.MaxReturnedSampleValues))
        {
            errors["returnPaths"] = [$"returnPaths must be between 0 and samples ({samples}), at most {options.Value.MaxReturnedSampleValues:N0} values in all."];
        }

        Seeds.Check(request.Seed, "seed", errors);
        bool deterministic = request.Mode == PredictionMode.Deterministic;
        if (deterministic && request.ReturnPaths is > 0)
        {
            errors["returnPaths"] = ["Deterministic mode runs one pass with dropout off: it has no sample paths; use mode mc."];
        }

        if (request.Interval == IntervalMethod.Quantile && !deterministic && (long)samples * setup.Horizon > options.Value.MaxQuantileIntervalValues)
        {
            errors["interval"] = [$"Quantile intervals keep every pass's outputs: {(long)samples * setup.Horizon:N0} values here; at most {options.Value.MaxQuantileIntervalValues:N0} (Uncertainty:MaxQuantileIntervalValues). Ask for fewer samples, or the gaussian interval."];
        }

        if (errors.Count > 0)
        {
            throw new RequestValidationException(errors);
        }

        var window = request.History!.AsSpan(request.History!.Length - setup.Window).ToArray().Select(v => (float)v).ToArray();
        var seed = request.Seed ?? Seeds.Fresh();
        var mcRequest = new McRequest
        {
            Inputs = model.Description.PrepareInputs(setup.Rows(window, request.LastDate!.Value)),
            Rows = setup.Horizon,
            Samples = samples,
            Seed = seed,
            ReturnSamples = request.ReturnPaths is > 0,
            KeepMixture = request.Interval == IntervalMethod.Quantile,
        };
        var prediction = model.Description.ToReportedUnits(await RunAsync(model, mcRequest, deterministic ? PassMode.Deterministic : PassMode.MonteCarlo, RequestTimeout, cancellationToken));
        var baselines = setup.Baselines(window);
        var steps = prediction.Rows.Cast<RegressionPrediction>().Select((step, h) => ForecastModels.Shifted(step, baselines[h])).ToList();
        if (!steps.All(Finite))
        {
            throw new NonFiniteOutputException();
        }

        return new ForecastResponse(
            model.Name,
            model.Version,
            prediction.SamplesUsed,
            seed,
            [.. steps.Select((step, h) => new ForecastStep(
                request.LastDate!.Value.AddDays(h + 1),
                h + 1,
                baselines[h],
                step.Mean[0],
                step.EpistemicVariance[0],
                step.AleatoricVariance[0],
                step.PredictiveVariance[0],
                step.Std[0],
                [.. levels.Select(l => Interval(step, l, request.Interval) is var (lower, upper) ? new ForecastInterval(l, lower[0], upper[0]) { Method = request.Interval ?? IntervalMethod.Gaussian } : null!)])
            {
                StandardError = step.StandardError?[0],
            })],
            request.ReturnPaths is > 0 and var count
                ? [.. Enumerable.Range(0, count).Select(pass => steps.Select(step => step.Samples![pass][0]).ToArray())]
                : null)
        {
            Mode = request.Mode ?? PredictionMode.Mc,
        };
    }

    /// <summary>A regression row's central interval at <paramref name="level"/> by <paramref name="method"/> (default gaussian).</summary>
    public static (double[] Lower, double[] Upper) Interval(RegressionPrediction row, double level, IntervalMethod? method) => method == IntervalMethod.Quantile
        ? (row.Mixture ?? throw new InvalidOperationException("a quantile interval needs the passes kept (McRequest.KeepMixture)")).Interval(level)
        : row.Interval(level);

    private async Task<ServedPrediction> PredictAsync(LoadedVersion model, PredictRequest request, CancellationToken cancellationToken)
    {
        var (errors, raw) = PredictRequestValidator.Validate(request, model.Description, options.Value);
        if (errors.Count > 0)
        {
            throw new RequestValidationException(errors);
        }

        var seed = request.Seed ?? Seeds.Fresh();
        var mcRequest = new McRequest
        {
            Inputs = model.Description.PrepareInputs(raw),
            Rows = request.Inputs!.Length,
            Samples = request.Samples ?? DefaultSamples,
            Seed = seed,
            Tolerance = request.Tolerance,
            ReturnSamples = request.ReturnSamples,
            KeepMixture = request.Interval == IntervalMethod.Quantile,
        };
        // Deterministic mode takes the same queue and owner thread as MC (the scheduler's weight-scaled pass), no path of its own.
        var mode = request.Mode == PredictionMode.Deterministic ? PassMode.Deterministic : PassMode.MonteCarlo;
        var prediction = model.Description.ToReportedUnits(await RunAsync(model, mcRequest, mode, RequestTimeout, cancellationToken));
        if (!prediction.Rows.All(Finite))
        {
            throw new NonFiniteOutputException();
        }

        return new ServedPrediction(model, prediction, seed);
    }

    /// <summary>The per-model request metrics around one prediction: success, or failure by the status it is answered with (a client that went away is neither).</summary>
    private async Task<T> MeasuredAsync<T>(LoadedVersion model, Func<Task<T>> predict)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            var result = await predict();
            metrics.RequestAnswered(model.Name, model.Version, Stopwatch.GetElapsedTime(started), failureStatus: null);
            return result;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            metrics.RequestAnswered(model.Name, model.Version, Stopwatch.GetElapsedTime(started), ProblemMap.Describe(e).Status);
            throw;
        }
    }

    /// <summary>Runs a prepared request (network units) on a version the caller holds a lease on; the result is in network units.</summary>
    public Task<McPrediction> RunAsync(LoadedVersion model, McRequest request, PassMode mode, TimeSpan timeout, CancellationToken cancellationToken) =>
        queue.PredictAsync(model, request, mode, timeout, cancellationToken);

    public TimeSpan RequestTimeout => TimeSpan.FromSeconds(options.Value.RequestTimeoutSeconds);

    /// <summary>Every number a response would carry is finite (JSON has no NaN or infinity).</summary>
    public static bool Finite(RowPrediction row) => row switch
    {
        RegressionPrediction r => r.Mean.All(double.IsFinite) && r.EpistemicVariance.All(double.IsFinite) && r.AleatoricVariance.All(double.IsFinite)
            && (r.Samples?.All(pass => pass.All(float.IsFinite)) ?? true),
        ClassPrediction c => c.Probabilities.All(double.IsFinite) && c.ProbabilityStd.All(double.IsFinite) && double.IsFinite(c.Entropy) && double.IsFinite(c.MutualInformation),
        _ => true,
    };
}

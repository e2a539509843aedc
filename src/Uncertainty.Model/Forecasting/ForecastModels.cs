using Uncertainty.Model.Data;
using Uncertainty.Model.Inference;
using Uncertainty.Model.Networks;
using Uncertainty.Model.Packaging;
using Uncertainty.Model.Training;
using static TorchSharp.torch;

namespace Uncertainty.Model.Forecasting;

/// <summary>
/// What a forecasting model scored on held-out forecast origins (docs/reproduction.md, "US births"). Per horizon step:
/// <see cref="RmseByStep"/> and the mean predictive standard deviation <see cref="PredictiveStdByStep"/>, which should grow
/// with the horizon.
/// </summary>
/// <param name="LogLikelihood">Mean per-value Gaussian log density of the truth under the predictive mean and variance (epistemic + aleatoric).</param>
public sealed record ForecastReport(
    int Origins,
    int Horizon,
    double Rmse,
    double SeasonalNaiveRmse,
    double Coverage50,
    double Coverage90,
    double LogLikelihood,
    double WeightScalingRmse,
    double[] RmseByStep,
    double[] PredictiveStdByStep,
    double[] EpistemicStdByStep,
    double TrainingSeconds);

/// <summary>One forecast in the series' units: per horizon day its seasonal-naive baseline, the mean, variances and (optionally) every MC sample path.</summary>
public sealed record Forecast(DateOnly[] Days, double[] Baselines, IReadOnlyList<RegressionPrediction> Steps);

/// <summary>Daily forecasting end to end: training rows from a series, training, forecasting, scoring against seasonal naive.</summary>
public static class ForecastModels
{
    /// <summary>Trains <paramref name="spec"/> (inputShape [window, 4]) on days [start, end) of <paramref name="series"/>.</summary>
    public static ModelPackage Fit(
        DailySeries series,
        int start,
        int end,
        NetworkSpec spec,
        int horizon,
        int levelDays,
        int stride,
        TrainingOptions options,
        Device? device = null,
        IProgress<TrainingProgress>? progress = null,
        string? description = null,
        CancellationToken cancellationToken = default)
    {
        var shape = spec.ResolvedInputShape;
        if (shape is not [_, ForecastInput.Features])
        {
            throw new ArgumentException($"A forecasting network reads [window, {ForecastInput.Features}] steps ({string.Join(", ", ForecastInput.FeatureNames)}); this one reads [{string.Join(", ", shape)}].", nameof(spec));
        }

        var setup = new ForecastInput(shape[0], horizon, levelDays).Validate();
        var rows = setup.TrainingRows(series, start, end, stride);
        var package = TrainingPipeline.Fit(rows, spec, options, device, progress, description, cancellationToken);
        // The days outside [start, end) never reach training (not as inputs, not as targets): they are held out.
        var record = DataSource.Named(series.Name, series.Count).Record(
            Enumerable.Range(start, end - start),
            FormattableString.Invariant($"trained on the days {series.Dates[start]:yyyy-MM-dd} to {series.Dates[end - 1]:yyyy-MM-dd}; every other day held out"));
        return new ModelPackage(package.Description with { Forecast = setup, FeatureNames = null, Examples = null, OutputNames = [series.Name], TrainingData = record }, package.Network);
    }

    /// <summary>Forecasts the days after <paramref name="lastDay"/> from the history ending there (its last window of values).</summary>
    public static Forecast Predict(McPredictor predictor, ModelDescription model, ReadOnlySpan<float> history, DateOnly lastDay, int samples, ulong seed, bool returnSamples)
    {
        var setup = model.Forecast ?? throw new ArgumentException("The model is not a forecasting model.", nameof(model));
        var window = history[^setup.Window..];
        var inputs = model.PrepareInputs(setup.Rows(window, lastDay));
        var prediction = model.ToReportedUnits(predictor.Predict(new McRequest { Inputs = inputs, Rows = setup.Horizon, Samples = samples, Seed = seed, ReturnSamples = returnSamples }));
        var baselines = setup.Baselines(window);
        return new Forecast(
            [.. Enumerable.Range(1, setup.Horizon).Select(lastDay.AddDays)],
            baselines,
            [.. prediction.Rows.Cast<RegressionPrediction>().Select((step, h) => Shifted(step, baselines[h]))]);
    }

    /// <summary>A day's prediction with its baseline added to its mean and samples (variances are unchanged by a shift).</summary>
    public static RegressionPrediction Shifted(RegressionPrediction step, double baseline) =>
        new([.. step.Mean.Select(m => m + baseline)], step.EpistemicVariance, step.AleatoricVariance)
        {
            Samples = step.Samples?.Select(pass => pass.Select(v => (float)(v + baseline)).ToArray()).ToArray(),
            StandardError = step.StandardError,
            Mixture = step.Mixture?.Affine([.. Enumerable.Repeat(1.0, step.Mean.Length)], [.. Enumerable.Repeat(baseline, step.Mean.Length)]),
        };

    /// <summary>Scores forecasts from every <paramref name="stride"/>-th origin in days [start, end) against the truth and seasonal naive.</summary>
    public static ForecastReport Evaluate(ModelPackage package, DailySeries series, int start, int end, int stride, int samples, ulong seed, double trainingSeconds, CancellationToken cancellationToken = default)
    {
        var model = package.Description;
        var setup = model.Forecast ?? throw new ArgumentException("The model is not a forecasting model.", nameof(package));
        using var predictor = new McPredictor(package.Network, CPU);
        // Origins need a full window of history before them, which may reach back before the test period.
        var origins = setup.Origins(start - setup.Window, end, stride);
        int horizon = setup.Horizon;
        var squared = new double[horizon];
        var naiveSquared = 0.0;
        var deterministicSquared = 0.0;
        var predictiveStd = new double[horizon];
        var epistemicStd = new double[horizon];
        double logLikelihood = 0, inside50 = 0, inside90 = 0;
        double z50 = 0.6744897501960817, z90 = 1.6448536269514722;
        foreach (var origin in origins)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var history = series.Values.AsSpan(origin - setup.Window, setup.Window);
            var forecast = Predict(predictor, model, history, series.Dates[origin - 1], samples, seed, returnSamples: false);
            var naive = series.SeasonalNaive(origin, horizon);
            var deterministic = predictor.PredictDeterministic(model.PrepareInputs(setup.Rows(history, series.Dates[origin - 1])), horizon);
            for (int h = 0; h < horizon; h++)
            {
                var step = forecast.Steps[h];
                double truth = series.Values[origin + h], mean = step.Mean[0];
                double variance = step.EpistemicVariance[0] + step.AleatoricVariance[0], std = Math.Sqrt(variance);
                squared[h] += (mean - truth) * (mean - truth);
                naiveSquared += (naive[h] - truth) * (naive[h] - truth);
                double deterministicMean = ((RegressionPrediction)model.ToReportedUnits(deterministic[h])).Mean[0] + forecast.Baselines[h];
                deterministicSquared += (deterministicMean - truth) * (deterministicMean - truth);
                predictiveStd[h] += std;
                epistemicStd[h] += Math.Sqrt(step.EpistemicVariance[0]);
                logLikelihood += (-0.5 * Math.Log(2 * Math.PI * variance)) - ((truth - mean) * (truth - mean) / (2 * variance));
                inside50 += Math.Abs(truth - mean) <= z50 * std ? 1 : 0;
                inside90 += Math.Abs(truth - mean) <= z90 * std ? 1 : 0;
            }
        }

        double values = (double)origins.Count * horizon;
        return new ForecastReport(
            origins.Count,
            horizon,
            Math.Sqrt(squared.Sum() / values),
            Math.Sqrt(naiveSquared / values),
            inside50 / values,
            inside90 / values,
            logLikelihood / values,
            Math.Sqrt(deterministicSquared / values),
            [.. squared.Select(s => Math.Sqrt(s / origins.Count))],
            [.. predictiveStd.Select(s => s / origins.Count)],
            [.. epistemicStd.Select(s => s / origins.Count)],
            trainingSeconds);
    }
}

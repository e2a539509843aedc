using Uncertainty.Model.Data;
using Uncertainty.Model.Inference;
using Uncertainty.Model.Networks;
using Uncertainty.Model.Packaging;

namespace Uncertainty.Model.Evaluation;

/// <summary>Regression scores in target units.</summary>
/// <param name="LogLikelihood">MC: Gal and Ghahramani's log-mean-exp over passes; weight scaling: one Gaussian with the aleatoric variance.</param>
/// <param name="Rmse">Root mean squared error of the predictive mean, in target units.</param>
/// <param name="Mae">Mean absolute error of the predictive mean, in target units.</param>
/// <param name="Coverage90">Share of targets inside the central 90 % predictive interval (0-1; 0.9 when calibrated).</param>
/// <param name="Coverage95">Share of targets inside the central 95 % predictive interval (0-1; 0.95 when calibrated).</param>
public sealed record RegressionMetrics(double Rmse, double Mae, double LogLikelihood, double Coverage90, double Coverage95);

/// <summary>Classification scores of the mean predicted class probabilities.</summary>
/// <param name="Accuracy">Share of rows whose most probable class is the true class (0-1).</param>
/// <param name="NegativeLogLikelihood">Mean negative log probability of the true class (nats; lower is better).</param>
/// <param name="Brier">Mean squared error of the probability vector against the one-hot truth (0-2; lower is better).</param>
/// <param name="ExpectedCalibrationError">Expected calibration error over the reliability bins: the count-weighted gap between confidence and accuracy (0-1).</param>
/// <param name="Reliability">The reliability diagram: confidence bins with their mean confidence and accuracy.</param>
public sealed record ClassificationMetrics(double Accuracy, double NegativeLogLikelihood, double Brier, double ExpectedCalibrationError, IReadOnlyList<ReliabilityBin> Reliability);

/// <summary>MC dropout and weight scaling scored side by side on the same rows.</summary>
/// <param name="Rows">Rows scored.</param>
/// <param name="Samples">T, the MC dropout passes per row.</param>
/// <param name="McDropout">Regression: scores of the MC dropout predictive distribution; null for classifiers.</param>
/// <param name="WeightScaling">Regression: scores of the deterministic (weight-scaled) pass; null for classifiers.</param>
/// <param name="McDropoutClassification">Classification: scores of the MC mean probabilities; null for regressors.</param>
/// <param name="WeightScalingClassification">Classification: scores of the deterministic (weight-scaled) probabilities; null for regressors.</param>
public sealed record EvaluationReport(
    int Rows,
    int Samples,
    RegressionMetrics? McDropout = null,
    RegressionMetrics? WeightScaling = null,
    ClassificationMetrics? McDropoutClassification = null,
    ClassificationMetrics? WeightScalingClassification = null);

/// <summary>Scores a model on labelled rows with T MC samples and with the deterministic (weight-scaled) pass.</summary>
public static class Evaluator
{
    /// <summary>Rows per predictor call: bounds the memory of the per-pass samples the log-likelihood needs.</summary>
    public const int RowsPerCall = 256;

    /// <summary>Scores <paramref name="package"/> on <paramref name="data"/>; the predictor takes over (and disposes) the package's network.</summary>
    public static EvaluationReport Evaluate(ModelPackage package, Dataset data, int samples, ulong seed, TorchSharp.torch.Device? device = null, CancellationToken cancellationToken = default)
    {
        using var predictor = new McPredictor(package.Network, device ?? TorchSharp.torch.CPU, outputScale: package.Description.OutputScale);
        return Evaluate(predictor, package.Description, data, samples, seed, cancellationToken);
    }

    public static EvaluationReport Evaluate(McPredictor predictor, ModelDescription model, Dataset data, int samples, ulong seed, CancellationToken cancellationToken = default)
    {
        var (mc, deterministic) = Predict(predictor, model, data, samples, seed, cancellationToken);
        return Score(model, data, mc, deterministic, samples);
    }

    /// <summary>MC and deterministic predictions (reported units) for every row of <paramref name="data"/>, in order, a batch of rows per call.</summary>
    public static (List<RowPrediction> Mc, List<RowPrediction> Deterministic) Predict(McPredictor predictor, ModelDescription model, Dataset data, int samples, ulong seed, CancellationToken cancellationToken = default)
    {
        CheckColumns(model, data);
        var mc = new List<RowPrediction>(data.Rows);
        var deterministic = new List<RowPrediction>(data.Rows);
        foreach (var (start, rows) in Batches(data.Rows))
        {
            var inputs = model.PrepareInputs(data.Features.AsSpan(start * data.Columns, rows * data.Columns));
            mc.AddRange(model.ToReportedUnits(predictor.Predict(Request(model, inputs, rows, samples, seed), cancellationToken)).Rows);
            deterministic.AddRange(predictor.PredictDeterministic(inputs, rows).Select(model.ToReportedUnits));
        }

        return (mc, deterministic);
    }

    /// <summary>Throws <see cref="ArgumentException"/> when the data's width is not the model's.</summary>
    public static void CheckColumns(ModelDescription model, Dataset data)
    {
        if (data.Columns != model.Network.Inputs)
        {
            throw new ArgumentException($"{data.Name} has {data.Columns} features; the model takes {model.Network.Inputs}.", nameof(data));
        }
    }

    /// <summary>The (first row, row count) of each predictor call over <paramref name="rows"/> rows.</summary>
    public static IEnumerable<(int Start, int Rows)> Batches(int rows)
    {
        for (int start = 0; start < rows; start += RowsPerCall)
        {
            yield return (start, Math.Min(RowsPerCall, rows - start));
        }
    }

    /// <summary>The MC request for one batch: regression keeps every pass's outputs for Gal's log-likelihood.</summary>
    public static McRequest Request(ModelDescription model, float[] inputs, int rows, int samples, ulong seed) =>
        new() { Inputs = inputs, Rows = rows, Samples = samples, Seed = seed, ReturnSamples = model.Network.Head.Kind != HeadKind.Classification };

    /// <summary>Scores MC and deterministic predictions (reported units, one per data row, in order) against the data's targets.</summary>
    public static EvaluationReport Score(ModelDescription model, Dataset data, IReadOnlyList<RowPrediction> mc, IReadOnlyList<RowPrediction> deterministic, int samples)
    {
        if (model.Network.Head.Kind == HeadKind.Classification)
        {
            var labels = data.Labels;
            return new EvaluationReport(data.Rows, samples, McDropoutClassification: Classification(mc, labels), WeightScalingClassification: Classification(deterministic, labels));
        }

        var actual = data.Targets.Select(t => (double)t).ToArray();
        var mcRows = mc.Cast<RegressionPrediction>().ToList();
        var deterministicRows = deterministic.Cast<RegressionPrediction>().ToList();
        var tau = 1 / mcRows[0].AleatoricVariance[0];
        var mcLogLikelihood = model.Network.Head.Kind == HeadKind.Regression
            ? Metrics.McLogLikelihood([.. mcRows.Select(r => (IReadOnlyList<double>)[.. r.Samples!.Select(s => (double)s[0])])], actual, tau)
            : GaussianLogLikelihood(mcRows, actual);
        return new EvaluationReport(
            data.Rows,
            samples,
            McDropout: Regression(mcRows, actual, mcLogLikelihood),
            WeightScaling: Regression(deterministicRows, actual, GaussianLogLikelihood(deterministicRows, actual)));
    }

    /// <summary>Log-likelihood of one Gaussian per row with the row's mean and predictive variance.</summary>
    private static double GaussianLogLikelihood(IReadOnlyList<RegressionPrediction> rows, double[] actual) =>
        Metrics.GaussianLogLikelihood([.. rows.Select(r => r.Mean[0])], [.. rows.Select(r => r.PredictiveVariance[0])], actual);

    private static RegressionMetrics Regression(IReadOnlyList<RegressionPrediction> rows, double[] actual, double logLikelihood)
    {
        var mean = rows.Select(r => r.Mean[0]).ToArray();
        double Coverage(double level)
        {
            var intervals = rows.Select(r => r.Interval(level)).ToArray();
            return Metrics.Coverage([.. intervals.Select(i => i.Lower[0])], [.. intervals.Select(i => i.Upper[0])], actual);
        }

        return new RegressionMetrics(Metrics.Rmse(mean, actual), Metrics.Mae(mean, actual), logLikelihood, Coverage(0.90), Coverage(0.95));
    }

    private static ClassificationMetrics Classification(IReadOnlyList<RowPrediction> rows, int[] labels)
    {
        var probabilities = rows.Cast<ClassPrediction>().Select(r => r.Probabilities).ToArray();
        var (ece, bins) = Metrics.Calibration(probabilities, labels);
        return new ClassificationMetrics(Metrics.Accuracy(probabilities, labels), Metrics.NegativeLogLikelihood(probabilities, labels), Metrics.Brier(probabilities, labels), ece, bins);
    }
}

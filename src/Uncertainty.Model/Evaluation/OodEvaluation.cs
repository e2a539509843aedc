using Uncertainty.Model.Data;
using Uncertainty.Model.Inference;
using Uncertainty.Model.Networks;
using Uncertainty.Model.Packaging;

namespace Uncertainty.Model.Evaluation;

/// <summary>One OOD or selective-prediction result per uncertainty score; higher scores mean "less sure".</summary>
/// <param name="PredictiveEntropy">Entropy of the MC mean probabilities (total uncertainty).</param>
/// <param name="MutualInformation">Entropy minus the mean per-pass entropy (epistemic uncertainty, BALD).</param>
/// <param name="MaxProbability">One minus the largest MC mean probability.</param>
/// <param name="DeterministicMaxProbability">One minus the largest probability of the deterministic (weight-scaled) pass: the baseline.</param>
public sealed record PerScore<T>(T PredictiveEntropy, T MutualInformation, T MaxProbability, T DeterministicMaxProbability);

/// <summary>Out-of-distribution detection (OOD rows positive) and selective prediction on the in-distribution rows.</summary>
/// <param name="InDistribution">The in-distribution rows: the dataset and split scored.</param>
/// <param name="InDistributionRows">In-distribution rows scored.</param>
/// <param name="OutOfDistribution">The out-of-distribution dataset (its test split).</param>
/// <param name="OutOfDistributionRows">Out-of-distribution rows scored.</param>
/// <param name="Samples">T, the MC dropout passes per row.</param>
/// <param name="Detection">OOD detection scores per uncertainty score.</param>
/// <param name="Selective">Selective-prediction scores on the in-distribution rows per uncertainty score.</param>
public sealed record OodEvaluationReport(
    string InDistribution,
    int InDistributionRows,
    string OutOfDistribution,
    int OutOfDistributionRows,
    int Samples,
    PerScore<OodReport> Detection,
    PerScore<SelectiveReport> Selective);

/// <summary>Scores how well a classifier's uncertainty separates another dataset's rows from its own test rows.</summary>
public static class OodEvaluator
{
    public static OodEvaluationReport Evaluate(
        McPredictor predictor, ModelDescription model, Dataset inDistribution, Dataset outOfDistribution, int samples, ulong seed, CancellationToken cancellationToken = default)
    {
        if (model.Network.Head.Kind != HeadKind.Classification)
        {
            throw new ArgumentException("Out-of-distribution scores need a classifier (entropy and mutual information of class probabilities).", nameof(model));
        }

        Evaluator.CheckColumns(model, outOfDistribution);
        Evaluator.CheckColumns(model, inDistribution);
        var (inMc, inDeterministic) = Predict(predictor, model, inDistribution, samples, seed, cancellationToken);
        var (outMc, outDeterministic) = Predict(predictor, model, outOfDistribution, samples, seed, cancellationToken);
        return Score(inDistribution, outOfDistribution, samples, inMc, inDeterministic, outMc, outDeterministic);
    }

    /// <summary>Scores predictions made elsewhere (one per row, in order, for each dataset).</summary>
    public static OodEvaluationReport Score(
        Dataset inDistribution,
        Dataset outOfDistribution,
        int samples,
        IReadOnlyList<ClassPrediction> inMc,
        IReadOnlyList<ClassPrediction> inDeterministic,
        IReadOnlyList<ClassPrediction> outMc,
        IReadOnlyList<ClassPrediction> outDeterministic)
    {
        if (inMc.Count < 2 || outMc.Count < 2)
        {
            throw new ArgumentException($"OOD scores need at least 2 rows of each dataset; got {inMc.Count} and {outMc.Count}.", nameof(inMc));
        }

        var labels = inDistribution.Labels;
        var correct = inMc.Select((row, i) => row.Label == labels[i]).ToArray();
        var deterministicCorrect = inDeterministic.Select((row, i) => row.Label == labels[i]).ToArray();
        double[] Entropy(IReadOnlyList<ClassPrediction> rows) => [.. rows.Select(r => r.Entropy)];
        double[] Information(IReadOnlyList<ClassPrediction> rows) => [.. rows.Select(r => r.MutualInformation)];
        double[] Doubt(IReadOnlyList<ClassPrediction> rows) => [.. rows.Select(r => 1 - r.Probabilities.Max())];
        return new OodEvaluationReport(
            inDistribution.Name,
            inDistribution.Rows,
            outOfDistribution.Name,
            outOfDistribution.Rows,
            samples,
            new PerScore<OodReport>(
                OodMetrics.Ood(Entropy(inMc), Entropy(outMc)),
                OodMetrics.Ood(Information(inMc), Information(outMc)),
                OodMetrics.Ood(Doubt(inMc), Doubt(outMc)),
                OodMetrics.Ood(Doubt(inDeterministic), Doubt(outDeterministic))),
            new PerScore<SelectiveReport>(
                OodMetrics.Selective(correct, Entropy(inMc)),
                OodMetrics.Selective(correct, Information(inMc)),
                OodMetrics.Selective(correct, Doubt(inMc)),
                OodMetrics.Selective(deterministicCorrect, Doubt(inDeterministic))));
    }

    private static (List<ClassPrediction> Mc, List<ClassPrediction> Deterministic) Predict(
        McPredictor predictor, ModelDescription model, Dataset data, int samples, ulong seed, CancellationToken cancellationToken)
    {
        var mc = new List<ClassPrediction>(data.Rows);
        var deterministic = new List<ClassPrediction>(data.Rows);
        foreach (var (start, rows) in Evaluator.Batches(data.Rows))
        {
            var inputs = model.PrepareInputs(data.Features.AsSpan(start * data.Columns, rows * data.Columns));
            mc.AddRange(predictor.Predict(new McRequest { Inputs = inputs, Rows = rows, Samples = samples, Seed = seed }, cancellationToken).Rows.Cast<ClassPrediction>());
            deterministic.AddRange(predictor.PredictDeterministic(inputs, rows).Cast<ClassPrediction>());
        }

        return (mc, deterministic);
    }
}

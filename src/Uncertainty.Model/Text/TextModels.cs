using Uncertainty.Model.Data;
using Uncertainty.Model.Evaluation;
using Uncertainty.Model.Inference;
using Uncertainty.Model.Networks;
using Uncertainty.Model.Packaging;
using Uncertainty.Model.Training;
using static TorchSharp.torch;

namespace Uncertainty.Model.Text;

/// <summary>What a text classifier scored on held-out messages (docs/reproduction.md, "SpamAssassin").</summary>
/// <param name="MeanMutualInformation">Per message group (easy-ham, hard-ham, spam): the mean MC mutual information.</param>
/// <param name="MisclassificationAuroc">AUROC of each MC uncertainty score for telling misclassified messages from correct ones.</param>
public sealed record TextReport(
    int Train,
    int Test,
    int Vocabulary,
    EvaluationReport Scores,
    IReadOnlyDictionary<string, double> AccuracyByGroup,
    IReadOnlyDictionary<string, double> MeanMutualInformation,
    IReadOnlyDictionary<string, double> MeanEntropy,
    IReadOnlyDictionary<string, double> MisclassificationAuroc,
    double TrainingSeconds);

/// <summary>Text classification end to end: a tokenizer built on the training texts, token-id rows, training, scoring.</summary>
public static class TextModels
{
    /// <summary>
    /// Trains <paramref name="spec"/> (whose embedding's vocab is set to the tokenizer's size) on <paramref name="train"/>'s
    /// model texts; the package carries the tokenizer, so the service reads raw strings.
    /// </summary>
    public static ModelPackage Fit(
        TextDataset train,
        NetworkSpec spec,
        TrainingOptions options,
        int maxVocabulary,
        int minCount = 2,
        Device? device = null,
        IProgress<TrainingProgress>? progress = null,
        string? description = null,
        CancellationToken cancellationToken = default)
    {
        if (!spec.IsTokenSequence)
        {
            throw new ArgumentException("A text model starts with an embedding layer over an inputShape of [length] token ids.", nameof(spec));
        }

        var text = new TextInput(WordTokenizer.Build(train.Texts.Select(EmailText.ModelText), maxVocabulary, minCount), TextPreprocessing.Email);
        spec = spec with { Layers = [spec.Layers![0] with { Vocab = text.Tokenizer.VocabularySize }, .. spec.Layers.Skip(1)] };
        var package = TrainingPipeline.Fit(Rows(train, text, spec), spec, options, device, progress, description, cancellationToken);
        return new ModelPackage(package.Description with { Text = text, FeatureNames = null, Examples = null }, package.Network);
    }

    /// <summary>The record of a model trained on <paramref name="split"/>'s training part of <paramref name="corpus"/> (<see cref="TextDataset.SplitRows"/>).</summary>
    public static TrainingData SplitRecord(TextDataset corpus, DataSplit split, double testFraction, ulong seed) =>
        DataSource.Named(corpus.Name, corpus.Count).Record(split.Train, FormattableString.Invariant($"a seeded {testFraction:P0} of each message group held out (seed {seed})"));

    /// <summary>The messages as a dataset of token-id rows (padded with 0) and their labels.</summary>
    public static Dataset Rows(TextDataset data, TextInput text, NetworkSpec spec)
    {
        int length = spec.ResolvedInputShape[0];
        return new Dataset(
            data.Name,
            [.. Enumerable.Range(0, length).Select(t => $"token{t}")],
            text.Rows(data.Texts, length),
            "label",
            [.. data.Labels.Select(label => (float)label)],
            data.ClassNames);
    }

    /// <summary>Scores a text model on held-out messages: MC dropout and weight scaling, and the uncertainty of each group.</summary>
    public static TextReport Evaluate(ModelPackage package, TextDataset test, int samples, ulong seed, int trainCount, double trainingSeconds, CancellationToken cancellationToken = default)
    {
        var model = package.Description;
        var text = model.Text ?? throw new ArgumentException("The model has no tokenizer.", nameof(package));
        var rows = Rows(test, text, model.Network);
        using var predictor = new McPredictor(package.Network, CPU);
        var (predictions, deterministic) = Evaluator.Predict(predictor, model, rows, samples, seed, cancellationToken);
        var mc = predictions.Cast<ClassPrediction>().ToList();
        var scores = Evaluator.Score(model, rows, predictions, deterministic, samples);
        var groups = test.Groups.Distinct().Order(StringComparer.Ordinal).ToList();
        double MeanOf(string group, Func<ClassPrediction, double> value) =>
            Enumerable.Range(0, test.Count).Where(i => test.Groups[i] == group).Select(i => value(mc[i])).DefaultIfEmpty(double.NaN).Average();
        var correct = mc.Select((p, i) => p.Label == test.Labels[i]).ToList();
        double Auroc(Func<ClassPrediction, double> score)
        {
            var right = mc.Where((_, i) => correct[i]).Select(score).ToList();
            var wrong = mc.Where((_, i) => !correct[i]).Select(score).ToList();
            return right.Count > 0 && wrong.Count > 0 ? OodMetrics.Auroc(right, wrong) : double.NaN;
        }

        return new TextReport(
            trainCount,
            test.Count,
            text.Tokenizer.VocabularySize,
            scores,
            groups.ToDictionary(g => g, g => Enumerable.Range(0, test.Count).Where(i => test.Groups[i] == g).Select(i => correct[i] ? 1.0 : 0.0).Average()),
            groups.ToDictionary(g => g, g => MeanOf(g, p => p.MutualInformation)),
            groups.ToDictionary(g => g, g => MeanOf(g, p => p.Entropy)),
            new Dictionary<string, double>
            {
                ["predictiveEntropy"] = Auroc(p => p.Entropy),
                ["mutualInformation"] = Auroc(p => p.MutualInformation),
                ["oneMinusMaxProbability"] = Auroc(p => 1 - p.Probabilities.Max()),
            },
            trainingSeconds);
    }
}

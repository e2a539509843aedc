using Uncertainty.Model.Data;
using Uncertainty.Model.Forecasting;
using Uncertainty.Model.Networks;
using Uncertainty.Model.Packaging;
using Uncertainty.Model.Text;
using Uncertainty.Model.Training;
using static TorchSharp.torch;

namespace Uncertainty.Api.Training;

/// <summary>
/// Training jobs on the sequence datasets of the data cache: spam-assassin becomes a text classifier (tokenizer built on a
/// seeded 80 % of each message group, the rest held out as `uncertainty experiment spam` holds it out), us-births a daily
/// forecaster trained on 1969-1986 (`uncertainty experiment births`). Their rows are built during training (a text model's
/// ids need its tokenizer), so a submission is checked against a stand-in with the rows' count and width.
/// </summary>
public static class SequenceJobs
{
    public const int DefaultMaxVocabulary = 20_000;
    public const int DefaultHorizon = 28;

    /// <summary>spam-assassin: the share of each message group held out of training.</summary>
    private const double TestFraction = 0.2;

    /// <summary>Days between training forecast origins, and the days whose mean is a window's level.</summary>
    private const int Stride = 3;
    private const int LevelDays = 28;

    public static bool Handles(string? dataset) => dataset is SequenceDatasets.SpamAssassin or SequenceDatasets.UsBirths;

    /// <summary>
    /// A stand-in for the job's rows (their count, width, task and classes; no values) and the spec fitted to it, with the
    /// embedding's vocabulary at its largest: enough for the shape, resource and schema checks before the job is queued.
    /// </summary>
    public static (Dataset Rows, NetworkSpec Spec) Describe(TrainingJobRequest request)
    {
        var spec = SpecOf(request);
        if (request.Dataset == SequenceDatasets.SpamAssassin)
        {
            if (!spec.IsTokenSequence)
            {
                throw new ArgumentException("Network spec for spam-assassin: a text model starts with an embedding layer over an inputShape of [length] token ids (docs/layers.md).");
            }

            int vocabulary = MaxVocabulary(request) + 2;
            spec = spec with { Layers = [spec.Layers![0] with { Vocab = vocabulary }, .. spec.Layers.Skip(1)] };
            var (train, _) = TextDataset.Load().Split(TestFraction, (request.Training ?? new TrainingOptions()).Seed);
            int length = spec.ResolvedInputShape[0];
            var rows = new Dataset(train.Name, [.. Enumerable.Range(0, length).Select(t => $"token{t}")], [], "label", [.. train.Labels.Select(l => (float)l)], train.ClassNames);
            return (rows, TrainingPipeline.Fitted(spec, rows));
        }

        if (spec.ResolvedInputShape is not [var window, ForecastInput.Features])
        {
            throw new ArgumentException($"Network spec for us-births: a forecaster reads [window, {ForecastInput.Features}] steps ({string.Join(", ", ForecastInput.FeatureNames)}); give that inputShape.");
        }

        var series = DailySeries.Load();
        var setup = new ForecastInput(window, Horizon(request), Math.Min(LevelDays, window)).Validate();
        int count = setup.Origins(0, series.IndexOf(DailySeries.BirthsTestStart), Stride).Count * setup.Horizon;
        var stand = new Dataset(series.Name, [.. Enumerable.Range(0, window * ForecastInput.Features).Select(i => $"x{i}")], [], "value - level", new float[count]);
        return (stand, TrainingPipeline.Fitted(spec, stand));
    }

    /// <summary>The job's network as requested, before it is fitted to the rows (training fits it).</summary>
    public static NetworkSpec SpecOf(TrainingJobRequest request) =>
        (request.Network ?? new NetworkRequest()).ToSpec(request.Dataset == SequenceDatasets.SpamAssassin ? TaskKind.Classification : TaskKind.Regression);

    /// <summary>Trains the job's model (checked by <see cref="Describe"/> at submission); the package carries its tokenizer or forecast setup.</summary>
    public static ModelPackage Fit(TrainingJobRequest request, TrainingOptions options, Device device, IProgress<TrainingProgress> progress, string description, CancellationToken cancellationToken)
    {
        var spec = SpecOf(request);
        if (request.Dataset == SequenceDatasets.SpamAssassin)
        {
            var corpus = TextDataset.Load();
            var split = corpus.SplitRows(TestFraction, options.Seed);
            var package = TextModels.Fit(corpus.Subset(split.Train), spec, options, MaxVocabulary(request), device: device, progress: progress, description: description, cancellationToken: cancellationToken);
            return package.WithTrainingData(TextModels.SplitRecord(corpus, split, TestFraction, options.Seed));
        }

        var series = DailySeries.Load();
        int window = spec.ResolvedInputShape[0];
        return ForecastModels.Fit(series, 0, series.IndexOf(DailySeries.BirthsTestStart), spec, Horizon(request), Math.Min(LevelDays, window), Stride, options, device, progress, description, cancellationToken);
    }

    private static int MaxVocabulary(TrainingJobRequest request) => request.MaxVocabulary ?? DefaultMaxVocabulary;

    private static int Horizon(TrainingJobRequest request) => request.Horizon ?? DefaultHorizon;
}

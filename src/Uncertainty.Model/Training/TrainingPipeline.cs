using Uncertainty.Model.Data;
using Uncertainty.Model.Evaluation;
using Uncertainty.Model.Networks;
using Uncertainty.Model.Packaging;
using static TorchSharp.torch;

namespace Uncertainty.Model.Training;

/// <summary>From a dataset to a model package: scaling fitted on the training rows, a seeded validation hold-out, training.</summary>
public static class TrainingPipeline
{
    public static ModelPackage Fit(
        Dataset train,
        NetworkSpec spec,
        TrainingOptions options,
        Device? device = null,
        IProgress<TrainingProgress>? progress = null,
        string? description = null,
        CancellationToken cancellationToken = default)
    {
        options.Validate();
        spec = Fitted(spec, train);
        var set = Prepare(train, spec, options);
        var network = Trainer.CreateNetwork(spec, options.Seed, options.Initialization);
        var summary = Trainer.Train(network, set, options, device, progress, cancellationToken);
        return Package(train, spec, set, network, summary, description);
    }

    /// <summary>
    /// The configurations of a grid trained as one stacked network (<see cref="GridTrainer"/>) on <paramref name="train"/>, scaled
    /// as <see cref="Fit"/> scales: one package per configuration, each what <see cref="Fit"/> gives its spec with its weight decay.
    /// </summary>
    public static IReadOnlyList<ModelPackage> FitGrid(
        Dataset train,
        IReadOnlyList<GridConfiguration> grid,
        TrainingOptions options,
        Device? device = null,
        string? description = null,
        IProgress<TrainingProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        options.Validate();
        grid = [.. grid.Select(point => point with { Network = Fitted(point.Network, train) })];
        var set = Prepare(train, grid[0].Network, options);
        var trained = GridTrainer.Train(grid, set, options, device, progress, cancellationToken);
        return [.. trained.Select((result, i) => Package(train, grid[i].Network, set, result.Network, result.Summary, description))];
    }

    /// <summary>
    /// <see cref="Fit"/> with the dropout rate and tau chosen from <paramref name="tune"/>'s grid: every point trains on a
    /// seeded share of <paramref name="train"/> (one stacked network, <see cref="GridTrainer"/>), is scored on the rest by
    /// MC log-likelihood, and the best is trained on every row; the package records the grid's scores.
    /// </summary>
    public static ModelPackage FitTuned(
        Dataset train,
        NetworkSpec spec,
        TrainingOptions options,
        TuneOptions tune,
        Device? device = null,
        IProgress<TrainingProgress>? progress = null,
        string? description = null,
        CancellationToken cancellationToken = default)
    {
        options.Validate();
        tune.Validate();
        if (TuningProblem(train, spec, options, tune) is { } problem)
        {
            throw new ArgumentException($"Tuning: {problem}");
        }

        var clock = System.Diagnostics.Stopwatch.StartNew();
        spec = Fitted(spec, train);
        var (fit, validation) = HoldOut(train, tune.ValidationFraction, unchecked((int)options.Seed));
        var grid = TuningGrid(spec, tune, fit.Rows, options);
        // The grid's epochs are reported too (mean loss of its points), then the final training's from epoch 1 again.
        var packages = FitGrid(fit, grid, GridOptions(options), device, progress: progress, cancellationToken: cancellationToken);
        var scores = new GridPointScore[grid.Count];
        for (int i = 0; i < grid.Count; i++)
        {
            var report = Evaluator.Evaluate(packages[i], validation, tune.Samples, options.Seed, device, cancellationToken);
            var point = grid[i].Network;
            scores[i] = new GridPointScore(point.InputDropout, point.Head.Tau, grid[i].WeightDecay, report.McDropout!.LogLikelihood);
        }

        // A NaN score (a diverged point) never wins.
        var best = scores.Where(s => double.IsFinite(s.ValidationLogLikelihood)).MaxBy(s => s.ValidationLogLikelihood)
            ?? throw new InvalidOperationException("Tuning: no grid point gave a finite validation log-likelihood.");
        double seconds = clock.Elapsed.TotalSeconds;
        var package = Fit(train, TuneOptions.Point(spec, best.Dropout, best.Tau), options, device, progress, description, cancellationToken);
        return package.WithTuning(new TuningReport(scores, best.Dropout, best.Tau, fit.Rows, validation.Rows, tune.Samples, seconds));
    }

    /// <summary>Why <paramref name="tune"/> cannot run on this data with this network and these options; null when it can.</summary>
    public static string? TuningProblem(Dataset train, NetworkSpec spec, TrainingOptions options, TuneOptions tune)
    {
        if (train.Task != TaskKind.Regression)
        {
            return $"tune chooses a regression network's dropout rate and tau; the target '{train.TargetName}' is a class label.";
        }

        return TuneOptions.TooFewRows(train.Rows) ?? GridTrainer.Unsupported(TuningGrid(spec, tune, train.Rows, options), GridOptions(options));
    }

    /// <summary>Every point of <paramref name="tune"/>'s grid (rates outer, precisions inner) with the weight decay <paramref name="options"/> gives it on <paramref name="rows"/> rows.</summary>
    private static List<GridConfiguration> TuningGrid(NetworkSpec spec, TuneOptions tune, int rows, TrainingOptions options) =>
        [.. tune.Dropout.SelectMany(p => tune.Tau.Select(tau => TuneOptions.Point(spec, p, tau))).Select(point => new GridConfiguration(point, Trainer.WeightDecayFor(point, rows, options)))];

    /// <summary>The grid trains every point for the run's epochs; early stopping and its validation split belong to the final run.</summary>
    private static TrainingOptions GridOptions(TrainingOptions options) => options with { ValidationFraction = 0, Patience = null, PriorLengthScale = null };

    /// <summary>The training set in network units: scaling fitted on the rows that train, a seeded validation hold-out when asked.</summary>
    private static TrainingSet Prepare(Dataset train, NetworkSpec spec, TrainingOptions options)
    {
        var (fit, validation) = options.ValidationFraction > 0
            ? HoldOut(train, options.ValidationFraction, unchecked((int)options.Seed))
            : (train, null);

        var inputScaling = InputScalingFor(spec, fit);
        var targetScaling = train.Task == TaskKind.Regression ? Standardizer.Fit(fit.Targets, 1) : null;
        return new TrainingSet(inputScaling.Transform(fit.Features), Scale(fit.Targets, targetScaling))
        {
            ValidationInputs = validation is null ? null : inputScaling.Transform(validation.Features),
            ValidationTargets = validation is null ? null : Scale(validation.Targets, targetScaling),
            InputScaling = inputScaling,
            TargetScaling = targetScaling,
        };
    }

    private static ModelPackage Package(Dataset train, NetworkSpec spec, TrainingSet set, Networks.DropoutNetwork network, TrainingSummary summary, string? description) =>
        new(
            new ModelDescription
            {
                Network = spec,
                InputScaling = set.InputScaling!,
                TargetScaling = set.TargetScaling,
                // Pixels are read as a picture or an array in the image's shape, never by name.
                FeatureNames = spec.IsImage ? null : train.FeatureNames,
                // From every given row (not just the fit part), so a job's schema check before training computes the same.
                Image = spec.IsImage ? ImageInput.For(spec, train.Features) : null,
                OutputNames = train.ClassLabels ?? [train.TargetName],
                Training = summary,
                Description = description,
                Examples = ModelDescription.ExamplesOf(train),
            },
            network);

    /// <summary>
    /// Trains on <paramref name="data"/> but a seeded random <paramref name="testFraction"/> of its rows (none when null; the
    /// split of <see cref="HoldOut"/>, seed <see cref="TrainingOptions.Seed"/>), and records in the package what it was trained
    /// on: <paramref name="source"/>'s identity, and as held out every row of it that training never saw.
    /// </summary>
    public static ModelPackage FitHoldingOut(
        Dataset data,
        DataSource source,
        double? testFraction,
        NetworkSpec spec,
        TrainingOptions options,
        Device? device = null,
        IProgress<TrainingProgress>? progress = null,
        string? description = null,
        TuneOptions? tune = null,
        CancellationToken cancellationToken = default)
    {
        var trained = testFraction is { } fraction ? Splits.Random(data.Rows, fraction, unchecked((int)options.Seed)).Train : [.. Enumerable.Range(0, data.Rows)];
        var rows = testFraction is null ? data : data.Subset(trained);
        var package = tune is null
            ? Fit(rows, spec, options, device, progress, description, cancellationToken)
            : FitTuned(rows, spec, options, tune, device, progress, description, cancellationToken);
        return package.WithTrainingData(source.Record(trained, testFraction is { } f ? FormattableString.Invariant($"a seeded random {f:P0} held out (seed {options.Seed})") : null));
    }

    /// <summary>
    /// How inputs are scaled: token ids not at all, numeric sequences per feature over all steps, pictures globally, tabular
    /// rows per column.
    /// </summary>
    public static Standardizer InputScalingFor(NetworkSpec spec, Dataset data) =>
        spec.IsTokenSequence ? Standardizer.Identity(data.Columns)
        : spec.IsSequence ? Standardizer.FitSteps(data.Features, spec.ResolvedInputShape[^1], data.Columns)
        : spec.IsImage ? Standardizer.FitGlobal(data.Features, data.Columns)
        : Standardizer.Fit(data.Features, data.Columns);

    /// <summary>The spec with the data's input width and output count; the head kind must suit the task.</summary>
    public static NetworkSpec Fitted(NetworkSpec spec, Dataset data)
    {
        bool classifier = spec.Head.Kind == HeadKind.Classification;
        if (classifier != (data.Task == TaskKind.Classification))
        {
            throw new ArgumentException($"A {spec.Head.Kind} head cannot be trained on {data.Name}'s {data.Task} target '{data.TargetName}'.", nameof(spec));
        }

        var head = spec.Head with { Outputs = data.ClassLabels?.Count ?? 1 };
        if (spec.Layers is null)
        {
            return (spec with { Inputs = data.Columns, Head = head }).Validate();
        }

        // A layer list keeps its input shape (a tabular one takes the data's width); its last layer must already fit the head.
        var shape = spec.InputShape ?? [data.Columns];
        if (LayerShape.Values(shape) != data.Columns)
        {
            throw new ArgumentException($"The network reads [{string.Join(", ", shape)}] = {LayerShape.Values(shape)} values per row; {data.Name} has {data.Columns} columns.", nameof(spec));
        }

        return (spec with { InputShape = shape, Head = head }).Validate();
    }

    /// <summary>A seeded random hold-out of <paramref name="fraction"/> of the rows.</summary>
    public static (Dataset Fit, Dataset Validation) HoldOut(Dataset data, double fraction, int seed)
    {
        var split = Splits.Random(data.Rows, fraction, seed);
        return (data.Subset(split.Train), data.Subset(split.Test));
    }

    private static float[] Scale(float[] targets, Standardizer? scaling) => scaling?.Transform(targets) ?? targets;
}

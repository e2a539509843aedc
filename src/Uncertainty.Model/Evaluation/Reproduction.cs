using System.Diagnostics;
using Uncertainty.Model.Data;
using Uncertainty.Model.Networks;
using Uncertainty.Model.Packaging;
using Uncertainty.Model.Training;

namespace Uncertainty.Model.Evaluation;

/// <summary>The protocol of Gal and Ghahramani (2016), section 5.1, as their published experiment code runs it.</summary>
public sealed record ReproductionOptions
{
    public int Hidden { get; init; } = 50;

    /// <summary>The authors' published ("converged") runs: n_epochs.txt's 40 x their multiplier 100.</summary>
    public int Epochs { get; init; } = 4000;

    public int BatchSize { get; init; } = 128;

    public IReadOnlyList<double> DropoutGrid { get; init; } = [0.005, 0.01, 0.05, 0.1];

    /// <summary>Noise precisions to try, in target units^-2.</summary>
    public IReadOnlyList<double> TauGrid { get; init; } = [0.025, 0.05, 0.075, 0.1, 0.15, 0.2];

    /// <summary>MC samples for validation and test predictions.</summary>
    public int Samples { get; init; } = 10_000;

    /// <summary>Prior length-scale l of the weight decay l^2 (1 - p) / (2 N tau).</summary>
    public double LengthScale { get; init; } = 1e-2;

    /// <summary>
    /// Share of each training split held out to choose (p, tau): as in the authors' code, the last rows of the split in
    /// its listed order (their split files list rows in random order), the first int((1 - fraction) N) train the grid.
    /// </summary>
    public double ValidationFraction { get; init; } = 0.2;

    public ulong Seed { get; init; }

    /// <summary>Initial weights: Keras's Glorot-uniform weights and zero biases, the defaults of the authors' Keras code.</summary>
    public WeightInitialization Initialization { get; init; } = WeightInitialization.Glorot;

    /// <summary>
    /// Train the grid as one network with stacked weights (<see cref="GridTrainer"/>); false trains each point on its own
    /// network, one after another (the same weights within float rounding, several times slower).
    /// </summary>
    public bool StackedGrid { get; init; } = true;
}

/// <summary>One split's outcome: the chosen hyper-parameters and the test scores.</summary>
public sealed record SplitResult(int Split, double Dropout, double Tau, double ValidationLogLikelihood, double McRmse, double McLogLikelihood, double WeightScalingRmse, double Seconds);

/// <summary>Mean and standard error (sample std / sqrt(n)) over splits.</summary>
public sealed record MeanWithError(double Mean, double StandardError)
{
    public static MeanWithError Of(IReadOnlyList<double> values)
    {
        double mean = values.Average();
        double variance = values.Count > 1 ? values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1) : 0;
        return new MeanWithError(mean, Math.Sqrt(variance / values.Count));
    }

    public override string ToString() => FormattableString.Invariant($"{Mean:F3} +/- {StandardError:F3}");
}

public sealed record ReproductionReport(
    string Dataset,
    int Rows,
    ReproductionOptions Options,
    IReadOnlyList<SplitResult> Splits,
    MeanWithError McRmse,
    MeanWithError McLogLikelihood,
    MeanWithError WeightScalingRmse,
    double Seconds);

/// <summary>
/// Per split: hold out 20 % of the training rows; for every (p, tau) train one hidden layer of ReLU units with
/// dropout p on the input and hidden layer, Adam, batch 128, standardised inputs and targets, weight decay
/// l^2 (1 - p) / (2 N tau); keep the pair with the best validation log-likelihood; retrain on the whole
/// training split; score the test split with T MC samples (RMSE, log-likelihood) and with weight scaling (RMSE).
/// </summary>
public static class Reproduction
{
    /// <param name="only">Just these splits, by index, each with the seed it has in a run over all of them (one process's share of a run).</param>
    public static ReproductionReport Run(
        Dataset data,
        IReadOnlyList<DataSplit> splits,
        ReproductionOptions options,
        IProgress<SplitResult>? progress = null,
        IReadOnlyList<int>? only = null,
        CancellationToken cancellationToken = default)
    {
        if (data.Task != TaskKind.Regression)
        {
            throw new ArgumentException($"The protocol is for regression; {data.Name}'s target '{data.TargetName}' is a class label.", nameof(data));
        }

        if (only is not null && only.Any(k => k < 0 || k >= splits.Count))
        {
            throw new ArgumentOutOfRangeException(nameof(only), $"Splits are numbered 0..{splits.Count - 1}.");
        }

        var clock = Stopwatch.StartNew();
        var results = new List<SplitResult>();
        foreach (int k in only ?? [.. Enumerable.Range(0, splits.Count)])
        {
            results.Add(RunSplit(data, splits[k], k, options, cancellationToken));
            progress?.Report(results[^1]);
        }

        return Report(data.Name, data.Rows, options, results, clock.Elapsed.TotalSeconds);
    }

    /// <summary>The report of <paramref name="results"/> (in split order), e.g. of runs over parts of the splits put together.</summary>
    public static ReproductionReport Report(string dataset, int rows, ReproductionOptions options, IEnumerable<SplitResult> results, double seconds)
    {
        var ordered = results.OrderBy(r => r.Split).ToList();
        return new ReproductionReport(
            dataset,
            rows,
            options,
            ordered,
            MeanWithError.Of([.. ordered.Select(r => r.McRmse)]),
            MeanWithError.Of([.. ordered.Select(r => r.McLogLikelihood)]),
            MeanWithError.Of([.. ordered.Select(r => r.WeightScalingRmse)]),
            seconds);
    }

    private static SplitResult RunSplit(Dataset data, DataSplit split, int k, ReproductionOptions options, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var train = data.Subset(split.Train);
        var test = data.Subset(split.Test);
        var seed = options.Seed + (ulong)k;
        int fitRows = (int)((1 - options.ValidationFraction) * train.Rows);
        if (fitRows < 1 || fitRows >= train.Rows)
        {
            throw new ArgumentException($"Split {k}: {train.Rows} training rows leave none to train or none to validate on with a validation fraction of {options.ValidationFraction}.");
        }

        var (fit, validation) = (data.Subset(split.Train[..fitRows]), data.Subset(split.Train[fitRows..]));

        (double P, double Tau)[] grid = [.. options.DropoutGrid.SelectMany(p => options.TauGrid.Select(tau => (p, tau)))];
        var scores = FitAndScore(fit, validation, grid, options, seed, cancellationToken).Select(report => report.McDropout!.LogLikelihood).ToArray();
        (double P, double Tau, double LogLikelihood) best = (0, 0, double.NegativeInfinity);
        for (int i = 0; i < grid.Length; i++)
        {
            if (scores[i] > best.LogLikelihood)
            {
                best = (grid[i].P, grid[i].Tau, scores[i]);
            }
        }

        var final = FitAndScore(train, test, [(best.P, best.Tau)], options, seed, cancellationToken)[0];
        return new SplitResult(k, best.P, best.Tau, best.LogLikelihood, final.McDropout!.Rmse, final.McDropout.LogLikelihood, final.WeightScaling!.Rmse, clock.Elapsed.TotalSeconds);
    }

    /// <summary>
    /// Trains the protocol's network for every (p, tau) of <paramref name="grid"/> on <paramref name="train"/> and scores each
    /// on <paramref name="test"/>: as one stacked network (<see cref="ReproductionOptions.StackedGrid"/>; the weights
    /// <see cref="Fit"/> gives each point, within float rounding) or one network after another.
    /// </summary>
    public static IReadOnlyList<EvaluationReport> FitAndScore(Dataset train, Dataset test, IReadOnlyList<(double P, double Tau)> grid, ReproductionOptions options, ulong seed, CancellationToken cancellationToken = default)
    {
        if (!options.StackedGrid)
        {
            return [.. grid.Select(point => FitAndScore(train, test, point.P, point.Tau, options, seed, cancellationToken))];
        }

        var configurations = grid.Select(point => new GridConfiguration(Spec(train, point.P, point.Tau, options), WeightDecay(train, point.P, point.Tau, options))).ToList();
        var packages = TrainingPipeline.FitGrid(train, configurations, Training(options, seed), cancellationToken: cancellationToken);
        return [.. packages.Select(package => Evaluator.Evaluate(package, test, options.Samples, seed, cancellationToken: cancellationToken))];
    }

    /// <summary>Trains the protocol's network for (p, tau) on <paramref name="train"/> and scores it on <paramref name="test"/>.</summary>
    public static EvaluationReport FitAndScore(Dataset train, Dataset test, double p, double tau, ReproductionOptions options, ulong seed, CancellationToken cancellationToken = default)
    {
        var package = Fit(train, p, tau, options, seed, cancellationToken: cancellationToken);
        return Evaluator.Evaluate(package, test, options.Samples, seed, cancellationToken: cancellationToken);
    }

    /// <summary>
    /// The protocol's network for (p, tau), trained on <paramref name="train"/>: one hidden ReLU layer, dropout p on
    /// the input and hidden layer, Adam, the prior-derived weight decay, tau a precision in target units.
    /// </summary>
    public static ModelPackage Fit(Dataset train, double p, double tau, ReproductionOptions options, ulong seed, string? description = null, CancellationToken cancellationToken = default)
    {
        var training = Training(options, seed) with { WeightDecay = WeightDecay(train, p, tau, options) };
        return TrainingPipeline.Fit(train, Spec(train, p, tau, options), training, description: description, cancellationToken: cancellationToken);
    }

    /// <summary>One hidden ReLU layer, dropout p on the input and hidden layer, tau in the network's standardised target units.</summary>
    private static NetworkSpec Spec(Dataset train, double p, double tau, ReproductionOptions options)
    {
        var targetStd = Standardizer.Fit(train.Targets, 1).Std[0];
        return new NetworkSpec
        {
            Inputs = train.Columns,
            Hidden = [options.Hidden],
            InputDropout = p,
            HiddenDropout = [p],
            // tau is a precision in target units; the network works in standardised units.
            Head = new HeadSpec { Kind = HeadKind.Regression, Tau = tau * targetStd * targetStd },
        };
    }

    /// <summary>The protocol's optimiser settings; each point's weight decay comes from <see cref="WeightDecay"/>.</summary>
    private static TrainingOptions Training(ReproductionOptions options, ulong seed) => new()
    {
        Epochs = options.Epochs,
        BatchSize = options.BatchSize,
        Optimizer = OptimizerKind.Adam,
        LearningRate = 1e-3,
        Seed = seed,
        Initialization = options.Initialization,
    };

    /// <summary>As in the published code: l^2 (1 - p) / (2 N tau) with tau as given (target units), on the weights.</summary>
    private static double WeightDecay(Dataset train, double p, double tau, ReproductionOptions options) =>
        Regularization.WeightDecayFromPrior(options.LengthScale, p, train.Rows, tau);
}

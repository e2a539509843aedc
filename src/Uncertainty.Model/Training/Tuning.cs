using Uncertainty.Model.Networks;

namespace Uncertainty.Model.Training;

/// <summary>
/// A (dropout, tau) grid to choose from by validation MC log-likelihood, as Gal and Ghahramani choose them per data set:
/// every point trains on the same rows (all points at once, as one stacked network), is scored on held-out rows with
/// <see cref="Samples"/> MC passes, and the best point is retrained on every row. Plain regression MLPs only.
/// </summary>
public sealed record TuneOptions
{
    /// <summary>Dropout rates to try. Each replaces every rate of the network, on its inputs and hidden layers, as in the paper.</summary>
    public IReadOnlyList<double> Dropout { get; init; } = [0.005, 0.01, 0.05, 0.1];

    /// <summary>Noise precisions to try, in standardised target units (the units of the network's tau): 1 is noise as large as the target's spread.</summary>
    public IReadOnlyList<double> Tau { get; init; } = [1, 2, 5];

    /// <summary>Share of the training rows held out to score the grid on (seeded by the training seed).</summary>
    public double ValidationFraction { get; init; } = 0.2;

    /// <summary>MC passes for each point's validation log-likelihood.</summary>
    public int Samples { get; init; } = 1000;

    /// <summary>At most this many points (rates x precisions).</summary>
    public const int MaxPoints = 64;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first field out of range.</summary>
    public TuneOptions Validate()
    {
        Require(Dropout is { Count: > 0 } && Dropout.All(p => p >= 0 && p < 1), nameof(Dropout), "needs at least one rate, each in [0, 1)");
        Require(Tau is { Count: > 0 } && Tau.All(t => t > 0 && double.IsFinite(t)), nameof(Tau), "needs at least one precision, each positive");
        Require(Dropout.Count * Tau.Count <= MaxPoints, nameof(Dropout), $"times tau gives {Dropout.Count * Tau.Count} points; at most {MaxPoints}");
        Require(ValidationFraction > 0 && ValidationFraction < 1, nameof(ValidationFraction), "must be in (0, 1)");
        Require(Samples is >= 1 and <= 10_000, nameof(Samples), "must be from 1 to 10,000");
        return this;
    }

    /// <summary>Why <paramref name="rows"/> rows cannot be tuned on (the grid trains on some and is scored on others); null when they can.</summary>
    public static string? TooFewRows(int rows) => rows < 2
        ? $"the grid trains on some rows and is scored on others, so it needs at least 2; the data has {rows}."
        : null;

    /// <summary>The network of point (<paramref name="dropout"/>, <paramref name="tau"/>): <paramref name="spec"/> with those rates and that precision.</summary>
    public static NetworkSpec Point(NetworkSpec spec, double dropout, double tau) =>
        spec with { InputDropout = dropout, HiddenDropout = [dropout], Head = spec.Head with { Tau = tau } };

    private static void Require(bool condition, string field, string message)
    {
        if (!condition)
        {
            throw new ArgumentException($"Tune option '{char.ToLowerInvariant(field[0])}{field[1..]}' {message}.");
        }
    }
}

/// <summary>One grid point's validation score.</summary>
/// <param name="Dropout">Its dropout rate (inputs and hidden layers).</param>
/// <param name="Tau">Its noise precision, standardised target units.</param>
/// <param name="WeightDecay">The weight decay it trained with (from the prior length-scale when one is set).</param>
/// <param name="ValidationLogLikelihood">Mean MC log-likelihood of the validation rows, target units.</param>
public sealed record GridPointScore(double Dropout, double Tau, double WeightDecay, double ValidationLogLikelihood);

/// <summary>How a tuned model's dropout rate and tau were chosen: every point's validation score and the winner.</summary>
/// <param name="Grid">Every point, in grid order (rates outer, precisions inner).</param>
/// <param name="Dropout">The chosen rate.</param>
/// <param name="Tau">The chosen precision (standardised target units).</param>
/// <param name="FitRows">Rows the grid trained on.</param>
/// <param name="ValidationRows">Rows it was scored on; the chosen point was then retrained on all rows.</param>
/// <param name="Samples">MC passes per validation score.</param>
/// <param name="Seconds">Seconds the grid took (training and scoring, before the retraining).</param>
public sealed record TuningReport(IReadOnlyList<GridPointScore> Grid, double Dropout, double Tau, int FitRows, int ValidationRows, int Samples, double Seconds);

using Uncertainty.Api.Problems;
using Uncertainty.Model.Inference;
using Uncertainty.Model.Networks;

namespace Uncertainty.Api.Inference;

/// <summary>
/// Limits checked from a network spec alone, before anything is allocated: a spec over them is refused in
/// microseconds instead of being allocated (a 713-byte request once asked for 1.6 billion weights).
/// </summary>
public static class ResourceGuards
{
    /// <summary>The first limit <paramref name="spec"/> is over, or null when it fits.</summary>
    public static string? Violation(NetworkSpec spec, UncertaintyOptions limits)
    {
        var parameters = spec.ParameterCount;
        if (parameters > limits.MaxParameters)
        {
            return $"The network has {parameters:N0} parameters; this service takes at most {limits.MaxParameters:N0} (Uncertainty:MaxParameters).";
        }

        // One activation row of the widest layer must fit a chunk, or no chunk can be formed within the budget.
        var chunk = limits.MaxChunkElements ?? McOptions.CpuChunkElements;
        if (spec.MaxWidth > chunk)
        {
            return $"The network's widest layer has {spec.MaxWidth:N0} units; one MC chunk holds at most {chunk:N0} activations (Uncertainty:MaxChunkElements).";
        }

        var work = spec.MultiplyAddsPerRow;
        if (work > limits.MaxMultiplyAddsPerRow)
        {
            return $"The network takes {work:N0} multiply-adds per input row; this service takes at most {limits.MaxMultiplyAddsPerRow:N0} (Uncertainty:MaxMultiplyAddsPerRow).";
        }

        return null;
    }

    /// <summary>
    /// Throws <see cref="UnprocessableException"/> when a training batch of <paramref name="batchSize"/> rows would keep more
    /// activation values for backward than <see cref="UncertaintyOptions.MaxTrainingActivationValues"/>, or the spec is over a limit.
    /// </summary>
    public static void CheckTraining(NetworkSpec spec, int batchSize, UncertaintyOptions limits)
    {
        Check(spec, limits);
        var values = spec.ActivationValuesPerRow;
        if (values > limits.MaxTrainingActivationValues / Math.Max(1, batchSize))
        {
            throw new UnprocessableException(
                "Network over a resource limit",
                $"A training batch of {batchSize} rows keeps {(values > long.MaxValue / Math.Max(1, batchSize) ? "more than 2^63" : (values * batchSize).ToString("N0", System.Globalization.CultureInfo.InvariantCulture))} activation values for backward ({values:N0} per row); this service takes at most {limits.MaxTrainingActivationValues:N0} (Uncertainty:MaxTrainingActivationValues). Use a smaller batchSize or network.");
        }
    }

    /// <summary>
    /// Throws <see cref="UnprocessableException"/> when a tuning grid of <paramref name="points"/> copies of <paramref name="spec"/>,
    /// trained as one stacked network, would hold more weights or keep more activations than one network may.
    /// </summary>
    public static void CheckTuning(NetworkSpec spec, int points, int batchSize, UncertaintyOptions limits)
    {
        if (TuningViolation(spec, points, batchSize, limits) is { } problem)
        {
            throw new UnprocessableException("Network over a resource limit", problem);
        }
    }

    /// <summary>Which limit a grid of <paramref name="points"/> stacked copies of <paramref name="spec"/> is over; null when none.</summary>
    public static string? TuningViolation(NetworkSpec spec, int points, int batchSize, UncertaintyOptions limits)
    {
        long parameters = spec.ParameterCount * points;
        if (parameters > limits.MaxParameters)
        {
            return $"tune's {points} grid points train as one network of {parameters:N0} parameters ({spec.ParameterCount:N0} each); this service takes at most {limits.MaxParameters:N0} (Uncertainty:MaxParameters). Use fewer points or a smaller network.";
        }

        long values = spec.ActivationValuesPerRow * points;
        return values > limits.MaxTrainingActivationValues / Math.Max(1, batchSize)
            ? $"tune's {points} grid points keep {values:N0} activation values per row for backward; with batches of {batchSize} rows this service takes at most {limits.MaxTrainingActivationValues:N0} (Uncertainty:MaxTrainingActivationValues). Use fewer points, a smaller batchSize or network."
            : null;
    }

    /// <summary>Throws <see cref="UnprocessableException"/> naming the limit when <paramref name="spec"/> is over one.</summary>
    public static void Check(NetworkSpec spec, UncertaintyOptions limits)
    {
        if (Violation(spec, limits) is { } problem)
        {
            throw new UnprocessableException("Network over a resource limit", problem);
        }
    }
}

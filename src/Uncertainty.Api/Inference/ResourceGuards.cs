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

        return null;
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

using Uncertainty.Model.Networks;
using Uncertainty.Model.Packaging;

namespace Uncertainty.Api.Inference;

/// <summary>
/// What clients of a model name rely on: its task, its inputs (count and names) and its outputs (count and
/// names). Versions of one name share it, so a new default never silently breaks its clients.
/// </summary>
public sealed record ModelSchema(string Task, IReadOnlyList<string> Inputs, IReadOnlyList<string> Outputs)
{
    public static ModelSchema Of(ModelDescription model) => new(
        TaskName(model.Network.Head.Kind),
        model.FeatureNames ?? [.. Enumerable.Range(0, model.Network.Inputs).Select(i => $"x{i}")],
        model.OutputNames ?? [.. Enumerable.Range(0, model.Network.Head.Outputs).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture))]);

    public static string TaskName(HeadKind kind) => kind switch
    {
        HeadKind.Classification => "classification",
        HeadKind.HeteroscedasticRegression => "heteroscedasticRegression",
        _ => "regression",
    };

    /// <summary>How <paramref name="other"/> differs from this schema, one phrase per difference; empty when it fits.</summary>
    public IReadOnlyList<string> Differences(ModelSchema other)
    {
        var differences = new List<string>();
        if (Task != other.Task)
        {
            differences.Add($"task {Task} vs {other.Task}");
        }

        if (!Inputs.SequenceEqual(other.Inputs, StringComparer.Ordinal))
        {
            differences.Add($"inputs [{Shorten(Inputs)}] vs [{Shorten(other.Inputs)}]");
        }

        if (!Outputs.SequenceEqual(other.Outputs, StringComparer.Ordinal))
        {
            differences.Add($"outputs [{Shorten(Outputs)}] vs [{Shorten(other.Outputs)}]");
        }

        return differences;
    }

    private static string Shorten(IReadOnlyList<string> names) =>
        names.Count <= 8 ? string.Join(", ", names) : $"{string.Join(", ", names.Take(8))}, ... ({names.Count} in all)";
}

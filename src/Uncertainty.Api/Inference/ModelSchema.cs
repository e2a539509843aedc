using Uncertainty.Model.Networks;
using Uncertainty.Model.Packaging;

namespace Uncertainty.Api.Inference;

/// <summary>
/// What clients of a model name rely on: its task, its inputs (count and names) and its outputs (count and
/// names). Versions of one name share it, so a new default never silently breaks its clients.
/// </summary>
/// <param name="InputShape">Per-row input shape ([features], or [channels, height, width] for images).</param>
/// <param name="Pixels">For image models, the pixel range and background raw rows are in (clients send rows in those units).</param>
/// <param name="Sequence">For text and forecasting models, what ids and rows mean: the tokenizer (rules, size, a hash of the vocabulary) or the forecast setup.</param>
public sealed record ModelSchema(string Task, IReadOnlyList<string> Inputs, IReadOnlyList<string> Outputs, IReadOnlyList<int> InputShape, string? Pixels = null, string? Sequence = null)
{
    public static ModelSchema Of(ModelDescription model) =>
        For(model.Network, model.FeatureNames, model.OutputNames, model.Image) with { Sequence = SequenceOf(model) };

    /// <summary>A text model's token ids mean what its vocabulary says, and a forecaster's rows what its setup says: a version with others reads clients' input differently.</summary>
    private static string? SequenceOf(ModelDescription model) =>
        model.Text is { } text ? $"{text.Tokenizer.Vocabulary.Count} {Uncertainty.Model.Text.WordTokenizer.RulesVersion} tokens (vocabulary sha256 {Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(text.Tokenizer.ToJson())))[..12]}), {text.Preprocessing.ToString().ToLowerInvariant()} preprocessing"
        : model.Forecast is { } forecast ? $"daily forecast: window {forecast.Window}, horizon {forecast.Horizon}, level over {forecast.LevelDays} days"
        : null;

    /// <summary>The schema of a network with these names; image networks are read by shape, their inputs named x0, x1, ...</summary>
    public static ModelSchema For(NetworkSpec network, IReadOnlyList<string>? featureNames, IReadOnlyList<string>? outputNames, ImageInput? image = null) => new(
        TaskName(network.Head.Kind),
        (network.IsImage ? null : featureNames) ?? [.. Enumerable.Range(0, network.Inputs).Select(i => $"x{i}")],
        outputNames ?? [.. Enumerable.Range(0, network.Head.Outputs).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture))],
        network.ResolvedInputShape,
        image is null ? null : $"pixels 0-{image.PixelMax.ToString(System.Globalization.CultureInfo.InvariantCulture)} on a {image.Background.ToString().ToLowerInvariant()} background");

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

        if (!InputShape.SequenceEqual(other.InputShape))
        {
            differences.Add($"input shape [{string.Join(", ", InputShape)}] vs [{string.Join(", ", other.InputShape)}]");
        }

        if (Pixels != other.Pixels)
        {
            differences.Add($"{Pixels ?? "no picture preprocessing"} vs {other.Pixels ?? "no picture preprocessing"}");
        }

        if (Sequence != other.Sequence)
        {
            differences.Add($"{Sequence ?? "no text or forecast input"} vs {other.Sequence ?? "no text or forecast input"}");
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

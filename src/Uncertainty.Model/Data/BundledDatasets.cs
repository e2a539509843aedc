namespace Uncertainty.Model.Data;

/// <summary>A dataset shipped inside the model layer (provenance and licences: data/README.md).</summary>
/// <param name="ImageShape">Height and width for 8x8-style image data (row-major pixels); null for tabular data.</param>
public sealed record BundledDataset(string Name, string Target, TaskKind Task, string Description, (int Height, int Width)? ImageShape = null);

public static class BundledDatasets
{
    public static readonly IReadOnlyList<BundledDataset> All =
    [
        new("boston", "medv", TaskKind.Regression, "Boston housing: median home value (k$) from 13 features; 506 rows."),
        new("concrete", "compressive_strength", TaskKind.Regression, "Concrete compressive strength (MPa) from 8 mix components and age; 1030 rows."),
        new("breast_cancer", "diagnosis", TaskKind.Classification, "Wisconsin diagnostic breast cancer: malignant or benign from 30 cell-nucleus features; 569 rows."),
        new("digits", "digit", TaskKind.Classification, "Handwritten digits 0-9 as 8x8 images of 0-16 intensities; 1797 rows.", (8, 8)),
    ];

    public static BundledDataset Find(string name) =>
        All.FirstOrDefault(d => string.Equals(d.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"Unknown bundled dataset '{name}'; available: {string.Join(", ", All.Select(d => d.Name))}.", nameof(name));

    /// <summary>
    /// The SHA-256 of a bundled dataset's CSV file, lower-case hex as <see cref="Packaging.TrainingData.HashOf(ReadOnlySpan{byte})"/>
    /// gives an upload's: an upload of the very file is the same data. Null when no dataset of that name is bundled.
    /// </summary>
    public static string? Sha256Of(string? name)
    {
        var bundled = All.FirstOrDefault(d => string.Equals(d.Name, name, StringComparison.OrdinalIgnoreCase));
        using var stream = bundled is null ? null : typeof(BundledDatasets).Assembly.GetManifestResourceStream($"Uncertainty.Data.{bundled.Name}.csv");
        return stream is null ? null : Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(stream));
    }

    /// <summary>Loads a bundled dataset with its default target and task, or the target and features given.</summary>
    public static Dataset Load(string name, string? target = null, IReadOnlyList<string>? features = null, TaskKind? task = null)
    {
        var bundled = Find(name);
        using var stream = typeof(BundledDatasets).Assembly.GetManifestResourceStream($"Uncertainty.Data.{bundled.Name}.csv")
            ?? throw new InvalidOperationException($"The bundled dataset '{bundled.Name}' is missing from this build.");
        using var reader = new StreamReader(stream);
        return CsvLoader.Load(reader, $"{bundled.Name}.csv", new CsvOptions
        {
            Target = target ?? bundled.Target,
            Features = features,
            Task = task ?? (target is null ? bundled.Task : null),
        });
    }
}

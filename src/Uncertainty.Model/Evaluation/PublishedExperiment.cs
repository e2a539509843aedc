using System.Globalization;
using Uncertainty.Model.Data;

namespace Uncertainty.Model.Evaluation;

/// <summary>
/// One data set directory of Gal and Ghahramani's experiment code (their repository's
/// <c>UCI_Datasets/NAME/data/</c>): <c>data.txt</c> (whitespace-separated, no header), <c>index_features.txt</c> and
/// <c>index_target.txt</c> (0-based columns), <c>index_train_K.txt</c> / <c>index_test_K.txt</c>, <c>n_splits.txt</c>,
/// <c>n_hidden.txt</c>, <c>n_epochs.txt</c>, and the grid, <c>dropout_rates.txt</c> and <c>tau_values.txt</c>.
/// Everything their <c>experiment.py</c> reads, read the same way, so a data set of their table runs with nothing chosen by hand.
/// </summary>
public sealed record PublishedExperiment(
    Dataset Data,
    IReadOnlyList<DataSplit> Splits,
    int Hidden,
    int BaseEpochs,
    IReadOnlyList<double> DropoutRates,
    IReadOnlyList<double> TauValues)
{
    /// <summary>
    /// The authors' epoch multiplier for their published ("converged") results: <c>n_epochs.txt</c> (40 for most sets) x 100,
    /// the <c>100_xepochs</c> of their results files; 10 gives the shorter runs.
    /// </summary>
    public const int PublishedEpochMultiplier = 100;

    public static PublishedExperiment Load(string directory)
    {
        if (!Directory.Exists(directory))
        {
            throw new DirectoryNotFoundException($"'{directory}' is not a directory.");
        }

        string File(string name) => Path.Combine(directory, name);
        var features = Numbers(File("index_features.txt")).Select(v => Index(v, File("index_features.txt"))).ToList();
        var target = Index(Single(File("index_target.txt")), File("index_target.txt"));
        if (features.Contains(target))
        {
            throw new InvalidDataException($"{File("index_features.txt")}: column {target} is also the target (index_target.txt).");
        }

        var data = CsvLoader.Load(File("data.txt"), new CsvOptions
        {
            Whitespace = true,
            Target = target.ToString(CultureInfo.InvariantCulture),
            Features = [.. features.Select(c => c.ToString(CultureInfo.InvariantCulture))],
            Task = TaskKind.Regression,
        });
        var name = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory)));
        if (name == "data")
        {
            name = Path.GetFileName(Path.GetDirectoryName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory)))) ?? name;
        }

        var splits = global::Uncertainty.Model.Data.Splits.FromDirectory(directory, data.Rows);
        int count = Count(File("n_splits.txt"));
        if (splits.Count < count)
        {
            throw new InvalidDataException($"{File("n_splits.txt")} says {count} splits; only {splits.Count} index_train_K.txt files are there.");
        }

        return new PublishedExperiment(
            data with { Name = name },
            [.. splits.Take(count)],
            Count(File("n_hidden.txt")),
            Count(File("n_epochs.txt")),
            Numbers(File("dropout_rates.txt")),
            Numbers(File("tau_values.txt")));
    }

    /// <summary>The protocol as the authors run this data set: their hidden units, grid and epochs x <paramref name="epochMultiplier"/>.</summary>
    public ReproductionOptions Options(ReproductionOptions defaults, int epochMultiplier = PublishedEpochMultiplier) => defaults with
    {
        Hidden = Hidden,
        Epochs = checked(BaseEpochs * epochMultiplier),
        DropoutGrid = DropoutRates,
        TauGrid = TauValues,
    };

    private static double[] Numbers(string path)
    {
        if (!System.IO.File.Exists(path))
        {
            throw new InvalidDataException($"{path}: missing.");
        }

        var values = System.IO.File.ReadAllText(path).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Select((text, i) =>
            double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && double.IsFinite(value)
                ? value
                : throw new InvalidDataException($"{path}: value {i + 1}, '{text}', is not a number.")).ToArray();
        return values.Length > 0 ? values : throw new InvalidDataException($"{path}: no values.");
    }

    private static double Single(string path) =>
        Numbers(path) is [var value] ? value : throw new InvalidDataException($"{path}: expected one value.");

    /// <summary>A positive whole number (numpy writes some as 40.0).</summary>
    private static int Count(string path) =>
        Single(path) is var value && value >= 1 && value <= int.MaxValue && value == Math.Floor(value)
            ? (int)value
            : throw new InvalidDataException($"{path}: expected a positive whole number.");

    private static int Index(double value, string path) =>
        value >= 0 && value == Math.Floor(value) && value < int.MaxValue ? (int)value : throw new InvalidDataException($"{path}: '{value}' is not a column index.");
}

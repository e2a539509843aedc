using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Serialization;

namespace Uncertainty.Model.Packaging;

/// <summary>
/// What a model was trained on, as its manifest records it: the dataset's identity (its name, or the SHA-256 of an uploaded
/// CSV) and the rows held out of training (never given to it), so that an evaluation on the same data scores only those.
/// Row indices count the whole dataset in its own order (for an image set with a published split: the training images,
/// then the test images).
/// </summary>
public sealed record TrainingData
{
    /// <summary>The dataset's name as training and evaluation name it (boston, digits, mnist, spam-assassin, ...); null for an upload.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Dataset { get; init; }

    /// <summary>For an uploaded CSV: the SHA-256 of its bytes (UTF-8), lower-case hex; null for a named dataset.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Sha256 { get; init; }

    /// <summary>Rows in the whole dataset, training and held-out rows together.</summary>
    public required int Rows { get; init; }

    /// <summary>The held-out row indices, ascending, as ranges such as "3-5,9,12-40"; empty when every row was trained on.</summary>
    public required string HeldOut { get; init; }

    /// <summary>How the rows were split, in words (e.g. "a seeded random 20 % (seed 2016)").</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Split { get; init; }

    /// <summary>A named dataset of <paramref name="rows"/> rows of which <paramref name="heldOut"/> were held out.</summary>
    public static TrainingData Named(string dataset, int rows, IEnumerable<int> heldOut, string? split) =>
        new() { Dataset = dataset, Rows = rows, HeldOut = RowRanges.Format(heldOut), Split = split };

    /// <summary>An uploaded CSV (identified by its content), of <paramref name="rows"/> rows of which <paramref name="heldOut"/> were held out.</summary>
    public static TrainingData Upload(string csv, int rows, IEnumerable<int> heldOut, string? split) =>
        new() { Sha256 = HashOf(csv), Rows = rows, HeldOut = RowRanges.Format(heldOut), Split = split };

    /// <summary>The SHA-256 that identifies an uploaded CSV: of its text as UTF-8, lower-case hex.</summary>
    public static string HashOf(string csv) => HashOf(Encoding.UTF8.GetBytes(csv));

    /// <inheritdoc cref="HashOf(string)"/>
    public static string HashOf(ReadOnlySpan<byte> csv) => Convert.ToHexStringLower(SHA256.HashData(csv));

    /// <summary>The held-out row indices, ascending.</summary>
    public int[] HeldOutRows() => RowRanges.Parse(HeldOut, Rows);

    /// <summary>Whether a dataset named <paramref name="dataset"/> (case-insensitive), or a CSV with this <paramref name="sha256"/>, is the one recorded.</summary>
    public bool Identifies(string? dataset, string? sha256) =>
        (dataset is not null && string.Equals(dataset, Dataset, StringComparison.OrdinalIgnoreCase))
        || (sha256 is not null && string.Equals(sha256, Sha256, StringComparison.OrdinalIgnoreCase));

    /// <summary>The data's identity in words: its name, or the start of its hash.</summary>
    public string Describe() => Dataset ?? $"an uploaded CSV (SHA-256 {Sha256?[..Math.Min(12, Sha256.Length)]}...)";

    /// <summary>Throws <see cref="ArgumentException"/> when the record cannot be right (so a hand-edited manifest fails to load).</summary>
    public TrainingData Validate()
    {
        if (Dataset is null == Sha256 is null)
        {
            throw new ArgumentException("'model.trainingData' needs exactly one of 'dataset' and 'sha256'");
        }

        if (Sha256 is { Length: not 64 } || (Sha256 is not null && !Sha256.All(Uri.IsHexDigit)))
        {
            throw new ArgumentException("'model.trainingData.sha256' must be 64 hex digits");
        }

        if (Rows < 1)
        {
            throw new ArgumentException("'model.trainingData.rows' must be positive");
        }

        try
        {
            _ = RowRanges.Parse(HeldOut ?? throw new ArgumentException("it is missing"), Rows);
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"'model.trainingData.heldOut': {e.Message}", e);
        }

        return this;
    }
}

/// <summary>Row indices written compactly: ascending, runs as "first-last", joined by commas ("0-3,7,9-12").</summary>
public static class RowRanges
{
    public static string Format(IEnumerable<int> rows)
    {
        var sorted = rows.Distinct().Order().ToArray();
        var text = new StringBuilder();
        for (int i = 0; i < sorted.Length;)
        {
            int j = i;
            while (j + 1 < sorted.Length && sorted[j + 1] == sorted[j] + 1)
            {
                j++;
            }

            text.Append(text.Length > 0 ? "," : "").Append(sorted[i].ToString(CultureInfo.InvariantCulture));
            if (j > i)
            {
                text.Append('-').Append(sorted[j].ToString(CultureInfo.InvariantCulture));
            }

            i = j + 1;
        }

        return text.ToString();
    }

    /// <summary>The indices <paramref name="ranges"/> names, each in 0..<paramref name="rows"/>-1 and ascending; <see cref="ArgumentException"/> otherwise.</summary>
    public static int[] Parse(string ranges, int rows)
    {
        var result = new List<int>();
        foreach (var part in ranges.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var bounds = part.Split('-');
            if (bounds.Length > 2 || !bounds.All(b => int.TryParse(b, NumberStyles.None, CultureInfo.InvariantCulture, out _)))
            {
                throw new ArgumentException($"'{part}' is not a row index or a range first-last.", nameof(ranges));
            }

            int first = int.Parse(bounds[0], CultureInfo.InvariantCulture), last = int.Parse(bounds[^1], CultureInfo.InvariantCulture);
            if (first > last || last >= rows || (result.Count > 0 && first <= result[^1]))
            {
                throw new ArgumentException($"'{part}': row ranges must be ascending, without overlaps, within 0..{rows - 1}.", nameof(ranges));
            }

            for (int r = first; r <= last; r++)
            {
                result.Add(r);
            }
        }

        return [.. result];
    }
}

/// <summary>
/// Where a training set's rows come from: the dataset's identity (a name, or an uploaded CSV's SHA-256), its size, and each
/// given row's index in it (null: the rows are the whole dataset, in order).
/// </summary>
/// <param name="Split">How the given rows were chosen from the dataset, in words (e.g. "mnist's training split").</param>
public sealed record DataSource(string? Dataset, string? Sha256, int Rows, IReadOnlyList<int>? RowIndices = null, string? Split = null)
{
    /// <summary>Every row of the dataset called <paramref name="dataset"/>.</summary>
    public static DataSource Named(string dataset, int rows) => new(dataset, null, rows);

    /// <summary>Every row of an uploaded CSV, known by the SHA-256 of its text.</summary>
    public static DataSource Upload(string csv, int rows) => new(null, TrainingData.HashOf(csv), rows);

    /// <summary>
    /// The record of a model trained on the given rows at <paramref name="trained"/> (positions among the rows given, not
    /// dataset indices): every other row of the dataset was held out.
    /// </summary>
    public TrainingData Record(IEnumerable<int> trained, string? split)
    {
        var used = new bool[Rows];
        foreach (var position in trained)
        {
            used[RowIndices is null ? position : RowIndices[position]] = true;
        }

        return new TrainingData
        {
            Dataset = Dataset,
            Sha256 = Sha256,
            Rows = Rows,
            HeldOut = RowRanges.Format(Enumerable.Range(0, Rows).Where(r => !used[r])),
            Split = string.Join("; ", new[] { Split, split }.Where(s => s is not null)) is { Length: > 0 } words ? words : "none held out",
        };
    }
}

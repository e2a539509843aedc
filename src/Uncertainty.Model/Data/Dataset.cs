namespace Uncertainty.Model.Data;

/// <summary>Whether a target is a number to regress or a label to classify.</summary>
public enum TaskKind
{
    Regression,
    Classification,
}

/// <summary>
/// A table of numeric features and one target: row-major features, and per row either the target value
/// (regression) or the index of its label in <see cref="ClassLabels"/> (classification).
/// </summary>
public sealed record Dataset(
    string Name,
    IReadOnlyList<string> FeatureNames,
    float[] Features,
    string TargetName,
    float[] Targets,
    IReadOnlyList<string>? ClassLabels = null)
{
    public int Rows => Targets.Length;

    public int Columns => FeatureNames.Count;

    public TaskKind Task => ClassLabels is null ? TaskKind.Regression : TaskKind.Classification;

    /// <summary>The given rows, in the given order.</summary>
    public Dataset Subset(IReadOnlyList<int> rows)
    {
        var features = new float[rows.Count * Columns];
        var targets = new float[rows.Count];
        for (int i = 0; i < rows.Count; i++)
        {
            if (rows[i] < 0 || rows[i] >= Rows)
            {
                throw new ArgumentOutOfRangeException(nameof(rows), rows[i], $"Row index out of range for {Name} ({Rows} rows).");
            }

            Features.AsSpan(rows[i] * Columns, Columns).CopyTo(features.AsSpan(i * Columns));
            targets[i] = Targets[rows[i]];
        }

        return this with { Features = features, Targets = targets };
    }

    /// <summary>The first <paramref name="count"/> rows (all of them when there are fewer).</summary>
    public Dataset Take(int count) => count >= Rows ? this : Subset([.. Enumerable.Range(0, Math.Max(0, count))]);

    /// <summary>Class indices of a classification dataset.</summary>
    public int[] Labels => Task == TaskKind.Classification
        ? [.. Targets.Select(t => (int)t)]
        : throw new InvalidOperationException($"{Name} is a regression dataset.");
}

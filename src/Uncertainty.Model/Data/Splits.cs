using System.Globalization;

namespace Uncertainty.Model.Data;

/// <summary>Row indices of one train/test split.</summary>
public sealed record DataSplit(int[] Train, int[] Test);

public static class Splits
{
    /// <summary>A seeded random split; the test part is round(fraction x rows), at least one row.</summary>
    public static DataSplit Random(int rows, double testFraction, int seed)
    {
        RequireTestFraction(testFraction);
        var order = Enumerable.Range(0, rows).ToArray();
        new System.Random(seed).Shuffle(order);
        int test = Math.Clamp((int)Math.Round(rows * testFraction), 1, rows - 1);
        return new DataSplit([.. order[test..].Order()], [.. order[..test].Order()]);
    }

    /// <summary><paramref name="count"/> seeded random splits (split k uses seed + k).</summary>
    public static IReadOnlyList<DataSplit> Random(int rows, double testFraction, int seed, int count) =>
        [.. Enumerable.Range(0, count).Select(k => Random(rows, testFraction, seed + k))];

    /// <summary>
    /// <paramref name="count"/> splits made as the authors' split_data_train_test.py makes them: per split a seeded random
    /// permutation (split k uses seed + k), its first round((1 - fraction) x rows) rows train and the rest test, both in
    /// permutation order, so that a tail of the training rows is a random hold-out too.
    /// </summary>
    public static IReadOnlyList<DataSplit> Permuted(int rows, double testFraction, int seed, int count)
    {
        RequireTestFraction(testFraction);
        if (rows < 2)
        {
            throw new ArgumentOutOfRangeException(nameof(rows), rows, "A split needs at least 2 rows, one to train and one to test.");
        }

        int train = Math.Clamp((int)Math.Round(rows * (1 - testFraction)), 1, rows - 1);
        return [.. Enumerable.Range(0, count).Select(k =>
        {
            var order = Enumerable.Range(0, rows).ToArray();
            new System.Random(seed + k).Shuffle(order);
            return new DataSplit(order[..train], order[train..]);
        })];
    }

    private static void RequireTestFraction(double testFraction)
    {
        if (!(testFraction > 0 && testFraction < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(testFraction), testFraction, "The test fraction must be in (0, 1).");
        }
    }

    /// <summary>
    /// Splits from index_train_K.txt / index_test_K.txt (0-based row numbers, one per line) for K = 0..n-1,
    /// the layout of Gal and Ghahramani's published UCI splits.
    /// </summary>
    public static IReadOnlyList<DataSplit> FromDirectory(string directory, int rows)
    {
        var splits = new List<DataSplit>();
        for (int k = 0; File.Exists(Path.Combine(directory, $"index_train_{k}.txt")); k++)
        {
            var train = ReadIndices(Path.Combine(directory, $"index_train_{k}.txt"), rows);
            var test = ReadIndices(Path.Combine(directory, $"index_test_{k}.txt"), rows);
            if (train.Intersect(test).Any())
            {
                throw new InvalidDataException($"{directory}: split {k} has rows in both its train and test files.");
            }

            splits.Add(new DataSplit(train, test));
        }

        return splits.Count > 0 ? splits : throw new InvalidDataException($"{directory}: no index_train_0.txt found.");
    }

    private static int[] ReadIndices(string path, int rows)
    {
        if (!File.Exists(path))
        {
            throw new InvalidDataException($"{path}: missing.");
        }

        return [.. File.ReadLines(path).Select((line, i) => (line.Trim(), i)).Where(p => p.Item1.Length > 0).Select(p =>
            int.TryParse(p.Item1, NumberStyles.Integer, CultureInfo.InvariantCulture, out var index) && index >= 0 && index < rows
                ? index
                : throw new InvalidDataException($"{path}: line {p.i + 1}: '{p.Item1}' is not a row index in 0..{rows - 1}."))];
    }
}

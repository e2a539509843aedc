namespace Uncertainty.Model.Data;

/// <summary>Per-column affine map z = (x - mean) / std, fitted on training rows only and stored with the model.</summary>
public sealed record Standardizer(double[] Mean, double[] Std)
{
    /// <summary>Fits column means and standard deviations of a row-major [rows, columns] matrix; constant columns get std 1.</summary>
    public static Standardizer Fit(ReadOnlySpan<float> values, int columns)
    {
        int rows = values.Length / columns;
        var mean = new double[columns];
        var std = new double[columns];
        for (int c = 0; c < columns; c++)
        {
            double sum = 0;
            for (int r = 0; r < rows; r++)
            {
                sum += values[(r * columns) + c];
            }

            mean[c] = sum / rows;
            double squares = 0;
            for (int r = 0; r < rows; r++)
            {
                var d = values[(r * columns) + c] - mean[c];
                squares += d * d;
            }

            var sd = rows > 1 ? Math.Sqrt(squares / (rows - 1)) : 0;
            std[c] = sd > 1e-12 ? sd : 1;
        }

        return new Standardizer(mean, std);
    }

    /// <summary>
    /// One mean and standard deviation over every value, repeated per column: images are normalised as a whole (per-pixel
    /// statistics would blow up the always-blank border pixels of digits, and shifts would move pixels between statistics).
    /// </summary>
    public static Standardizer FitGlobal(ReadOnlySpan<float> values, int columns)
    {
        double sum = 0;
        foreach (var value in values)
        {
            sum += value;
        }

        double mean = sum / Math.Max(1, values.Length), squares = 0;
        foreach (var value in values)
        {
            squares += (value - mean) * (value - mean);
        }

        var sd = values.Length > 1 ? Math.Sqrt(squares / (values.Length - 1)) : 0;
        return new Standardizer([.. Enumerable.Repeat(mean, columns)], [.. Enumerable.Repeat(sd > 1e-12 ? sd : 1, columns)]);
    }

    /// <summary>
    /// Sequences of <paramref name="features"/> values per step: one mean and standard deviation per feature over every
    /// step of every row, repeated per step, so a feature means the same at every position. NaN steps (padding) are skipped
    /// and stay NaN.
    /// </summary>
    public static Standardizer FitSteps(ReadOnlySpan<float> values, int features, int columns)
    {
        var sum = new double[features];
        var count = new long[features];
        for (int i = 0; i < values.Length; i++)
        {
            if (!float.IsNaN(values[i]))
            {
                sum[i % features] += values[i];
                count[i % features]++;
            }
        }

        var mean = new double[features];
        var squares = new double[features];
        for (int f = 0; f < features; f++)
        {
            mean[f] = sum[f] / Math.Max(1, count[f]);
        }

        for (int i = 0; i < values.Length; i++)
        {
            if (!float.IsNaN(values[i]))
            {
                var d = values[i] - mean[i % features];
                squares[i % features] += d * d;
            }
        }

        var std = new double[features];
        for (int f = 0; f < features; f++)
        {
            var sd = count[f] > 1 ? Math.Sqrt(squares[f] / (count[f] - 1)) : 0;
            std[f] = sd > 1e-12 ? sd : 1;
        }

        return new Standardizer([.. Enumerable.Range(0, columns).Select(c => mean[c % features])], [.. Enumerable.Range(0, columns).Select(c => std[c % features])]);
    }

    /// <summary>The identity map for <paramref name="columns"/> columns.</summary>
    public static Standardizer Identity(int columns) => new([.. new double[columns]], [.. Enumerable.Repeat(1.0, columns)]);

    public int Columns => Mean.Length;

    public float[] Transform(ReadOnlySpan<float> values)
    {
        var result = new float[values.Length];
        for (int i = 0; i < values.Length; i++)
        {
            int c = i % Columns;
            result[i] = (float)((values[i] - Mean[c]) / Std[c]);
        }

        return result;
    }

    public double Inverse(double value, int column) => (value * Std[column]) + Mean[column];
}

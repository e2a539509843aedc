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

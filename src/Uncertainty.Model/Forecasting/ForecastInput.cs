using Uncertainty.Model.Data;

namespace Uncertainty.Model.Forecasting;

/// <summary>
/// How a daily forecasting model reads a history: the last <see cref="Window"/> days, one input row per horizon step
/// h = 1..<see cref="Horizon"/>, each row the window as [steps][4] values: the day's value minus the window's level (the mean
/// of its last <see cref="LevelDays"/> days), the sine and cosine of its day of the year, and h / Horizon. The model predicts
/// value - level of day h, so the level is added back to means, intervals and samples (variances are unchanged). One
/// request carries all the steps: a sample's dropout masks are shared by the rows of a request, so each MC sample is a
/// coherent forecast path.
/// </summary>
public sealed record ForecastInput(int Window, int Horizon, int LevelDays)
{
    /// <summary>Values per step: value - level, sin(day of year), cos(day of year), horizon fraction.</summary>
    public const int Features = 4;

    /// <summary>Longest history or horizon a model may declare.</summary>
    public const int MaxDays = 4096;

    public static readonly IReadOnlyList<string> FeatureNames = ["value", "dayOfYearSin", "dayOfYearCos", "horizon"];

    /// <summary>Throws <see cref="ArgumentException"/> naming the field that is out of range.</summary>
    public ForecastInput Validate()
    {
        if (Window is < 1 or > MaxDays || Horizon is < 1 or > MaxDays || LevelDays < 1 || LevelDays > Window)
        {
            throw new ArgumentException($"A forecast setup needs window and horizon in [1, {MaxDays}] and levelDays in [1, window]; got {Window}, {Horizon}, {LevelDays}.");
        }

        return this;
    }

    /// <summary>The level of a history: the mean of its last <see cref="LevelDays"/> values.</summary>
    public double Level(ReadOnlySpan<float> history)
    {
        double sum = 0;
        foreach (var value in history[^LevelDays..])
        {
            sum += value;
        }

        return sum / LevelDays;
    }

    /// <summary>The <see cref="Horizon"/> input rows for the days after <paramref name="lastDay"/>, from its last <see cref="Window"/> values.</summary>
    public float[] Rows(ReadOnlySpan<float> history, DateOnly lastDay)
    {
        if (history.Length != Window)
        {
            throw new ArgumentException($"The history has {history.Length} values; the model reads the last {Window} days.", nameof(history));
        }

        double level = Level(history);
        int rowWidth = Window * Features;
        var rows = new float[Horizon * rowWidth];
        for (int step = 0; step < Window; step++)
        {
            var day = lastDay.AddDays(step - Window + 1);
            double angle = 2 * Math.PI * day.DayOfYear / 365.25;
            var (value, sin, cos) = ((float)(history[step] - level), (float)Math.Sin(angle), (float)Math.Cos(angle));
            for (int h = 0; h < Horizon; h++)
            {
                int at = (h * rowWidth) + (step * Features);
                rows[at] = value;
                rows[at + 1] = sin;
                rows[at + 2] = cos;
                rows[at + 3] = (h + 1) / (float)Horizon;
            }
        }

        return rows;
    }

    /// <summary>
    /// Training rows from days [<paramref name="start"/>, <paramref name="end"/>) of a series: a forecast origin every
    /// <paramref name="stride"/> days, each giving <see cref="Horizon"/> rows whose target is the day's value minus the level.
    /// </summary>
    public Dataset TrainingRows(DailySeries series, int start, int end, int stride)
    {
        var origins = Origins(start, end, stride);
        int rowWidth = Window * Features;
        var features = new float[(long)origins.Count * Horizon * rowWidth];
        var targets = new float[origins.Count * Horizon];
        for (int k = 0; k < origins.Count; k++)
        {
            int origin = origins[k];
            var history = series.Values.AsSpan(origin - Window, Window);
            Rows(history, series.Dates[origin - 1]).CopyTo(features.AsSpan(k * Horizon * rowWidth));
            double level = Level(history);
            for (int h = 0; h < Horizon; h++)
            {
                targets[(k * Horizon) + h] = (float)(series.Values[origin + h] - level);
            }
        }

        var names = Enumerable.Range(0, Window).SelectMany(step => FeatureNames.Select(feature => $"t{step - Window + 1}.{feature}")).ToList();
        return new Dataset(series.Name, names, features, "value - level", targets);
    }

    /// <summary>Forecast origins (index of the first forecast day) in [start + window, end - horizon], every <paramref name="stride"/> days.</summary>
    public List<int> Origins(int start, int end, int stride)
    {
        var origins = new List<int>();
        for (int origin = start + Window; origin + Horizon <= end; origin += stride)
        {
            origins.Add(origin);
        }

        return origins;
    }
}

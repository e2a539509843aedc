using Uncertainty.Model.Data;

namespace Uncertainty.Model.Forecasting;

/// <summary>
/// How a daily forecasting model reads a history: the last <see cref="Window"/> days, one input row per horizon day
/// h = 1..<see cref="Horizon"/>. Each row is the window as [steps][6] values: the day's value minus the window's level (the
/// mean of its last <see cref="LevelDays"/> days), the sine and cosine of its day of the year, h / Horizon, and the sine and
/// cosine of the forecast day's day of the year. The model predicts the forecast day's value minus its seasonal-naive
/// baseline (the same weekday in the last observed week, <see cref="Baselines"/>): a correction to the baseline (holidays,
/// the season, the trend), which is added back to means, intervals and samples (variances are unchanged by the shift). One
/// request carries all the days: a sample's dropout masks are shared by the rows of a request, so each MC sample is a
/// coherent forecast path.
/// </summary>
/// <param name="Window">Days of history read per forecast (the last ones of the history sent).</param>
/// <param name="Horizon">Days forecast after the last history day.</param>
/// <param name="LevelDays">Days at the end of the window whose mean is the level the window is taken relative to.</param>
public sealed record ForecastInput(int Window, int Horizon, int LevelDays)
{
    /// <summary>Values per step (<see cref="FeatureNames"/>).</summary>
    public const int Features = 6;

    /// <summary>Longest history or horizon a model may declare.</summary>
    public const int MaxDays = 4096;

    public static readonly IReadOnlyList<string> FeatureNames = ["value", "dayOfYearSin", "dayOfYearCos", "horizon", "targetDayOfYearSin", "targetDayOfYearCos"];

    /// <summary>Throws <see cref="ArgumentException"/> naming the field that is out of range.</summary>
    public ForecastInput Validate()
    {
        if (Window is < 7 or > MaxDays || Horizon is < 1 or > MaxDays || LevelDays < 1 || LevelDays > Window)
        {
            throw new ArgumentException($"A forecast setup needs a window of 7 to {MaxDays} days (a full week for the baseline), a horizon of 1 to {MaxDays} and levelDays in [1, window]; got {Window}, {Horizon}, {LevelDays}.");
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

    /// <summary>
    /// Seasonal naive for each horizon day h = 1..Horizon: the same weekday in the last observed week of the window,
    /// history[Window + h - 1 - 7 ceil(h / 7)] (DailySeries.SeasonalNaive over the whole series).
    /// </summary>
    public double[] Baselines(ReadOnlySpan<float> history)
    {
        var baselines = new double[Horizon];
        for (int h = 1; h <= Horizon; h++)
        {
            baselines[h - 1] = history[Window + h - 1 - (7 * ((h + 6) / 7))];
        }

        return baselines;
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
        for (int h = 0; h < Horizon; h++)
        {
            var (targetSin, targetCos) = Season(lastDay.AddDays(h + 1));
            for (int step = 0; step < Window; step++)
            {
                var (sin, cos) = Season(lastDay.AddDays(step - Window + 1));
                int at = (h * rowWidth) + (step * Features);
                rows[at] = (float)(history[step] - level);
                rows[at + 1] = sin;
                rows[at + 2] = cos;
                rows[at + 3] = (h + 1) / (float)Horizon;
                rows[at + 4] = targetSin;
                rows[at + 5] = targetCos;
            }
        }

        return rows;
    }

    /// <summary>
    /// Training rows from days [<paramref name="start"/>, <paramref name="end"/>) of a series: a forecast origin every
    /// <paramref name="stride"/> days, each giving <see cref="Horizon"/> rows whose target is the day's value minus its baseline.
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
            var baselines = Baselines(history);
            for (int h = 0; h < Horizon; h++)
            {
                targets[(k * Horizon) + h] = (float)(series.Values[origin + h] - baselines[h]);
            }
        }

        var names = Enumerable.Range(0, Window).SelectMany(step => FeatureNames.Select(feature => $"t{step - Window + 1}.{feature}")).ToList();
        return new Dataset(series.Name, names, features, "value - baseline", targets);
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

    private static (float Sin, float Cos) Season(DateOnly day)
    {
        double angle = 2 * Math.PI * day.DayOfYear / 365.25;
        return ((float)Math.Sin(angle), (float)Math.Cos(angle));
    }
}

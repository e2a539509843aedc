using Uncertainty.Model.Data;
using Uncertainty.Model.Forecasting;

namespace Uncertainty.Model.Tests;

public sealed class ForecastInputTests
{
    /// <summary>60 days from 1986-01-01 whose value is 1000 + day index, so every value says where it came from.</summary>
    private static DailySeries Series() =>
        new("test", [.. Enumerable.Range(0, 60).Select(d => new DateOnly(1986, 1, 1).AddDays(d))], [.. Enumerable.Range(0, 60).Select(d => 1000f + d)]);

    [Fact]
    public void Baselines_are_the_series_seasonal_naive_forecast()
    {
        var series = Series();
        var setup = new ForecastInput(Window: 14, Horizon: 10, LevelDays: 7).Validate();
        int origin = 30;

        var baselines = setup.Baselines(series.Values.AsSpan(origin - 14, 14));

        Assert.Equal(series.SeasonalNaive(origin, 10).Select(v => (double)v), baselines);
        Assert.Equal(1000 + origin - 7, baselines[0]); // h = 1: a week before the first forecast day
        Assert.Equal(1000 + origin - 7, baselines[7]); // h = 8 repeats the same weekday of the last observed week
    }

    [Fact]
    public void Rows_hold_the_window_relative_to_its_level_the_horizon_and_both_days_of_the_year()
    {
        var series = Series();
        var setup = new ForecastInput(Window: 14, Horizon: 3, LevelDays: 7);
        int origin = 30;
        var history = series.Values.AsSpan(origin - 14, 14);

        var rows = setup.Rows(history, series.Dates[origin - 1]);

        Assert.Equal(3 * 14 * ForecastInput.Features, rows.Length);
        double level = Enumerable.Range(origin - 7, 7).Average(d => 1000.0 + d);
        int rowWidth = 14 * ForecastInput.Features;
        for (int h = 0; h < 3; h++)
        {
            var target = series.Dates[origin + h];
            for (int step = 0; step < 14; step++)
            {
                int at = (h * rowWidth) + (step * ForecastInput.Features);
                var day = series.Dates[origin - 14 + step];
                Assert.Equal(history[step] - level, rows[at], 1e-3);
                Assert.Equal(Math.Sin(2 * Math.PI * day.DayOfYear / 365.25), rows[at + 1], 1e-6);
                Assert.Equal((h + 1) / 3.0, rows[at + 3], 1e-6);
                Assert.Equal(Math.Cos(2 * Math.PI * target.DayOfYear / 365.25), rows[at + 5], 1e-6);
            }
        }
    }

    [Fact]
    public void Training_targets_are_each_days_value_minus_its_baseline()
    {
        var series = Series();
        var setup = new ForecastInput(Window: 14, Horizon: 10, LevelDays: 7);

        var rows = setup.TrainingRows(series, 0, 60, stride: 5);

        var origins = setup.Origins(0, 60, 5);
        Assert.Equal(origins.Count * 10, rows.Rows);
        for (int k = 0; k < origins.Count; k++)
        {
            for (int h = 1; h <= 10; h++)
            {
                // Value 1000 + day: the day's value minus the same weekday 7 ceil(h / 7) days earlier.
                Assert.Equal(7 * ((h + 6) / 7), rows.Targets[(k * 10) + h - 1]);
            }
        }
    }

    [Theory]
    [InlineData(6, 28, 6)]
    [InlineData(56, 0, 28)]
    [InlineData(56, 28, 57)]
    public void A_setup_without_a_full_week_or_with_empty_ranges_is_refused(int window, int horizon, int levelDays)
    {
        Assert.Throws<ArgumentException>(() => new ForecastInput(window, horizon, levelDays).Validate());
    }
}

using System.Globalization;

namespace Uncertainty.Model.Data;

/// <summary>
/// Supervised forecasting windows, <see cref="Count"/> of them. Window k's forecast origin is <c>Origins[k]</c>, the index of
/// its first forecast day: its inputs are days <c>Origins[k] - Window .. Origins[k] - 1</c>, step-major
/// [Window][<see cref="Features"/>] with features (value, sin(2 pi doy / 365.25), cos(2 pi doy / 365.25)) where doy is the
/// day of the year (1 to 366); its targets are the values of days <c>Origins[k] .. Origins[k] + Horizon - 1</c>.
/// Values are as in the series (the caller standardises).
/// </summary>
public sealed record ForecastWindows(float[] Inputs, float[] Targets, int Count, int Window, int Horizon, int[] Origins)
{
    public const int Features = 3;
}

/// <summary>
/// A series of one value per consecutive day. <see cref="Load(DataCache?)"/> reads the CDC/NCHS US daily births 1969-1988
/// (<see cref="SequenceDatasets.UsBirths"/>): 7305 days, 1969-01-01 to 1988-12-31; the last two years, from
/// <see cref="BirthsTestStart"/>, are its test period.
/// </summary>
public sealed record DailySeries(string Name, DateOnly[] Dates, float[] Values)
{
    /// <summary>The births test period starts here (1987 and 1988); everything before is for training.</summary>
    public static readonly DateOnly BirthsTestStart = new(1987, 1, 1);

    private const string BirthsHeader = "year,month,date_of_month,day_of_week,births";

    /// <summary>The most births one day may record: ample for the US, and every count up to it is exact as a float.</summary>
    private const int MaxBirths = 1 << 24;

    public int Count => Values.Length;

    /// <summary>Loads the fetched US births from <paramref name="cache"/> (default: the usual data cache); never downloads.</summary>
    public static DailySeries Load(DataCache? cache = null) => Load(cache ?? new DataCache(), SequenceDatasets.Find(SequenceDatasets.UsBirths));

    internal static DailySeries Load(DataCache cache, SequenceDatasetInfo info)
    {
        var path = Path.Combine(cache.PathOf(info.Name), info.File.FileName);
        return ParseBirths(System.Text.Encoding.ASCII.GetString(cache.ReadSequence(info)), info.Name, path);
    }

    /// <summary>
    /// Reads the births CSV (invariant culture): the header <c>year,month,date_of_month,day_of_week,births</c>, then one row per
    /// consecutive day. day_of_week is ISO 8601 (Monday = 1 to Sunday = 7; the data's first row, Wednesday 1969-01-01, has 3)
    /// and must agree with the date; every row that does not is refused.
    /// </summary>
    internal static DailySeries ParseBirths(string csv, string name, string source)
    {
        var lines = csv.Split('\n');
        if (lines[0].TrimEnd('\r') != BirthsHeader)
        {
            throw new InvalidDataException($"{source}: header '{lines[0].TrimEnd('\r')}'; expected '{BirthsHeader}'.");
        }

        var dates = new List<DateOnly>();
        var values = new List<float>();
        for (int n = 1; n < lines.Length; n++)
        {
            var line = lines[n].TrimEnd('\r');
            if (line.Length == 0 && n == lines.Length - 1)
            {
                break;
            }

            var fields = line.Split(',');
            var numbers = fields.Select(f => int.TryParse(f, NumberStyles.None, CultureInfo.InvariantCulture, out int v) ? v : -1).ToArray();
            if (numbers.Length != 5 || numbers.Any(v => v < 0))
            {
                throw new InvalidDataException($"{source}: line {n + 1}: '{line}' is not five non-negative integers.");
            }

            if (numbers is not [var year and >= 1 and <= 9999, var month and >= 1 and <= 12, var day, var weekday, var births]
                || day < 1 || day > DateTime.DaysInMonth(year, month))
            {
                throw new InvalidDataException($"{source}: line {n + 1}: '{line}' is not a calendar date.");
            }

            var date = new DateOnly(year, month, day);
            if (dates.Count > 0 && date != dates[^1].AddDays(1))
            {
                throw new InvalidDataException($"{source}: line {n + 1}: {date:yyyy-MM-dd} does not follow {dates[^1]:yyyy-MM-dd}; the days must be consecutive.");
            }

            int isoWeekday = date.DayOfWeek == DayOfWeek.Sunday ? 7 : (int)date.DayOfWeek;
            if (weekday != isoWeekday)
            {
                throw new InvalidDataException($"{source}: line {n + 1}: day_of_week {weekday}, but {date:yyyy-MM-dd} is a {date.DayOfWeek} ({isoWeekday} with Monday = 1).");
            }

            if (births > MaxBirths)
            {
                throw new InvalidDataException($"{source}: line {n + 1}: {births} births; at most {MaxBirths} are accepted.");
            }

            dates.Add(date);
            values.Add(births);
        }

        return dates.Count > 0 ? new DailySeries(name, [.. dates], [.. values]) : throw new InvalidDataException($"{source}: no rows.");
    }

    /// <summary>The index of <paramref name="date"/> in the series.</summary>
    public int IndexOf(DateOnly date)
    {
        int index = date.DayNumber - Dates[0].DayNumber;
        return index >= 0 && index < Count ? index : throw new ArgumentOutOfRangeException(nameof(date), date, $"{Name} runs from {Dates[0]:yyyy-MM-dd} to {Dates[^1]:yyyy-MM-dd}.");
    }

    /// <summary>
    /// Every window that lies inside days [<paramref name="start"/>, <paramref name="end"/>): origins start + window,
    /// then every <paramref name="stride"/> days while origin + horizon &lt;= end (see <see cref="ForecastWindows"/>).
    /// </summary>
    public ForecastWindows Windows(int start, int end, int window, int horizon, int stride)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(start);
        ArgumentOutOfRangeException.ThrowIfLessThan(end, start);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(end, Count);
        ArgumentOutOfRangeException.ThrowIfLessThan(window, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(horizon, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(stride, 1);
        var origins = new List<int>();
        for (long origin = (long)start + window; origin + horizon <= end; origin += stride)
        {
            origins.Add((int)origin);
        }

        var inputs = new float[origins.Count * window * ForecastWindows.Features];
        var targets = new float[origins.Count * horizon];
        for (int k = 0; k < origins.Count; k++)
        {
            for (int step = 0; step < window; step++)
            {
                int day = origins[k] - window + step;
                double angle = 2 * Math.PI * Dates[day].DayOfYear / 365.25;
                int at = ((k * window) + step) * ForecastWindows.Features;
                inputs[at] = Values[day];
                inputs[at + 1] = (float)Math.Sin(angle);
                inputs[at + 2] = (float)Math.Cos(angle);
            }

            Array.Copy(Values, origins[k], targets, k * horizon, horizon);
        }

        return new ForecastWindows(inputs, targets, origins.Count, window, horizon, [.. origins]);
    }

    /// <summary>
    /// The seasonal-naive forecast from <paramref name="origin"/>, the index of the first forecast day (days before it are
    /// observed): step h = 1..horizon forecasts day origin + h - 1 with the same weekday in the last observed week,
    /// <c>Values[origin + h - 1 - 7 * ceil(h / 7)]</c>; so h = 1..7 repeat days origin - 7 .. origin - 1, and h = 8 repeats
    /// origin - 7 again. Needs a full observed week (origin &gt;= 7); origin may be <see cref="Count"/> (forecasting past the data).
    /// </summary>
    public float[] SeasonalNaive(int origin, int horizon)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(origin, 7);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(origin, Count);
        ArgumentOutOfRangeException.ThrowIfLessThan(horizon, 1);
        var forecast = new float[horizon];
        for (int h = 1; h <= horizon; h++)
        {
            forecast[h - 1] = Values[origin + h - 1 - (7 * ((h + 6) / 7))];
        }

        return forecast;
    }
}

using System.Globalization;
using CsvHelper;
using CsvHelper.Configuration;

namespace Uncertainty.Model.Data;

/// <summary>How to read a data file.</summary>
public sealed record CsvOptions
{
    /// <summary>Target column: a header name, or a 0-based index (negative counts from the end; -1 is the last column).</summary>
    public string Target { get; init; } = "-1";

    /// <summary>Feature columns by name or index; null for every column but the target.</summary>
    public IReadOnlyList<string>? Features { get; init; }

    /// <summary>Regression or classification; null to infer (numeric targets regress, others classify).</summary>
    public TaskKind? Task { get; init; }

    /// <summary>
    /// Whitespace-separated values with no header (common for UCI files); columns are named x0, x1, ...
    /// </summary>
    public bool Whitespace { get; init; }

    /// <summary>
    /// Files with more columns than this are refused when the header (first line) is read, before any row is parsed:
    /// every column becomes a network input, and a wide first line should not make the loader hold many wide rows.
    /// </summary>
    public int MaxColumns { get; init; } = DefaultMaxColumns;

    public const int DefaultMaxColumns = 4096;
}

/// <summary>Reads numeric tables from CSV (header on line 1) or whitespace-separated text, with errors that name the line and column.</summary>
public static class CsvLoader
{
    private static readonly string[] MissingMarkers = ["", "NA", "N/A", "NaN", "nan", "?", "null"];

    public static Dataset Load(string path, CsvOptions options)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"Data file '{path}' does not exist.", path);
        }

        using var reader = new StreamReader(path);
        return Load(reader, Path.GetFileName(path), options);
    }

    public static Dataset Load(TextReader reader, string source, CsvOptions options)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxColumns, 1, nameof(options));
        if (reader.Peek() == '\uFEFF')
        {
            reader.Read(); // a byte-order mark left in text (a file pasted into a JSON string) is not part of the first name
        }

        var (header, rows) = options.Whitespace ? ReadWhitespace(reader, source, options.MaxColumns) : ReadCsv(reader, source, options.MaxColumns);
        if (rows.Count == 0)
        {
            throw new InvalidDataException($"{source}: no data rows.");
        }

        int target = Resolve(header, options.Target, source, "target");
        int[] features = options.Features is { Count: > 0 } names
            ? [.. names.Select(name => Resolve(header, name, source, "feature"))]
            : [.. Enumerable.Range(0, header.Count).Where(c => c != target)];
        if (features.Contains(target))
        {
            throw new InvalidDataException($"{source}: column '{header[target]}' cannot be both the target and a feature.");
        }

        var values = new float[rows.Count * features.Length];
        for (int r = 0; r < rows.Count; r++)
        {
            var (line, cells) = rows[r];
            if (cells.Length != header.Count)
            {
                throw new InvalidDataException($"{source}: line {line} has {cells.Length} cells, the header has {header.Count}.");
            }

            for (int f = 0; f < features.Length; f++)
            {
                values[(r * features.Length) + f] = ParseNumber(cells[features[f]], source, line, header[features[f]]);
            }
        }

        var targetCells = rows.Select(row => (row.Line, Cell: row.Cells[target])).ToList();
        foreach (var (line, cell) in targetCells.Where(c => IsMissing(c.Cell)))
        {
            throw new InvalidDataException($"{source}: line {line}, target '{header[target]}': missing value.");
        }

        bool numeric = targetCells.All(c => TryParse(c.Cell, out _));
        var task = options.Task ?? (numeric ? TaskKind.Regression : TaskKind.Classification);
        var featureNames = features.Select(c => header[c]).ToList();
        var name = Path.GetFileNameWithoutExtension(source);
        if (task == TaskKind.Regression)
        {
            var targets = targetCells.Select(c => ParseNumber(c.Cell, source, c.Line, header[target])).ToArray();
            return new Dataset(name, featureNames, values, header[target], targets);
        }

        var labels = targetCells.Select(c => c.Cell.Trim()).Distinct().Order(LabelOrder.Instance).ToList();
        var index = labels.Select((label, i) => (label, i)).ToDictionary(p => p.label, p => (float)p.i);
        return new Dataset(name, featureNames, values, header[target], [.. targetCells.Select(c => index[c.Cell.Trim()])], labels);
    }

    /// <summary>
    /// Reads just the named feature columns, in that order, from a file that may hold other columns too
    /// (with <see cref="CsvOptions.Whitespace"/>, the first columns by position). Returns row-major values and the row count.
    /// </summary>
    public static (float[] Values, int Rows) LoadFeatures(string path, IReadOnlyList<string> featureNames, bool whitespace = false, int maxColumns = CsvOptions.DefaultMaxColumns)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxColumns, 1);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"Input file '{path}' does not exist.", path);
        }

        using var reader = new StreamReader(path);
        var source = Path.GetFileName(path);
        var (header, rows) = whitespace ? ReadWhitespace(reader, source, maxColumns) : ReadCsv(reader, source, maxColumns);
        int[] columns = whitespace
            ? [.. Enumerable.Range(0, featureNames.Count)]
            : [.. featureNames.Select(name => header.IndexOf(name) is var c and >= 0 ? c : throw new InvalidDataException($"{source}: no column '{name}'; the model needs {string.Join(", ", featureNames)}."))];
        var values = new float[rows.Count * columns.Length];
        for (int r = 0; r < rows.Count; r++)
        {
            var (line, cells) = rows[r];
            if (cells.Length <= columns.Max())
            {
                throw new InvalidDataException($"{source}: line {line} has {cells.Length} cells; at least {columns.Max() + 1} are needed.");
            }

            for (int f = 0; f < columns.Length; f++)
            {
                values[(r * columns.Length) + f] = ParseNumber(cells[columns[f]], source, line, header.Count > columns[f] ? header[columns[f]] : $"x{columns[f]}");
            }
        }

        return (values, rows.Count);
    }

    private static (List<string> Header, List<(int Line, string[] Cells)> Rows) ReadCsv(TextReader reader, string source, int maxColumns)
    {
        var configuration = new CsvConfiguration(CultureInfo.InvariantCulture) { HasHeaderRecord = true, TrimOptions = TrimOptions.Trim, BadDataFound = null };
        using var csv = new CsvParser(reader, configuration);
        if (!csv.Read())
        {
            throw new InvalidDataException($"{source}: the file is empty.");
        }

        var header = csv.Record!.ToList();
        CheckColumns(header.Count, maxColumns, source);
        var rows = new List<(int, string[])>();
        while (csv.Read())
        {
            var record = csv.Record!;
            if (record.Length == 1 && string.IsNullOrWhiteSpace(record[0]))
            {
                continue;
            }

            rows.Add((csv.RawRow, record));
        }

        return (header, rows);
    }

    private static (List<string> Header, List<(int Line, string[] Cells)> Rows) ReadWhitespace(TextReader reader, string source, int maxColumns)
    {
        var rows = new List<(int, string[])>();
        int line = 0;
        while (reader.ReadLine() is { } text)
        {
            line++;
            var cells = text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (cells.Length > 0)
            {
                if (rows.Count == 0)
                {
                    CheckColumns(cells.Length, maxColumns, source); // the first line sets the columns, as a header would
                }

                rows.Add((line, cells));
            }
        }

        int columns = rows.Count > 0 ? rows[0].Item2.Length : 0;
        return ([.. Enumerable.Range(0, columns).Select(c => $"x{c}")], rows);
    }

    private static void CheckColumns(int count, int maxColumns, string source)
    {
        if (count > maxColumns)
        {
            throw new InvalidDataException($"{source}: the header has {count} columns; at most {maxColumns} are accepted.");
        }
    }

    private static int Resolve(List<string> header, string column, string source, string role)
    {
        var exact = header.IndexOf(column);
        if (exact >= 0)
        {
            return exact;
        }

        var ignoringCase = header.FindIndex(h => string.Equals(h, column, StringComparison.OrdinalIgnoreCase));
        if (ignoringCase >= 0)
        {
            return ignoringCase;
        }

        if (int.TryParse(column, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var index) && index >= -header.Count && index < header.Count)
        {
            return index < 0 ? header.Count + index : index;
        }

        throw new InvalidDataException($"{source}: unknown {role} column '{column}'; the columns are {string.Join(", ", header)} (or an index from 0 to {header.Count - 1}).");
    }

    private static float ParseNumber(string cell, string source, int line, string column)
    {
        if (IsMissing(cell))
        {
            throw new InvalidDataException($"{source}: line {line}, column '{column}': missing value.");
        }

        if (!TryParse(cell, out var value))
        {
            throw new InvalidDataException($"{source}: line {line}, column '{column}': '{cell}' is not a number.");
        }

        return value;
    }

    private static bool TryParse(string cell, out float value) =>
        float.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out value) && float.IsFinite(value);

    private static bool IsMissing(string cell) => MissingMarkers.Contains(cell.Trim());

    /// <summary>Numeric labels in numeric order (2 before 10), others alphabetically.</summary>
    private sealed class LabelOrder : IComparer<string>
    {
        public static readonly LabelOrder Instance = new();

        public int Compare(string? x, string? y) =>
            double.TryParse(x, NumberStyles.Float, CultureInfo.InvariantCulture, out var a) && double.TryParse(y, NumberStyles.Float, CultureInfo.InvariantCulture, out var b)
                ? a.CompareTo(b)
                : string.CompareOrdinal(x, y);
    }
}

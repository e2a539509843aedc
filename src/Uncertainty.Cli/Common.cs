using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging.Abstractions;
using Uncertainty.Model.Data;
using Uncertainty.Model.Packaging;
using Uncertainty.Model.Native;

namespace Uncertainty.Cli;

/// <summary>The options every command that reads data shares, and the helpers they all use.</summary>
internal sealed class DataOptions
{
    public Option<string?> Data { get; } = new("--data") { Description = "CSV file (header on line 1) or, with --whitespace, whitespace-separated values without a header." };

    public Option<string?> Dataset { get; } = new("--dataset") { Description = $"A named dataset instead of --data: bundled {string.Join(", ", BundledDatasets.All.Select(d => d.Name))}, or the image sets {string.Join(", ", ImageDatasets.All.Where(d => !d.Bundled).Select(d => d.Name))} (after 'fetch')." };

    public Option<string?> Split { get; } = new("--split") { Description = "train, test or all: the part of an image dataset (mnist, fashion-mnist, digits) to use. Default: train for training, test for evaluation." };

    public Option<string?> Target { get; } = new("--target") { Description = "Target column: header name or 0-based index (negative counts from the end). Default: the bundled dataset's target, else the last column." };

    public Option<string?> Features { get; } = new("--features") { Description = "Comma-separated feature columns (names or indices). Default: every column but the target." };

    public Option<bool> Whitespace { get; } = new("--whitespace") { Description = "Read whitespace-separated values with no header (UCI style); columns are x0, x1, ..." };

    public Option<string?> Task { get; } = new("--task") { Description = "regression or classification. Default: inferred from the target values." };

    public void AddTo(Command command)
    {
        command.Options.Add(Data);
        command.Options.Add(Dataset);
        command.Options.Add(Target);
        command.Options.Add(Features);
        command.Options.Add(Whitespace);
        command.Options.Add(Task);
        command.Options.Add(Split);
    }

    /// <summary>The named image dataset's part, as a table of pixels; null when <paramref name="name"/> is not an image dataset or none was asked for.</summary>
    /// <remarks>For a model with an image preprocessing, the pixels are brought to its pixel range (<see cref="ImageInput.RowsOf"/>).</remarks>
    public Dataset? LoadImages(ParseResult parse, string? name, ImageSplit defaultSplit, ModelDescription? model = null)
    {
        if (!IsImages(parse, name))
        {
            return null;
        }

        var split = parse.GetValue(Split) is { } text ? Cli.ParseEnum<ImageSplit>(text, "--split") : defaultSplit;
        var images = ImageDatasets.Load(name, split);
        var rows = model?.Image is { } image ? image.RowsOf(images) : images.ToDataset();
        return rows with { Name = $"{name} ({split.ToString().ToLowerInvariant()})" };
    }

    /// <summary>Whether <paramref name="name"/> is read as an image set's split (digits only with --split; without, it is the bundled table).</summary>
    public bool IsImages(ParseResult parse, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] string? name) =>
        name is not null && ImageDatasets.All.Any(d => d.Name == name) && !(name == "digits" && parse.GetValue(Split) is null);

    public Dataset Load(ParseResult parse, ImageSplit defaultSplit = ImageSplit.Train, ModelDescription? model = null)
    {
        if (LoadImages(parse, parse.GetValue(Dataset), defaultSplit, model) is { } images)
        {
            return images;
        }

        var task = parse.GetValue(Task) is { } text ? Cli.ParseEnum<TaskKind>(text, "--task") : (TaskKind?)null;
        if (parse.GetValue(Dataset) is { } name)
        {
            return BundledDatasets.Load(name, parse.GetValue(Target), Cli.List(parse.GetValue(Features)), task);
        }

        var path = parse.GetValue(Data) ?? throw new ArgumentException("Give --data FILE or --dataset NAME.");
        return CsvLoader.Load(path, new CsvOptions
        {
            Target = parse.GetValue(Target) ?? "-1",
            Features = Cli.List(parse.GetValue(Features)),
            Task = task,
            Whitespace = parse.GetValue(Whitespace),
        });
    }
}

internal static class Cli
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };

    public static Option<string?> JsonOption() => new("--json") { Description = "Also write the results as JSON to this file." };

    public static Option<ulong> SeedOption(ulong fallback = 0) => new("--seed") { Description = "Seed for everything random.", DefaultValueFactory = _ => fallback };

    /// <summary>Runs a command body: loads the backend (unless the command needs none), turns expected failures into one clear line and exit code 1.</summary>
    public static int Run(Func<int> body, bool loadBackend = true)
    {
        try
        {
            if (loadBackend)
            {
                TorchBackend.Initialize(libTorchDirectory: null, NullLogger.Instance);
            }

            return body();
        }
        catch (Exception e) when (e is ArgumentException or InvalidDataException or FileNotFoundException or DirectoryNotFoundException or IOException or FormatException or PlatformNotSupportedException or ArithmeticException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("cancelled");
            return 130;
        }
    }

    public static void WriteJson(string? path, object value)
    {
        if (path is not null)
        {
            File.WriteAllText(path, JsonSerializer.Serialize(value, Json));
            Console.WriteLine($"wrote {path}");
        }
    }

    public static IReadOnlyList<string>? List(string? text) =>
        string.IsNullOrWhiteSpace(text) ? null : [.. text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];

    public static double[] Numbers(string text, string option) =>
        [.. List(text)!.Select(v => double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) ? d : throw new ArgumentException($"{option}: '{v}' is not a number."))];

    public static T ParseEnum<T>(string text, string option)
        where T : struct, Enum =>
        Enum.TryParse<T>(text.Replace("-", "", StringComparison.Ordinal), ignoreCase: true, out var value) && Enum.IsDefined(value)
            ? value
            : throw new ArgumentException($"{option}: '{text}' is not one of {string.Join(", ", Enum.GetNames<T>().Select(n => n.ToLowerInvariant()))}.");

    /// <summary>Ctrl+C cancels cooperatively.</summary>
    public static CancellationToken CancelOnCtrlC()
    {
        var source = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            source.Cancel();
        };
        return source.Token;
    }

    public static string F(double value, int digits = 3) => value.ToString($"F{digits}", CultureInfo.InvariantCulture);
}

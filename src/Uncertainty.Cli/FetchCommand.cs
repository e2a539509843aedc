using System.CommandLine;
using Uncertainty.Model.Data;

namespace Uncertainty.Cli;

internal static class FetchCommand
{
    public static Command Create()
    {
        var name = new Argument<string>("name") { Description = $"The dataset: {string.Join(", ", DataCache.Names)}." };
        var from = new Option<string?>("--from")
        {
            Description = "Instead of the usual source: for the image sets, a folder with the four IDX files (canonical names, raw or .gz); " +
                $"for {string.Join(" and ", SequenceDatasets.All.Select(d => d.Name))}, a folder holding {SequenceDatasets.StdlibTarball.FileName} (or that file).",
        };
        var command = new Command("fetch", $"Put a dataset into the data cache once, verified against its pinned checksums (cache: ${DataCache.DirectoryVariable}, else $XDG_CACHE_HOME/uncertainty/data, else ~/.cache/uncertainty/data).");
        command.Arguments.Add(name);
        command.Options.Add(from);
        command.SetAction(parse => Cli.Run(
            () =>
            {
                var cache = new DataCache();
                var result = cache.FetchAsync(parse.GetValue(name)!, parse.GetValue(from), new ProgressBar(), Cli.CancelOnCtrlC()).GetAwaiter().GetResult();
                if (result.Files.Count == 0)
                {
                    Console.WriteLine($"{result.Name} is {result.Source}; nothing to fetch.");
                    return 0;
                }

                Console.WriteLine(result.AlreadyPresent
                    ? $"{result.Name} is already in the data cache, intact: {result.Directory}"
                    : $"{result.Name} fetched from {result.Source} and verified: {result.Directory}");
                foreach (var file in result.Files)
                {
                    Console.WriteLine($"  {file}");
                }

                return 0;
            },
            loadBackend: false));
        return command;
    }

    /// <summary>A bar per step on stderr (percentage and MB); one line per quarter of a step when stderr is redirected.</summary>
    private sealed class ProgressBar : IProgress<FetchProgress>
    {
        private const int Width = 30;
        private string step = "";
        private int lastShown = -1;

        public void Report(FetchProgress value)
        {
            if (value.Step != step)
            {
                step = value.Step;
                lastShown = -1;
            }

            double fraction = value.Total is > 0 and var total ? Math.Min(1, (double)value.Bytes / total) : 0;
            bool done = value.Total is { } end && value.Bytes >= end;
            var size = value.Total is { } all ? $"{Megabytes(value.Bytes)}/{Megabytes(all)} MB" : $"{Megabytes(value.Bytes)} MB";
            int filled = (int)(fraction * Width);
            var line = $"{step} [{new string('#', filled)}{new string('.', Width - filled)}] {fraction * 100,3:F0} % {size}";
            int shown = Console.IsErrorRedirected ? (int)(fraction * 4) : (int)(fraction * 1000);
            if (shown == lastShown)
            {
                return;
            }

            lastShown = shown;
            Console.Error.Write(Console.IsErrorRedirected ? $"{line}\n" : $"\r{line}{(done ? "\n" : "")}");
        }

        private static string Megabytes(long bytes) => Cli.F(bytes / 1e6, 1);
    }
}

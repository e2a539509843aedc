using System.Diagnostics;
using System.Text.Json;
using Uncertainty.Model.Data;
using Uncertainty.Model.Evaluation;

namespace Uncertainty.Cli;

/// <summary>
/// Runs <c>reproduce</c>'s splits in child processes, one core each, and puts their reports together. Processes, not threads:
/// TorchSharp 0.107 passes Scalars it creates itself (the alpha of add_(x), for one) to native calls without keeping
/// them alive, so a garbage collection started by another busy thread can free one mid-call (seen as "Expected false to
/// be true" from c10::Scalar); a process that trains on one thread gives the collector no such other thread.
/// </summary>
internal static class SplitProcesses
{
    /// <param name="arguments">The command's own arguments (from "reproduce" on); each child gets them with its share of splits.</param>
    public static ReproductionReport Run(IReadOnlyList<string> arguments, Dataset dataset, ReproductionOptions options, int splitCount, int processes, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var directory = Directory.CreateTempSubdirectory("uncertainty-reproduce-");
        var children = new List<Child>();
        // Whatever ends this call (a failed split, Ctrl+C, SIGTERM, an exception), no child is left training.
        void KillAll() => children.ForEach(c => Kill(c.Process));
        using var cancel = cancellationToken.Register(KillAll);
        using var terminate = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, _ => KillAll());
        try
        {
            // Round robin: neighbouring splits cost about the same, so each process gets a similar share.
            for (int p = 0; p < processes; p++)
            {
                var share = Enumerable.Range(0, splitCount).Where(k => k % processes == p);
                children.Add(Start(arguments, string.Join(',', share), Path.Combine(directory.FullName, $"part-{p}.json")));
            }

            // The first failure ends the run at once: the other processes would train for nothing.
            var running = children.ToList();
            while (running.Count > 0)
            {
                var done = running[Task.WaitAny([.. running.Select(c => c.Done)], CancellationToken.None)];
                running.Remove(done);
                cancellationToken.ThrowIfCancellationRequested();
                if (done.Process.ExitCode != 0)
                {
                    throw new InvalidDataException($"a split process failed (exit code {done.Process.ExitCode}): {done.Errors.ToString().Trim()}");
                }
            }

            var parts = children.Select(c => JsonSerializer.Deserialize<ReproductionReport>(File.ReadAllText(c.Json), Cli.Json)!).ToList();
            return Reproduction.Report(dataset.Name, dataset.Rows, options, parts.SelectMany(p => p.Splits), clock.Elapsed.TotalSeconds);
        }
        finally
        {
            KillAll();
            children.ForEach(c => c.Process.Dispose());
            directory.Delete(recursive: true);
        }
    }

    private sealed record Child(Process Process, string Json, Task Done, System.Text.StringBuilder Errors);

    /// <summary>This command again, with the same arguments but its share of splits and its own JSON file (it sets one libtorch thread itself).</summary>
    private static Child Start(IReadOnlyList<string> arguments, string share, string json)
    {
        // Started as the apphost: that again; otherwise (dotnet uncertainty.dll, or a test host) dotnet with this assembly.
        var assembly = typeof(SplitProcesses).Assembly.Location;
        var host = Environment.ProcessPath!;
        bool apphost = Path.GetFileNameWithoutExtension(host) == Path.GetFileNameWithoutExtension(assembly);
        var dotnet = Path.GetFileNameWithoutExtension(host) == "dotnet" ? host : Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";
        var start = new ProcessStartInfo(apphost ? host : dotnet) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (!apphost)
        {
            start.ArgumentList.Add(assembly);
        }

        foreach (var argument in WithoutOwnValues(arguments))
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var argument in new[] { "--only-splits", share, "--parallel", "1", "--json", json })
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start)!;
        var errors = new System.Text.StringBuilder();
        // Progress lines go straight through, as a single process prints them; the child's header and summary do not.
        var output = Task.Run(() =>
        {
            while (process.StandardOutput.ReadLine() is { } line)
            {
                if (line.StartsWith('['))
                {
                    Console.WriteLine(line);
                }
            }
        });
        var error = Task.Run(() => errors.Append(process.StandardError.ReadToEnd()));
        return new Child(process, json, Task.WhenAll(output, error, process.WaitForExitAsync()), errors);
    }

    /// <summary><paramref name="arguments"/> without the options each child gets its own value of.</summary>
    private static IEnumerable<string> WithoutOwnValues(IReadOnlyList<string> arguments)
    {
        string[] replaced = ["--parallel", "--json", "--only-splits"];
        for (int i = 0; i < arguments.Count; i++)
        {
            if (replaced.Contains(arguments[i]))
            {
                i++; // and its value
            }
            else if (!replaced.Any(name => arguments[i].StartsWith(name + "=", StringComparison.Ordinal) || arguments[i].StartsWith(name + ":", StringComparison.Ordinal)))
            {
                yield return arguments[i];
            }
        }
    }

    private static void Kill(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (Exception e) when (e is InvalidOperationException or ObjectDisposedException or System.ComponentModel.Win32Exception)
        {
            // already exited (or already cleaned up)
        }
    }
}

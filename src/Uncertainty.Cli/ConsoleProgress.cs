using Uncertainty.Model.Training;

namespace Uncertainty.Cli;

/// <summary>A progress bar on a terminal; one line per tenth of the run when output is redirected.</summary>
internal sealed class ConsoleProgress : IProgress<TrainingProgress>
{
    private const int Width = 30;
    private int lastTenth = -1;

    public void Report(TrainingProgress value)
    {
        int filled = value.Epoch * Width / value.Epochs;
        var validation = value.ValidationMetric is { } metric ? $" val {value.MetricName} {Cli.F(metric, 4)}" : "";
        var line = $"[{new string('#', filled)}{new string('.', Width - filled)}] epoch {value.Epoch}/{value.Epochs} loss {Cli.F(value.TrainLoss, 4)}{validation} " +
                   $"elapsed {value.Elapsed:mm\\:ss} eta {value.EstimatedRemaining:mm\\:ss}";
        if (!Console.IsOutputRedirected)
        {
            Console.Write($"\r{line}");
            if (value.Epoch == value.Epochs)
            {
                Console.WriteLine();
            }

            return;
        }

        int tenth = value.Epoch * 10 / value.Epochs;
        if (tenth != lastTenth)
        {
            lastTenth = tenth;
            Console.WriteLine(line);
        }
    }

    /// <summary>Ends the bar's line when training stopped early.</summary>
    public static void Finish()
    {
        if (!Console.IsOutputRedirected)
        {
            Console.WriteLine();
        }
    }
}

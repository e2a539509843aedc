using System.CommandLine;

namespace Uncertainty.Cli;

/// <summary>The command tree, built in one place so tests can run commands in-process.</summary>
public static class CliApp
{
    public static RootCommand Build() => new("uncertainty: train dropout networks and predict with Monte Carlo dropout uncertainty.")
    {
        TrainCommand.Create(),
        EvaluateCommand.Create(),
        PredictCommand.Create(),
        ReproduceCommand.Create(),
        FetchCommand.Create(),
        ExperimentCommand.Create(),
    };
}

using System.CommandLine;
using Uncertainty.Model.Data;
using Uncertainty.Model.Evaluation;

namespace Uncertainty.Cli;

internal static class ReproduceCommand
{
    public static Command Create()
    {
        var data = new DataOptions();
        var splitsDirectory = new Option<string?>("--splits") { Description = "Directory of index_train_K.txt / index_test_K.txt (0-based rows) for K = 0..n-1." };
        var splitCount = new Option<int>("--split-count") { Description = "Seeded random splits when --splits is not given.", DefaultValueFactory = _ => 20 };
        var testFraction = new Option<double>("--test-fraction") { Description = "Test share of each random split.", DefaultValueFactory = _ => 0.1 };
        var seed = new Option<int>("--seed") { Description = "Seed of the random splits and of training.", DefaultValueFactory = _ => 0 };
        var hidden = new Option<int>("--hidden") { Description = "Hidden ReLU units.", DefaultValueFactory = _ => 50 };
        var epochs = new Option<int>("--epochs") { Description = "Training epochs.", DefaultValueFactory = _ => 400 };
        var batchSize = new Option<int>("--batch-size") { Description = "Mini-batch size: 128 as in the authors' updated results (4,000 epochs); their 2016 table ran batch 32 at 400 epochs.", DefaultValueFactory = _ => 128 };
        var oneByOne = new Option<bool>("--one-by-one") { Description = "Train each grid point on its own network instead of the grid as one stacked network (same weights within float rounding; slower)." };
        var dropoutGrid = new Option<string>("--dropout-grid") { Description = "Dropout rates to try.", DefaultValueFactory = _ => "0.005,0.01,0.05,0.1" };
        var tauGrid = new Option<string>("--tau-grid") { Description = "Noise precisions to try (target units^-2).", DefaultValueFactory = _ => "0.025,0.05,0.075,0.1,0.15,0.2" };
        var samples = new Option<int>("--samples") { Description = "MC samples T for validation and test.", DefaultValueFactory = _ => 10_000 };
        var json = Cli.JsonOption();
        var command = new Command("reproduce", "Run Gal and Ghahramani's (2016) MC-dropout regression protocol on a data file: per split, choose (p, tau) on a validation hold-out, retrain, score the test split.");
        data.AddTo(command);
        foreach (var option in new Option[] { splitsDirectory, splitCount, testFraction, seed, hidden, epochs, batchSize, dropoutGrid, tauGrid, samples, oneByOne, json })
        {
            command.Options.Add(option);
        }

        command.SetAction(parse => Cli.Run(() =>
        {
            var dataset = data.Load(parse);
            var splits = parse.GetValue(splitsDirectory) is { } directory
                ? Splits.FromDirectory(directory, dataset.Rows)
                : Splits.Random(dataset.Rows, parse.GetValue(testFraction), parse.GetValue(seed), parse.GetValue(splitCount));
            var options = new ReproductionOptions
            {
                Hidden = parse.GetValue(hidden),
                Epochs = parse.GetValue(epochs),
                BatchSize = parse.GetValue(batchSize),
                StackedGrid = !parse.GetValue(oneByOne),
                DropoutGrid = Cli.Numbers(parse.GetValue(dropoutGrid)!, "--dropout-grid"),
                TauGrid = Cli.Numbers(parse.GetValue(tauGrid)!, "--tau-grid"),
                Samples = parse.GetValue(samples),
                Seed = (ulong)parse.GetValue(seed),
            };

            Console.WriteLine($"{dataset.Name}: {dataset.Rows} rows, {dataset.Columns} features, target '{dataset.TargetName}'; {splits.Count} splits, " +
                              $"{options.DropoutGrid.Count} x {options.TauGrid.Count} grid, {options.Epochs} epochs at batch {options.BatchSize}{(options.StackedGrid ? " (grid stacked)" : " (grid one by one)")}, T = {options.Samples}");
            var progress = new SyncProgress<SplitResult>(r =>
                Console.WriteLine($"[{r.Split + 1}/{splits.Count}] p {r.Dropout} tau {r.Tau}  MC RMSE {Cli.F(r.McRmse)}  MC LL {Cli.F(r.McLogLikelihood)}  weight-scaling RMSE {Cli.F(r.WeightScalingRmse)}  ({Cli.F(r.Seconds, 1)} s)"));
            var report = Reproduction.Run(dataset, splits, options, progress, Cli.CancelOnCtrlC());
            Console.WriteLine();
            Console.WriteLine($"MC dropout RMSE            {report.McRmse}");
            Console.WriteLine($"MC dropout log-likelihood  {report.McLogLikelihood}");
            Console.WriteLine($"weight-scaling RMSE        {report.WeightScalingRmse}");
            Console.WriteLine($"wall time                  {Cli.F(report.Seconds, 1)} s");
            Cli.WriteJson(parse.GetValue(json), report);
            return 0;
        }));
        return command;
    }

    /// <summary>Reports on the calling thread (Progress&lt;T&gt; would post to the thread pool and may print after the summary).</summary>
    private sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}

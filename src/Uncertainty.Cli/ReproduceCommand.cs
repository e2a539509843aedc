using System.CommandLine;
using Uncertainty.Model.Data;
using Uncertainty.Model.Evaluation;
using Uncertainty.Model.Training;

namespace Uncertainty.Cli;

internal static class ReproduceCommand
{
    public static Command Create()
    {
        var data = new DataOptions();
        var published = new Option<string?>("--published") { Description = "A data set directory of the authors' experiment code (UCI_Datasets/NAME/data/): its data, features, target, splits, hidden units, epochs and (p, tau) grid, as their experiment.py reads them. Replaces --data/--dataset, --splits, --hidden, --epochs and the grids." };
        var epochMultiplier = new Option<int>("--epochx") { Description = "With --published: epochs = n_epochs.txt x this (the authors' --epochx; 100 gives their published results, 10 the shorter runs).", DefaultValueFactory = _ => PublishedExperiment.PublishedEpochMultiplier };
        var splitsDirectory = new Option<string?>("--splits") { Description = "Directory of index_train_K.txt / index_test_K.txt (0-based rows) for K = 0..n-1; the last 20 % of each training list (in its order) chooses (p, tau)." };
        var splitCount = new Option<int>("--split-count") { Description = "Seeded random splits when --splits is not given (made as the authors' split script makes them).", DefaultValueFactory = _ => 20 };
        var testFraction = new Option<double>("--test-fraction") { Description = "Test share of each random split.", DefaultValueFactory = _ => 0.1 };
        var seed = new Option<int>("--seed") { Description = "Seed of the random splits and of training.", DefaultValueFactory = _ => 0 };
        var hidden = new Option<int>("--hidden") { Description = "Hidden ReLU units.", DefaultValueFactory = _ => 50 };
        var epochs = new Option<int>("--epochs") { Description = "Training epochs: 4,000 (the authors' 40 x 100) for their published results.", DefaultValueFactory = _ => 4000 };
        var batchSize = new Option<int>("--batch-size") { Description = "Mini-batch size: 128 as in the authors' updated results (4,000 epochs); their 2016 table ran batch 32 at 400 epochs.", DefaultValueFactory = _ => 128 };
        var oneByOne = new Option<bool>("--one-by-one") { Description = "Train each grid point on its own network instead of the grid as one stacked network (same weights within float rounding; slower)." };
        var parallel = new Option<int>("--parallel") { Description = "Processes that share the splits, one core each (the results do not depend on it). Default: the processor count.", DefaultValueFactory = _ => Environment.ProcessorCount };
        var only = new Option<string?>("--only-splits") { Description = "Run just these splits (0-based, comma-separated), each with the seed it has in a whole run: one process's share under --parallel." };
        var dropoutGrid = new Option<string>("--dropout-grid") { Description = "Dropout rates to try.", DefaultValueFactory = _ => "0.005,0.01,0.05,0.1" };
        var tauGrid = new Option<string>("--tau-grid") { Description = "Noise precisions to try (target units^-2).", DefaultValueFactory = _ => "0.025,0.05,0.075,0.1,0.15,0.2" };
        var initialization = new Option<string>("--initialization") { Description = "glorot (Keras's default, the authors') or default (PyTorch's).", DefaultValueFactory = _ => "glorot" };
        var samples = new Option<int>("--samples") { Description = "MC samples T for validation and test.", DefaultValueFactory = _ => 10_000 };
        var json = Cli.JsonOption();
        var command = new Command("reproduce", "Run Gal and Ghahramani's (2016) MC-dropout regression protocol on a data file: per split, choose (p, tau) on a validation hold-out, retrain, score the test split.");
        data.AddTo(command);
        foreach (var option in new Option[] { published, epochMultiplier, splitsDirectory, splitCount, testFraction, seed, hidden, epochs, batchSize, dropoutGrid, tauGrid, samples, initialization, oneByOne, parallel, only, json })
        {
            command.Options.Add(option);
        }

        command.SetAction(parse => Cli.Run(() =>
        {
            if (parse.GetValue(parallel) < 1)
            {
                throw new ArgumentException("--parallel must be at least 1.");
            }

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
                Initialization = Cli.ParseEnum<WeightInitialization>(parse.GetValue(initialization)!, "--initialization"),
            };
            Dataset dataset;
            IReadOnlyList<DataSplit> splits;
            if (parse.GetValue(published) is { } directory)
            {
                var given = new Option[] { data.Data, data.Dataset, data.Target, data.Features, data.Whitespace, data.Task, data.Split, splitsDirectory, splitCount, testFraction, hidden, epochs, dropoutGrid, tauGrid }
                    .FirstOrDefault(option => parse.GetResult(option) is { Implicit: false });
                if (given is not null)
                {
                    throw new ArgumentException($"{given.Name} cannot be combined with --published: the directory gives it.");
                }

                if (parse.GetValue(epochMultiplier) < 1)
                {
                    throw new ArgumentException("--epochx must be at least 1.");
                }

                var experiment = PublishedExperiment.Load(directory);
                (dataset, splits, options) = (experiment.Data, experiment.Splits, experiment.Options(options, parse.GetValue(epochMultiplier)));
            }
            else
            {
                if (parse.GetResult(epochMultiplier) is { Implicit: false })
                {
                    throw new ArgumentException("--epochx multiplies the epochs of a --published directory; give --epochs instead.");
                }

                dataset = data.Load(parse);
                splits = parse.GetValue(splitsDirectory) is { } splitFiles
                    ? Splits.FromDirectory(splitFiles, dataset.Rows)
                    : Splits.Permuted(dataset.Rows, parse.GetValue(testFraction), parse.GetValue(seed), parse.GetValue(splitCount));
            }

            Console.WriteLine($"{dataset.Name}: {dataset.Rows} rows, {dataset.Columns} features, target '{dataset.TargetName}'; {splits.Count} splits, " +
                              $"{options.DropoutGrid.Count} x {options.TauGrid.Count} grid, {options.Epochs} epochs at batch {options.BatchSize}{(options.StackedGrid ? " (grid stacked)" : " (grid one by one)")}, T = {options.Samples}");
            var progress = new SyncProgress<SplitResult>(r =>
                Console.WriteLine($"[{r.Split + 1}/{splits.Count}] p {r.Dropout} tau {r.Tau}  MC RMSE {Cli.F(r.McRmse)}  MC LL {Cli.F(r.McLogLikelihood)}  weight-scaling RMSE {Cli.F(r.WeightScalingRmse)}  ({Cli.F(r.Seconds, 1)} s)"));
            var subset = parse.GetValue(only) is { } list ? SplitIndices(list, splits.Count) : null;
            // One libtorch thread, as each child process has, so that the numbers do not depend on --parallel.
            TorchSharp.torch.set_num_threads(1);
            var report = parse.GetValue(parallel) > 1 && subset is null && splits.Count > 1
                ? SplitProcesses.Run([.. parse.Tokens.Select(t => t.Value)], dataset, options, splits.Count, Math.Min(parse.GetValue(parallel), splits.Count), Cli.CancelOnCtrlC())
                : Reproduction.Run(dataset, splits, options, progress, subset, Cli.CancelOnCtrlC());
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

    /// <summary>--only-splits: distinct whole split numbers in 0..count-1, checked before anything trains.</summary>
    private static int[] SplitIndices(string text, int count)
    {
        var values = Cli.List(text) ?? throw new ArgumentException("--only-splits: give split numbers, e.g. 0,2,4.");
        var indices = values.Select(v => int.TryParse(v, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var k) && k < count
            ? k
            : throw new ArgumentException($"--only-splits: '{v}' is not a split number in 0..{count - 1}.")).ToArray();
        return indices.Distinct().Count() == indices.Length ? indices : throw new ArgumentException("--only-splits: a split is named twice.");
    }

    /// <summary>Reports on the calling thread (Progress&lt;T&gt; would post to the thread pool and may print after the summary).</summary>
    private sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}

using System.CommandLine;
using Uncertainty.Model.Data;
using Uncertainty.Model.Forecasting;
using Uncertainty.Model.Networks;
using Uncertainty.Model.Text;
using Uncertainty.Model.Training;

namespace Uncertainty.Cli;

/// <summary>
/// The sequence experiments of docs/reproduction.md, each end to end on its fetched dataset: split, train, save the package,
/// score the held-out part. `experiment spam` (SpamAssassin) and `experiment births` (US births 1969-1988).
/// </summary>
internal static class ExperimentCommand
{
    public static Command Create() => new("experiment", "Train and score the sequence models of docs/reproduction.md on their fetched datasets.")
    {
        Spam(),
        Births(),
    };

    private static Command Spam()
    {
        var spec = new Option<string>("--spec") { Description = "Network spec JSON: an embedding first layer over [length] token ids (its vocab is set from the tokenizer).", Required = true };
        var output = new Option<string?>("--out") { Description = "Save the trained package (with its tokenizer) to this folder." };
        var testFraction = new Option<double>("--test-fraction") { Description = "Held-out share of each message group.", DefaultValueFactory = _ => 0.2 };
        var maxVocabulary = new Option<int>("--max-vocabulary") { Description = "Most frequent training tokens kept.", DefaultValueFactory = _ => 20_000 };
        var samples = new Option<int>("--samples") { Description = "MC samples for the test metrics.", DefaultValueFactory = _ => 100 };
        var flags = new TrainingFlags();
        var json = Cli.JsonOption();
        var command = new Command("spam", "Classify SpamAssassin e-mails (after 'fetch spam-assassin'): a seeded split stratified by group, a word-level tokenizer built on the training part, MC vs weight-scaling scores, and the uncertainty of easy ham, hard ham and spam.");
        foreach (var option in new Option[] { spec, output, testFraction, maxVocabulary, samples, json })
        {
            command.Options.Add(option);
        }

        flags.AddTo(command);
        command.SetAction(parse => Cli.Run(() =>
        {
            var network = NetworkSpec.FromJson(File.ReadAllText(parse.GetValue(spec)!));
            var corpus = TextDataset.Load();
            var options = flags.Apply(parse, new TrainingOptions(), new Dataset(corpus.Name, ["token0"], [0], "label", [0], corpus.ClassNames), network);
            var split = corpus.SplitRows(parse.GetValue(testFraction), options.Seed);
            var (train, test) = (corpus.Subset(split.Train), corpus.Subset(split.Test));
            Console.WriteLine($"{corpus.Name}: {train.Count} training and {test.Count} test messages");
            using var package = TextModels.Fit(train, network, options, parse.GetValue(maxVocabulary), progress: new ConsoleProgress(), description: "SpamAssassin spam classifier (uncertainty experiment spam).", cancellationToken: Cli.CancelOnCtrlC())
                .WithTrainingData(TextModels.SplitRecord(corpus, split, parse.GetValue(testFraction), options.Seed));
            var summary = package.Description.Training!;
            Console.WriteLine($"trained in {Cli.F(summary.Seconds, 1)} s, {Cli.F(summary.RowsPerSecond, 0)} messages/s; vocabulary {package.Description.Text!.Tokenizer.VocabularySize}");
            if (parse.GetValue(output) is { } folder)
            {
                package.Save(folder);
                Console.WriteLine($"saved {folder}");
            }

            var report = TextModels.Evaluate(package, test, parse.GetValue(samples), options.Seed, train.Count, summary.Seconds, Cli.CancelOnCtrlC());
            EvaluateCommand.Print(report.Scores);
            foreach (var group in report.AccuracyByGroup.Keys)
            {
                Console.WriteLine($"{group,-10} accuracy {Cli.F(report.AccuracyByGroup[group], 4)}  mean MI {Cli.F(report.MeanMutualInformation[group], 5)}  mean entropy {Cli.F(report.MeanEntropy[group], 4)}");
            }

            Console.WriteLine($"misclassification AUROC: {string.Join(", ", report.MisclassificationAuroc.Select(p => $"{p.Key} {Cli.F(p.Value)}"))}");
            Cli.WriteJson(parse.GetValue(json), new { network = package.Description.Network, training = summary, report });
            return 0;
        }));
        return command;
    }

    private static Command Births()
    {
        var spec = new Option<string>("--spec") { Description = $"Network spec JSON over [window, {ForecastInput.Features}] steps ({string.Join(", ", ForecastInput.FeatureNames)}), regression head.", Required = true };
        var output = new Option<string?>("--out") { Description = "Save the trained package to this folder." };
        var horizon = new Option<int>("--horizon") { Description = "Days forecast from each origin.", DefaultValueFactory = _ => 28 };
        var levelDays = new Option<int>("--level-days") { Description = "Days whose mean is the window's level (subtracted from inputs and targets).", DefaultValueFactory = _ => 28 };
        var stride = new Option<int>("--stride") { Description = "Days between training forecast origins.", DefaultValueFactory = _ => 3 };
        var testStride = new Option<int>("--test-stride") { Description = "Days between test forecast origins.", DefaultValueFactory = _ => 7 };
        var naive = new Option<bool>("--naive") { Description = "Naive dropout in the recurrent layers (a fresh mask per step) instead of variational." };
        var samples = new Option<int>("--samples") { Description = "MC samples per forecast.", DefaultValueFactory = _ => 100 };
        var flags = new TrainingFlags();
        var json = Cli.JsonOption();
        var command = new Command("births", "Forecast US daily births (after 'fetch us-births'): train on 1969-1986, forecast 1987-1988 from a window of past days, score RMSE against seasonal naive, interval coverage and log-likelihood.");
        foreach (var option in new Option[] { spec, output, horizon, levelDays, stride, testStride, naive, samples, json })
        {
            command.Options.Add(option);
        }

        flags.AddTo(command);
        command.SetAction(parse => Cli.Run(() =>
        {
            var network = NetworkSpec.FromJson(File.ReadAllText(parse.GetValue(spec)!));
            if (parse.GetValue(naive))
            {
                network = network with { Layers = [.. network.Layers!.Select(layer => layer.IsRecurrent ? layer with { Naive = true } : layer)] };
            }

            var series = DailySeries.Load();
            int testStart = series.IndexOf(DailySeries.BirthsTestStart);
            var options = flags.Apply(parse, new TrainingOptions(), new Dataset(series.Name, ["value"], [0], "value", [0]), network);
            Console.WriteLine($"{series.Name}: training days {series.Dates[0]:yyyy-MM-dd} to {series.Dates[testStart - 1]:yyyy-MM-dd}, test from {series.Dates[testStart]:yyyy-MM-dd}");
            using var package = ForecastModels.Fit(series, 0, testStart, network, parse.GetValue(horizon), parse.GetValue(levelDays), parse.GetValue(stride), options, progress: new ConsoleProgress(), description: "US daily births forecaster (uncertainty experiment births).", cancellationToken: Cli.CancelOnCtrlC());
            var summary = package.Description.Training!;
            Console.WriteLine($"trained in {Cli.F(summary.Seconds, 1)} s, {Cli.F(summary.RowsPerSecond, 0)} rows/s");
            if (parse.GetValue(output) is { } folder)
            {
                package.Save(folder);
                Console.WriteLine($"saved {folder}");
            }

            var report = ForecastModels.Evaluate(package, series, testStart, series.Count, parse.GetValue(testStride), parse.GetValue(samples), options.Seed, summary.Seconds, Cli.CancelOnCtrlC());
            Console.WriteLine($"{report.Origins} forecasts of {report.Horizon} days: RMSE {Cli.F(report.Rmse, 1)} (seasonal naive {Cli.F(report.SeasonalNaiveRmse, 1)}, weight scaling {Cli.F(report.WeightScalingRmse, 1)})");
            Console.WriteLine($"coverage 50 % {Cli.F(report.Coverage50)}, 90 % {Cli.F(report.Coverage90)}; log-likelihood {Cli.F(report.LogLikelihood, 4)}");
            Console.WriteLine($"predictive std by step: {string.Join(" ", report.PredictiveStdByStep.Select(s => Cli.F(s, 0)))}");
            Cli.WriteJson(parse.GetValue(json), new { network = package.Description.Network, training = summary, report });
            return 0;
        }));
        return command;
    }
}

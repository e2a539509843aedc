using System.CommandLine;
using Uncertainty.Model.Data;
using Uncertainty.Model.Inference;
using Uncertainty.Model.Packaging;
using static TorchSharp.torch;

namespace Uncertainty.Cli;

internal static class PredictCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Model package directory.", Required = true };
        var input = new Option<string>("--input") { Description = "CSV with the model's feature columns (by name; other columns are ignored).", Required = true };
        var whitespace = new Option<bool>("--whitespace") { Description = "Whitespace-separated input without a header; features are the first columns, in the model's order." };
        var samples = new Option<int>("--samples") { Description = "MC samples T.", DefaultValueFactory = _ => 100 };
        var tolerance = new Option<double?>("--tolerance") { Description = "Adaptive T: stop once every mean's standard error is at most this (T is then the cap)." };
        var level = new Option<double>("--interval") { Description = "Central interval level.", DefaultValueFactory = _ => 0.95 };
        var seed = Cli.SeedOption();
        var json = Cli.JsonOption();
        var command = new Command("predict", "Predict rows with MC dropout: mean, variances, interval (regression) or probabilities, entropy, mutual information (classification).");
        foreach (var option in new Option[] { model, input, whitespace, samples, tolerance, level, seed, json })
        {
            command.Options.Add(option);
        }

        command.SetAction(parse => Cli.Run(() =>
        {
            var package = ModelPackage.Load(parse.GetValue(model)!);
            var description = package.Description;
            var names = description.FeatureNames ?? [.. Enumerable.Range(0, description.Network.Inputs).Select(i => $"x{i}")];
            var (values, rows) = CsvLoader.LoadFeatures(parse.GetValue(input)!, names, parse.GetValue(whitespace));
            using var predictor = new McPredictor(package.Network, CPU, outputScale: description.OutputScale);
            var request = new McRequest
            {
                Inputs = description.PrepareInputs(values),
                Rows = rows,
                Samples = parse.GetValue(samples),
                Seed = parse.GetValue(seed),
                Tolerance = parse.GetValue(tolerance),
            };
            var prediction = description.ToReportedUnits(predictor.Predict(request, Cli.CancelOnCtrlC()));
            Console.WriteLine($"T = {prediction.SamplesUsed}");
            var intervalLevel = parse.GetValue(level);
            var results = prediction.Rows.Select((row, i) => row switch
            {
                RegressionPrediction r => (object)new
                {
                    row = i,
                    mean = r.Mean,
                    epistemicVariance = r.EpistemicVariance,
                    aleatoricVariance = r.AleatoricVariance,
                    predictiveVariance = r.PredictiveVariance,
                    lower = r.Interval(intervalLevel).Lower,
                    upper = r.Interval(intervalLevel).Upper,
                },
                ClassPrediction c => new
                {
                    row = i,
                    label = description.OutputNames?[c.Label] ?? c.Label.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    probabilities = c.Probabilities,
                    entropy = c.Entropy,
                    mutualInformation = c.MutualInformation,
                    variationRatio = c.VariationRatio,
                },
                _ => throw new InvalidOperationException("unknown prediction"),
            }).ToList();

            foreach (var (row, i) in prediction.Rows.Select((r, i) => (r, i)))
            {
                Console.WriteLine(row switch
                {
                    RegressionPrediction r => $"{i}: mean {Cli.F(r.Mean[0])}  std {Cli.F(r.Std[0])}  epistemic var {Cli.F(r.EpistemicVariance[0], 4)}  {intervalLevel:P0} interval [{Cli.F(r.Interval(intervalLevel).Lower[0])}, {Cli.F(r.Interval(intervalLevel).Upper[0])}]",
                    ClassPrediction c => $"{i}: {description.OutputNames?[c.Label] ?? c.Label.ToString(System.Globalization.CultureInfo.InvariantCulture)}  p {Cli.F(c.Probabilities[c.Label])}  entropy {Cli.F(c.Entropy)}  mutual information {Cli.F(c.MutualInformation, 4)}",
                    _ => "",
                });
            }

            Cli.WriteJson(parse.GetValue(json), new { samples = prediction.SamplesUsed, predictions = results });
            return 0;
        }));
        return command;
    }
}

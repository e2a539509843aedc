using System.CommandLine;
using Uncertainty.Model.Data;
using Uncertainty.Model.Evaluation;
using Uncertainty.Model.Inference;
using Uncertainty.Model.Packaging;
using static TorchSharp.torch;

namespace Uncertainty.Cli;

internal static class EvaluateCommand
{
    public static Command Create()
    {
        var data = new DataOptions();
        var model = new Option<string>("--model") { Description = "Model package directory.", Required = true };
        var samples = new Option<int>("--samples") { Description = "MC samples T.", DefaultValueFactory = _ => 1000 };
        var oodDataset = new Option<string?>("--ood-dataset") { Description = "Also score out-of-distribution detection against this dataset's test split (e.g. fashion-mnist for an MNIST model): AUROC/AUPR of entropy, mutual information and max-probability, and selective accuracy." };
        var oodRows = new Option<int?>("--ood-rows") { Description = "Use at most this many rows of each set for the OOD scores (default: all)." };
        var rows = new Option<string?>("--rows") { Description = "heldout: only the rows held out when the model was trained (the default on its own training data: the same --dataset, or a --data file with the same content); all: every row, training rows included (the default on other data)." };
        var seed = Cli.SeedOption();
        var json = Cli.JsonOption();
        var command = new Command("evaluate", "Score a model on labelled rows: MC dropout and weight scaling side by side.");
        data.AddTo(command);
        command.Options.Add(model);
        command.Options.Add(samples);
        command.Options.Add(oodDataset);
        command.Options.Add(oodRows);
        command.Options.Add(rows);
        command.Options.Add(seed);
        command.Options.Add(json);
        command.SetAction(parse => Cli.Run(() =>
        {
            var package = ModelPackage.Load(parse.GetValue(model)!);
            var asked = parse.GetValue(rows) is { } text ? Cli.ParseEnum<EvaluationRows>(text, "--rows") : (EvaluationRows?)null;
            var (dataset, scored) = Select(data, parse, package.Description, asked);
            Console.WriteLine($"rows: {(scored.Rows == EvaluationRows.HeldOut ? "held-out" : "all")}, {scored.Count} of {scored.Of} ({scored.Reason})");
            using var predictor = new McPredictor(package.Network, CPU, outputScale: package.Description.OutputScale);
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var report = Evaluator.Evaluate(predictor, package.Description, dataset, parse.GetValue(samples), parse.GetValue(seed), Cli.CancelOnCtrlC());
            Print(report);
            Console.WriteLine($"evaluated in {Cli.F(clock.Elapsed.TotalSeconds, 1)} s");
            OodEvaluationReport? ood = null;
            if (parse.GetValue(oodDataset) is { } oodName)
            {
                var other = data.LoadImages(parse, oodName, ImageSplit.Test, package.Description) ?? BundledDatasets.Load(oodName);
                int limit = parse.GetValue(oodRows) ?? int.MaxValue;
                ood = OodEvaluator.Evaluate(predictor, package.Description, dataset.Take(limit), other.Take(limit), parse.GetValue(samples), parse.GetValue(seed), Cli.CancelOnCtrlC());
                Print(ood);
            }

            // The report's fields at the top, as before OOD scores existed; those beside them when asked for.
            var written = System.Text.Json.JsonSerializer.SerializeToNode(report, Cli.Json)!.AsObject();
            written["scored"] = System.Text.Json.JsonSerializer.SerializeToNode(scored, Cli.Json);
            if (ood is not null)
            {
                written["outOfDistribution"] = System.Text.Json.JsonSerializer.SerializeToNode(ood, Cli.Json);
            }

            Cli.WriteJson(parse.GetValue(json), written);
            return 0;
        }));
        return command;
    }

    /// <summary>
    /// The rows to score and why: of the model's own training data (the same --dataset name, or a --data file with the same
    /// SHA-256) its held-out rows unless --rows all; of other data every row. An image set's split is scored whole.
    /// </summary>
    private static (Dataset Data, ScoredRows Scored) Select(DataOptions data, ParseResult parse, ModelDescription model, EvaluationRows? asked)
    {
        var dataset = data.Load(parse, ImageSplit.Test, model);
        var all = RowRanges.Format(Enumerable.Range(0, dataset.Rows));
        if (data.IsImages(parse, parse.GetValue(data.Dataset)))
        {
            return asked == EvaluationRows.HeldOut
                ? throw new ArgumentException("--rows heldout: an image set is scored by split; give --split test (its held-out part) instead.")
                : (dataset, new ScoredRows(EvaluationRows.All, dataset.Rows, dataset.Rows, false, $"the split {dataset.Name} asked for: all its {dataset.Rows} rows", all));
        }

        var name = parse.GetValue(data.Dataset);
        var sha256 = name is null && parse.GetValue(data.Data) is { } path ? TrainingData.HashOf(File.ReadAllBytes(path)) : null;
        var scored = ScoredRows.Select(model.TrainingData, name, sha256, dataset.Rows, asked);
        return (scored.Rows == EvaluationRows.HeldOut ? dataset.Subset(scored.IndexList()) : dataset, scored);
    }

    public static void Print(OodEvaluationReport report)
    {
        Console.WriteLine($"out-of-distribution: {report.OutOfDistributionRows} rows of {report.OutOfDistribution} against {report.InDistributionRows} of {report.InDistribution}, T = {report.Samples}");
        Console.WriteLine("score                        AUROC   AUPR-out  AUPR-in   acc@90%  acc@95%  acc@99%  AURC");
        void Row(string name, OodReport detection, SelectiveReport selective) =>
            Console.WriteLine($"{name,-26} {Cli.F(detection.Auroc, 4),7}  {Cli.F(detection.AuprOut, 4),8}  {Cli.F(detection.AuprIn, 4),7}  {Cli.F(selective.AccuracyAt90, 4),8} {Cli.F(selective.AccuracyAt95, 4),8} {Cli.F(selective.AccuracyAt99, 4),8}  {Cli.F(selective.Aurc, 5)}");
        Row("MC predictive entropy", report.Detection.PredictiveEntropy, report.Selective.PredictiveEntropy);
        Row("MC mutual information", report.Detection.MutualInformation, report.Selective.MutualInformation);
        Row("MC 1 - max probability", report.Detection.MaxProbability, report.Selective.MaxProbability);
        Row("deterministic 1 - max prob", report.Detection.DeterministicMaxProbability, report.Selective.DeterministicMaxProbability);
    }

    public static void Print(EvaluationReport report)
    {
        Console.WriteLine($"{report.Rows} rows, T = {report.Samples}");
        if (report.McDropout is { } mc && report.WeightScaling is { } ws)
        {
            Console.WriteLine("                     MC dropout   weight scaling");
            Console.WriteLine($"RMSE                 {Cli.F(mc.Rmse),10}   {Cli.F(ws.Rmse),14}");
            Console.WriteLine($"MAE                  {Cli.F(mc.Mae),10}   {Cli.F(ws.Mae),14}");
            Console.WriteLine($"test log-likelihood  {Cli.F(mc.LogLikelihood),10}   {Cli.F(ws.LogLikelihood),14}");
            Console.WriteLine($"coverage 90 %        {Cli.F(mc.Coverage90),10}   {Cli.F(ws.Coverage90),14}");
            Console.WriteLine($"coverage 95 %        {Cli.F(mc.Coverage95),10}   {Cli.F(ws.Coverage95),14}");
        }

        if (report.McDropoutClassification is { } mcc && report.WeightScalingClassification is { } wsc)
        {
            Console.WriteLine("                     MC dropout   weight scaling");
            Console.WriteLine($"accuracy             {Cli.F(mcc.Accuracy, 4),10}   {Cli.F(wsc.Accuracy, 4),14}");
            Console.WriteLine($"NLL                  {Cli.F(mcc.NegativeLogLikelihood, 4),10}   {Cli.F(wsc.NegativeLogLikelihood, 4),14}");
            Console.WriteLine($"Brier                {Cli.F(mcc.Brier, 4),10}   {Cli.F(wsc.Brier, 4),14}");
            Console.WriteLine($"ECE (15 bins)        {Cli.F(mcc.ExpectedCalibrationError, 4),10}   {Cli.F(wsc.ExpectedCalibrationError, 4),14}");
        }
    }
}

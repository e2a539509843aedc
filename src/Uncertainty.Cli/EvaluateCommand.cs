using System.CommandLine;
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
        var seed = Cli.SeedOption();
        var json = Cli.JsonOption();
        var command = new Command("evaluate", "Score a model on labelled rows: MC dropout and weight scaling side by side.");
        data.AddTo(command);
        command.Options.Add(model);
        command.Options.Add(samples);
        command.Options.Add(seed);
        command.Options.Add(json);
        command.SetAction(parse => Cli.Run(() =>
        {
            var dataset = data.Load(parse);
            var package = ModelPackage.Load(parse.GetValue(model)!);
            using var predictor = new McPredictor(package.Network, CPU, outputScale: package.Description.OutputScale);
            var report = Evaluator.Evaluate(predictor, package.Description, dataset, parse.GetValue(samples), parse.GetValue(seed), Cli.CancelOnCtrlC());
            Print(report);
            Cli.WriteJson(parse.GetValue(json), report);
            return 0;
        }));
        return command;
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

